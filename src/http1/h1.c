/*
 * h1.c: strict, incremental HTTP/1.1 head parser and chunked-body scanner
 * (see h1.h). First stop of every byte on the request path: session.c hands
 * it what a downstream connection sent, stream.c what an upstream answered,
 * and nothing is forwarded until it says the head is complete and
 * unambiguous. One pass, no allocation, no per-byte calls: bytes are
 * classified with 256-entry tables and the long runs (field values, targets)
 * are checked eight bytes at a time. Library module: never logs.
 */
#include "canaryd/common.h"
#include "canaryd/http1/h1.h"

#include <stdint.h>
#include <string.h>

/* Bits of char_class[]. */
enum h1_cc {
    CC_NONE = 0,
    CC_FIELD = 1u << 0,  /* field-content byte: HTAB, SP, VCHAR, obs-text */
    CC_TARGET = 1u << 1, /* request-target byte: 0x21-0x7E except '#' */
    CC_HOST = 1u << 2,   /* reg-name byte: unreserved, sub-delims, '%' */
    CC_DIGIT = 1u << 3,  /* 0-9 */
};

/* clang-format off */
/* tchar (RFC 9110 5.6.2) -> its lower-case form; 0 for anything else */
static const uint8_t tchar_lower[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, '!', 0, '#', '$', '%', '&', '\'', 0, 0, '*', '+', 0, '-', '.', 0,
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 0, 0, 0, 0, 0, 0,
    0, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, 0, 0, '^', '_',
    '`', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 0, '|', 0, '~', 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* CC_* bits per byte (enum h1_cc) */
static const uint8_t char_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 7, 3, 1, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 3, 7, 3, 7, 3, 3,
    3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 3, 3, 3, 7,
    3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 3, 3, 3, 7, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
/* hex digit -> value; 0xff for anything else */
static const uint8_t hex_value[256] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 10, 11, 12, 13, 14, 15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 10, 11, 12, 13, 14, 15, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};
/* clang-format on */

/* Absolute-form target without a path: RFC 9112 3.2.2 says the path is "/". */
static char root_path[] = "/";

/* ---- byte-run scanners ------------------------------------------------- */

/* clang-format off */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
/* Nonzero when some byte of x is below n (n <= 128); exact as a boolean. */
#define SWAR_HAS_LESS(x, n) (((x) - ONES * (n)) & ~(x) & HIGHS)
/* Nonzero when some byte of x equals b. */
#define SWAR_HAS_BYTE(x, b) SWAR_HAS_LESS((x) ^ (ONES * (b)), 1)
/* clang-format on */

static inline uint64_t
load64(const char *p)
{
    uint64_t x;

    memcpy(&x, p, sizeof(x));
    return x;
}

/* Nonzero when a byte of x is not field-content or is HTAB (HTAB is then
 * accepted byte-wise); the lowest set bit marks the first such byte. */
static inline uint64_t
field_stops(uint64_t x)
{
    return SWAR_HAS_LESS(x, 0x20) | SWAR_HAS_BYTE(x, 0x7f);
}

/* Nonzero when a byte of x is not a request-target byte; as above. */
static inline uint64_t
target_stops(uint64_t x)
{
    return SWAR_HAS_LESS(x, 0x21) | SWAR_HAS_BYTE(x, 0x7f) | SWAR_HAS_BYTE(x, '#') | (x & HIGHS);
}

/* Index of the first flagged byte of a nonzero stops mask. Exact: a borrow
 * only runs towards later bytes, so the lowest flag is never a false one. */
static inline size_t
first_stop(uint64_t stops)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (size_t)__builtin_ctzll(stops) >> 3;
#else
    (void)stops;
    return 0; /* big-endian: let the byte loop find it */
#endif
}

/* Returns how many bytes from p on (up to end) are field-content bytes. */
static inline size_t
field_span(const char *p, const char *end)
{
    const char *s = p;

    while (end - p >= 8) {
        uint64_t stops = field_stops(load64(p));
        if (stops == 0) {
            p += 8;
            continue;
        }
        p += first_stop(stops);
        if (*p != '\t')
            break;
        p++;
    }
    while (p < end && (char_class[(uint8_t)*p] & CC_FIELD))
        p++;
    return (size_t)(p - s);
}

/* Returns how many bytes from p on (up to end) are request-target bytes. */
static inline size_t
target_span(const char *p, const char *end)
{
    const char *s = p;

    while (end - p >= 8) {
        uint64_t stops = target_stops(load64(p));
        if (stops != 0) {
            p += first_stop(stops);
            break;
        }
        p += 8;
    }
    while (p < end && (char_class[(uint8_t)*p] & CC_TARGET))
        p++;
    return (size_t)(p - s);
}

static inline char
ascii_lower(char c)
{
    return (char)(c | (((unsigned)(unsigned char)c - 'A' < 26u) << 5));
}

/* True when s[0..n) equals lit[0..lit_len) ignoring ASCII case. */
static bool
ieq(const char *s, size_t n, const char *lit, size_t lit_len)
{
    if (n != lit_len)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (ascii_lower(s[i]) != ascii_lower(lit[i]))
            return false;
    }
    return true;
}

static bool
is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (tchar_lower[(uint8_t)s[i]] == 0)
            return false;
    }
    return n > 0;
}

static bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- comma-separated lists (RFC 9110 5.6.1) ---------------------------- */

struct list_iter {
    const char *p;   /* borrowed: the field value; NULL after the last element */
    const char *end; /* borrowed: end of the field value */
};

/* Yields the next element with OWS trimmed; elements may be empty ("a,,b"
 * yields "a", "", "b"; "" yields one empty element). */
static bool
list_next(struct list_iter *it, const char **elt, size_t *elt_len)
{
    if (it->p == NULL)
        return false;
    const char *s = it->p;
    const char *e = s;

    /* Elements are short: a plain loop beats a call to memchr. */
    while (e < it->end && *e != ',')
        e++;
    it->p = e < it->end ? e + 1 : NULL;
    while (s < e && is_ows(*s))
        s++;
    while (e > s && is_ows(e[-1]))
        e--;
    *elt = s;
    *elt_len = (size_t)(e - s);
    return true;
}

/* ---- head parser state ------------------------------------------------- */

struct h1_parse {
    struct h1_msg *msg;  /* borrowed: the caller's message */
    char *p;             /* borrowed: cursor into the caller's buffer */
    char *end;           /* borrowed: end of what may be looked at now */
    uint16_t end_status; /* running out at end: 0 = need more, else this error */
    bool is_request;
    bool has_cl;
    bool has_te;
    bool te_chunked;    /* chunked seen and, so far, the final coding */
    bool te_unknown;    /* a request coding canaryd does not know (501) */
    bool has_bad_major; /* HTTP-version with a major other than 1 (505) */
    uint8_t nhost;
};

/* What a window replaced, to restore it. */
struct h1_window {
    char *end; /* borrowed: the caller's buffer */
    uint16_t end_status;
};

static int
fail(struct h1_parse *ps, uint16_t status, const char *why)
{
    ps->msg->err_status = ps->is_request ? status : 502;
    ps->msg->err = why;
    return -1;
}

/* The bytes ran out at ps->end: either wait for more or, when end is a limit,
 * the construct being parsed is too long. */
static int
ran_out(struct h1_parse *ps)
{
    if (ps->end_status == 0)
        return 0;
    if (ps->end_status == 414)
        return fail(ps, 414, "request line too long");
    return fail(ps, 431, "header section too large");
}

/* Narrows what may be looked at to limit bytes from the cursor. Running out
 * exactly at a limit means the construct needs more than limit bytes. */
static struct h1_window
window_push(struct h1_parse *ps, size_t limit, uint16_t status)
{
    struct h1_window saved = {ps->end, ps->end_status};

    if ((size_t)(ps->end - ps->p) >= limit) {
        ps->end = ps->p + limit;
        ps->end_status = status;
    }
    return saved;
}

static void
window_pop(struct h1_parse *ps, struct h1_window saved)
{
    ps->end = saved.end;
    ps->end_status = saved.end_status;
}

static void
parse_init(struct h1_parse *ps, struct h1_msg *msg, char *buf, size_t len, bool is_request)
{
    *ps = (struct h1_parse){
        .msg = msg,
        .p = buf,
        .end = buf + len,
        .is_request = is_request,
    };
    /* Everything before hdrs is scalars and views; hdrs is filled as parsed. */
    memset(msg, 0, offsetof(struct h1_msg, hdrs));
    msg->nhdrs = 0;
    msg->head_len = 0;
    msg->err_status = 0;
    msg->err = NULL;
}

static ssize_t
parse_result(struct h1_parse *ps, const char *buf, int rc)
{
    if (rc <= 0)
        return rc;
    ps->msg->head_len = (uint32_t)(ps->p - buf);
    return (ssize_t)ps->msg->head_len;
}

/* Consumes CRLF at the cursor. */
static int
expect_crlf(struct h1_parse *ps, const char *why)
{
    if (ps->p == ps->end)
        return ran_out(ps);
    if (ps->p[0] != '\r')
        return fail(ps, 400, why);
    if (ps->p + 1 == ps->end)
        return ran_out(ps);
    if (ps->p[1] != '\n')
        return fail(ps, 400, "bare CR");
    ps->p += 2;
    return 1;
}

/* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3): '#' is a digit. */
static const char version_shape[] = "HTTP/#.#";

static bool
version_char_ok(size_t i, char c)
{
    if (version_shape[i] == '#')
        return c >= '0' && c <= '9';
    return c == version_shape[i];
}

/* Consumes an HTTP-version; any prefix of one is "need more". HTTP/1.0 and
 * HTTP/1.1 are parsed; another major version is well-formed but unsupported
 * (ps->has_bad_major: 505 once the line is complete); another 1.x is 400. */
static int
parse_version(struct h1_parse *ps)
{
    size_t avail = (size_t)(ps->end - ps->p);
    size_t n = MIN(avail, sizeof(version_shape) - 1);

    for (size_t i = 0; i < n; i++) {
        if (!version_char_ok(i, ps->p[i]))
            return fail(ps, 400, "malformed HTTP version");
    }
    if (unlikely(avail < sizeof(version_shape) - 1))
        return ran_out(ps);
    if (ps->p[5] != '1')
        ps->has_bad_major = true;
    else if (ps->p[7] != '0' && ps->p[7] != '1')
        return fail(ps, 400, "unsupported HTTP/1 minor version");
    ps->msg->version_minor = ps->has_bad_major ? 1 : (uint8_t)(ps->p[7] - '0');
    ps->p += 8;
    return 1;
}

/* ---- authority and request-target -------------------------------------- */

static const char *
skip_ip_literal(const char *p, const char *end)
{
    const char *s = ++p;

    while (p < end && (hex_value[(uint8_t)*p] != 0xff || *p == ':' || *p == '.'))
        p++;
    if (p == end || *p != ']' || p == s)
        return NULL;
    return p + 1;
}

/* True for host[:port] with a non-empty host: reg-name, IPv4 or [IPv6]. */
static bool
is_authority(const char *s, size_t n)
{
    const char *p = s, *end = s + n;

    if (p < end && *p == '[')
        p = skip_ip_literal(p, end);
    else
        while (p < end && (char_class[(uint8_t)*p] & CC_HOST))
            p++;
    if (p == NULL || p == s)
        return false;
    if (p == end)
        return true;
    if (*p != ':')
        return false;
    for (p++; p < end; p++) {
        if (!(char_class[(uint8_t)*p] & CC_DIGIT))
            return false;
    }
    return true;
}

/* Splits s[0..n) (starting with '/' or '?') at the first '?'. */
static void
split_path(struct h1_msg *m, char *s, size_t n)
{
    char *q = memchr(s, '?', n);

    m->path = s;
    m->path_len = (uint32_t)n;
    if (q == NULL)
        return;
    m->path_len = (uint32_t)(q - s);
    m->query = q + 1;
    m->query_len = (uint32_t)(n - m->path_len - 1);
    if (m->path_len == 0) {
        m->path = root_path;
        m->path_len = 1;
    }
}

static int
parse_absolute_form(struct h1_parse *ps)
{
    struct h1_msg *m = ps->msg;
    char *auth = m->target + 7, *end = m->target + m->target_len;
    char *p = auth;

    while (p < end && *p != '/' && *p != '?')
        p++;
    if (!is_authority(auth, (size_t)(p - auth)))
        return fail(ps, 400, "invalid authority in request-target");
    m->host = auth;
    m->host_len = (uint32_t)(p - auth);
    m->flags |= H1_F_ABSOLUTE_FORM;
    if (p == end) {
        m->path = root_path;
        m->path_len = 1;
        return 1;
    }
    split_path(m, p, (size_t)(end - p));
    return 1;
}

static bool
method_is(const struct h1_msg *m, const char *name, size_t len)
{
    return m->method_len == len && memcmp(m->method, name, len) == 0;
}

/* Which of the four request-target forms (RFC 9112 3.2) this is. */
static int
classify_target(struct h1_parse *ps)
{
    struct h1_msg *m = ps->msg;

    if (method_is(m, "CONNECT", 7))
        return fail(ps, 400, "CONNECT is not supported");
    if (m->target[0] == '/') {
        split_path(m, m->target, m->target_len);
        return 1;
    }
    if (m->target_len == 1 && m->target[0] == '*') {
        if (!method_is(m, "OPTIONS", 7))
            return fail(ps, 400, "asterisk-form without OPTIONS");
        m->path = m->target;
        m->path_len = 1;
        return 1;
    }
    if (m->target_len > 7 && ieq(m->target, 7, "http://", 7))
        return parse_absolute_form(ps);
    return fail(ps, 400, "invalid request-target");
}

/* ---- request line ------------------------------------------------------- */

static int
parse_method(struct h1_parse *ps)
{
    char *m = ps->p, *p = m;

    while (p < ps->end && tchar_lower[(uint8_t)*p] != 0)
        p++;
    if (p == ps->end)
        return ran_out(ps);
    if (*p != ' ' || p == m)
        return fail(ps, 400, "invalid method");
    ps->msg->method = m;
    ps->msg->method_len = (uint32_t)(p - m);
    ps->p = p + 1;
    return 1;
}

static int
parse_target(struct h1_parse *ps)
{
    char *t = ps->p;
    char *p = t + target_span(t, ps->end);

    if (p == ps->end)
        return ran_out(ps);
    if (*p != ' ' || p == t)
        return fail(ps, 400, "invalid request-target");
    ps->msg->target = t;
    ps->msg->target_len = (uint32_t)(p - t);
    ps->p = p + 1;
    return 1;
}

static int
parse_request_line(struct h1_parse *ps)
{
    /* Running out of MAX bytes before the version ends: longer than MAX. */
    struct h1_window saved = window_push(ps, H1_MAX_REQUEST_LINE, 414);
    int rc = parse_method(ps);

    if (rc > 0)
        rc = parse_target(ps);
    if (rc > 0)
        rc = parse_version(ps);
    window_pop(ps, saved);
    if (rc > 0)
        rc = expect_crlf(ps, "invalid request line");
    /* Before the target's form: "PRI * HTTP/2.0" is a version problem. */
    if (rc > 0 && ps->has_bad_major)
        return fail(ps, 505, "HTTP major version other than 1");
    if (rc > 0)
        rc = classify_target(ps);
    return rc;
}

/* Skips up to H1_MAX_EMPTY_LINES CRLFs (RFC 9112 2.2), then bounds the head. */
static int
skip_empty_lines(struct h1_parse *ps)
{
    for (int n = 0; ps->p < ps->end && ps->p[0] == '\r'; n++) {
        if (n == H1_MAX_EMPTY_LINES)
            return fail(ps, 400, "too many empty lines before the request line");
        if (ps->p + 1 == ps->end)
            return 0;
        if (ps->p[1] != '\n')
            return fail(ps, 400, "bare CR");
        ps->p += 2;
    }
    if (ps->p == ps->end)
        return 0;
    (void)window_push(ps, H1_MAX_HEAD, 431);
    return 1;
}

/* ---- known header fields ------------------------------------------------ */

typedef int (*field_fn)(struct h1_parse *ps, const struct http_hdr *h);

static int
field_host(struct h1_parse *ps, const struct http_hdr *h)
{
    struct h1_msg *m = ps->msg;

    if (++ps->nhost > 1)
        return fail(ps, 400, "more than one Host");
    if (h->value_len != 0 && !is_authority(h->value, h->value_len))
        return fail(ps, 400, "invalid Host");
    if (!(m->flags & H1_F_ABSOLUTE_FORM)) {
        m->host = h->value;
        m->host_len = h->value_len;
    }
    return 1;
}

/* 1*DIGIT below 2^63. */
static bool
parse_decimal(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(uint8_t)s[i] - '0';
        if (d > 9 || v > ((uint64_t)INT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static int
field_content_length(struct h1_parse *ps, const struct http_hdr *h)
{
    struct list_iter it = {h->value, h->value + h->value_len};
    const char *elt;
    size_t n;
    uint64_t v;

    if (ps->has_te)
        return fail(ps, 400, "Content-Length with Transfer-Encoding");
    while (list_next(&it, &elt, &n)) {
        if (!parse_decimal(elt, n, &v))
            return fail(ps, 400, "invalid Content-Length");
        if (ps->has_cl && v != ps->msg->content_length)
            return fail(ps, 400, "differing Content-Length values");
        ps->has_cl = true;
        ps->msg->content_length = v;
    }
    return 1;
}

/* Codings a request may apply before chunked; none is decoded here. */
static const struct {
    const char *name; /* static string */
    size_t len;
} request_codings[] = {
    {"gzip", 4}, {"x-gzip", 6}, {"deflate", 7}, {"compress", 8}, {"x-compress", 10},
};

static bool
is_request_coding(const char *s, size_t n)
{
    for (size_t i = 0; i < countof(request_codings); i++) {
        if (ieq(s, n, request_codings[i].name, request_codings[i].len))
            return true;
    }
    return false;
}

static int
te_coding(struct h1_parse *ps, const char *s, size_t n)
{
    if (!is_token(s, n))
        return fail(ps, 400, "invalid transfer-coding");
    if (ps->te_chunked)
        return fail(ps, 400, "chunked is not the final transfer-coding");
    if (ieq(s, n, "chunked", 7)) {
        ps->te_chunked = true;
        return 1;
    }
    /* Answered 501 once the whole head proved well-formed (request_finish). */
    if (ps->is_request && !is_request_coding(s, n))
        ps->te_unknown = true;
    ps->msg->flags |= H1_F_TE_OTHER;
    return 1;
}

static int
field_transfer_encoding(struct h1_parse *ps, const struct http_hdr *h)
{
    struct list_iter it = {h->value, h->value + h->value_len};
    const char *elt;
    size_t n;
    bool is_empty = true;

    /* RFC 9112 6.1: HTTP/1.0 with Transfer-Encoding is faulty framing. */
    if (ps->msg->version_minor == 0)
        return fail(ps, 400, "Transfer-Encoding in HTTP/1.0");
    if (ps->has_cl)
        return fail(ps, 400, "Content-Length with Transfer-Encoding");
    ps->has_te = true;
    while (list_next(&it, &elt, &n)) {
        if (n == 0)
            continue;
        is_empty = false;
        if (te_coding(ps, elt, n) < 0)
            return -1;
    }
    if (is_empty)
        return fail(ps, 400, "empty Transfer-Encoding");
    return 1;
}

static const struct {
    const char *token; /* static string */
    size_t len;
    uint32_t flag;
} connection_tokens[] = {
    {"close", 5, H1_F_CONN_CLOSE},
    {"keep-alive", 10, H1_F_CONN_KEEPALIVE},
    {"upgrade", 7, H1_F_CONN_UPGRADE},
};

static int
field_connection(struct h1_parse *ps, const struct http_hdr *h)
{
    struct list_iter it = {h->value, h->value + h->value_len};
    const char *elt;
    size_t n;

    while (list_next(&it, &elt, &n)) {
        for (size_t i = 0; i < countof(connection_tokens); i++) {
            if (ieq(elt, n, connection_tokens[i].token, connection_tokens[i].len))
                ps->msg->flags |= connection_tokens[i].flag;
        }
    }
    return 1;
}

static int
field_expect(struct h1_parse *ps, const struct http_hdr *h)
{
    /* RFC 9110 10.1.1: 100-continue in an HTTP/1.0 request is ignored. */
    if (ps->msg->version_minor == 1 && ieq(h->value, h->value_len, "100-continue", 12))
        ps->msg->flags |= H1_F_EXPECT_CONTINUE;
    return 1;
}

static int
field_upgrade(struct h1_parse *ps, const struct http_hdr *h)
{
    (void)h;
    ps->msg->flags |= H1_F_UPGRADE;
    return 1;
}

/* Indexed by name length: one short compare per header line. Two names of
 * the same length would need a second table. */
static const struct field_rule {
    const char *name; /* static string, lower case */
    field_fn fn;
    bool is_request_only;
} field_rules[] = {
    [4] = {"host", field_host, true},
    [6] = {"expect", field_expect, true},
    [7] = {"upgrade", field_upgrade, false},
    [10] = {"connection", field_connection, false},
    [14] = {"content-length", field_content_length, false},
    [17] = {"transfer-encoding", field_transfer_encoding, false},
};

static int
field_dispatch(struct h1_parse *ps, const struct http_hdr *h)
{
    if (h->name_len >= countof(field_rules))
        return 1;
    const struct field_rule *r = &field_rules[h->name_len];
    if (r->fn == NULL || (r->is_request_only && !ps->is_request))
        return 1;
    for (uint32_t i = 0; i < h->name_len; i++) {
        if (h->name[i] != r->name[i])
            return 1;
    }
    return r->fn(ps, h);
}

/* ---- header section ------------------------------------------------------ */

/* Lower-cases the name in place; returns its length. */
static size_t
name_span(char *p, const char *end)
{
    char *s = p;
    uint8_t c;

    while (p < end && (c = tchar_lower[(uint8_t)*p]) != 0)
        *p++ = (char)c;
    return (size_t)(p - s);
}

static int
name_error(struct h1_parse *ps, const char *p, size_t n)
{
    if (is_ows(*p))
        return fail(ps, 400, "whitespace in or after a header name");
    if (*p == ':' && n == 0)
        return fail(ps, 400, "empty header name");
    return fail(ps, 400, "invalid character in header name");
}

/* Value from the cursor to CRLF; OWS around it is not part of it. */
static int
parse_value(struct h1_parse *ps, struct http_hdr *h)
{
    char *v = ps->p, *p;

    while (v < ps->end && is_ows(*v))
        v++;
    p = v + field_span(v, ps->end);
    if (p == ps->end)
        return ran_out(ps);
    if (*p != '\r')
        return fail(ps, 400, *p == '\n' ? "bare LF" : "control character in header value");
    if (p + 1 == ps->end)
        return ran_out(ps);
    if (p[1] != '\n')
        return fail(ps, 400, "bare CR");
    ps->p = p + 2;
    while (p > v && is_ows(p[-1]))
        p--;
    h->value = v;
    h->value_len = (uint32_t)(p - v);
    return 1;
}

static int
parse_field_line(struct h1_parse *ps)
{
    struct h1_msg *m = ps->msg;
    char *name = ps->p;
    size_t n = name_span(name, ps->end);

    if (name + n == ps->end)
        return ran_out(ps);
    if (name[n] != ':' || n == 0)
        return name_error(ps, name + n, n);
    if (m->nhdrs == H1_MAX_HEADERS)
        return fail(ps, 431, "too many header fields");
    struct http_hdr *h = &m->hdrs[m->nhdrs];
    h->name = name;
    h->name_len = (uint32_t)n;
    ps->p = name + n + 1;
    int rc = parse_value(ps, h);
    if (rc <= 0)
        return rc;
    m->nhdrs++;
    return field_dispatch(ps, h);
}

/* Field lines up to and including the empty line. */
static int
parse_fields(struct h1_parse *ps)
{
    for (;;) {
        if (ps->p == ps->end)
            return ran_out(ps);
        switch (ps->p[0]) {
        case '\r':
            return expect_crlf(ps, "bare CR");
        case '\n':
            return fail(ps, 400, "bare LF");
        case ' ':
        case '\t':
            return fail(ps, 400, "obs-fold or whitespace before a header name");
        default:
            break;
        }
        int rc = parse_field_line(ps);
        if (rc <= 0)
            return rc;
    }
}

static void
finish_connection(struct h1_msg *m)
{
    if (m->version_minor == 0 && !(m->flags & H1_F_CONN_KEEPALIVE))
        m->flags |= H1_F_CONN_CLOSE;
}

static int
request_finish(struct h1_parse *ps)
{
    struct h1_msg *m = ps->msg;

    if (m->version_minor == 1 && ps->nhost == 0)
        return fail(ps, 400, "missing Host");
    /* RFC 9112 6.1: a coding the server does not understand is 501; one it
     * knows but not last before chunked leaves the length unknown: 400 (6.3). */
    if (ps->te_unknown)
        return fail(ps, 501, "transfer-coding not implemented");
    if (ps->has_te && !ps->te_chunked)
        return fail(ps, 400, "final transfer-coding is not chunked");
    if (ps->te_chunked)
        m->framing = H1_FRAME_CHUNKED;
    else if (ps->has_cl)
        m->framing = H1_FRAME_LENGTH;
    else
        m->framing = H1_FRAME_NONE;
    finish_connection(m);
    return 1;
}

ssize_t
h1_parse_request(char *buf, size_t len, struct h1_msg *req)
{
    struct h1_parse ps;

    parse_init(&ps, req, buf, len, true);
    int rc = skip_empty_lines(&ps);
    if (rc > 0)
        rc = parse_request_line(&ps);
    if (rc > 0)
        rc = parse_fields(&ps);
    if (rc > 0)
        rc = request_finish(&ps);
    return parse_result(&ps, buf, rc);
}

/* ---- status line ---------------------------------------------------------- */

/* SP and three digits. */
static int
parse_status_code(struct h1_parse *ps)
{
    const char *p = ps->p;

    for (int i = 0; i < 4; i++) {
        if (p + i == ps->end)
            return ran_out(ps);
        bool is_ok = i == 0 ? p[0] == ' ' : (char_class[(uint8_t)p[i]] & CC_DIGIT) != 0;
        if (!is_ok)
            return fail(ps, 502, "invalid status code");
    }
    unsigned status =
        (unsigned)(p[1] - '0') * 100 + (unsigned)(p[2] - '0') * 10 + (unsigned)(p[3] - '0');
    if (status < 100)
        return fail(ps, 502, "invalid status code");
    ps->msg->status = (uint16_t)status;
    ps->p += 4;
    return 1;
}

/* [ SP reason ] CRLF; a missing SP before an empty reason is tolerated. */
static int
parse_reason(struct h1_parse *ps)
{
    char *r = ps->p;

    if (r == ps->end)
        return ran_out(ps);
    if (*r == ' ') {
        r++;
        ps->p = r + field_span(r, ps->end);
    }
    if (ps->p == ps->end)
        return ran_out(ps);
    ps->msg->reason = r;
    ps->msg->reason_len = (uint32_t)(ps->p - r);
    return 1;
}

static int
parse_status_line(struct h1_parse *ps)
{
    /* The reason ends at its CR, so that CR must lie inside the window. */
    struct h1_window saved = window_push(ps, H1_MAX_REQUEST_LINE + 1, 414);
    int rc = parse_version(ps);

    if (rc > 0 && ps->has_bad_major)
        rc = fail(ps, 502, "HTTP major version other than 1");
    if (rc > 0)
        rc = parse_status_code(ps);
    if (rc > 0)
        rc = parse_reason(ps);
    window_pop(ps, saved);
    if (rc > 0)
        rc = expect_crlf(ps, "invalid status line");
    return rc;
}

static int
response_finish(struct h1_parse *ps, bool is_head)
{
    struct h1_msg *m = ps->msg;
    bool is_bodyless = m->status < 200 || m->status == 204;

    if (is_bodyless && (ps->has_cl || ps->has_te))
        return fail(ps, 502, "Content-Length or Transfer-Encoding on a 1xx or 204");
    if (is_head || is_bodyless || m->status == 304)
        m->framing = H1_FRAME_NONE;
    else if (ps->te_chunked)
        m->framing = H1_FRAME_CHUNKED;
    else if (ps->has_cl && !ps->has_te)
        m->framing = H1_FRAME_LENGTH;
    else
        m->framing = H1_FRAME_CLOSE;
    finish_connection(m);
    return 1;
}

ssize_t
h1_parse_response(char *buf, size_t len, const char *method, size_t method_len, struct h1_msg *resp)
{
    struct h1_parse ps;
    bool is_head = method != NULL && method_len == 4 && memcmp(method, "HEAD", 4) == 0;

    parse_init(&ps, resp, buf, len, false);
    if (len == 0)
        return 0;
    (void)window_push(&ps, H1_MAX_HEAD, 431);
    int rc = parse_status_line(&ps);
    if (rc > 0)
        rc = parse_fields(&ps);
    if (rc > 0)
        rc = response_finish(&ps, is_head);
    return parse_result(&ps, buf, rc);
}

/* ---- helpers for callers ---------------------------------------------------- */

/* Past these lengths the request line or the head cannot fit any more (for
 * a request, leading empty lines come first). */
#define READY_LINE_MARK (H1_MAX_REQUEST_LINE + 2 * H1_MAX_EMPTY_LINES + 2)
#define READY_HEAD_MARK (H1_MAX_HEAD + 2 * H1_MAX_EMPTY_LINES)

static bool
crosses(size_t from, size_t to, size_t mark)
{
    return from < mark && to >= mark;
}

/* True when the line feed at buf[i] ends the head, is bare, or is early. */
static bool
lf_is_ready(struct h1_head_progress *hp, const char *buf, size_t i)
{
    if (++hp->nlf <= H1_MAX_EMPTY_LINES + 1)
        return true;
    if (i == 0 || buf[i - 1] != '\r')
        return true;
    return i >= 3 && buf[i - 3] == '\r' && buf[i - 2] == '\n';
}

bool
h1_head_is_ready(struct h1_head_progress *hp, const char *buf, size_t len)
{
    size_t from = hp->scanned;
    bool is_ready = false;

    if (len <= from)
        return false;
    hp->scanned = len;
    if (crosses(from, len, READY_LINE_MARK) || crosses(from, len, READY_HEAD_MARK))
        is_ready = true;
    for (const char *p = buf + from, *end = buf + len; !is_ready && p < end; p++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (p == NULL)
            break;
        is_ready = lf_is_ready(hp, buf, (size_t)(p - buf));
    }
    return is_ready;
}

void
h1_req_view(const struct h1_msg *msg, struct http_req *v)
{
    *v = (struct http_req){
        .method = {msg->method, msg->method_len},
        .authority = {msg->host, msg->host_len},
        .path = {msg->path, msg->path_len},
        .query = {msg->query, msg->query_len},
        .hdrs = msg->hdrs,
        .nhdrs = msg->nhdrs,
    };
}

const struct http_hdr *
h1_hdr_find(const struct h1_msg *msg, const char *name, size_t name_len)
{
    return http_hdr_find(msg->hdrs, msg->nhdrs, name, name_len);
}

static const struct {
    const char *name; /* static string */
    size_t len;
} hop_by_hop[] = {
    {"connection", 10}, {"keep-alive", 10},        {"proxy-connection", 16}, {"te", 2},
    {"trailer", 7},     {"transfer-encoding", 17}, {"upgrade", 7},
};

bool
h1_is_hop_by_hop(const char *name, size_t name_len)
{
    for (size_t i = 0; i < countof(hop_by_hop); i++) {
        if (hop_by_hop[i].len == name_len && memcmp(hop_by_hop[i].name, name, name_len) == 0)
            return true;
    }
    return false;
}

bool
h1_token_list_has(const char *value, size_t value_len, const char *token, size_t token_len)
{
    struct list_iter it = {value, value + value_len};
    const char *elt;
    size_t n;

    while (list_next(&it, &elt, &n)) {
        if (ieq(elt, n, token, token_len))
            return true;
    }
    return false;
}

/* ---- chunked body scanner --------------------------------------------------- */

enum chunk_state {
    CH_SIZE = 0, /* hex digits; line_len counts them */
    CH_SIZE_WS,  /* BWS after the size, before ';' */
    CH_EXT,      /* chunk extensions up to CR */
    CH_SIZE_LF,
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER, /* start of a trailer line or of the final CRLF */
    CH_TR_NAME,
    CH_TR_VALUE,
    CH_TR_LF,
    CH_LAST_LF,
    CH_DONE,
    CH_ERROR,
};

struct chunk_scan {
    struct h1_chunked *st; /* borrowed: the caller's state */
    const char *p;         /* borrowed: cursor into the caller's buffer */
    const char *end;       /* borrowed: end of the caller's bytes */
    const char *data;      /* borrowed: this call's payload run; NULL when none yet */
    size_t data_len;
};

static int
chunk_fail(struct chunk_scan *cs)
{
    cs->st->state = CH_ERROR;
    return -1;
}

/* Moves on to state, having consumed n more bytes of the current line. */
static int
chunk_advance(struct chunk_scan *cs, size_t n, enum chunk_state state)
{
    struct h1_chunked *st = cs->st;

    if (n > H1_MAX_CHUNK_LINE || st->line_len + n > H1_MAX_CHUNK_LINE)
        return chunk_fail(cs);
    st->line_len += (uint32_t)n;
    cs->p += n;
    st->state = state;
    return 1;
}

/* Consumes the CR ending a line; it does not count against the line bound. */
static int
chunk_cr(struct chunk_scan *cs, enum chunk_state state)
{
    cs->p++;
    cs->st->state = state;
    return 1;
}

/* Consumes one expected byte, ending the line. */
static int
chunk_expect(struct chunk_scan *cs, char c, enum chunk_state state)
{
    if (*cs->p != c)
        return chunk_fail(cs);
    cs->p++;
    cs->st->state = state;
    cs->st->line_len = 0;
    return 1;
}

static int
chunk_size_end(struct chunk_scan *cs)
{
    switch (*cs->p) {
    case '\r':
        return chunk_cr(cs, CH_SIZE_LF);
    case ';':
        return chunk_advance(cs, 1, CH_EXT);
    case ' ':
    case '\t':
        return chunk_advance(cs, 1, CH_SIZE_WS);
    default:
        return chunk_fail(cs);
    }
}

static int
chunk_size(struct chunk_scan *cs)
{
    struct h1_chunked *st = cs->st;
    uint8_t v;

    while (cs->p < cs->end && (v = hex_value[(uint8_t)*cs->p]) != 0xff) {
        /* Past 16 digits or 2^63 is an attack, not a body. */
        if (st->line_len == H1_MAX_CHUNK_DIGITS || (st->remaining >> 59) != 0)
            return chunk_fail(cs);
        st->remaining = st->remaining << 4 | v;
        st->line_len++;
        cs->p++;
    }
    if (cs->p == cs->end)
        return 1;
    if (st->line_len == 0)
        return chunk_fail(cs);
    return chunk_size_end(cs);
}

static int
chunk_size_ws(struct chunk_scan *cs)
{
    if (is_ows(*cs->p))
        return chunk_advance(cs, 1, CH_SIZE_WS);
    if (*cs->p == ';')
        return chunk_advance(cs, 1, CH_EXT);
    return chunk_fail(cs);
}

static int
chunk_ext(struct chunk_scan *cs)
{
    size_t n = field_span(cs->p, cs->end);

    if (chunk_advance(cs, n, CH_EXT) < 0)
        return -1;
    if (cs->p == cs->end)
        return 1;
    if (*cs->p != '\r')
        return chunk_fail(cs);
    return chunk_cr(cs, CH_SIZE_LF);
}

static int
chunk_size_lf(struct chunk_scan *cs)
{
    return chunk_expect(cs, '\n', cs->st->remaining == 0 ? CH_TRAILER : CH_DATA);
}

static int
chunk_data(struct chunk_scan *cs)
{
    struct h1_chunked *st = cs->st;

    if (cs->data != NULL)
        return 0; /* one payload run per call */
    size_t n = (size_t)MIN(st->remaining, (uint64_t)(cs->end - cs->p));
    cs->data = cs->p;
    cs->data_len = n;
    cs->p += n;
    st->remaining -= n;
    if (st->remaining == 0)
        st->state = CH_DATA_CR;
    return 1;
}

static int
chunk_trailer(struct chunk_scan *cs)
{
    if (*cs->p == '\r')
        return chunk_cr(cs, CH_LAST_LF);
    /* A leading SP/HTAB would be obs-fold; ':' an empty name. */
    if (tchar_lower[(uint8_t)*cs->p] == 0)
        return chunk_fail(cs);
    return chunk_advance(cs, 1, CH_TR_NAME);
}

static int
chunk_tr_name(struct chunk_scan *cs)
{
    const char *p = cs->p;

    while (p < cs->end && tchar_lower[(uint8_t)*p] != 0)
        p++;
    if (chunk_advance(cs, (size_t)(p - cs->p), CH_TR_NAME) < 0)
        return -1;
    if (p == cs->end)
        return 1;
    if (*p != ':')
        return chunk_fail(cs);
    return chunk_advance(cs, 1, CH_TR_VALUE);
}

static int
chunk_tr_value(struct chunk_scan *cs)
{
    if (chunk_advance(cs, field_span(cs->p, cs->end), CH_TR_VALUE) < 0)
        return -1;
    if (cs->p == cs->end)
        return 1;
    if (*cs->p != '\r')
        return chunk_fail(cs);
    return chunk_cr(cs, CH_TR_LF);
}

static int
chunk_tr_lf(struct chunk_scan *cs)
{
    struct h1_chunked *st = cs->st;

    /* The line and its CRLF count against the trailer section bound. */
    st->trailer_len += st->line_len + 2;
    if (st->trailer_len > H1_MAX_TRAILERS)
        return chunk_fail(cs);
    return chunk_expect(cs, '\n', CH_TRAILER);
}

static int
chunk_last_lf(struct chunk_scan *cs)
{
    int rc = chunk_expect(cs, '\n', CH_DONE);

    if (rc > 0)
        cs->st->done = true;
    return rc;
}

/* One state: consumes what it can; -1 error, 0 stop this call, 1 go on. */
static int
chunk_step(struct chunk_scan *cs)
{
    switch ((enum chunk_state)cs->st->state) {
    case CH_SIZE:
        return chunk_size(cs);
    case CH_SIZE_WS:
        return chunk_size_ws(cs);
    case CH_EXT:
        return chunk_ext(cs);
    case CH_SIZE_LF:
        return chunk_size_lf(cs);
    case CH_DATA:
        return chunk_data(cs);
    case CH_DATA_CR:
        return chunk_expect(cs, '\r', CH_DATA_LF);
    case CH_DATA_LF:
        return chunk_expect(cs, '\n', CH_SIZE);
    case CH_TRAILER:
        return chunk_trailer(cs);
    case CH_TR_NAME:
        return chunk_tr_name(cs);
    case CH_TR_VALUE:
        return chunk_tr_value(cs);
    case CH_TR_LF:
        return chunk_tr_lf(cs);
    case CH_LAST_LF:
        return chunk_last_lf(cs);
    case CH_DONE:
        return 0;
    case CH_ERROR:
        break;
    }
    return -1;
}

ssize_t
h1_chunked_scan(struct h1_chunked *st, const char *buf, size_t len, size_t *data_off,
                size_t *data_len)
{
    struct chunk_scan cs = {.st = st, .p = buf, .end = buf + len};
    int rc = 1;

    *data_off = 0;
    *data_len = 0;
    if (st->state == CH_ERROR)
        return -1;
    while (cs.p < cs.end && rc > 0 && !st->done)
        rc = chunk_step(&cs);
    if (rc < 0)
        return -1;
    if (cs.data != NULL) {
        *data_off = (size_t)(cs.data - buf);
        *data_len = cs.data_len;
    }
    return cs.p - buf;
}

/* Resolves dot segments (see h1.h). */
size_t
h1_path_normalize(char *p, size_t n)
{
    size_t w = 0;
    for (size_t r = 0; r < n; r++) {
        if (p[r] == '%' && r + 2 < n && p[r + 1] == '2' && (p[r + 2] | 0x20) == 'e') {
            p[w++] = '.';
            r += 2;
        } else {
            p[w++] = p[r];
        }
    }
    n = w;
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && p[j] != '/')
            j++;
        size_t len = j - i - 1;
        bool is_dot = len == 1 && p[i + 1] == '.';
        bool is_dotdot = len == 2 && p[i + 1] == '.' && p[i + 2] == '.';
        if (is_dotdot) {
            while (out > 0 && p[out - 1] != '/')
                out--;
            if (out > 0)
                out--;
        } else if (!is_dot) {
            memmove(p + out, p + i, j - i);
            out += j - i;
        }
        if ((is_dot || is_dotdot) && j == n)
            p[out++] = '/';
        i = j;
    }
    if (out == 0)
        p[out++] = '/';
    return out;
}
