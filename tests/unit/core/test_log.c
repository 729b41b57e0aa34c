/*
 * test_log.c: JSON escaping, process log lines, access log lines and buffering.
 * fd 1 and fd 2 are redirected (dup2) to pipes or socket pairs to read what log.c
 * writes; a SOCK_SEQPACKET pair turns every write(2) into one message, so the tests
 * can count writes. A small strict JSON reader (independent of log.c) parses lines back.
 */
#include "canaryd/common.h"
#include "canaryd/core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* ---- a strict JSON object reader ---------------------------------------------------- */

#define JV_MAX 32
#define JV_VAL_MAX 16384

struct jv {
    char key[64];
    char type; /* 's' string, 'n' number, '0' null, 'b' bool */
    char val[JV_VAL_MAX];
    size_t vlen;
};

struct jobj {
    struct jv v[JV_MAX];
    size_t n;
};

struct jr {
    const unsigned char *p;
    const unsigned char *end;
};

static void
put_utf8(char *out, size_t *len, uint32_t cp)
{
    if (cp < 0x80) {
        out[(*len)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*len)++] = (char)(0xC0 | cp >> 6);
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*len)++] = (char)(0xE0 | cp >> 12);
        out[(*len)++] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*len)++] = (char)(0xF0 | cp >> 18);
        out[(*len)++] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[(*len)++] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* Decodes one raw UTF-8 character by bit arithmetic (not log.c's table); returns its
 * length or 0 when invalid (overlong, surrogate, > U+10FFFF, bad continuation). */
static size_t
utf8_check(const unsigned char *p, const unsigned char *end)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 0;
    if (n == 0 || p[0] >= 0xF8 || (size_t)(end - p) < n)
        return 0;
    uint32_t cp = p[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

static bool
jr_hex4(struct jr *r, uint32_t *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++, r->p++) {
        if (r->p >= r->end)
            return false;
        int c = *r->p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        *cp = *cp << 4 | (uint32_t)d;
    }
    return true;
}

static bool
jr_escape(struct jr *r, char *out, size_t *len)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (r->p >= r->end)
        return false;
    int c = *r->p++;
    if (c == 'u') {
        uint32_t cp;
        if (!jr_hex4(r, &cp) || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        put_utf8(out, len, cp);
        return true;
    }
    const char *f = strchr(from, c);
    if (f == NULL || c == 0)
        return false;
    out[(*len)++] = to[f - from];
    return true;
}

static bool
jr_string(struct jr *r, char *out, size_t cap, size_t *len)
{
    *len = 0;
    if (r->p >= r->end || *r->p++ != '"')
        return false;
    while (r->p < r->end && *len + 4 < cap) {
        unsigned char c = *r->p;
        if (c == '"') {
            r->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            r->p++;
            if (!jr_escape(r, out, len))
                return false;
            continue;
        }
        size_t n = c < 0x80 ? 1 : utf8_check(r->p, r->end);
        if (n == 0)
            return false;
        memcpy(out + *len, r->p, n);
        *len += n;
        r->p += n;
    }
    return false;
}

static bool
jr_literal(struct jr *r, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return false;
    r->p += n;
    return true;
}

static bool
jr_number(struct jr *r, struct jv *v)
{
    const unsigned char *s = r->p;
    if (r->p < r->end && *r->p == '-')
        r->p++;
    size_t digits = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
        r->p++, digits++;
    if (digits == 0)
        return false;
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        digits = 0;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++, digits++;
        if (digits == 0)
            return false;
    }
    v->vlen = (size_t)(r->p - s);
    memcpy(v->val, s, v->vlen);
    v->val[v->vlen] = '\0';
    return true;
}

static bool
jr_value(struct jr *r, struct jv *v)
{
    if (r->p >= r->end)
        return false;
    if (*r->p == '"') {
        v->type = 's';
        bool ok = jr_string(r, v->val, sizeof(v->val), &v->vlen);
        v->val[v->vlen] = '\0';
        return ok;
    }
    if (jr_literal(r, "null")) {
        v->type = '0';
        return true;
    }
    if (jr_literal(r, "true") || jr_literal(r, "false")) {
        v->type = 'b';
        return true;
    }
    v->type = 'n';
    return jr_number(r, v);
}

/* Parses exactly one object followed by '\n' from p[0..n). */
static bool
json_parse_line(const char *p, size_t n, struct jobj *o)
{
    struct jr r = {(const unsigned char *)p, (const unsigned char *)p + n};
    o->n = 0;
    if (!jr_literal(&r, "{"))
        return false;
    for (;;) {
        if (o->n == JV_MAX)
            return false;
        struct jv *v = &o->v[o->n++];
        size_t klen;
        if (!jr_string(&r, v->key, sizeof(v->key), &klen) || !jr_literal(&r, ":"))
            return false;
        v->key[klen] = '\0';
        if (!jr_value(&r, v))
            return false;
        if (jr_literal(&r, "}"))
            break;
        if (!jr_literal(&r, ","))
            return false;
    }
    return jr_literal(&r, "\n") && r.p == r.end;
}

static const struct jv *
jobj_get(const struct jobj *o, const char *key)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->v[i].key, key) == 0)
            return &o->v[i];
    return NULL;
}

/* Parses every line of text[0..n); fails the test on a bad line. Returns the count. */
static size_t
check_lines(const char *text, size_t n, struct jobj *o)
{
    size_t count = 0;
    const char *p = text, *end = text + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        if (!json_parse_line(p, (size_t)(nl - p) + 1, o))
            fail_msg("bad JSON line: %.*s", (int)MIN(nl - p, 300), p);
        count++;
        p = nl + 1;
    }
    return count;
}

static struct jobj *
jobj_new(void)
{
    struct jobj *o = calloc(1, sizeof(*o));
    assert_non_null(o);
    return o;
}

/* ---- fd plumbing -------------------------------------------------------------------- */

struct redir {
    int target; /* 1 or 2 */
    int saved;
    int rd; /* our end: read what the module wrote */
};

static void
redir_start(struct redir *r, int target, int rd, int wr)
{
    fflush(stdout);
    fflush(stderr);
    r->target = target;
    r->saved = dup(target);
    r->rd = rd;
    assert_int_not_equal(r->saved, -1);
    assert_int_not_equal(dup2(wr, target), -1);
    close(wr);
}

static void
redir_pipe(struct redir *r, int target, bool is_nonblock)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    if (is_nonblock)
        fcntl(p[1], F_SETFL, O_NONBLOCK);
    redir_start(r, target, p[0], p[1]);
}

/* Every write(2) on the target becomes one message on r->rd. */
static void
redir_seqpacket(struct redir *r, int target)
{
    int sv[2];
    int big = 4 * 1024 * 1024;
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    redir_start(r, target, sv[0], sv[1]);
}

static void
redir_stop(struct redir *r)
{
    dup2(r->saved, r->target);
    close(r->saved);
    close(r->rd);
}

/* Reads all that is available now into buf (grown); returns the new length. */
static size_t
drain(int fd, char **buf, size_t len, size_t *cap)
{
    for (;;) {
        if (*cap - len < 65536) {
            *cap = *cap * 2 + 65536;
            *buf = realloc(*buf, *cap);
            assert_non_null(*buf);
        }
        ssize_t n = read(fd, *buf + len, *cap - len);
        if (n <= 0)
            return len;
        len += (size_t)n;
    }
}

/* Counts the messages waiting on a SOCK_SEQPACKET end and appends their bytes. */
static size_t
recv_msgs(int fd, char **buf, size_t *len, size_t *cap)
{
    size_t nmsgs = 0;
    for (;;) {
        if (*cap - *len < 2 * LOG_BUF_MAX) {
            *cap = *cap + 2 * LOG_BUF_MAX;
            *buf = realloc(*buf, *cap);
            assert_non_null(*buf);
        }
        ssize_t n = recv(fd, *buf + *len, *cap - *len, MSG_DONTWAIT);
        if (n <= 0)
            return nmsgs;
        *len += (size_t)n;
        nmsgs++;
    }
}

/* ---- escaping ----------------------------------------------------------------------- */

static char esc_out[8192];

static const char *
esc(const char *s, size_t n)
{
    size_t need = log_json_escape(esc_out, sizeof(esc_out), s, n);
    assert_true(need < sizeof(esc_out));
    assert_int_equal(strlen(esc_out), need);
    return esc_out;
}

#define ESC_LIT(lit) esc((lit), sizeof(lit) - 1)

static void
test_log_escape_control_bytes_are_escaped(void **state)
{
    (void)state;
    static const char *const short_forms[0x20] = {
        ['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t",
    };
    for (unsigned c = 0; c < 0x20; c++) {
        char in = (char)c, want[8];
        if (short_forms[c] != NULL)
            snprintf(want, sizeof(want), "%s", short_forms[c]);
        else
            snprintf(want, sizeof(want), "\\u%04x", c);
        assert_string_equal(esc(&in, 1), want);
    }
    assert_string_equal(ESC_LIT("\x7f"), "\\u007f");
    assert_string_equal(ESC_LIT("a\"b\\c/d"), "a\\\"b\\\\c/d");
    assert_string_equal(ESC_LIT("x\0y"), "x\\u0000y");
}

static void
test_log_escape_printable_ascii_is_copied(void **state)
{
    (void)state;
    char in[95];
    for (int i = 0; i < 95; i++)
        in[i] = (char)(0x20 + i);
    const char *out = esc(in, sizeof(in));
    assert_int_equal(strlen(out), sizeof(in) + 2); /* '"' and '\\' gain a backslash */
}

static void
test_log_escape_finds_any_byte_at_any_position(void **state)
{
    (void)state;
    char in[24], want[64], got[256], one[8];
    for (unsigned c = 0; c < 256; c++) {
        char b = (char)c;
        log_json_escape(one, sizeof(one), &b, 1);
        for (size_t pos = 0; pos < sizeof(in); pos++) {
            memset(in, 'a', sizeof(in));
            in[pos] = b;
            snprintf(want, sizeof(want), "%.*s%s%.*s", (int)pos, in, one,
                     (int)(sizeof(in) - pos - 1), in + pos + 1);
            log_json_escape(got, sizeof(got), in, sizeof(in));
            assert_string_equal(got, want);
        }
    }
}

static void
test_log_escape_valid_utf8_is_kept(void **state)
{
    (void)state;
    static const char *const valid[] = {
        "\xC2\x80",         /* U+0080 */
        "\xDF\xBF",         /* U+07FF */
        "\xE0\xA0\x80",     /* U+0800 */
        "\xED\x9F\xBF",     /* U+D7FF, last before the surrogates */
        "\xEE\x80\x80",     /* U+E000, first after them */
        "\xEF\xBF\xBF",     /* U+FFFF */
        "\xF0\x90\x80\x80", /* U+10000 */
        "\xF4\x8F\xBF\xBF", /* U+10FFFF */
        "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\xA4",
    };
    for (size_t i = 0; i < countof(valid); i++)
        assert_string_equal(esc(valid[i], strlen(valid[i])), valid[i]);
}

static void
test_log_escape_invalid_utf8_becomes_replacement(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"\x80", "\\ufffd"}, /* lone continuation */
        {"a\xBF"
         "b",
         "a\\ufffdb"},                  /* lone continuation */
        {"\xE2\x82", "\\ufffd\\ufffd"}, /* truncated at end */
        {"\xE2\x82"
         "A",
         "\\ufffd\\ufffdA"},                                  /* truncated */
        {"\xF0\x9F\x90", "\\ufffd\\ufffd\\ufffd"},            /* truncated 4-byte */
        {"\xC3", "\\ufffd"},                                  /* lead at end */
        {"\xC0\x80", "\\ufffd\\ufffd"},                       /* overlong NUL */
        {"\xC1\xBF", "\\ufffd\\ufffd"},                       /* overlong */
        {"\xE0\x80\x80", "\\ufffd\\ufffd\\ufffd"},            /* overlong 3-byte */
        {"\xE0\x9F\xBF", "\\ufffd\\ufffd\\ufffd"},            /* overlong U+07FF */
        {"\xF0\x8F\xBF\xBF", "\\ufffd\\ufffd\\ufffd\\ufffd"}, /* overlong U+FFFF */
        {"\xED\xA0\x80", "\\ufffd\\ufffd\\ufffd"},            /* surrogate U+D800 */
        {"\xED\xBF\xBF", "\\ufffd\\ufffd\\ufffd"},            /* surrogate U+DFFF */
        {"\xF4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"}, /* U+110000 */
        {"\xF5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"}, /* 0xF5 lead */
        {"\xF8\x88\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"},
        {"\xFE\xFF", "\\ufffd\\ufffd"},
        {"\xC3\xA9\xC3", "\xC3\xA9\\ufffd"}, /* valid then truncated */
    };
    for (size_t i = 0; i < countof(cases); i++)
        assert_string_equal(esc(cases[i].in, strlen(cases[i].in)), cases[i].want);
}

static void
test_log_escape_every_byte_gives_valid_json(void **state)
{
    (void)state;
    struct jv v;
    char line[JV_VAL_MAX];
    for (unsigned c = 0; c < 256; c++) {
        char in = (char)c;
        size_t n = log_json_escape(line + 1, sizeof(line) - 2, &in, 1);
        line[0] = '"';
        line[n + 1] = '"';
        struct jr r = {(const unsigned char *)line, (const unsigned char *)line + n + 2};
        assert_true(jr_value(&r, &v));
        if (c < 0x80)
            assert_true(v.vlen == 1 && (unsigned char)v.val[0] == c);
        else
            assert_memory_equal(v.val, "\xEF\xBF\xBD", 3);
    }
}

static void
test_log_escape_random_bytes_round_trip(void **state)
{
    (void)state;
    unsigned seed = 12345;
    char in[64], out[6 * 64 + 3];
    struct jv v;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)(rand_r(&seed) % 64);
        for (size_t i = 0; i < n; i++)
            in[i] = (char)(rand_r(&seed) % 4 == 0 ? rand_r(&seed) : 0xC0 + rand_r(&seed) % 0x40);
        size_t need = log_json_escape(out + 1, sizeof(out) - 2, in, n);
        assert_true(need <= 6 * n);
        out[0] = '"';
        out[need + 1] = '"';
        struct jr r = {(const unsigned char *)out, (const unsigned char *)out + need + 2};
        assert_true(jr_value(&r, &v));
        /* Input that is valid UTF-8 comes back byte for byte. */
        size_t i = 0;
        while (i < n && ((unsigned char)in[i] < 0x80 ||
                         utf8_check((const unsigned char *)in + i, (const unsigned char *)in + n)))
            i += (unsigned char)in[i] < 0x80
                     ? 1
                     : utf8_check((const unsigned char *)in + i, (const unsigned char *)in + n);
        if (i == n)
            assert_true(v.vlen == n && memcmp(v.val, in, n) == 0);
    }
}

static void
test_log_escape_truncates_on_unit_boundary(void **state)
{
    (void)state;
    const char *in = "ab\n\xE2\x82\xAC\x80z";
    const char *full = "ab\\n\xE2\x82\xAC\\ufffdz";
    size_t full_len = strlen(full);
    for (size_t cap = 0; cap <= full_len + 1; cap++) {
        char out[64];
        memset(out, 'X', sizeof(out));
        size_t need = log_json_escape(cap > 0 ? out : NULL, cap, in, strlen(in));
        assert_int_equal(need, full_len);
        if (cap == 0)
            continue;
        size_t got = strlen(out);
        assert_true(got < cap);
        assert_memory_equal(out, full, got);
        /* The cut falls between units: what is left is a whole unit. */
        static const size_t cuts[] = {0, 1, 2, 4, 7, 13, 14};
        bool is_boundary = false;
        for (size_t k = 0; k < countof(cuts); k++)
            is_boundary |= got == cuts[k];
        assert_true(is_boundary);
    }
}

/* ---- process log -------------------------------------------------------------------- */

/* Reads what is pending on r->rd and parses it as exactly one line. */
static void
read_one_line(struct redir *r, struct jobj *o)
{
    char *buf = NULL;
    size_t cap = 0;
    size_t n = drain(r->rd, &buf, 0, &cap);
    assert_int_equal(check_lines(buf, n, o), 1);
    free(buf);
}

static void
test_log_event_writes_keys_in_order(void **state)
{
    (void)state;
    struct redir r;
    struct jobj *o = jobj_new();
    redir_pipe(&r, STDERR_FILENO, false);
    log_event(LOG_LEVEL_INFO, "reload",
              LOG_FIELDS(LOG_F_STR("result", "ok"), LOG_F_U64("generation", 3),
                         LOG_F_I64("delta", -2), LOG_F_BOOL("is_full", true),
                         LOG_F_STRN("file", "a\"b.yaml", 8), LOG_F_STR("none", NULL),
                         LOG_F_DBL("ratio", 0.5)),
              "reload: config %s", "applied");
    read_one_line(&r, o);
    redir_stop(&r);
    static const char *const keys[] = {"time",  "level",   "event", "msg",  "result", "generation",
                                       "delta", "is_full", "file",  "none", "ratio"};
    assert_int_equal(o->n, countof(keys));
    for (size_t i = 0; i < countof(keys); i++)
        assert_string_equal(o->v[i].key, keys[i]);
    assert_string_equal(jobj_get(o, "level")->val, "info");
    assert_string_equal(jobj_get(o, "event")->val, "reload");
    assert_string_equal(jobj_get(o, "msg")->val, "reload: config applied");
    assert_string_equal(jobj_get(o, "generation")->val, "3");
    assert_string_equal(jobj_get(o, "delta")->val, "-2");
    assert_string_equal(jobj_get(o, "file")->val, "a\"b.yaml");
    assert_int_equal(jobj_get(o, "none")->type, '0');
    assert_string_equal(jobj_get(o, "ratio")->val, "0.5");
    free(o);
}

static void
test_log_levels_below_minimum_are_dropped(void **state)
{
    (void)state;
    struct redir r;
    char *buf = NULL;
    size_t cap = 0;
    struct jobj *o = jobj_new();
    redir_pipe(&r, STDERR_FILENO, false);
    log_set_level(LOG_LEVEL_WARN);
    log_debug("x");
    log_info("x");
    assert_false(log_is_enabled(LOG_LEVEL_INFO));
    assert_int_equal(drain(r.rd, &buf, 0, &cap), 0);
    log_warn("w %d", 1);
    log_err("e");
    size_t n = drain(r.rd, &buf, 0, &cap);
    log_set_level(LOG_LEVEL_INFO);
    redir_stop(&r);
    assert_int_equal(check_lines(buf, n, o), 2);
    assert_string_equal(jobj_get(o, "level")->val, "error");
    assert_null(jobj_get(o, "event"));
    free(buf);
    free(o);
}

static void
test_log_level_parse_accepts_names(void **state)
{
    (void)state;
    assert_int_equal(log_level_parse("debug"), LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("INFO"), LOG_LEVEL_INFO);
    assert_int_equal(log_level_parse("warn"), LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("warning"), LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("error"), LOG_LEVEL_ERROR);
    assert_int_equal(log_level_parse("verbose"), -1);
    assert_int_equal(log_level_parse(""), -1);
    assert_int_equal(log_level_parse(NULL), -1);
    assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
}

static void
test_log_warn_errno_appends_strerror(void **state)
{
    (void)state;
    struct redir r;
    struct jobj *o = jobj_new();
    redir_pipe(&r, STDERR_FILENO, false);
    errno = ECONNREFUSED;
    log_warn_errno("pool: endpoint %s: connect failed", "10.0.0.5:8080");
    assert_int_equal(errno, ECONNREFUSED);
    read_one_line(&r, o);
    redir_stop(&r);
    assert_string_equal(jobj_get(o, "level")->val, "warn");
    assert_string_equal(jobj_get(o, "msg")->val,
                        "pool: endpoint 10.0.0.5:8080: connect failed: Connection refused");
    free(o);
}

static void
test_log_long_message_is_truncated_to_one_valid_line(void **state)
{
    (void)state;
    struct redir r;
    struct jobj *o = jobj_new();
    char *big = malloc(20000);
    memset(big, '\n', 20000); /* each byte escapes to two */
    big[19999] = '\0';
    redir_pipe(&r, STDERR_FILENO, false);
    char *buf = NULL;
    size_t cap = 0;
    log_event(LOG_LEVEL_ERROR, "x", LOG_FIELDS(LOG_F_STR("big", big), LOG_F_U64("n", 7)), "%s",
              big);
    size_t n = drain(r.rd, &buf, 0, &cap);
    redir_stop(&r);
    assert_true(n <= LOG_LINE_MAX);
    assert_int_equal(check_lines(buf, n, o), 1);
    assert_null(jobj_get(o, "big"));
    assert_non_null(jobj_get(o, "truncated"));
    free(buf);
    free(big);
    free(o);
}

static void *
process_log_thread(void *arg)
{
    int id = (int)(intptr_t)arg;
    char pad[3000];
    memset(pad, 'a' + id, sizeof(pad));
    for (int i = 0; i < 300; i++)
        log_info("thread %d line %d %.*s", id, i, (i * 37) % 3000, pad);
    return NULL;
}

static void *
reader_thread(void *arg)
{
    struct redir *r = arg;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    fcntl(r->rd, F_SETFL, 0);
    for (;;) {
        if (cap - len < 65536) {
            cap = cap * 2 + 65536;
            buf = realloc(buf, cap);
        }
        ssize_t n = read(r->rd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return buf;
}

static size_t
run_writers_and_check(struct redir *r, void *(*fn)(void *), int nthreads)
{
    pthread_t rd, th[4];
    int target = r->target;
    assert_int_equal(pthread_create(&rd, NULL, reader_thread, r), 0);
    for (int i = 0; i < nthreads; i++)
        pthread_create(&th[i], NULL, fn, (void *)(intptr_t)i);
    for (int i = 0; i < nthreads; i++)
        pthread_join(th[i], NULL);
    /* Closing our copy of the write end ends the reader. */
    dup2(r->saved, target);
    void *text;
    pthread_join(rd, &text);
    close(r->saved);
    close(r->rd);
    struct jobj *o = jobj_new();
    size_t nlines = check_lines(text, strlen(text), o);
    free(o);
    free(text);
    return nlines;
}

static void
test_log_threads_never_interleave_process_lines(void **state)
{
    (void)state;
    struct redir r;
    redir_pipe(&r, STDERR_FILENO, false);
    assert_int_equal(run_writers_and_check(&r, process_log_thread, 4), 4 * 300);
}

static void
test_log_rl_allow_passes_once_per_interval(void **state)
{
    (void)state;
    struct log_rl rl = {0};
    uint64_t nsup = 99;
    assert_true(log_rl_allow(&rl, 60000, &nsup));
    assert_int_equal(nsup, 0);
    for (int i = 0; i < 5; i++)
        assert_false(log_rl_allow(&rl, 60000, &nsup));
    struct log_rl rl0 = {0};
    assert_true(log_rl_allow(&rl0, 0, NULL));
    assert_true(log_rl_allow(&rl0, 0, &nsup));
    assert_int_equal(nsup, 0);
}

/* ---- access log --------------------------------------------------------------------- */

#define S(lit) ((struct log_str){(lit), sizeof(lit) - 1})

static struct log_access_rec
sample_rec(void)
{
    return (struct log_access_rec){
        .time_us = 1700000000123456u,
        .request_id = S("3f2a9c1e-0000-4000-8000-000000000001"),
        .client = S("10.1.2.3:51234"),
        .method = S("GET"),
        .authority = S("shop.example.com"),
        .path = S("/cart?x=\"1\"&y=\xC3\xA9\x80"),
        .protocol = S("HTTP/1.1"),
        .status = 200,
        .bytes_in = 123,
        .bytes_out = 4567,
        .duration_us = 1234,
        .upstream_us = 987,
        .virtual_service = S("shop"),
        .route = S("canary"),
        .destination = S("shop.default.svc.cluster.local"),
        .subset = S("v2"),
        .upstream = S("10.0.0.5:8080"),
        .flags = {NULL, 0},
    };
}

static void
test_log_access_line_has_spec_keys_and_values(void **state)
{
    (void)state;
    struct redir r;
    struct jobj *o = jobj_new();
    struct log_buf *b = log_buf_new();
    redir_pipe(&r, STDOUT_FILENO, false);
    struct log_access_rec rec = sample_rec();
    log_access(b, &rec);
    assert_int_equal(log_buf_flush(b), 0);
    read_one_line(&r, o);
    redir_stop(&r);
    log_buf_free(b);
    static const char *const keys[] = {"time",
                                       "request_id",
                                       "client",
                                       "method",
                                       "authority",
                                       "path",
                                       "protocol",
                                       "status",
                                       "bytes_in",
                                       "bytes_out",
                                       "duration_ms",
                                       "upstream_ms",
                                       "virtual_service",
                                       "route",
                                       "destination",
                                       "subset",
                                       "upstream",
                                       "flags"};
    assert_int_equal(o->n, countof(keys));
    for (size_t i = 0; i < countof(keys); i++)
        assert_string_equal(o->v[i].key, keys[i]);
    assert_string_equal(jobj_get(o, "time")->val, "2023-11-14T22:13:20.123Z");
    assert_string_equal(jobj_get(o, "path")->val, "/cart?x=\"1\"&y=\xC3\xA9\xEF\xBF\xBD");
    assert_string_equal(jobj_get(o, "status")->val, "200");
    assert_int_equal(jobj_get(o, "status")->type, 'n');
    assert_string_equal(jobj_get(o, "bytes_out")->val, "4567");
    assert_string_equal(jobj_get(o, "duration_ms")->val, "1.234");
    assert_string_equal(jobj_get(o, "upstream_ms")->val, "0.987");
    assert_string_equal(jobj_get(o, "upstream")->val, "10.0.0.5:8080");
    assert_int_equal(jobj_get(o, "flags")->type, 's');
    assert_string_equal(jobj_get(o, "flags")->val, "");
    free(o);
}

static void
test_log_access_absent_values_are_null(void **state)
{
    (void)state;
    struct redir r;
    struct jobj *o = jobj_new();
    struct log_buf *b = log_buf_new();
    redir_pipe(&r, STDOUT_FILENO, false);
    struct log_access_rec rec = {
        .method = {"GET\0junk", 3},
        .status = 404,
        .upstream_us = -1,
        .duration_us = 5,
        .flags = S("no_route"),
    };
    log_access(b, &rec);
    log_buf_flush(b);
    read_one_line(&r, o);
    redir_stop(&r);
    log_buf_free(b);
    assert_string_equal(jobj_get(o, "method")->val, "GET");
    assert_int_equal(jobj_get(o, "route")->type, '0');
    assert_int_equal(jobj_get(o, "upstream")->type, '0');
    assert_int_equal(jobj_get(o, "upstream_ms")->type, '0');
    assert_string_equal(jobj_get(o, "duration_ms")->val, "0.005");
    assert_string_equal(jobj_get(o, "flags")->val, "no_route");
    free(o);
}

static void
test_log_access_buffers_until_flush_with_one_write(void **state)
{
    (void)state;
    struct redir r;
    struct log_buf *b = log_buf_new();
    char *buf = NULL;
    size_t len = 0, cap = 0;
    redir_seqpacket(&r, STDOUT_FILENO);
    struct log_access_rec rec = sample_rec();
    for (int i = 0; i < 50; i++)
        log_access(b, &rec);
    assert_int_equal(recv_msgs(r.rd, &buf, &len, &cap), 0);
    assert_true(log_buf_pending(b) > 0);
    assert_int_equal(log_buf_flush(b), 0);
    assert_int_equal(log_buf_pending(b), 0);
    assert_int_equal(recv_msgs(r.rd, &buf, &len, &cap), 1);
    assert_int_equal(log_buf_flush(b), 0); /* nothing pending: no write */
    assert_int_equal(recv_msgs(r.rd, &buf, &len, &cap), 0);
    redir_stop(&r);
    log_buf_free(b);
    struct jobj *o = jobj_new();
    assert_int_equal(check_lines(buf, len, o), 50);
    free(o);
    free(buf);
}

static void
test_log_access_high_mark_writes_fewer_times_than_lines(void **state)
{
    (void)state;
    struct redir r;
    struct log_buf *b = log_buf_new();
    char *buf = NULL;
    size_t len = 0, cap = 0;
    redir_seqpacket(&r, STDOUT_FILENO);
    struct log_access_rec rec = sample_rec();
    const int nlines = 2000; /* ~ 900 KB */
    for (int i = 0; i < nlines; i++)
        log_access(b, &rec);
    size_t nwrites = recv_msgs(r.rd, &buf, &len, &cap);
    assert_true(nwrites > 0);
    assert_true(log_buf_pending(b) < LOG_BUF_HIGH);
    log_buf_flush(b);
    nwrites += recv_msgs(r.rd, &buf, &len, &cap);
    redir_stop(&r);
    log_buf_free(b);
    assert_true(nwrites < (size_t)nlines / 50);
    struct jobj *o = jobj_new();
    assert_int_equal(check_lines(buf, len, o), nlines);
    free(o);
    free(buf);
}

static void
test_log_access_full_stdout_keeps_bytes_for_next_flush(void **state)
{
    (void)state;
    struct redir r;
    struct log_buf *b = log_buf_new();
    char *buf = NULL;
    size_t len = 0, cap = 0;
    redir_pipe(&r, STDOUT_FILENO, true);
    fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 4096);
    struct log_access_rec rec = sample_rec();
    for (int i = 0; i < 300; i++)
        log_access(b, &rec);
    int rc = log_buf_flush(b);
    assert_int_equal(rc, -1);
    assert_int_equal(errno, EAGAIN);
    assert_true(log_buf_pending(b) > 0);
    uint64_t dropped = log_access_dropped();
    for (int i = 0; i < 10000 && (rc = log_buf_flush(b)) != 0; i++)
        len = drain(r.rd, &buf, len, &cap);
    assert_int_equal(rc, 0);
    len = drain(r.rd, &buf, len, &cap);
    redir_stop(&r);
    log_buf_free(b);
    assert_int_equal(log_access_dropped(), dropped);
    struct jobj *o = jobj_new();
    assert_int_equal(check_lines(buf, len, o), 300);
    free(o);
    free(buf);
}

static void
test_log_access_past_max_drops_and_counts(void **state)
{
    (void)state;
    struct redir r;
    struct log_buf *b = log_buf_new();
    char *buf = NULL;
    size_t len = 0, cap = 0;
    redir_pipe(&r, STDOUT_FILENO, true);
    fcntl(STDOUT_FILENO, F_SETPIPE_SZ, 4096);
    struct log_access_rec rec = sample_rec();
    uint64_t dropped = log_access_dropped();
    const int nlines = 6000; /* ~ 2.7 MB: more than pipe + LOG_BUF_MAX */
    for (int i = 0; i < nlines; i++) {
        log_access(b, &rec);
        if (i % 100 == 0)
            log_buf_flush(b); /* the timer: EAGAIN, the bytes stay */
    }
    uint64_t ndropped = log_access_dropped() - dropped;
    assert_true(ndropped > 0);
    assert_true(log_buf_pending(b) <= LOG_BUF_MAX);
    int rc;
    for (int i = 0; i < 100000 && (rc = log_buf_flush(b)) != 0; i++)
        len = drain(r.rd, &buf, len, &cap);
    len = drain(r.rd, &buf, len, &cap);
    redir_stop(&r);
    log_buf_free(b);
    struct jobj *o = jobj_new();
    assert_int_equal(check_lines(buf, len, o) + ndropped, nlines);
    free(o);
    free(buf);
}

static void
test_log_access_disabled_writes_nothing(void **state)
{
    (void)state;
    struct log_buf *b = log_buf_new();
    struct log_access_rec rec = sample_rec();
    log_access_set_enabled(false);
    assert_false(log_access_is_enabled());
    log_access(b, &rec);
    assert_int_equal(log_buf_pending(b), 0);
    log_access_set_enabled(true);
    log_access(b, &rec);
    assert_true(log_buf_pending(b) > 0);
    struct redir r;
    redir_pipe(&r, STDOUT_FILENO, false);
    log_buf_free(b);
    redir_stop(&r);
}

static void
test_log_access_huge_field_is_cut(void **state)
{
    (void)state;
    struct redir r;
    struct jobj *o = jobj_new();
    struct log_buf *b = log_buf_new();
    size_t n = 3 * LOG_FIELD_MAX;
    char *path = malloc(n);
    memset(path, 'p', n);
    struct log_access_rec rec = sample_rec();
    rec.path = (struct log_str){path, n};
    redir_pipe(&r, STDOUT_FILENO, false);
    log_access(b, &rec);
    log_buf_flush(b);
    read_one_line(&r, o);
    redir_stop(&r);
    log_buf_free(b);
    assert_int_equal(jobj_get(o, "path")->vlen, LOG_FIELD_MAX);
    free(path);
    free(o);
}

static void *
access_log_thread(void *arg)
{
    struct log_buf *b = log_buf_new();
    struct log_access_rec rec = sample_rec();
    char rid[32];
    for (int i = 0; i < 5000; i++) {
        rec.request_id = (struct log_str){
            rid, (size_t)snprintf(rid, sizeof(rid), "%d-%d", (int)(intptr_t)arg, i)};
        log_access(b, &rec);
        if (i % 700 == 0)
            log_buf_flush(b);
    }
    log_buf_free(b);
    return NULL;
}

static void
test_log_access_threads_never_interleave_lines(void **state)
{
    (void)state;
    struct redir r;
    redir_pipe(&r, STDOUT_FILENO, false);
    assert_int_equal(run_writers_and_check(&r, access_log_thread, 3), 3 * 5000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_escape_control_bytes_are_escaped),
        cmocka_unit_test(test_log_escape_printable_ascii_is_copied),
        cmocka_unit_test(test_log_escape_finds_any_byte_at_any_position),
        cmocka_unit_test(test_log_escape_valid_utf8_is_kept),
        cmocka_unit_test(test_log_escape_invalid_utf8_becomes_replacement),
        cmocka_unit_test(test_log_escape_every_byte_gives_valid_json),
        cmocka_unit_test(test_log_escape_random_bytes_round_trip),
        cmocka_unit_test(test_log_escape_truncates_on_unit_boundary),
        cmocka_unit_test(test_log_event_writes_keys_in_order),
        cmocka_unit_test(test_log_levels_below_minimum_are_dropped),
        cmocka_unit_test(test_log_level_parse_accepts_names),
        cmocka_unit_test(test_log_warn_errno_appends_strerror),
        cmocka_unit_test(test_log_long_message_is_truncated_to_one_valid_line),
        cmocka_unit_test(test_log_threads_never_interleave_process_lines),
        cmocka_unit_test(test_log_rl_allow_passes_once_per_interval),
        cmocka_unit_test(test_log_access_line_has_spec_keys_and_values),
        cmocka_unit_test(test_log_access_absent_values_are_null),
        cmocka_unit_test(test_log_access_buffers_until_flush_with_one_write),
        cmocka_unit_test(test_log_access_high_mark_writes_fewer_times_than_lines),
        cmocka_unit_test(test_log_access_full_stdout_keeps_bytes_for_next_flush),
        cmocka_unit_test(test_log_access_past_max_drops_and_counts),
        cmocka_unit_test(test_log_access_disabled_writes_nothing),
        cmocka_unit_test(test_log_access_huge_field_is_cut),
        cmocka_unit_test(test_log_access_threads_never_interleave_lines),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
