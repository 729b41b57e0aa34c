/*
 * log.c: JSON process log (fd 2) and per-worker buffered JSON access log (fd 1).
 * Every module logs through the process log; stream_end writes one access line per
 * stream into its worker's log_buf, which reaches stdout in batches from the worker's
 * 100 ms timer or when the buffer passes its high mark. All writers share one lock
 * around write(2), so lines from different threads never interleave; a line that a
 * non-blocking stdout accepted only in part is finished before anyone else writes.
 */
#include "canaryd/common.h"
#include "canaryd/core/clock.h"
#include "canaryd/core/log.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LOG_FD_PROCESS STDERR_FILENO
#define LOG_FD_ACCESS STDOUT_FILENO

/* Bytes kept free at the end of a process line for '}', "truncated" and '\n'. */
#define LINE_TAIL_RESERVE 24u
/* Upper bound of an access line without its string contents (keys, numbers, time). */
#define ACC_FIXED_BOUND 1024u

static _Atomic int min_level = LOG_LEVEL_INFO;
static atomic_bool acc_is_enabled = true;
static _Atomic uint64_t acc_ndropped;

/* Serialises every write(2) of log lines. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
/* Buffer whose last write stopped inside a line; it must write next. Guarded by
 * out_lock; weak: cleared by log_buf_free. */
static const struct log_buf *out_owner;

struct log_buf {
    char *data;       /* owned */
    size_t off;       /* first byte not yet written */
    size_t len;       /* end of the pending bytes */
    size_t cap;       /* size of data */
    bool is_blocked;  /* the last write hit EAGAIN: only log_buf_flush retries */
    bool is_mid_line; /* a line was written in part: the rest must go first */
};

/* ---- JSON escaping ---------------------------------------------------------------- */

/* Valid UTF-8 lead bytes (RFC 3629 table 3-7): sequence length and the range of the
 * second byte, which is what rules out overlongs, surrogates and > U+10FFFF. */
static const struct {
    unsigned char first, last, len, lo, hi;
} utf8_leads[] = {
    {0xC2, 0xDF, 2, 0x80, 0xBF}, {0xE0, 0xE0, 3, 0xA0, 0xBF}, {0xE1, 0xEC, 3, 0x80, 0xBF},
    {0xED, 0xED, 3, 0x80, 0x9F}, {0xEE, 0xEF, 3, 0x80, 0xBF}, {0xF0, 0xF0, 4, 0x90, 0xBF},
    {0xF1, 0xF3, 4, 0x80, 0xBF}, {0xF4, 0xF4, 4, 0x80, 0x8F},
};

/* Short escapes; 0 means \u00XX. */
static const char esc_short[0x80] = {
    ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n',  ['\r'] = 'r',
    ['\t'] = 't', ['"'] = '"',  ['\\'] = '\\',
};

static const char hex_digits[] = "0123456789abcdef";

struct esc_out {
    char *dst;   /* borrowed: the caller's buffer; may be NULL when room is 0 */
    size_t room; /* bytes dst may take */
    size_t len;  /* bytes written */
    size_t need; /* bytes the complete output takes */
    bool is_full;
};

static inline bool
is_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

#define BYTES_01 0x0101010101010101ull
#define BYTES_80 0x8080808080808080ull

/* True when the word holds a zero byte (no false negatives). */
static inline bool
has_zero_byte(uint64_t w)
{
    return ((w - BYTES_01) & ~w & BYTES_80) != 0;
}

/* True when all 8 bytes are plain; false may also mean "look byte by byte". */
static inline bool
is_plain_word(uint64_t w)
{
    bool has_low = ((w - BYTES_01 * 0x20) & ~w & BYTES_80) != 0; /* a byte < 0x20 */
    bool has_high = (((w + BYTES_01) | w) & BYTES_80) != 0;      /* a byte >= 0x7f */
    return !has_low && !has_high && !has_zero_byte(w ^ (BYTES_01 * '"')) &&
           !has_zero_byte(w ^ (BYTES_01 * '\\'));
}

/* Returns the length of the run of plain bytes at s, 8 bytes at a time while it can. */
static size_t
plain_run(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (!is_plain_word(w))
            break;
    }
    while (i < n && is_plain(s[i]))
        i++;
    return i;
}

/* Copies a run of plain bytes, as much as fits (each byte is a whole unit). */
static void
out_run(struct esc_out *o, const char *s, size_t n)
{
    o->need += n;
    if (o->is_full)
        return;
    size_t k = MIN(n, o->room - o->len);
    if (k > 0) /* dst may be NULL when room is 0 */
        memcpy(o->dst + o->len, s, k);
    o->len += k;
    o->is_full = k < n;
}

/* Copies one unit (escape or character) whole or not at all. */
static void
out_unit(struct esc_out *o, const char *s, size_t n)
{
    o->need += n;
    if (o->is_full)
        return;
    if (o->room - o->len < n) {
        o->is_full = true;
        return;
    }
    memcpy(o->dst + o->len, s, n);
    o->len += n;
}

/* Returns the length of the valid UTF-8 sequence at s (2..4), or 0. */
static size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < countof(utf8_leads); i++) {
        if (s[0] < utf8_leads[i].first || s[0] > utf8_leads[i].last)
            continue;
        size_t len = utf8_leads[i].len;
        if (n < len || s[1] < utf8_leads[i].lo || s[1] > utf8_leads[i].hi)
            return 0;
        for (size_t k = 2; k < len; k++)
            if (s[k] < 0x80 || s[k] > 0xBF)
                return 0;
        return len;
    }
    return 0;
}

/* Emits the escape for one non-plain byte or the UTF-8 character starting at s;
 * returns the number of input bytes used. */
static size_t
out_special(struct esc_out *o, const unsigned char *s, size_t n)
{
    if (s[0] < 0x80) {
        char e[6] = {'\\', esc_short[s[0]], 0, 0, 0, 0};
        if (e[1] != 0) {
            out_unit(o, e, 2);
            return 1;
        }
        memcpy(e, "\\u00", 4);
        e[4] = hex_digits[s[0] >> 4];
        e[5] = hex_digits[s[0] & 0xf];
        out_unit(o, e, 6);
        return 1;
    }
    size_t len = utf8_seq_len(s, n);
    if (len == 0) {
        out_unit(o, "\\ufffd", 6);
        return 1;
    }
    out_unit(o, (const char *)s, len);
    return len;
}

/* Escapes src into dst[0..room) (no NUL); *written gets the bytes written. Returns
 * the length of the complete escaped text. */
static size_t
escape_into(char *dst, size_t room, const char *src, size_t len, size_t *written)
{
    struct esc_out o = {.dst = dst, .room = room};
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0;
    while (i < len) {
        size_t run = plain_run(s + i, len - i);
        out_run(&o, src + i, run);
        i += run;
        if (i < len)
            i += out_special(&o, s + i, len - i);
    }
    *written = o.len;
    return o.need;
}

size_t
log_json_escape(char *dst, size_t cap, const char *src, size_t len)
{
    size_t written;
    size_t need = escape_into(dst, cap > 0 ? cap - 1 : 0, src, len, &written);
    if (cap > 0)
        dst[written] = '\0';
    return need;
}

/* ---- line writer ------------------------------------------------------------------ */

/* Appends to p[0..cap); once something did not fit, nothing more is appended. */
struct jw {
    char *p; /* borrowed: the caller's buffer */
    size_t len;
    size_t cap;
    bool is_full;
};

static void
jw_raw(struct jw *w, const char *s, size_t n)
{
    if (w->is_full || w->cap - w->len < n) {
        w->is_full = true;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

#define JW_LIT(w, lit) jw_raw((w), (lit), sizeof(lit) - 1)

/* Appends a quoted, escaped string; p == NULL gives null. The content is cut (at a
 * unit boundary) when it does not fit, the quotes are always both written. */
static void
jw_str(struct jw *w, const char *p, size_t n)
{
    if (p == NULL) {
        JW_LIT(w, "null");
        return;
    }
    if (w->is_full || w->cap - w->len < 2) {
        w->is_full = true;
        return;
    }
    size_t written;
    w->p[w->len++] = '"';
    escape_into(w->p + w->len, w->cap - w->len - 1, p, n, &written);
    w->len += written;
    w->p[w->len++] = '"';
}

static void
jw_u64(struct jw *w, uint64_t v)
{
    char tmp[20];
    const char *p = u64_to_dec(tmp, v);
    jw_raw(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

static void
jw_i64(struct jw *w, int64_t v)
{
    if (v < 0) {
        JW_LIT(w, "-");
        jw_u64(w, -(uint64_t)v);
        return;
    }
    jw_u64(w, (uint64_t)v);
}

/* Appends us / 1000 with three decimals (milliseconds with microsecond precision). */
static void
jw_ms(struct jw *w, uint64_t us)
{
    char frac[4] = {'.', (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10),
                    (char)('0' + us % 10)};
    jw_u64(w, us / 1000);
    jw_raw(w, frac, sizeof(frac));
}

static void
jw_dbl(struct jw *w, double d)
{
    if (!isfinite(d)) {
        JW_LIT(w, "null");
        return;
    }
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%.15g", d);
    jw_raw(w, tmp, (size_t)n);
}

/* ---- time ------------------------------------------------------------------------- */

static void
put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

/* Appends "YYYY-MM-DDTHH:MM:SS.mmmZ" (quoted); the seconds part is cached per thread. */
static void
jw_time(struct jw *w, uint64_t unix_us)
{
    static _Thread_local time_t tl_sec = -1;
    static _Thread_local char tl_txt[19];
    time_t sec = (time_t)(unix_us / 1000000u);
    if (sec != tl_sec) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        put2(tl_txt, (tm.tm_year + 1900) / 100);
        put2(tl_txt + 2, (tm.tm_year + 1900) % 100);
        put2(tl_txt + 5, tm.tm_mon + 1);
        put2(tl_txt + 8, tm.tm_mday);
        put2(tl_txt + 11, tm.tm_hour);
        put2(tl_txt + 14, tm.tm_min);
        put2(tl_txt + 17, tm.tm_sec);
        tl_txt[4] = tl_txt[7] = '-';
        tl_txt[10] = 'T';
        tl_txt[13] = tl_txt[16] = ':';
        tl_sec = sec;
    }
    unsigned ms = (unsigned)(unix_us / 1000u % 1000u);
    char tail[6] = {
        '.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z', '"'};
    JW_LIT(w, "\"");
    jw_raw(w, tl_txt, sizeof(tl_txt));
    jw_raw(w, tail, sizeof(tail));
}

/* ---- output ----------------------------------------------------------------------- */

/* Writes p[0..n) to fd, retrying short writes and EINTR. *nwritten gets the bytes
 * written. Returns 0, or -1 with errno (EAGAIN: fd is non-blocking and full). */
static int
write_all(int fd, const char *p, size_t n, size_t *nwritten)
{
    size_t done = 0;
    int rc = 0;
    while (done < n) {
        ssize_t k = write(fd, p + done, n - done);
        if (k == -1 && errno == EINTR)
            continue;
        if (k == -1) {
            rc = -1;
            break;
        }
        done += (size_t)k;
    }
    *nwritten = done;
    return rc;
}

/* Writes one process log line; waits up to 100 ms for a full non-blocking stderr and
 * otherwise drops it (logging must not stall a worker). */
static void
write_process_line(const char *p, size_t n)
{
    int saved = errno;
    pthread_mutex_lock(&out_lock);
    size_t done = 0;
    for (int tries = 0; tries < 2; tries++) {
        size_t k;
        int rc = write_all(LOG_FD_PROCESS, p + done, n - done, &k);
        done += k;
        if (rc == 0 || errno != EAGAIN)
            break;
        struct pollfd pfd = {.fd = LOG_FD_PROCESS, .events = POLLOUT};
        poll(&pfd, 1, 100);
    }
    pthread_mutex_unlock(&out_lock);
    errno = saved;
}

/* ---- process log ------------------------------------------------------------------ */

static const char *const level_names[] = {
    [LOG_LEVEL_DEBUG] = "debug",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_ERROR] = "error",
};

static const struct {
    const char *name;
    enum log_level lvl;
} level_aliases[] = {
    {"debug", LOG_LEVEL_DEBUG},  {"info", LOG_LEVEL_INFO},   {"warn", LOG_LEVEL_WARN},
    {"warning", LOG_LEVEL_WARN}, {"error", LOG_LEVEL_ERROR}, {"err", LOG_LEVEL_ERROR},
};

void
log_set_level(enum log_level lvl)
{
    atomic_store_explicit(&min_level, (int)lvl, memory_order_relaxed);
}

bool
log_is_enabled(enum log_level lvl)
{
    return (int)lvl >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

int
log_level_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < countof(level_aliases); i++)
        if (strcasecmp(s, level_aliases[i].name) == 0)
            return (int)level_aliases[i].lvl;
    return -1;
}

const char *
log_level_name(enum log_level lvl)
{
    if ((unsigned)lvl >= countof(level_names))
        return "error";
    return level_names[lvl];
}

/* Starts a process line: time, level, event. */
static void
line_head(struct jw *w, enum log_level lvl, const char *event)
{
    JW_LIT(w, "{\"time\":");
    jw_time(w, clock_wall_us());
    JW_LIT(w, ",\"level\":\"");
    const char *name = log_level_name(lvl);
    jw_raw(w, name, strlen(name));
    JW_LIT(w, "\"");
    if (event != NULL) {
        JW_LIT(w, ",\"event\":");
        jw_str(w, event, strlen(event));
    }
}

/* Appends ,"msg":"..." with the message cut to what fits. */
static void
line_msg(struct jw *w, const char *fmt, va_list ap, const char *suffix)
{
    char msg[LOG_LINE_MAX];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = n < 0 ? 0 : MIN((size_t)n, sizeof(msg) - 1);
    if (suffix != NULL)
        len += (size_t)snprintf(msg + len, sizeof(msg) - len, ": %s", suffix);
    len = MIN(len, sizeof(msg) - 1);
    JW_LIT(w, ",\"msg\":");
    jw_str(w, msg, len);
}

static void
field_value(struct jw *w, const struct log_field *f)
{
    switch (f->type) {
    case LOG_FIELD_STR:
        jw_str(w, f->v.s, f->v.s != NULL ? strlen(f->v.s) : 0);
        break;
    case LOG_FIELD_STRN:
        jw_str(w, f->v.sn.p, f->v.sn.len);
        break;
    case LOG_FIELD_I64:
        jw_i64(w, f->v.i);
        break;
    case LOG_FIELD_U64:
        jw_u64(w, f->v.u);
        break;
    case LOG_FIELD_DBL:
        jw_dbl(w, f->v.d);
        break;
    case LOG_FIELD_BOOL:
        jw_raw(w, f->v.b ? "true" : "false", f->v.b ? 4 : 5);
        break;
    }
}

/* Appends the fields that fit whole; returns false when one was left out. */
static bool
line_fields(struct jw *w, const struct log_field *fields, size_t nfields)
{
    bool is_complete = true;
    for (size_t i = 0; i < nfields; i++) {
        size_t mark = w->len;
        JW_LIT(w, ",");
        jw_str(w, fields[i].key, strlen(fields[i].key));
        JW_LIT(w, ":");
        field_value(w, &fields[i]);
        if (w->is_full) {
            w->len = mark;
            w->is_full = false;
            is_complete = false;
        }
    }
    return is_complete;
}

static void
emit_line(enum log_level lvl, const char *event, const struct log_field *fields, size_t nfields,
          const char *suffix, const char *fmt, va_list ap)
{
    char buf[LOG_LINE_MAX];
    /* The message may take all but the tail reserve; fields must fit whole. */
    struct jw w = {.p = buf, .cap = sizeof(buf) - LINE_TAIL_RESERVE};
    line_head(&w, lvl, event);
    line_msg(&w, fmt, ap, suffix);
    bool is_complete = line_fields(&w, fields, nfields);
    w.is_full = false;
    w.cap = sizeof(buf);
    if (!is_complete)
        JW_LIT(&w, ",\"truncated\":true");
    JW_LIT(&w, "}\n");
    write_process_line(buf, w.len);
}

void
log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
    if (log_is_enabled(lvl))
        emit_line(lvl, NULL, NULL, 0, NULL, fmt, ap);
}

void
log_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_ERROR, fmt, ap);
    va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_WARN, fmt, ap);
    va_end(ap);
}

void
log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_INFO, fmt, ap);
    va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_DEBUG, fmt, ap);
    va_end(ap);
}

static void
log_errno_v(enum log_level lvl, const char *fmt, va_list ap)
{
    int saved = errno;
    if (log_is_enabled(lvl)) {
        char ebuf[128];
        const char *es = strerror_r(saved, ebuf, sizeof(ebuf));
        emit_line(lvl, NULL, NULL, 0, es, fmt, ap);
    }
    errno = saved;
}

void
log_err_errno(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_errno_v(LOG_LEVEL_ERROR, fmt, ap);
    va_end(ap);
}

void
log_warn_errno(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_errno_v(LOG_LEVEL_WARN, fmt, ap);
    va_end(ap);
}

void
log_event(enum log_level lvl, const char *event, const struct log_field *fields, size_t nfields,
          const char *fmt, ...)
{
    if (!log_is_enabled(lvl))
        return;
    va_list ap;
    va_start(ap, fmt);
    emit_line(lvl, event, fields, nfields, NULL, fmt, ap);
    va_end(ap);
}

bool
log_rl_allow(struct log_rl *rl, uint64_t interval_ms, uint64_t *nsuppressed)
{
    uint64_t now = clock_mono_ms();
    uint64_t next = atomic_load_explicit(&rl->next_ms, memory_order_relaxed);
    if (now < next ||
        !atomic_compare_exchange_strong_explicit(&rl->next_ms, &next, now + interval_ms,
                                                 memory_order_relaxed, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&rl->nsuppressed, 1, memory_order_relaxed);
        return false;
    }
    uint64_t n = atomic_exchange_explicit(&rl->nsuppressed, 0, memory_order_relaxed);
    if (nsuppressed != NULL)
        *nsuppressed = n;
    return true;
}

/* ---- access log ------------------------------------------------------------------- */

struct acc_key {
    const char *key; /* borrowed: literal ,"name": */
    size_t keylen;
    size_t off; /* offset of a struct log_str in struct log_access_rec */
};

#define ACC_KEY(name)                                                                              \
    {                                                                                              \
        ",\"" #name "\":", sizeof(",\"" #name "\":") - 1, offsetof(struct log_access_rec, name)    \
    }

/* String keys before the numbers, and after them (flags is written last, apart). */
static const struct acc_key acc_head[] = {
    ACC_KEY(request_id), ACC_KEY(client), ACC_KEY(method),
    ACC_KEY(authority),  ACC_KEY(path),   ACC_KEY(protocol),
};
static const struct acc_key acc_tail[] = {
    ACC_KEY(virtual_service), ACC_KEY(route),    ACC_KEY(destination),
    ACC_KEY(subset),          ACC_KEY(upstream),
};

static struct log_str
acc_field(const struct log_access_rec *rec, const struct acc_key *k)
{
    struct log_str s = *(const struct log_str *)(const void *)((const char *)rec + k->off);
    s.len = MIN(s.len, (size_t)LOG_FIELD_MAX);
    return s;
}

static void
acc_strings(struct jw *w, const struct log_access_rec *rec, const struct acc_key *keys,
            size_t nkeys)
{
    for (size_t i = 0; i < nkeys; i++) {
        struct log_str s = acc_field(rec, &keys[i]);
        jw_raw(w, keys[i].key, keys[i].keylen);
        jw_str(w, s.p, s.len);
    }
}

/* Bytes the line for rec takes at most. */
static size_t
acc_bound(const struct log_access_rec *rec)
{
    size_t n = ACC_FIXED_BOUND + 6 * MIN(rec->flags.len, (size_t)LOG_FIELD_MAX);
    for (size_t i = 0; i < countof(acc_head); i++)
        n += 6 * acc_field(rec, &acc_head[i]).len;
    for (size_t i = 0; i < countof(acc_tail); i++)
        n += 6 * acc_field(rec, &acc_tail[i]).len;
    return n;
}

static void
acc_format(struct jw *w, const struct log_access_rec *rec)
{
    JW_LIT(w, "{\"time\":");
    jw_time(w, rec->time_us != 0 ? rec->time_us : clock_wall_us());
    acc_strings(w, rec, acc_head, countof(acc_head));
    JW_LIT(w, ",\"status\":");
    jw_u64(w, rec->status);
    JW_LIT(w, ",\"bytes_in\":");
    jw_u64(w, rec->bytes_in);
    JW_LIT(w, ",\"bytes_out\":");
    jw_u64(w, rec->bytes_out);
    JW_LIT(w, ",\"duration_ms\":");
    jw_ms(w, rec->duration_us);
    JW_LIT(w, ",\"upstream_ms\":");
    if (rec->upstream_us < 0)
        JW_LIT(w, "null");
    else
        jw_ms(w, (uint64_t)rec->upstream_us);
    acc_strings(w, rec, acc_tail, countof(acc_tail));
    JW_LIT(w, ",\"flags\":");
    jw_str(w, rec->flags.p != NULL ? rec->flags.p : "", MIN(rec->flags.len, LOG_FIELD_MAX));
    JW_LIT(w, "}\n");
}

struct log_buf *
log_buf_new(void)
{
    struct log_buf *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->data = malloc(LOG_BUF_INITIAL);
    if (b->data == NULL) {
        free(b);
        return NULL;
    }
    b->cap = LOG_BUF_INITIAL;
    return b;
}

static uint64_t
count_lines(const char *p, size_t n)
{
    uint64_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        k++;
    return k;
}

/* Forgets the pending bytes and counts them as dropped lines. Caller holds out_lock. */
static void
drop_pending(struct log_buf *b)
{
    uint64_t n = count_lines(b->data + b->off, b->len - b->off);
    atomic_fetch_add_explicit(&acc_ndropped, n, memory_order_relaxed);
    b->off = b->len = 0;
    b->is_mid_line = false;
    if (out_owner == b)
        out_owner = NULL;
}

void
log_buf_free(struct log_buf *b)
{
    if (b == NULL)
        return;
    /* At exit a full non-blocking stdout gets about a second to drain. */
    for (int i = 0; i < 100 && log_buf_flush(b) == -1 && errno == EAGAIN; i++)
        poll(NULL, 0, 10);
    pthread_mutex_lock(&out_lock);
    drop_pending(b);
    pthread_mutex_unlock(&out_lock);
    free(b->data);
    free(b);
}

/* Makes room for need more bytes: compacts, then grows up to LOG_BUF_MAX. */
static bool
buf_reserve(struct log_buf *b, size_t need)
{
    if (b->cap - b->len >= need)
        return true;
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->cap - b->len >= need)
            return true;
    }
    if (b->len + need > LOG_BUF_MAX)
        return false;
    size_t cap = b->cap;
    while (cap - b->len < need)
        cap *= 2;
    cap = MIN(cap, (size_t)LOG_BUF_MAX);
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return false;
    b->data = p;
    b->cap = cap;
    return true;
}

void
log_access(struct log_buf *b, const struct log_access_rec *rec)
{
    if (!atomic_load_explicit(&acc_is_enabled, memory_order_relaxed))
        return;
    if (!buf_reserve(b, acc_bound(rec))) {
        atomic_fetch_add_explicit(&acc_ndropped, 1, memory_order_relaxed);
        return;
    }
    struct jw w = {.p = b->data, .len = b->len, .cap = b->cap};
    acc_format(&w, rec);
    BUG_ON(w.is_full);
    b->len = w.len;
    if (!b->is_blocked && b->len - b->off >= LOG_BUF_HIGH)
        log_buf_flush(b);
}

/* Caller holds out_lock. */
static int
flush_locked(struct log_buf *b)
{
    if (out_owner != NULL && out_owner != b) {
        errno = EAGAIN;
        return -1;
    }
    size_t n;
    int rc = write_all(LOG_FD_ACCESS, b->data + b->off, b->len - b->off, &n);
    int err = errno;
    b->off += n;
    if (n > 0)
        b->is_mid_line = b->data[b->off - 1] != '\n';
    out_owner = b->is_mid_line ? b : NULL;
    if (rc == 0) {
        b->off = b->len = 0;
        return 0;
    }
    if (err != EAGAIN && err != EWOULDBLOCK)
        drop_pending(b);
    errno = err;
    return -1;
}

int
log_buf_flush(struct log_buf *b)
{
    b->is_blocked = false;
    if (b->off == b->len) {
        b->off = b->len = 0;
        return 0;
    }
    pthread_mutex_lock(&out_lock);
    int rc = flush_locked(b);
    int err = errno;
    pthread_mutex_unlock(&out_lock);
    if (rc == -1 && (err == EAGAIN || err == EWOULDBLOCK))
        b->is_blocked = true;
    errno = err;
    return rc;
}

size_t
log_buf_pending(const struct log_buf *b)
{
    return b->len - b->off;
}

void
log_access_set_enabled(bool is_on)
{
    atomic_store_explicit(&acc_is_enabled, is_on, memory_order_relaxed);
}

bool
log_access_is_enabled(void)
{
    return atomic_load_explicit(&acc_is_enabled, memory_order_relaxed);
}

uint64_t
log_access_dropped(void)
{
    return atomic_load_explicit(&acc_ndropped, memory_order_relaxed);
}
