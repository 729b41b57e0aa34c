/*
 * log.h: JSON process log and buffered JSON access log.
 *
 * Where the lines go:
 *   - process log (start, reload, errors): fd 2 (stderr), one JSON object per line,
 *     each line written with one write(2) under a process-wide lock, at most
 *     LOG_LINE_MAX bytes (<= PIPE_BUF, so a pipe never splits it);
 *   - access log (one line per stream, written by stream_end): fd 1 (stdout), buffered
 *     per worker in a struct log_buf and written in batches of whole lines.
 * Process line keys, in order: time (RFC 3339 UTC, milliseconds), level, event (only
 * when given), msg, then the caller's extra fields.
 *
 * Strings from the network are escaped with log_json_escape(): '"', '\\' and every
 * control byte are escaped, valid UTF-8 passes through unchanged, and each byte that
 * is not part of a valid UTF-8 sequence becomes \ufffd.
 *
 * The process must ignore SIGPIPE (main.c does), else a closed stdout kills it.
 */
#ifndef CANARYD_LOG_H
#define CANARYD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Longest process log line, newline included; longer messages are truncated. */
#define LOG_LINE_MAX 4096

/* Access log buffer: written out when pending bytes pass LOG_BUF_HIGH; never holds more
 * than LOG_BUF_MAX (further lines are dropped and counted). */
#define LOG_BUF_INITIAL (64u * 1024u)
#define LOG_BUF_HIGH (48u * 1024u)
#define LOG_BUF_MAX (1024u * 1024u)

/* Access log string fields longer than this are cut to this many input bytes. */
#define LOG_FIELD_MAX 8192u

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR,
};

/* ---- JSON escaping ---------------------------------------------------------------- */

/* Escapes src[0..len) (any bytes, NULs included) as the inside of a JSON string:
 * '"' and '\\' get a backslash; \b \f \n \r \t use their short forms; other bytes
 * below 0x20 and 0x7f become \u00XX; valid UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF) is copied; every other byte becomes \ufffd,
 * one per byte (a truncated 3-byte sequence gives two).
 * Behaves like snprintf: writes at most cap bytes including a terminating NUL (when
 * cap > 0), never a partial escape or a partial character, and returns the length of
 * the complete escaped text (NUL excluded); the output is complete iff result < cap.
 * dst may be NULL when cap is 0. The result is at most 6 * len. */
size_t log_json_escape(char *dst, size_t cap, const char *src, size_t len);

/* ---- process log ------------------------------------------------------------------ */

/* Sets the lowest level written (default LOG_LEVEL_INFO). Thread-safe. */
void log_set_level(enum log_level lvl);

/* Returns true when lines of level lvl are written; use it to skip costly arguments. */
bool log_is_enabled(enum log_level lvl);

/* Parses "debug", "info", "warn" (or "warning"), "error" (or "err"), case-insensitive.
 * Returns the enum log_level value, or -1 when s is NULL or unknown. */
int log_level_parse(const char *s);

/* Returns the name used in the "level" key: "debug", "info", "warn", "error". */
const char *log_level_name(enum log_level lvl);

/* Writes {"time":..,"level":..,"msg":<printf(fmt, ...)>}. Messages follow STYLE §20:
 * "<mod>: <object> <id>: <what>: <detail>". Thread-safe; one write(2) per line. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Same as log_err/log_warn with ": " and strerror(errno) appended to the message;
 * errno is read on entry and preserved. */
void log_err_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Same as the above with the level as an argument. */
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* An extra key of a process log line; build them with the LOG_F_* macros. */
enum log_field_type {
    LOG_FIELD_STR = 0, /* v.s, NUL-terminated; NULL gives null */
    LOG_FIELD_STRN,    /* v.sn.p, v.sn.len; p NULL gives null */
    LOG_FIELD_I64,
    LOG_FIELD_U64,
    LOG_FIELD_DBL, /* NaN and infinities give null */
    LOG_FIELD_BOOL,
};

struct log_field {
    const char *key; /* borrowed: a literal, for the duration of the call */
    enum log_field_type type;
    union {
        const char *s; /* borrowed: for the duration of the call */
        struct {
            const char *p; /* borrowed: for the duration of the call */
            size_t len;
        } sn;
        int64_t i;
        uint64_t u;
        double d;
        bool b;
    } v;
};

#define LOG_F_STR(k, x) ((struct log_field){.key = (k), .type = LOG_FIELD_STR, .v.s = (x)})
#define LOG_F_STRN(k, p_, n)                                                                       \
    ((struct log_field){.key = (k), .type = LOG_FIELD_STRN, .v.sn = {.p = (p_), .len = (n)}})
#define LOG_F_I64(k, x) ((struct log_field){.key = (k), .type = LOG_FIELD_I64, .v.i = (x)})
#define LOG_F_U64(k, x) ((struct log_field){.key = (k), .type = LOG_FIELD_U64, .v.u = (x)})
#define LOG_F_DBL(k, x) ((struct log_field){.key = (k), .type = LOG_FIELD_DBL, .v.d = (x)})
#define LOG_F_BOOL(k, x) ((struct log_field){.key = (k), .type = LOG_FIELD_BOOL, .v.b = (x)})

/* Expands to the (fields, nfields) argument pair of log_event from one or more
 * LOG_F_* values. */
#define LOG_FIELDS(...)                                                                            \
    (const struct log_field[]){__VA_ARGS__},                                                       \
        sizeof((const struct log_field[]){__VA_ARGS__}) / sizeof(struct log_field)

/* Writes one line with an "event" key and extra fields after "msg", e.g.
 *   log_event(LOG_LEVEL_INFO, "reload",
 *             LOG_FIELDS(LOG_F_STR("result", "ok"), LOG_F_U64("generation", 3)),
 *             "reload: config applied");
 * gives {"time":"…","level":"info","event":"reload","msg":"reload: config applied",
 *        "result":"ok","generation":3}.
 * event may be NULL (no "event" key); fields may be NULL when nfields is 0. Keys should
 * be plain literals and not repeat time/level/event/msg. Fields that do not fit in
 * LOG_LINE_MAX are left out (and "truncated":true is added). Thread-safe. */
void log_event(enum log_level lvl, const char *event, const struct log_field *fields,
               size_t nfields, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Rate limit for repeated hot-path warnings: one static struct per call site.
 *   static struct log_rl rl;
 *   uint64_t nsup;
 *   if (log_rl_allow(&rl, 1000, &nsup))
 *       log_warn("pool: endpoint %s: connect failed (%llu more suppressed)", ...);
 * Zero-initialised is ready to use. */
struct log_rl {
    _Atomic uint64_t next_ms;
    _Atomic uint64_t nsuppressed;
};

/* Returns true at most once per interval_ms for rl (thread-safe) and then stores in
 * *nsuppressed (may be NULL) how many calls returned false since the last true. */
bool log_rl_allow(struct log_rl *rl, uint64_t interval_ms, uint64_t *nsuppressed);

/* ---- access log ------------------------------------------------------------------- */

/* A byte string view; p == NULL means absent (JSON null). p need not be NUL-terminated. */
struct log_str {
    const char *p; /* borrowed: for the duration of the call */
    size_t len;
};

/* Returns a view of the NUL-terminated s, or the absent view when s is NULL. */
static inline struct log_str
log_str_c(const char *s)
{
    return (struct log_str){s, s != NULL ? strlen(s) : 0};
}

/* One access log line; written in this key order. All views are borrowed for the
 * duration of log_access() only. */
struct log_access_rec {
    uint64_t time_us;          /* request start, Unix epoch microseconds; 0: now */
    struct log_str request_id; /* X-Request-Id as forwarded */
    struct log_str client;     /* downstream peer address, e.g. "10.1.2.3:51234" */
    struct log_str method;
    struct log_str authority; /* Host as received */
    struct log_str path;      /* request target as received */
    struct log_str protocol;  /* "HTTP/1.1" */
    unsigned status;          /* status sent downstream; 0 if none was sent */
    uint64_t bytes_in;        /* bytes received from the client (head + body) */
    uint64_t bytes_out;       /* bytes sent to the client (head + body) */
    uint64_t duration_us;     /* stream start to end; printed as ms with 3 decimals */
    int64_t upstream_us;      /* upstream request sent to response head; < 0: null */
    struct log_str virtual_service;
    struct log_str route;
    struct log_str destination; /* destination host of the picked route entry */
    struct log_str subset;
    struct log_str upstream; /* endpoint "ip:port"; absent when none was picked */
    struct log_str flags;    /* why canaryd answered itself ("no_route", ...); absent: "" */
};

/* Per-worker access log buffer. Not thread-safe: one worker thread uses it. */
struct log_buf;

/* Returns a new empty buffer, or NULL on allocation failure. */
struct log_buf *log_buf_new(void);

/* Flushes what can be written (waiting up to about a second for a full non-blocking
 * stdout), then frees b. NULL is a no-op. */
void log_buf_free(struct log_buf *b);

/* Appends one access line for rec to b (nothing when the access log is disabled) and
 * writes the buffer out when more than LOG_BUF_HIGH bytes are pending. A line that
 * would take the buffer past LOG_BUF_MAX is dropped and counted. Never blocks when
 * stdout is non-blocking. */
void log_access(struct log_buf *b, const struct log_access_rec *rec);

/* Writes every pending line of b to fd 1, with one write(2) in the common case.
 * Returns 0 when nothing is left pending, or -1 with errno EAGAIN when stdout is full
 * (the bytes are kept for the next call) or another errno when the write failed (the
 * pending lines are dropped and counted). Called by the worker from a 100 ms timer
 * and at exit. */
int log_buf_flush(struct log_buf *b);

/* Returns the number of bytes of b waiting to be written. */
size_t log_buf_pending(const struct log_buf *b);

/* Turns the access log on or off (--access-log; default on). Thread-safe. */
void log_access_set_enabled(bool is_on);

/* Returns true when the access log is on; callers may skip building the record. */
bool log_access_is_enabled(void);

/* Returns the number of access lines dropped so far, over all buffers. */
uint64_t log_access_dropped(void);

#endif /* CANARYD_LOG_H */
