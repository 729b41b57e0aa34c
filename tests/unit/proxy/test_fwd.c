/*
 * test_fwd.c: unit tests of the forwarding policy of heads (fwd.c): what a
 * forwarded head leaves out and what the header operations add.
 */
#include "canaryd/common.h"
#include "canaryd/proxy/fwd.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/buf.h"
#include "canaryd/http1/h1_down.h"
#include "canaryd/route/cors.h"

static char g_head[1024];
static struct h1_msg g_resp;

static void
parse(const char *head)
{
    size_t n = strlen(head);
    assert_true(n < sizeof(g_head));
    memcpy(g_head, head, n);
    assert_int_equal(h1_parse_response(g_head, n, "GET", 3, &g_resp), (ssize_t)n);
}

static const struct http_hdr *
hdr(const char *name)
{
    const struct http_hdr *h = h1_hdr_find(&g_resp, name, strlen(name));
    assert_non_null(h);
    return h;
}

static void
test_fwd_leaves_out_hop_by_hop_and_connection_named_fields(void **state)
{
    (void)state;
    parse("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: keep-alive, x-secret\r\n"
          "connection: content-length\r\nx-secret: 1\r\nkeep-alive: timeout=5\r\n"
          "x-kept: 2\r\nx-removed: 3\r\nx-set: 4\r\n\r\n");
    struct conf_hdr_kv rm[] = {{"x-removed", 9, NULL, 0}};
    struct conf_hdr_kv set[] = {{"x-set", 5, "new", 3}};
    struct conf_hdr_ops ops = {.set = set, .nset = 1, .remove = rm, .nremove = 1};
    struct hdr_skip sk;
    hdr_skip_init(&sk, &g_resp, &ops, NULL);
    assert_true(hdr_skipped(&sk, hdr("connection")));
    assert_true(hdr_skipped(&sk, hdr("keep-alive")));
    assert_true(hdr_skipped(&sk, hdr("x-secret")));  /* named by a Connection line */
    assert_true(hdr_skipped(&sk, hdr("x-removed"))); /* removed by the route */
    assert_true(hdr_skipped(&sk, hdr("x-set")));     /* replaced by the route */
    assert_false(hdr_skipped(&sk, hdr("x-kept")));
    /* A Connection line cannot make the framing disappear. */
    assert_true(hdr_is_framing(hdr("content-length")));
    assert_false(hdr_skipped(&sk, hdr("content-length")));
}

static void
test_fwd_many_connection_lines_are_all_read(void **state)
{
    (void)state;
    parse("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: a\r\nconnection: b\r\n"
          "connection: c\r\nconnection: d\r\nconnection: e\r\nconnection: x-late\r\n"
          "x-late: 1\r\nx-kept: 1\r\n\r\n");
    struct hdr_skip sk;
    hdr_skip_init(&sk, &g_resp, NULL, NULL);
    assert_true(sk.nconn > HDR_SKIP_CONN);
    assert_true(hdr_skipped(&sk, hdr("x-late")));
    assert_false(hdr_skipped(&sk, hdr("x-kept")));
}

static void
test_fwd_ops_add_writes_set_then_add_except_skipped(void **state)
{
    (void)state;
    struct conf_hdr_kv set[] = {{"x-a", 3, "1", 1}, {"access-control-allow-origin", 27, "*", 1}};
    struct conf_hdr_kv add[] = {{"x-b", 3, "2", 1}};
    struct conf_hdr_ops ops = {.set = set, .nset = 2, .add = add, .nadd = 1};
    struct cors_hdr skip[] = {{.name = "access-control-allow-origin", .name_len = 27}};
    struct buf b = {0};
    struct buf_out o = buf_out_to(&b, NULL, 4096);
    out_ops_add(&o, h1_out_field, &ops, skip, 1);
    out_ops_add(&o, h1_out_field, NULL, NULL, 0);
    buf_out_mem(&o, "", 1);
    assert_false(o.failed);
    assert_string_equal(buf_head(&b), "x-a: 1\r\nx-b: 2\r\n");
    buf_release(&b, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fwd_leaves_out_hop_by_hop_and_connection_named_fields),
        cmocka_unit_test(test_fwd_many_connection_lines_are_all_read),
        cmocka_unit_test(test_fwd_ops_add_writes_set_then_add_except_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
