/*
 * test_h1_down.c: unit tests of the HTTP/1 client side (h1_down.c) through
 * its struct http_down_proto: heads, the framing of relayed bodies for 1.0
 * and 1.1 clients, the Connection field, and the request body read from the
 * client's input.
 */
#include "canaryd/common.h"
#include "canaryd/http1/h1_down.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/core/buf.h"

static const struct http_down_proto *const P = &h1_down_proto;

struct fx {
    char head[512];
    struct h1_msg req;
    struct buf in;
    struct buf out;
    struct buf_out o;
    struct h1_down d;
    struct http_body_desc body;
};

/* Parses head as the request and puts body_bytes in the client's input. */
static void
fx_init(struct fx *f, const char *head, const char *body_bytes)
{
    memset(f, 0, sizeof(*f));
    size_t n = strlen(head);
    assert_true(n < sizeof(f->head));
    memcpy(f->head, head, n);
    ssize_t r = h1_parse_request(f->head, n, &f->req);
    if (r != (ssize_t)n)
        fail_msg("parse: %zd %s", r, f->req.err != NULL ? f->req.err : "");
    assert_int_equal(buf_append(&f->in, NULL, body_bytes, strlen(body_bytes), 1 << 16), 0);
    h1_down_init(&f->d, &f->req, &f->in, &f->body);
    f->o = buf_out_to(&f->out, NULL, 1 << 16);
}

static void
fx_fini(struct fx *f)
{
    buf_release(&f->in, NULL);
    buf_release(&f->out, NULL);
}

static void
expect_out(struct fx *f, const char *want)
{
    assert_false(f->o.failed);
    buf_out_mem(&f->o, "", 1);
    assert_string_equal(buf_head(&f->out), want);
    f->out.len = 0;
}

static void
test_h1_down_heads_and_connection(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, "GET / HTTP/1.1\r\nhost: a\r\n\r\n", "");
    assert_true(P->keeps_conn(&f.d));
    assert_string_equal(P->protocol(&f.d), "HTTP/1.1");
    assert_true(P->has_interim(&f.d));
    assert_int_equal(f.body.kind, HTTP_BODY_NONE);
    P->resp_begin(&f.d, &f.o, 404, (struct http_str){NULL, 0});
    P->field(&f.o, "x-a", 3, "1", 1);
    struct http_head_end e = {.conn = HTTP_CONN_KEEP};
    P->resp_end(&f.d, &f.o, &e);
    expect_out(&f, "HTTP/1.1 404 Not Found\r\nx-a: 1\r\n\r\n");
    /* A reason as the upstream sent it, even empty. */
    P->resp_begin(&f.d, &f.o, 200, (struct http_str){"", 0});
    e.conn = HTTP_CONN_CLOSE;
    P->resp_end(&f.d, &f.o, &e);
    expect_out(&f, "HTTP/1.1 200 \r\nconnection: close\r\n\r\n");
    e = (struct http_head_end){.conn = HTTP_CONN_UPGRADE, .upgrade = {"websocket", 9}};
    P->resp_end(&f.d, &f.o, &e);
    expect_out(&f, "connection: upgrade\r\nupgrade: websocket\r\n\r\n");
    fx_fini(&f);

    /* A 1.0 client keeps its connection only when it asks, and is told so. */
    fx_init(&f, "GET / HTTP/1.0\r\nhost: a\r\n\r\n", "");
    assert_false(P->keeps_conn(&f.d));
    assert_false(P->has_interim(&f.d));
    assert_string_equal(P->protocol(&f.d), "HTTP/1.0");
    fx_fini(&f);
    fx_init(&f, "GET / HTTP/1.0\r\nhost: a\r\nconnection: keep-alive\r\n\r\n", "");
    assert_true(P->keeps_conn(&f.d));
    e = (struct http_head_end){.conn = HTTP_CONN_KEEP};
    P->resp_end(&f.d, &f.o, &e);
    expect_out(&f, "connection: keep-alive\r\n\r\n");
    fx_fini(&f);

    fx_init(&f, "GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n", "");
    assert_false(P->keeps_conn(&f.d));
    /* No request (a malformed head): defaults. */
    assert_string_equal(P->protocol(NULL), "HTTP/1.1");
    e = (struct http_head_end){.conn = HTTP_CONN_CLOSE};
    P->resp_begin(NULL, &f.o, 400, (struct http_str){NULL, 0});
    P->resp_end(NULL, &f.o, &e);
    expect_out(&f, "HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    fx_fini(&f);
}

static void
test_h1_down_body_plans(void **state)
{
    (void)state;
    struct fx f;
    struct http_body_desc chunked = {.kind = HTTP_BODY_STREAM};
    struct http_body_desc close = {.kind = HTTP_BODY_UNTIL_CLOSE};
    struct http_body_desc length = {.kind = HTTP_BODY_LENGTH, .length = 3};
    struct http_data run = {.wire = {"3\r\nabc\r\n", 8}, .data = {"abc", 3}};

    /* 1.1: chunked passes as it came, until-close is chunk-encoded. */
    fx_init(&f, "GET / HTTP/1.1\r\nhost: a\r\n\r\n", "");
    assert_true(P->body_plan(&f.d, &chunked, true));
    struct http_head_end e = {.body = &chunked, .conn = HTTP_CONN_KEEP};
    P->resp_end(&f.d, &f.o, &e);
    P->data(&f.d, &f.o, &run);
    P->data_end(&f.d, &f.o);
    expect_out(&f, "transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n");
    assert_true(P->body_plan(&f.d, &close, true));
    e.body = &close;
    P->resp_end(&f.d, &f.o, &e);
    struct http_data raw = {.wire = {"hello", 5}, .data = {"hello", 5}};
    P->data(&f.d, &f.o, &raw);
    P->data_end(&f.d, &f.o);
    expect_out(&f, "transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    assert_true(P->body_plan(&f.d, &length, true));
    e.body = &length;
    P->resp_end(&f.d, &f.o, &e);
    expect_out(&f, "\r\n"); /* Content-Length is the caller's field */
    fx_fini(&f);

    /* 1.0: chunked is de-chunked and ends with the connection. */
    fx_init(&f, "GET / HTTP/1.0\r\nhost: a\r\nconnection: keep-alive\r\n\r\n", "");
    assert_false(P->body_plan(&f.d, &chunked, true));
    e = (struct http_head_end){.body = &chunked, .conn = HTTP_CONN_CLOSE};
    P->resp_end(&f.d, &f.o, &e);
    P->data(&f.d, &f.o, &run);
    P->data_end(&f.d, &f.o);
    expect_out(&f, "connection: close\r\n\r\nabc");
    assert_false(P->body_plan(&f.d, &close, true));
    assert_true(P->body_plan(&f.d, &length, true));
    fx_fini(&f);
}

static void
test_h1_down_transfer_codings_are_kept(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f,
            "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip\r\ntransfer-encoding: "
            "chunked\r\n\r\n",
            "");
    assert_int_equal(f.body.kind, HTTP_BODY_STREAM);
    assert_true(f.body.has_codings);
    h1_out_te(&f.o, &f.body, false);
    expect_out(&f, "transfer-encoding: gzip, chunked\r\n");
    struct http_body_desc plain = {.kind = HTTP_BODY_STREAM};
    h1_out_te(&f.o, &plain, true);
    expect_out(&f, "transfer-encoding: chunked\r\n");
    fx_fini(&f);
}

static void
test_h1_down_request_body_by_length(void **state)
{
    (void)state;
    struct fx f;
    /* An input that holds no memory yet (released while the request waited). */
    fx_init(&f, "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\n", "");
    buf_release(&f.in, NULL);
    struct http_data d0;
    assert_int_equal(P->req_body(&f.d, &d0), 0);
    assert_false(d0.is_end);
    fx_fini(&f);

    fx_init(&f, "POST / HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\n", "hel");
    assert_int_equal(f.body.kind, HTTP_BODY_LENGTH);
    assert_int_equal(f.body.length, 5);
    struct http_data d;
    assert_int_equal(P->req_body(&f.d, &d), 3);
    assert_memory_equal(d.wire.p, "hel", 3);
    assert_int_equal(d.data.len, 3);
    assert_false(d.is_end);
    assert_int_equal(f.in.len, 0);
    assert_int_equal(P->req_body(&f.d, &d), 0); /* nothing yet */
    assert_false(d.is_end);
    /* Bytes after the body (a pipelined request) stay in the input. */
    assert_int_equal(buf_append(&f.in, NULL, "loGET", 5, 1 << 16), 0);
    assert_int_equal(P->req_body(&f.d, &d), 2);
    assert_true(d.is_end);
    assert_int_equal(f.in.len, 3);
    fx_fini(&f);
}

static void
test_h1_down_request_body_chunked(void **state)
{
    (void)state;
    struct fx f;
    fx_init(&f, "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n",
            "5\r\nhello\r\n0\r\n\r\n");
    size_t wire = 0, data = 0;
    struct http_data d = {0};
    ssize_t r;
    while ((r = P->req_body(&f.d, &d)) > 0) {
        wire += (size_t)r;
        data += d.data.len;
        if (d.data.len > 0)
            assert_memory_equal(d.data.p, "hello", 5);
        if (d.is_end)
            break;
    }
    assert_true(d.is_end);
    assert_int_equal(wire, strlen("5\r\nhello\r\n0\r\n\r\n"));
    assert_int_equal(data, 5);
    fx_fini(&f);

    fx_init(&f, "POST / HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n", "zz\r\n");
    assert_int_equal(P->req_body(&f.d, &d), -1);
    fx_fini(&f);

    fx_init(&f, "GET / HTTP/1.1\r\nhost: a\r\n\r\n", "next");
    assert_int_equal(P->req_body(&f.d, &d), 0);
    assert_true(d.is_end);
    assert_int_equal(f.in.len, 4); /* a request without a body takes nothing */
    fx_fini(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_h1_down_heads_and_connection),
        cmocka_unit_test(test_h1_down_body_plans),
        cmocka_unit_test(test_h1_down_transfer_codings_are_kept),
        cmocka_unit_test(test_h1_down_request_body_by_length),
        cmocka_unit_test(test_h1_down_request_body_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
