/*
 * test_h1.c: unit tests for the strict HTTP/1.1 parser (h1.h): every
 * rejection with its status, incremental feeding, pipelining, limits at and
 * one past each boundary, and the chunked scanner under any split of its
 * input. Inputs are copied into exactly-sized heap buffers so that ASan
 * catches any read past len.
 */
#include "canaryd/common.h"
#include "canaryd/http1/h1.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define HOST "Host: example.com\r\n"
#define GET11 "GET / HTTP/1.1\r\n"

static char *g_buf; /* owned: copy of the last input */
static struct h1_msg g_msg;

static char *
dup_exact(const char *s, size_t n)
{
    free(g_buf);
    g_buf = malloc(n == 0 ? 1 : n);
    assert_non_null(g_buf);
    memcpy(g_buf, s, n);
    return g_buf;
}

static ssize_t
req_n(const char *s, size_t n)
{
    return h1_parse_request(dup_exact(s, n), n, &g_msg);
}

static ssize_t
resp_n(const char *s, size_t n, const char *method)
{
    return h1_parse_response(dup_exact(s, n), n, method, method ? strlen(method) : 0, &g_msg);
}

static ssize_t
resp(const char *s, const char *method)
{
    return resp_n(s, strlen(s), method);
}

static bool
view_is(const char *p, uint32_t len, const char *want)
{
    return p != NULL && len == strlen(want) && memcmp(p, want, len) == 0;
}

/* Every proper prefix must say "need more" or fail the same way. */
static void
check_prefixes(const char *s, size_t n, const char *method, bool is_request, int want_status)
{
    if (n > 4096)
        return;
    for (size_t i = 0; i < n; i++) {
        ssize_t rc = is_request ? req_n(s, i) : resp_n(s, i, method);
        if (rc > 0)
            fail_msg("prefix of %zu bytes returned %zd", i, rc);
        if (rc < 0 && g_msg.err_status != want_status)
            fail_msg("prefix of %zu bytes failed with %u (%s)", i, g_msg.err_status, g_msg.err);
    }
}

static void
assert_req_fails_n(const char *s, size_t n, uint16_t status)
{
    ssize_t rc = req_n(s, n);
    if (rc >= 0)
        fail_msg("accepted (%zd): %.*s", rc, (int)MIN(n, 200), s);
    assert_int_equal(g_msg.err_status, status);
    assert_non_null(g_msg.err);
    check_prefixes(s, n, NULL, true, status);
}

static void
assert_req_fails(const char *s, uint16_t status)
{
    assert_req_fails_n(s, strlen(s), status);
}

static void
assert_req_ok(const char *s)
{
    size_t n = strlen(s);
    check_prefixes(s, n, NULL, true, 0);
    ssize_t rc = req_n(s, n);
    if (rc != (ssize_t)n)
        fail_msg("rc %zd, err %u %s: %s", rc, g_msg.err_status, g_msg.err ? g_msg.err : "", s);
    assert_int_equal(g_msg.head_len, n);
}

static void
assert_resp_fails(const char *s, const char *method)
{
    ssize_t rc = resp(s, method);
    if (rc >= 0)
        fail_msg("accepted (%zd): %s", rc, s);
    assert_int_equal(g_msg.err_status, 502);
    check_prefixes(s, strlen(s), method, false, 502);
}

static void
assert_resp_ok(const char *s, const char *method)
{
    size_t n = strlen(s);
    check_prefixes(s, n, method, false, 0);
    ssize_t rc = resp_n(s, n, method);
    if (rc != (ssize_t)n)
        fail_msg("rc %zd, err %s: %s", rc, g_msg.err ? g_msg.err : "", s);
}

static int
teardown(void **state)
{
    (void)state;
    free(g_buf);
    g_buf = NULL;
    return 0;
}

/* ---- requests: accepted ------------------------------------------------- */

static void
test_h1_request_simple_get_parses(void **state)
{
    (void)state;
    assert_req_ok("GET /index.html HTTP/1.1\r\nHost: Example.com:8080\r\nUser-Agent: t\r\n\r\n");
    assert_true(view_is(g_msg.method, g_msg.method_len, "GET"));
    assert_true(view_is(g_msg.target, g_msg.target_len, "/index.html"));
    assert_true(view_is(g_msg.path, g_msg.path_len, "/index.html"));
    assert_null(g_msg.query);
    assert_int_equal(g_msg.version_minor, 1);
    assert_true(view_is(g_msg.host, g_msg.host_len, "Example.com:8080"));
    assert_int_equal(g_msg.nhdrs, 2);
    assert_true(view_is(g_msg.hdrs[1].name, g_msg.hdrs[1].name_len, "user-agent"));
    assert_true(view_is(g_msg.hdrs[1].value, g_msg.hdrs[1].value_len, "t"));
    assert_int_equal(g_msg.framing, H1_FRAME_NONE);
    assert_int_equal(g_msg.flags, 0);
}

static void
test_h1_request_names_lowercased_in_place(void **state)
{
    (void)state;
    assert_req_ok("GET / HTTP/1.1\r\nHOST: a\r\nX-Mixed-CASE_1~: V\r\n\r\n");
    assert_true(view_is(g_msg.hdrs[0].name, g_msg.hdrs[0].name_len, "host"));
    assert_true(view_is(g_msg.hdrs[1].name, g_msg.hdrs[1].name_len, "x-mixed-case_1~"));
    assert_true(view_is(g_msg.hdrs[1].value, g_msg.hdrs[1].value_len, "V"));
    static const char lowered[] = "\r\nhost: a\r\nx-mixed-case_1~: V\r\n";
    assert_non_null(memmem(g_buf, g_msg.head_len, lowered, sizeof(lowered) - 1));
}

static void
test_h1_request_query_split_at_first_question_mark(void **state)
{
    (void)state;
    assert_req_ok("GET /a/b?x=1?y=2 HTTP/1.1\r\n" HOST "\r\n");
    assert_true(view_is(g_msg.path, g_msg.path_len, "/a/b"));
    assert_true(view_is(g_msg.query, g_msg.query_len, "x=1?y=2"));
    assert_req_ok("GET /a? HTTP/1.1\r\n" HOST "\r\n");
    assert_true(view_is(g_msg.path, g_msg.path_len, "/a"));
    assert_non_null(g_msg.query);
    assert_int_equal(g_msg.query_len, 0);
}

static void
test_h1_request_value_ows_trimmed(void **state)
{
    (void)state;
    assert_req_ok(GET11 HOST "X-A: \t v \t a \t \r\nX-B:\r\nX-C:   \r\nX-D:v\r\n\r\n");
    assert_true(view_is(g_msg.hdrs[1].value, g_msg.hdrs[1].value_len, "v \t a"));
    assert_int_equal(g_msg.hdrs[2].value_len, 0);
    assert_int_equal(g_msg.hdrs[3].value_len, 0);
    assert_true(view_is(g_msg.hdrs[4].value, g_msg.hdrs[4].value_len, "v"));
}

static void
test_h1_request_obs_text_and_long_values_accepted(void **state)
{
    (void)state;
    assert_req_ok(GET11 HOST
                  "X-U: caf\xc3\xa9 \xff\x80\r\n"
                  "Cookie: a=0123456789abcdef0123456789abcdef; b=\t0123456789abcdef\r\n\r\n");
    assert_true(view_is(g_msg.hdrs[1].value, g_msg.hdrs[1].value_len, "caf\xc3\xa9 \xff\x80"));
}

static void
test_h1_request_leading_crlf_skipped(void **state)
{
    (void)state;
    assert_req_ok("\r\n\r\n" GET11 HOST "\r\n");
    assert_true(view_is(g_msg.method, g_msg.method_len, "GET"));
    char s[256] = "";
    for (int i = 0; i < H1_MAX_EMPTY_LINES; i++)
        strcat(s, "\r\n");
    strcat(s, GET11 HOST "\r\n");
    assert_req_ok(s);
}

static void
test_h1_request_too_many_leading_crlf_400(void **state)
{
    (void)state;
    char s[256] = "";
    for (int i = 0; i <= H1_MAX_EMPTY_LINES; i++)
        strcat(s, "\r\n");
    strcat(s, GET11 HOST "\r\n");
    assert_req_fails(s, 400);
    assert_req_fails("\r\r\n" GET11 HOST "\r\n", 400);
    assert_req_fails("\n" GET11 HOST "\r\n", 400);
}

static void
test_h1_request_every_prefix_needs_more(void **state)
{
    (void)state;
    const char *s = "POST /api/v1/items?id=42&x=%20 HTTP/1.1\r\n"
                    "Host: api.example.com\r\n"
                    "Content-Type: application/json\r\n"
                    "Content-Length: 17\r\n"
                    "Connection: keep-alive\r\n"
                    "Expect: 100-continue\r\n\r\n";
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(req_n(s, i), 0);
    assert_int_equal(req_n(s, n), (ssize_t)n);
    assert_int_equal(g_msg.framing, H1_FRAME_LENGTH);
    assert_int_equal(g_msg.content_length, 17);
    assert_int_equal(g_msg.flags, H1_F_CONN_KEEPALIVE | H1_F_EXPECT_CONTINUE);
}

static void
test_h1_request_pipelined_returns_first_length(void **state)
{
    (void)state;
    const char *a = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
    const char *b = "POST /two HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabc";
    const char *c = "GET /three HTTP/1.0\r\n\r\n";
    char s[512];
    snprintf(s, sizeof(s), "%s%s%s", a, b, c);
    size_t n = strlen(s);
    char *buf = dup_exact(s, n);
    ssize_t rc = h1_parse_request(buf, n, &g_msg);
    assert_int_equal(rc, strlen(a));
    assert_true(view_is(g_msg.path, g_msg.path_len, "/one"));
    size_t off = (size_t)rc;
    rc = h1_parse_request(buf + off, n - off, &g_msg);
    assert_int_equal(rc, strlen(b) - 3);
    assert_true(view_is(g_msg.path, g_msg.path_len, "/two"));
    off += (size_t)rc + g_msg.content_length;
    rc = h1_parse_request(buf + off, n - off, &g_msg);
    assert_int_equal(rc, strlen(c));
    assert_true(view_is(g_msg.path, g_msg.path_len, "/three"));
    assert_true(g_msg.flags & H1_F_CONN_CLOSE);
}

static void
test_h1_request_big_legal_head_parses(void **state)
{
    (void)state;
    size_t cap = H1_MAX_HEAD + 1;
    char *s = malloc(cap);
    size_t n = (size_t)snprintf(s, cap, GET11 HOST);
    for (int i = 1; i < H1_MAX_HEADERS; i++) {
        n += (size_t)snprintf(s + n, cap - n, "X-Header-%03d: ", i);
        memset(s + n, 'a' + i % 26, 600);
        n += 600;
        n += (size_t)snprintf(s + n, cap - n, "\r\n");
    }
    n += (size_t)snprintf(s + n, cap - n, "\r\n");
    assert_true(n < H1_MAX_HEAD);
    assert_int_equal(req_n(s, n), (ssize_t)n);
    assert_int_equal(g_msg.nhdrs, H1_MAX_HEADERS);
    assert_int_equal(g_msg.hdrs[99].value_len, 600);
    free(s);
}

/* ---- requests: framing and flags ----------------------------------------- */

static void
test_h1_request_framing_from_cl_and_te(void **state)
{
    (void)state;
    assert_req_ok(GET11 HOST "\r\n");
    assert_int_equal(g_msg.framing, H1_FRAME_NONE);
    assert_req_ok(GET11 HOST "Content-Length: 0\r\n\r\n");
    assert_int_equal(g_msg.framing, H1_FRAME_LENGTH);
    assert_int_equal(g_msg.content_length, 0);
    assert_req_ok(GET11 HOST "Content-Length: 9223372036854775807\r\n\r\n");
    assert_int_equal(g_msg.content_length, INT64_MAX);
    assert_req_ok(GET11 HOST "Transfer-Encoding: Chunked\r\n\r\n");
    assert_int_equal(g_msg.framing, H1_FRAME_CHUNKED);
    assert_int_equal(g_msg.flags & H1_F_TE_OTHER, 0);
    assert_req_ok(GET11 HOST "Transfer-Encoding: gzip, chunked\r\n\r\n");
    assert_int_equal(g_msg.framing, H1_FRAME_CHUNKED);
    assert_true(g_msg.flags & H1_F_TE_OTHER);
    assert_req_ok(GET11 HOST "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_int_equal(g_msg.framing, H1_FRAME_CHUNKED);
    assert_req_ok(GET11 HOST "Transfer-Encoding: , chunked ,\r\n\r\n");
    assert_int_equal(g_msg.framing, H1_FRAME_CHUNKED);
}

static void
test_h1_request_identical_duplicate_cl_accepted(void **state)
{
    (void)state;
    assert_req_ok(GET11 HOST "Content-Length: 5\r\nContent-Length: 5\r\n\r\n");
    assert_int_equal(g_msg.content_length, 5);
    assert_req_ok(GET11 HOST "Content-Length: 5, 5\r\n\r\n");
    assert_int_equal(g_msg.content_length, 5);
    assert_req_ok(GET11 HOST "Content-Length: 5,5 ,\t5\r\nContent-Length: 005\r\n\r\n");
    assert_int_equal(g_msg.framing, H1_FRAME_LENGTH);
    assert_int_equal(g_msg.content_length, 5);
}

static void
test_h1_request_connection_tokens_set_flags(void **state)
{
    (void)state;
    assert_req_ok(GET11 HOST "Connection: close\r\n\r\n");
    assert_int_equal(g_msg.flags, H1_F_CONN_CLOSE);
    assert_req_ok(GET11 HOST
                  "Connection: Keep-Alive , x-foo,UPGRADE\r\nUpgrade: websocket\r\n\r\n");
    assert_int_equal(g_msg.flags, H1_F_CONN_KEEPALIVE | H1_F_CONN_UPGRADE | H1_F_UPGRADE);
    assert_req_ok(GET11 HOST "Connection: keep-alive\r\nConnection: close\r\n\r\n");
    assert_true(g_msg.flags & H1_F_CONN_CLOSE);
    assert_req_ok(GET11 HOST "Connection: closed, notclose\r\n\r\n");
    assert_int_equal(g_msg.flags, 0);
}

static void
test_h1_request_http10_defaults_to_close(void **state)
{
    (void)state;
    assert_req_ok("GET / HTTP/1.0\r\n\r\n");
    assert_int_equal(g_msg.version_minor, 0);
    assert_null(g_msg.host);
    assert_int_equal(g_msg.flags, H1_F_CONN_CLOSE);
    assert_req_ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\n\r\n");
    assert_int_equal(g_msg.flags, H1_F_CONN_KEEPALIVE);
    assert_true(view_is(g_msg.host, g_msg.host_len, "a"));
}

static void
test_h1_request_expect_continue_flag(void **state)
{
    (void)state;
    assert_req_ok(GET11 HOST "Expect: 100-Continue\r\n\r\n");
    assert_int_equal(g_msg.flags, H1_F_EXPECT_CONTINUE);
    assert_req_ok("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n");
    assert_int_equal(g_msg.flags & H1_F_EXPECT_CONTINUE, 0);
    assert_req_ok(GET11 HOST "Expect: something-else\r\n\r\n");
    assert_int_equal(g_msg.flags, 0);
}

/* ---- requests: targets ----------------------------------------------------- */

static void
test_h1_request_absolute_form_takes_host_from_target(void **state)
{
    (void)state;
    assert_req_ok("GET http://Example.com:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_true(g_msg.flags & H1_F_ABSOLUTE_FORM);
    assert_true(view_is(g_msg.host, g_msg.host_len, "Example.com:8080"));
    assert_true(view_is(g_msg.path, g_msg.path_len, "/p/q"));
    assert_true(view_is(g_msg.query, g_msg.query_len, "x=1"));
    assert_req_ok("GET HTTP://h HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(view_is(g_msg.host, g_msg.host_len, "h"));
    assert_true(view_is(g_msg.path, g_msg.path_len, "/"));
    assert_null(g_msg.query);
    assert_req_ok("GET http://[::1]:80?a HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_true(view_is(g_msg.host, g_msg.host_len, "[::1]:80"));
    assert_true(view_is(g_msg.path, g_msg.path_len, "/"));
    assert_true(view_is(g_msg.query, g_msg.query_len, "a"));
}

static void
test_h1_request_bad_absolute_form_400(void **state)
{
    (void)state;
    assert_req_fails("GET https://h/ HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET http:// HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET http:///p HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET http://u@h/ HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET http://h:8x/ HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET http://[::1/ HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET ftp://h/ HTTP/1.1\r\n" HOST "\r\n", 400);
    /* absolute-form still needs Host in HTTP/1.1 */
    assert_req_fails("GET http://h/ HTTP/1.1\r\n\r\n", 400);
}

static void
test_h1_request_asterisk_form_only_with_options(void **state)
{
    (void)state;
    assert_req_ok("OPTIONS * HTTP/1.1\r\n" HOST "\r\n");
    assert_true(view_is(g_msg.path, g_msg.path_len, "*"));
    assert_req_fails("GET * HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("OPTIONS *x HTTP/1.1\r\n" HOST "\r\n", 400);
}

static void
test_h1_request_connect_and_authority_form_400(void **state)
{
    (void)state;
    assert_req_fails("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 400);
    assert_req_fails("GET example.com:80 HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET a/b HTTP/1.1\r\n" HOST "\r\n", 400);
}

static void
test_h1_request_bad_target_400(void **state)
{
    (void)state;
    assert_req_fails("GET /a\x01 HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET /a\x7f HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET /a\tb HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET /a b HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET /a#frag HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET /caf\xc3\xa9 HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET  / HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET /\r\n" HOST "\r\n", 400);
    assert_req_fails_n("GET /a\0b HTTP/1.1\r\n" HOST "\r\n", 36, 400);
}

/* ---- requests: rejected ------------------------------------------------------ */

static void
test_h1_request_bad_method_400(void **state)
{
    (void)state;
    assert_req_fails("G(T / HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GE\x01T / HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails(" / HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET\t/ HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("G\xc3\x89T / HTTP/1.1\r\n" HOST "\r\n", 400);
}

static void
test_h1_request_bad_version_400(void **state)
{
    (void)state;
    static const char *const versions[] = {
        "HTTP/1.2", "http/1.1", "HTTP/1.10", "HTTP/1.1 ", "HTTP/1",    "HTTP/11",
        "HTTP/1.x", "HTTP/3",   "HTTP/2.0 ", "HTTP/x.0",  "HTTP/2.00", "HTTP/20.0",
    };
    for (size_t i = 0; i < countof(versions); i++) {
        char s[128];
        snprintf(s, sizeof(s), "GET / %s\r\n" HOST "\r\n", versions[i]);
        assert_req_fails(s, 400);
    }
}

static void
test_h1_request_other_major_version_505(void **state)
{
    (void)state;
    static const char *const versions[] = {"HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9"};
    for (size_t i = 0; i < countof(versions); i++) {
        char s[128];
        snprintf(s, sizeof(s), "GET / %s\r\n" HOST "\r\n", versions[i]);
        assert_req_fails(s, 505);
    }
    /* The HTTP/2 connection preface: the version is judged before "*" is. */
    assert_req_fails("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    /* Known at the end of the request line, before any header is read. */
    assert_req_fails("GET / HTTP/2.0\r\nBad Name: x\r\n\r\n", 505);
    /* A response from an upstream with another major is a bad response. */
    assert_resp_fails("HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", "GET");
}

static void
test_h1_request_cl_with_te_400(void **state)
{
    (void)state;
    assert_req_fails(GET11 HOST "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400);
}

static void
test_h1_request_differing_cl_400(void **state)
{
    (void)state;
    assert_req_fails(GET11 HOST "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "Content-Length: 5, 6\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "Content-Length: 5\r\nContent-Length: 5, 50\r\n\r\n", 400);
}

static void
test_h1_request_malformed_cl_400(void **state)
{
    (void)state;
    static const char *const values[] = {
        "abc",
        "-5",
        "+5",
        "",
        "5a",
        "0x5",
        "5 5",
        "5.0",
        "5,",
        ",5",
        "5,,5",
        "9223372036854775808",
        "18446744073709551616",
        "99999999999999999999999",
    };
    for (size_t i = 0; i < countof(values); i++) {
        char s[256];
        snprintf(s, sizeof(s), GET11 HOST "Content-Length: %s\r\n\r\n", values[i]);
        assert_req_fails(s, 400);
    }
}

static void
test_h1_request_bad_transfer_encoding_400(void **state)
{
    (void)state;
    static const char *const values[] = {
        "chunked, gzip",
        "chunked, chunked",
        "gzip",
        "gzip, deflate",
        "chunked;q=1",
        "chunked ;a=b",
        "",
        " , ",
        "chunked\x01",
        "chun ked",
        "chunked, foo",
        "chunked, xchunked",
        "x-gzip",
    };
    for (size_t i = 0; i < countof(values); i++) {
        char s[256];
        snprintf(s, sizeof(s), GET11 HOST "Transfer-Encoding: %s\r\n\r\n", values[i]);
        assert_req_fails(s, 400);
    }
    assert_req_fails(GET11 HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                     400);
    assert_req_fails(GET11 HOST "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
                     400);
}

static void
test_h1_request_unknown_transfer_coding_501(void **state)
{
    (void)state;
    static const char *const values[] = {
        "xchunked", "identity", "x-foo", "foo, chunked", "gzip, foo, chunked", "trailers", "br",
    };
    for (size_t i = 0; i < countof(values); i++) {
        char s[256];
        snprintf(s, sizeof(s), GET11 HOST "Transfer-Encoding: %s\r\n\r\n", values[i]);
        assert_req_fails(s, 501);
    }
    assert_req_fails(GET11 HOST "Transfer-Encoding: foo\r\nTransfer-Encoding: chunked\r\n\r\n",
                     501);
    /* Faulty framing or syntax anywhere in the head still wins: 400. */
    assert_req_fails(GET11 HOST "Transfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "Content-Length: 3\r\nTransfer-Encoding: xchunked\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "Transfer-Encoding: xchunked\r\nBad Name: x\r\n\r\n", 400);
    assert_req_fails(GET11 "Transfer-Encoding: xchunked\r\n\r\n", 400); /* no Host */
    assert_req_fails("POST / HTTP/1.0\r\nTransfer-Encoding: xchunked\r\n\r\n", 400);
    /* Response codings are not judged: the body is then close-delimited. */
    assert_resp_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n", "GET");
}

static void
test_h1_request_te_on_http10_400(void **state)
{
    (void)state;
    assert_req_fails("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400);
}

static void
test_h1_request_obs_fold_400(void **state)
{
    (void)state;
    assert_req_fails(GET11 HOST "X-A: a\r\n b\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X-A: a\r\n\tb\r\n\r\n", 400);
    assert_req_fails(GET11 " " HOST "\r\n", 400);
    assert_req_fails(GET11 HOST "Content-Length: 5\r\n 6\r\n\r\n", 400);
}

static void
test_h1_request_bare_cr_400(void **state)
{
    (void)state;
    assert_req_fails(GET11 HOST "X-A: a\rb\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X-A: a\r\r\n\r\n", 400);
    assert_req_fails("GET /\r HTTP/1.1\r\n" HOST "\r\n", 400);
    assert_req_fails("GET / HTTP/1.1\r\r\n" HOST "\r\n", 400);
    assert_req_fails(GET11 HOST "\rX: a\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X\r: a\r\n\r\n", 400);
}

static void
test_h1_request_bare_lf_400(void **state)
{
    (void)state;
    assert_req_fails("GET / HTTP/1.1\n" HOST "\r\n", 400);
    assert_req_fails(GET11 "Host: a\n\r\n", 400);
    assert_req_fails(GET11 HOST "\n", 400);
    assert_req_fails(GET11 HOST "X-A: a\nb\r\n\r\n", 400);
    assert_req_fails("GET / HTTP/1.1\n\n", 400);
}

static void
test_h1_request_control_chars_400(void **state)
{
    (void)state;
    assert_req_fails_n(GET11 HOST "X-A: a\0b\r\n\r\n", strlen(GET11 HOST) + 12, 400);
    assert_req_fails_n(GET11 HOST "X\0A: ab\r\n\r\n", strlen(GET11 HOST) + 12, 400);
    assert_req_fails(GET11 HOST "X-A: a\x01\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X-A: a\x1f\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X-A: a\x7f\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X-\x7f: a\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X-A: 01234567\x0b"
                                "89abcdef\r\n\r\n",
                     400);
    assert_req_fails(GET11 HOST "X-\xc3\xa9: a\r\n\r\n", 400);
}

static void
test_h1_request_bad_header_name_400(void **state)
{
    (void)state;
    assert_req_fails(GET11 "Host : a\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X-A\t: a\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X A: a\r\n\r\n", 400);
    assert_req_fails(GET11 HOST ": a\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X(A): a\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "X-A\r\n\r\n", 400);
    assert_req_fails(GET11 HOST "Transfer-Encoding : chunked\r\n\r\n", 400);
}

static void
test_h1_request_host_rules_400(void **state)
{
    (void)state;
    assert_req_fails(GET11 "\r\n", 400);
    assert_req_fails(GET11 "X-Host: a\r\n\r\n", 400);
    assert_req_fails(GET11 "Host: a\r\nHost: a\r\n\r\n", 400);
    assert_req_fails("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    assert_req_fails(GET11 "Host: a b\r\n\r\n", 400);
    assert_req_fails(GET11 "Host: a/b\r\n\r\n", 400);
    assert_req_fails(GET11 "Host: u@a\r\n\r\n", 400);
    assert_req_fails(GET11 "Host: a:b\r\n\r\n", 400);
    assert_req_fails(GET11 "Host: :80\r\n\r\n", 400);
    assert_req_fails(GET11 "Host: [::1\r\n\r\n", 400);
    assert_req_fails(GET11 "Host: a, b\r\n\r\n", 400);
}

static void
test_h1_request_host_forms_accepted(void **state)
{
    (void)state;
    assert_req_ok(GET11 "Host: [::1]:8080\r\n\r\n");
    assert_true(view_is(g_msg.host, g_msg.host_len, "[::1]:8080"));
    assert_req_ok(GET11 "Host: 10.0.0.1\r\n\r\n");
    assert_req_ok(GET11 "Host: a:\r\n\r\n");
    assert_req_ok(GET11 "Host: my-svc.ns.svc.cluster.local.\r\n\r\n");
    assert_req_ok(GET11 "Host:\r\n\r\n");
    assert_non_null(g_msg.host);
    assert_int_equal(g_msg.host_len, 0);
}

/* ---- requests: limits ---------------------------------------------------------- */

/* A request line of exactly len bytes (without CRLF), then Host and the end. */
static size_t
make_request_line(char *s, size_t len)
{
    static const char pre[] = "GET /", post[] = " HTTP/1.1\r\n" HOST "\r\n";
    size_t fill = len - (sizeof(pre) - 1) - (sizeof(" HTTP/1.1") - 1);
    memcpy(s, pre, sizeof(pre) - 1);
    memset(s + sizeof(pre) - 1, 'a', fill);
    memcpy(s + sizeof(pre) - 1 + fill, post, sizeof(post));
    return strlen(s);
}

static void
test_h1_request_line_at_limit_parses(void **state)
{
    (void)state;
    char *s = malloc(H1_MAX_REQUEST_LINE + 64);
    size_t n = make_request_line(s, H1_MAX_REQUEST_LINE);
    assert_int_equal(req_n(s, n), (ssize_t)n);
    assert_int_equal(g_msg.target_len, H1_MAX_REQUEST_LINE - 13);
    /* the whole line without its LF is still "need more" */
    assert_int_equal(req_n(s, H1_MAX_REQUEST_LINE + 1), 0);
    assert_int_equal(req_n(s, H1_MAX_REQUEST_LINE), 0);
    free(s);
}

static void
test_h1_request_line_one_past_limit_414(void **state)
{
    (void)state;
    char *s = malloc(H1_MAX_REQUEST_LINE + 64);
    size_t n = make_request_line(s, H1_MAX_REQUEST_LINE + 1);
    assert_req_fails_n(s, n, 414);
    /* no CRLF within the limit: 414 as soon as the line cannot fit */
    assert_req_fails_n(s, H1_MAX_REQUEST_LINE + 1, 414);
    assert_req_fails_n(s, H1_MAX_REQUEST_LINE, 414);
    assert_int_equal(req_n(s, H1_MAX_REQUEST_LINE - 1), 0);
    /* leading empty lines do not count */
    char *t = malloc(H1_MAX_REQUEST_LINE + 64);
    memcpy(t, "\r\n", 2);
    n = make_request_line(t + 2, H1_MAX_REQUEST_LINE);
    assert_int_equal(req_n(t, n + 2), (ssize_t)(n + 2));
    free(t);
    free(s);
}

static void
test_h1_request_line_without_crlf_414(void **state)
{
    (void)state;
    size_t n = H1_MAX_REQUEST_LINE + 100;
    char *s = malloc(n);
    memset(s, 'G', n);
    assert_req_fails_n(s, n, 414);
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', n - 5);
    assert_req_fails_n(s, n, 414);
    free(s);
}

/* A head of exactly len bytes: request line, Host, filler headers. */
static size_t
make_head(char *s, size_t len)
{
    size_t n = (size_t)sprintf(s, GET11 HOST);
    while (len - n > 4000 + 8) {
        n += (size_t)sprintf(s + n, "X-F: ");
        memset(s + n, 'v', 4000 - 7);
        n += 4000 - 7;
        n += (size_t)sprintf(s + n, "\r\n");
    }
    size_t fill = len - n - 7 - 2;
    n += (size_t)sprintf(s + n, "X-L: ");
    memset(s + n, 'w', fill);
    n += fill;
    n += (size_t)sprintf(s + n, "\r\n\r\n");
    s[n] = '\0';
    return n;
}

static void
test_h1_request_head_at_limit_parses(void **state)
{
    (void)state;
    char *s = malloc(H1_MAX_HEAD + 64);
    size_t n = make_head(s, H1_MAX_HEAD);
    assert_int_equal(n, H1_MAX_HEAD);
    assert_int_equal(req_n(s, n), (ssize_t)n);
    assert_int_equal(req_n(s, n - 1), 0);
    free(s);
}

static void
test_h1_request_head_one_past_limit_431(void **state)
{
    (void)state;
    char *s = malloc(H1_MAX_HEAD + 64);
    size_t n = make_head(s, H1_MAX_HEAD + 1);
    assert_int_equal(n, H1_MAX_HEAD + 1);
    assert_req_fails_n(s, n, 431);
    /* incomplete but already at the limit */
    assert_req_fails_n(s, H1_MAX_HEAD, 431);
    assert_int_equal(req_n(s, H1_MAX_HEAD - 1), 0);
    free(s);
}

static void
test_h1_request_header_count_limit_431(void **state)
{
    (void)state;
    char *s = malloc(H1_MAX_HEADERS * 16 + 128);
    size_t n = (size_t)sprintf(s, GET11 HOST);
    for (int i = 1; i < H1_MAX_HEADERS; i++)
        n += (size_t)sprintf(s + n, "X-%d: v\r\n", i);
    strcpy(s + n, "\r\n");
    assert_int_equal(req_n(s, n + 2), (ssize_t)(n + 2));
    assert_int_equal(g_msg.nhdrs, H1_MAX_HEADERS);
    strcpy(s + n, "X-last: v\r\n\r\n");
    assert_req_fails_n(s, n + 13, 431);
    free(s);
}

/* ---- responses --------------------------------------------------------------------- */

static void
test_h1_response_simple_parses(void **state)
{
    (void)state;
    assert_resp_ok("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-A: b\r\n\r\n", "GET");
    assert_int_equal(g_msg.status, 200);
    assert_true(view_is(g_msg.reason, g_msg.reason_len, "OK"));
    assert_int_equal(g_msg.framing, H1_FRAME_LENGTH);
    assert_int_equal(g_msg.content_length, 12);
    assert_int_equal(g_msg.nhdrs, 2);
    assert_true(view_is(g_msg.hdrs[0].name, g_msg.hdrs[0].name_len, "content-length"));
    assert_resp_ok("HTTP/1.1 404 Not Found at all \t\r\n\r\n", "GET");
    assert_true(view_is(g_msg.reason, g_msg.reason_len, "Not Found at all \t"));
    assert_int_equal(g_msg.framing, H1_FRAME_CLOSE);
    assert_resp_ok("HTTP/1.1 999 \r\n\r\n", NULL);
    assert_int_equal(g_msg.status, 999);
    assert_int_equal(g_msg.reason_len, 0);
    assert_resp_ok("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", NULL);
    assert_int_equal(g_msg.reason_len, 0);
}

static void
test_h1_response_bodyless_framing_none(void **state)
{
    (void)state;
    assert_resp_ok("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "HEAD");
    assert_int_equal(g_msg.framing, H1_FRAME_NONE);
    assert_resp_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "HEAD");
    assert_int_equal(g_msg.framing, H1_FRAME_NONE);
    assert_resp_ok("HTTP/1.1 204 No Content\r\n\r\n", "GET");
    assert_int_equal(g_msg.framing, H1_FRAME_NONE);
    assert_resp_ok("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "GET");
    assert_int_equal(g_msg.framing, H1_FRAME_NONE);
    assert_resp_ok("HTTP/1.1 100 Continue\r\n\r\n", "POST");
    assert_int_equal(g_msg.framing, H1_FRAME_NONE);
    assert_resp_ok("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                   "Upgrade: websocket\r\n\r\n",
                   "GET");
    assert_int_equal(g_msg.status, 101);
    assert_int_equal(g_msg.framing, H1_FRAME_NONE);
    assert_int_equal(g_msg.flags, H1_F_CONN_UPGRADE | H1_F_UPGRADE);
}

static void
test_h1_response_framing_chunked_length_close(void **state)
{
    (void)state;
    assert_resp_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET");
    assert_int_equal(g_msg.framing, H1_FRAME_CHUNKED);
    assert_resp_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "GET");
    assert_int_equal(g_msg.framing, H1_FRAME_CHUNKED);
    assert_true(g_msg.flags & H1_F_TE_OTHER);
    assert_resp_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: x-custom\r\n\r\n", "GET");
    assert_int_equal(g_msg.framing, H1_FRAME_CLOSE);
    assert_resp_ok("HTTP/1.1 200 OK\r\n\r\n", "GET");
    assert_int_equal(g_msg.framing, H1_FRAME_CLOSE);
    assert_resp_ok("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", "GET");
    assert_int_equal(g_msg.framing, H1_FRAME_LENGTH);
}

static void
test_h1_response_http10_defaults_to_close(void **state)
{
    (void)state;
    assert_resp_ok("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", "GET");
    assert_true(g_msg.flags & H1_F_CONN_CLOSE);
    assert_resp_ok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", "GET");
    assert_int_equal(g_msg.flags, H1_F_CONN_KEEPALIVE);
}

static void
test_h1_response_bad_status_line_502(void **state)
{
    (void)state;
    assert_resp_fails("HTTP/1.1 099 Low\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 000\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 20 OK\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 2000 OK\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 abc OK\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1  200 OK\r\n\r\n", "GET");
    assert_resp_fails("HTTP/2 200 OK\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.2 200 OK\r\n\r\n", "GET");
    assert_resp_fails("ICY 200 OK\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 200 O\x01K\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 200 OK\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 200 OK\rX\r\n\r\n", "GET");
    assert_resp_fails("\r\nHTTP/1.1 200 OK\r\n\r\n", "GET");
}

static void
test_h1_response_ambiguous_framing_502(void **state)
{
    (void)state;
    assert_resp_fails("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                      "GET");
    assert_resp_fails("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n", "GET");
    assert_resp_fails("HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", "GET");
}

static void
test_h1_response_status_line_too_long_502(void **state)
{
    (void)state;
    char *s = malloc(H1_MAX_REQUEST_LINE + 64);
    size_t n = (size_t)sprintf(s, "HTTP/1.1 200 ");
    memset(s + n, 'r', H1_MAX_REQUEST_LINE - n);
    n = H1_MAX_REQUEST_LINE;
    memcpy(s + n, "\r\n\r\n", 4);
    assert_int_equal(resp_n(s, n + 4, "GET"), (ssize_t)(n + 4));
    assert_int_equal(g_msg.reason_len, H1_MAX_REQUEST_LINE - 13);
    memset(s + n, 'r', 1);
    memcpy(s + n + 1, "\r\n\r\n", 4);
    assert_true(resp_n(s, n + 5, "GET") < 0);
    assert_int_equal(g_msg.err_status, 502);
    free(s);
}

static void
test_h1_response_head_too_large_502(void **state)
{
    (void)state;
    char *s = malloc(H1_MAX_HEAD + 64);
    size_t n = make_head(s, H1_MAX_HEAD + 1);
    memcpy(s, "HTTP/1.1 200 OK\r\nX-Pad:", 23); /* same length as GET11 HOST prefix */
    assert_true(resp_n(s, n, "GET") < 0);
    assert_int_equal(g_msg.err_status, 502);
    n = make_head(s, H1_MAX_HEAD);
    memcpy(s, "HTTP/1.1 200 OK\r\nX-Pad:", 23);
    assert_int_equal(resp_n(s, n, "GET"), (ssize_t)n);
    free(s);
}

/* ---- helpers ----------------------------------------------------------------------- */

static void
test_h1_hdr_find_returns_first_match(void **state)
{
    (void)state;
    assert_req_ok(GET11 HOST "X-A: 1\r\nX-B: 2\r\nx-a: 3\r\n\r\n");
    const struct http_hdr *h = h1_hdr_find(&g_msg, "x-a", 3);
    assert_non_null(h);
    assert_true(view_is(h->value, h->value_len, "1"));
    assert_null(h1_hdr_find(&g_msg, "x-c", 3));
    assert_null(h1_hdr_find(&g_msg, "x-", 2));
}

static void
test_h1_req_view_borrows_the_parsed_head(void **state)
{
    (void)state;
    assert_req_ok("POST /a/b?x=1&y HTTP/1.1\r\nHost: h.example:8080\r\nX-A: 1\r\n\r\n");
    struct http_req v;
    h1_req_view(&g_msg, &v);
    assert_true(view_is(v.method.p, v.method.len, "POST"));
    assert_true(view_is(v.path.p, v.path.len, "/a/b"));
    assert_true(view_is(v.query.p, v.query.len, "x=1&y"));
    assert_true(view_is(v.authority.p, v.authority.len, "h.example:8080"));
    assert_ptr_equal(v.hdrs, g_msg.hdrs);
    assert_int_equal(v.nhdrs, 2);
    assert_null(v.scheme.p);
    assert_null(v.client_addr);
}

static void
test_h1_req_view_without_query_or_host(void **state)
{
    (void)state;
    assert_req_ok("GET /p HTTP/1.0\r\n\r\n");
    struct http_req v;
    h1_req_view(&g_msg, &v);
    assert_null(v.query.p);
    assert_null(v.authority.p);
    assert_int_equal(v.nhdrs, 0);
}

static void
test_h1_is_hop_by_hop_matches_rfc_list(void **state)
{
    (void)state;
    static const char *const yes[] = {"connection", "keep-alive",        "proxy-connection", "te",
                                      "trailer",    "transfer-encoding", "upgrade"};
    static const char *const no[] = {
        "host", "content-length", "trailers", "t", "upgrade-insecure-requests", ""};
    for (size_t i = 0; i < countof(yes); i++)
        assert_true(h1_is_hop_by_hop(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < countof(no); i++)
        assert_false(h1_is_hop_by_hop(no[i], strlen(no[i])));
}

static void
test_h1_token_list_has_ignores_case_and_ows(void **state)
{
    (void)state;
    const char *v = "keep-alive ,\tUpgrade,, x";
    assert_true(h1_token_list_has(v, strlen(v), "upgrade", 7));
    assert_true(h1_token_list_has(v, strlen(v), "KEEP-ALIVE", 10));
    assert_true(h1_token_list_has(v, strlen(v), "x", 1));
    assert_false(h1_token_list_has(v, strlen(v), "close", 5));
    assert_false(h1_token_list_has(v, strlen(v), "keep", 4));
    assert_false(h1_token_list_has("", 0, "x", 1));
    assert_false(h1_token_list_has("a b", 3, "a", 1));
}

/* Feeds s in steps; a complete head must never hide behind a false. Returns
 * how many calls said true. */
static int
feed_ready(const char *s, size_t n, size_t step, bool is_request, ssize_t *last_rc)
{
    struct h1_head_progress hp = {0};
    int ntrue = 0;

    *last_rc = 0;
    for (size_t len = MIN(step, n);; len = MIN(len + step, n)) {
        bool is_ready = h1_head_is_ready(&hp, s, len);
        ssize_t rc = is_request ? req_n(s, len) : resp_n(s, len, "GET");
        if (rc > 0)
            assert_true(is_ready);
        if (is_ready) {
            ntrue++;
            *last_rc = rc;
            if (rc != 0)
                return ntrue;
        }
        if (len == n)
            return ntrue;
    }
}

static void
test_h1_head_is_ready_never_hides_a_complete_head(void **state)
{
    (void)state;
    static const char s[] = "\r\nGET /a HTTP/1.1\r\nHost: a\r\nX-1: 1\r\nX-2: 2\r\nX-3: 3\r\n"
                            "X-4: 4\r\nX-5: 5\r\nX-6: 6\r\nX-7: 7\r\nX-8: 8\r\nX-9: 9\r\n\r\n";
    ssize_t rc;
    for (size_t step = 1; step < sizeof(s); step++) {
        feed_ready(s, sizeof(s) - 1, step, true, &rc);
        assert_int_equal(rc, sizeof(s) - 1);
    }
    /* byte by byte: the early line feeds, then only the end of the head */
    assert_int_equal(feed_ready(s, sizeof(s) - 1, 1, true, &rc), H1_MAX_EMPTY_LINES + 2);
    static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    feed_ready(r, sizeof(r) - 1, 1, false, &rc);
    assert_int_equal(rc, sizeof(r) - 1);
}

static void
test_h1_head_is_ready_reports_bare_lf_at_once(void **state)
{
    (void)state;
    static const char s[] = "GET / HTTP/1.1\r\nHost: a\r\nX-1: 1\r\nX-2: 2\r\nX-3: 3\r\n"
                            "X-4: 4\r\nX-5: 5\r\nX-6: 6\r\nX-7: 7\r\nX-8: 8\nrest";
    ssize_t rc;
    feed_ready(s, sizeof(s) - 1, 1, true, &rc);
    assert_int_equal(rc, -1);
    assert_int_equal(g_msg.err_status, 400);
}

static void
test_h1_head_is_ready_trickled_limits_414_431(void **state)
{
    (void)state;
    size_t n = H1_MAX_HEAD + 4 * H1_MAX_EMPTY_LINES + 64;
    char *s = malloc(n);
    ssize_t rc;

    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', n - 5);
    assert_int_equal(feed_ready(s, n, 97, true, &rc), 1);
    assert_int_equal(rc, -1);
    assert_int_equal(g_msg.err_status, 414);
    size_t h = (size_t)sprintf(s, GET11 HOST "X-Long: ");
    memset(s + h, 'b', n - h);
    assert_int_equal(feed_ready(s, n, 101, true, &rc), 3); /* first LFs, line mark, head mark */
    assert_int_equal(rc, -1);
    assert_int_equal(g_msg.err_status, 431);
    free(s);
}

/* ---- chunked scanner ------------------------------------------------------------- */

struct chunk_result {
    ssize_t consumed; /* -1 on error */
    bool is_done;
    size_t data_len;
    char data[4096];
};

/* Feeds body in steps of step bytes the way a caller does (unconsumed bytes
 * are handed again with the new ones), each call on an exact-size copy. */
static void
chunk_feed(const char *body, size_t len, size_t step, struct chunk_result *r)
{
    struct h1_chunked st = {0};
    size_t pos = 0, fed = 0;

    memset(r, 0, sizeof(*r));
    for (;;) {
        fed = MIN(len, fed + step);
        size_t off, dl, avail = fed - pos;
        char *tmp = dup_exact(body + pos, avail);
        ssize_t rc = h1_chunked_scan(&st, tmp, avail, &off, &dl);
        if (rc < 0) {
            r->consumed = -1;
            return;
        }
        assert_true((size_t)rc <= avail);
        assert_true(off + dl <= (size_t)rc);
        assert_true(r->data_len + dl <= sizeof(r->data));
        memcpy(r->data + r->data_len, tmp + off, dl);
        r->data_len += dl;
        pos += (size_t)rc;
        if (st.done || (pos == len && fed == len))
            break;
    }
    r->consumed = (ssize_t)pos;
    r->is_done = st.done;
}

static void
assert_chunked(const char *body, size_t len, ssize_t consumed, const char *payload)
{
    struct chunk_result whole, r;

    chunk_feed(body, len, len == 0 ? 1 : len, &whole);
    assert_int_equal(whole.consumed, consumed);
    if (consumed >= 0) {
        assert_true(whole.is_done);
        assert_int_equal(whole.data_len, strlen(payload));
        assert_memory_equal(whole.data, payload, whole.data_len);
    }
    for (size_t step = 1; step <= 7; step++) {
        chunk_feed(body, len, step, &r);
        assert_int_equal(r.consumed, whole.consumed);
        if (consumed < 0)
            continue; /* payload before the error may or may not have been handed out */
        assert_int_equal(r.is_done, whole.is_done);
        assert_int_equal(r.data_len, whole.data_len);
        assert_memory_equal(r.data, whole.data, r.data_len);
    }
}

#define CHUNKED_OK(s, payload) assert_chunked(s, sizeof(s) - 1, sizeof(s) - 1, payload)
#define CHUNKED_BAD(s) assert_chunked(s, sizeof(s) - 1, -1, NULL)

static void
test_h1_chunked_bodies_decode_under_any_split(void **state)
{
    (void)state;
    CHUNKED_OK("0\r\n\r\n", "");
    CHUNKED_OK("5\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
    CHUNKED_OK("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
    CHUNKED_OK("00003\r\nabc\r\n000\r\n\r\n", "abc");
    CHUNKED_OK("3;name=value;q=\"x y\"\r\nabc\r\n0;last\r\n\r\n", "abc");
    CHUNKED_OK("3 ;a\r\nabc\r\n0\t;b=c\r\n\r\n", "abc");
    CHUNKED_OK("3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum:\tabc \r\n\r\n", "abc");
    CHUNKED_OK("2\r\n\r\n\r\n0\r\n\r\n", "\r\n");
}

static void
test_h1_chunked_data_off_and_len_one_run_per_call(void **state)
{
    (void)state;
    static const char s[] = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET";
    struct h1_chunked st = {0};
    size_t off, len;
    size_t n = sizeof(s) - 1;
    char *buf = dup_exact(s, n);

    ssize_t rc = h1_chunked_scan(&st, buf, n, &off, &len);
    assert_int_equal(rc, 13);
    assert_int_equal(off, 3);
    assert_int_equal(len, 5);
    assert_false(st.done);
    rc = h1_chunked_scan(&st, buf + 13, n - 13, &off, &len);
    assert_int_equal(rc, 13);
    assert_int_equal(off, 0);
    assert_int_equal(len, 6);
    assert_true(st.done);
    /* bytes after the body are not consumed */
    assert_memory_equal(buf + 26, "GET", 3);
    rc = h1_chunked_scan(&st, buf + 26, 3, &off, &len);
    assert_int_equal(rc, 0);
    assert_int_equal(len, 0);
    rc = h1_chunked_scan(&st, buf, 0, &off, &len);
    assert_int_equal(rc, 0);
}

static void
test_h1_chunked_partial_payload_reported(void **state)
{
    (void)state;
    struct h1_chunked st = {0};
    size_t off, len;
    ssize_t rc = h1_chunked_scan(&st, "a\r\n0123", 7, &off, &len);
    assert_int_equal(rc, 7);
    assert_int_equal(off, 3);
    assert_int_equal(len, 4);
    assert_int_equal(st.remaining, 6);
    rc = h1_chunked_scan(&st, "456789\r\n", 8, &off, &len);
    assert_int_equal(rc, 8);
    assert_int_equal(off, 0);
    assert_int_equal(len, 6);
    assert_int_equal(h1_chunked_scan(&st, "\r\n", 2, &off, &len), -1);
    /* an error sticks */
    assert_int_equal(h1_chunked_scan(&st, "0\r\n\r\n", 5, &off, &len), -1);
}

static void
test_h1_chunked_bad_framing_fails(void **state)
{
    (void)state;
    CHUNKED_BAD("g\r\n\r\n");
    CHUNKED_BAD("\r\n\r\n");
    CHUNKED_BAD(" 5\r\nhello\r\n0\r\n\r\n");
    CHUNKED_BAD("-5\r\nhello\r\n0\r\n\r\n");
    CHUNKED_BAD("+5\r\nhello\r\n0\r\n\r\n");
    CHUNKED_BAD("0x5\r\nhello\r\n0\r\n\r\n");
    CHUNKED_BAD("5\nhello\r\n0\r\n\r\n");
    CHUNKED_BAD("5\r\rhello\r\n0\r\n\r\n");
    CHUNKED_BAD("5\r\nhelloX\r\n0\r\n\r\n");
    CHUNKED_BAD("5\r\nhello\n0\r\n\r\n");
    CHUNKED_BAD("5\r\nhello0\r\n\r\n");
    CHUNKED_BAD("5 \r\nhello\r\n0\r\n\r\n");
    CHUNKED_BAD("5;a\x01\r\nhello\r\n0\r\n\r\n");
    CHUNKED_BAD("5;a\nb\r\nhello\r\n0\r\n\r\n");
    CHUNKED_BAD("5;a\rb\r\nhello\r\n0\r\n\r\n");
    CHUNKED_BAD("0\r\n\n");
    CHUNKED_BAD("0\n\r\n");
    CHUNKED_BAD("0\r\n\r\r");
    CHUNKED_BAD("0\r\nX: a\r\n b\r\n\r\n");
    CHUNKED_BAD("0\r\n X: a\r\n\r\n");
    CHUNKED_BAD("0\r\nX : a\r\n\r\n");
    CHUNKED_BAD("0\r\n: a\r\n\r\n");
    CHUNKED_BAD("0\r\nX\r\n\r\n");
    CHUNKED_BAD("0\r\nX: a\nY: b\r\n\r\n");
    CHUNKED_BAD("0\r\nX: a\x7f\r\n\r\n");
    CHUNKED_BAD("0\r\nX: a\r\n\n");
}

static void
test_h1_chunked_size_overflow_fails(void **state)
{
    (void)state;
    /* 16 digits below 2^63: legal (the body just does not end here) */
    struct h1_chunked st = {0};
    size_t off, len;
    assert_int_equal(h1_chunked_scan(&st, "7fffffffffffffff\r\n", 18, &off, &len), 18);
    assert_int_equal(st.remaining, INT64_MAX);
    CHUNKED_BAD("8000000000000000\r\n");
    CHUNKED_BAD("ffffffffffffffff\r\n");
    CHUNKED_BAD("10000000000000000\r\n");
    CHUNKED_BAD("00000000000000001\r\nx\r\n0\r\n\r\n");
    CHUNKED_OK("0000000000000001\r\nx\r\n0\r\n\r\n", "x");
}

static void
test_h1_chunked_line_bounds_fail_one_past(void **state)
{
    (void)state;
    char *s = malloc(3 * H1_MAX_CHUNK_LINE);
    /* size line of exactly H1_MAX_CHUNK_LINE bytes before CRLF */
    size_t n = (size_t)sprintf(s, "1;");
    memset(s + n, 'e', H1_MAX_CHUNK_LINE - 2);
    n += H1_MAX_CHUNK_LINE - 2;
    n += (size_t)sprintf(s + n, "\r\nx\r\n0\r\n\r\n");
    assert_chunked(s, n, (ssize_t)n, "x");
    n = (size_t)sprintf(s, "1;");
    memset(s + n, 'e', H1_MAX_CHUNK_LINE - 1);
    n += H1_MAX_CHUNK_LINE - 1;
    n += (size_t)sprintf(s + n, "\r\nx\r\n0\r\n\r\n");
    assert_chunked(s, n, -1, NULL);
    /* trailer line of exactly the bound, then one past */
    n = (size_t)sprintf(s, "0\r\nX:");
    memset(s + n, 't', H1_MAX_CHUNK_LINE - 2);
    n += H1_MAX_CHUNK_LINE - 2;
    n += (size_t)sprintf(s + n, "\r\n\r\n");
    assert_chunked(s, n, (ssize_t)n, "");
    n = (size_t)sprintf(s, "0\r\nX:");
    memset(s + n, 't', H1_MAX_CHUNK_LINE - 1);
    n += H1_MAX_CHUNK_LINE - 1;
    n += (size_t)sprintf(s + n, "\r\n\r\n");
    assert_chunked(s, n, -1, NULL);
    free(s);
}

static void
test_h1_chunked_trailer_section_bounded(void **state)
{
    (void)state;
    size_t cap = H1_MAX_TRAILERS + 8192;
    char *s = malloc(cap);
    size_t n = (size_t)sprintf(s, "0\r\n");
    /* 1000-byte lines (with CRLF) up to exactly H1_MAX_TRAILERS bytes */
    size_t lines = H1_MAX_TRAILERS / 1000, rest = H1_MAX_TRAILERS % 1000;
    for (size_t i = 0; i < lines; i++) {
        n += (size_t)sprintf(s + n, "T:");
        memset(s + n, 'v', 996);
        n += 996;
        n += (size_t)sprintf(s + n, "\r\n");
    }
    n += (size_t)sprintf(s + n, "T:");
    memset(s + n, 'v', rest - 4);
    n += rest - 4;
    n += (size_t)sprintf(s + n, "\r\n");
    assert_int_equal(n, 3 + H1_MAX_TRAILERS);
    memcpy(s + n, "\r\n", 2);
    assert_chunked(s, n + 2, (ssize_t)(n + 2), "");
    memcpy(s + n, "U:\r\n\r\n", 6);
    assert_chunked(s, n + 6, -1, NULL);
    free(s);
}

static void
expect_norm(const char *in, const char *want)
{
    char buf[256];
    size_t n = strlen(in);
    memcpy(buf, in, n);
    size_t got = h1_path_normalize(buf, n);
    buf[got] = '\0';
    assert_string_equal(buf, want);
}

static void
test_h1_path_normalize_resolves_dot_segments(void **state)
{
    (void)state;
    expect_norm("/", "/");
    expect_norm("/a/b", "/a/b");
    expect_norm("/public/../admin/x", "/admin/x");
    expect_norm("/./admin/x", "/admin/x");
    expect_norm("/a/b/../c", "/a/c");
    expect_norm("/a/b/..", "/a/");
    expect_norm("/a/.", "/a/");
    expect_norm("/..", "/");
    expect_norm("/../../etc", "/etc");
    expect_norm("/a/%2e%2E/b", "/b");
    expect_norm("/a/%2e/b", "/a/b");
}

static void
test_h1_path_normalize_keeps_other_escapes_and_slashes(void **state)
{
    (void)state;
    expect_norm("//a//b", "//a//b");
    expect_norm("/a/..b/.c", "/a/..b/.c");
    expect_norm("/a%2Fb/x", "/a%2Fb/x");
    expect_norm("/a/%2", "/a/%2");
    expect_norm("/a/%2e%", "/a/.%");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h1_request_simple_get_parses),
        cmocka_unit_test(test_h1_request_names_lowercased_in_place),
        cmocka_unit_test(test_h1_request_query_split_at_first_question_mark),
        cmocka_unit_test(test_h1_request_value_ows_trimmed),
        cmocka_unit_test(test_h1_request_obs_text_and_long_values_accepted),
        cmocka_unit_test(test_h1_request_leading_crlf_skipped),
        cmocka_unit_test(test_h1_request_too_many_leading_crlf_400),
        cmocka_unit_test(test_h1_request_every_prefix_needs_more),
        cmocka_unit_test(test_h1_request_pipelined_returns_first_length),
        cmocka_unit_test(test_h1_request_big_legal_head_parses),
        cmocka_unit_test(test_h1_request_framing_from_cl_and_te),
        cmocka_unit_test(test_h1_request_identical_duplicate_cl_accepted),
        cmocka_unit_test(test_h1_request_connection_tokens_set_flags),
        cmocka_unit_test(test_h1_request_http10_defaults_to_close),
        cmocka_unit_test(test_h1_request_expect_continue_flag),
        cmocka_unit_test(test_h1_request_absolute_form_takes_host_from_target),
        cmocka_unit_test(test_h1_request_bad_absolute_form_400),
        cmocka_unit_test(test_h1_request_asterisk_form_only_with_options),
        cmocka_unit_test(test_h1_request_connect_and_authority_form_400),
        cmocka_unit_test(test_h1_request_bad_target_400),
        cmocka_unit_test(test_h1_request_bad_method_400),
        cmocka_unit_test(test_h1_request_bad_version_400),
        cmocka_unit_test(test_h1_request_other_major_version_505),
        cmocka_unit_test(test_h1_request_cl_with_te_400),
        cmocka_unit_test(test_h1_request_differing_cl_400),
        cmocka_unit_test(test_h1_request_malformed_cl_400),
        cmocka_unit_test(test_h1_request_bad_transfer_encoding_400),
        cmocka_unit_test(test_h1_request_unknown_transfer_coding_501),
        cmocka_unit_test(test_h1_request_te_on_http10_400),
        cmocka_unit_test(test_h1_request_obs_fold_400),
        cmocka_unit_test(test_h1_request_bare_cr_400),
        cmocka_unit_test(test_h1_request_bare_lf_400),
        cmocka_unit_test(test_h1_request_control_chars_400),
        cmocka_unit_test(test_h1_request_bad_header_name_400),
        cmocka_unit_test(test_h1_request_host_rules_400),
        cmocka_unit_test(test_h1_request_host_forms_accepted),
        cmocka_unit_test(test_h1_request_line_at_limit_parses),
        cmocka_unit_test(test_h1_request_line_one_past_limit_414),
        cmocka_unit_test(test_h1_request_line_without_crlf_414),
        cmocka_unit_test(test_h1_request_head_at_limit_parses),
        cmocka_unit_test(test_h1_request_head_one_past_limit_431),
        cmocka_unit_test(test_h1_request_header_count_limit_431),
        cmocka_unit_test(test_h1_response_simple_parses),
        cmocka_unit_test(test_h1_response_bodyless_framing_none),
        cmocka_unit_test(test_h1_response_framing_chunked_length_close),
        cmocka_unit_test(test_h1_response_http10_defaults_to_close),
        cmocka_unit_test(test_h1_response_bad_status_line_502),
        cmocka_unit_test(test_h1_response_ambiguous_framing_502),
        cmocka_unit_test(test_h1_response_status_line_too_long_502),
        cmocka_unit_test(test_h1_response_head_too_large_502),
        cmocka_unit_test(test_h1_head_is_ready_never_hides_a_complete_head),
        cmocka_unit_test(test_h1_head_is_ready_reports_bare_lf_at_once),
        cmocka_unit_test(test_h1_head_is_ready_trickled_limits_414_431),
        cmocka_unit_test(test_h1_hdr_find_returns_first_match),
        cmocka_unit_test(test_h1_req_view_borrows_the_parsed_head),
        cmocka_unit_test(test_h1_req_view_without_query_or_host),
        cmocka_unit_test(test_h1_is_hop_by_hop_matches_rfc_list),
        cmocka_unit_test(test_h1_token_list_has_ignores_case_and_ows),
        cmocka_unit_test(test_h1_chunked_bodies_decode_under_any_split),
        cmocka_unit_test(test_h1_chunked_data_off_and_len_one_run_per_call),
        cmocka_unit_test(test_h1_chunked_partial_payload_reported),
        cmocka_unit_test(test_h1_chunked_bad_framing_fails),
        cmocka_unit_test(test_h1_chunked_size_overflow_fails),
        cmocka_unit_test(test_h1_chunked_line_bounds_fail_one_past),
        cmocka_unit_test(test_h1_chunked_trailer_section_bounded),
        cmocka_unit_test(test_h1_path_normalize_resolves_dot_segments),
        cmocka_unit_test(test_h1_path_normalize_keeps_other_escapes_and_slashes),
    };
    return cmocka_run_group_tests_name("h1", tests, NULL, teardown);
}
