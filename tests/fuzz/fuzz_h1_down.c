/*
 * fuzz_h1_down.c: libFuzzer target for the HTTP/1 client side (h1_down.c)
 * through its struct http_down_proto. The first input byte picks the mode
 * and the client's version, the second how the bytes are split over calls;
 * the rest is a body:
 *  - a chunked request body read with req_body as it trickles in: every run
 *    lies inside what it consumed, nothing is consumed past the end, and the
 *    payload is what one scan of the whole body gives;
 *  - a Content-Length request body: exactly the length is consumed, the rest
 *    stays for the next request;
 *  - a response body of unknown length relayed to a 1.1 client: the output is
 *    a valid chunked body whose payload is the input;
 *  - a chunked response body relayed as it came (1.1) or de-chunked (1.0):
 *    the output is the input's bytes or its payload.
 */
#include "canaryd/common.h"
#include "canaryd/http1/h1_down.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/core/buf.h"

static const struct http_down_proto *const P = &h1_down_proto;

struct sink {
    char *p; /* owned */
    size_t len;
};

static void
sink_add(struct sink *k, const char *p, size_t n)
{
    char *np = realloc(k->p, k->len + n + 1);
    BUG_ON(np == NULL);
    k->p = np;
    memcpy(k->p + k->len, p, n);
    k->len += n;
}

/* The payload of a whole chunked body in one scan (the reference). */
static ssize_t
scan_whole(const char *body, size_t len, struct sink *payload, bool *done)
{
    struct h1_chunked st = {0};
    size_t pos = 0;
    while (pos < len && !st.done) {
        size_t off, dl;
        ssize_t r = h1_chunked_scan(&st, body + pos, len - pos, &off, &dl);
        if (r < 0)
            return -1;
        sink_add(payload, body + pos + off, dl);
        pos += (size_t)r;
        if (r == 0)
            break;
    }
    *done = st.done;
    return (ssize_t)pos;
}

static void
request_init(struct h1_down *d, char *head, size_t cap, bool v10, const char *framing,
             struct buf *in, struct http_body_desc *body, struct h1_msg *req)
{
    int n = snprintf(head, cap, "POST / HTTP/1.%c\r\nhost: a\r\n%s\r\n", v10 ? '0' : '1', framing);
    BUG_ON(n < 0 || (size_t)n >= cap);
    BUG_ON(h1_parse_request(head, (size_t)n, req) != n);
    h1_down_init(d, req, in, body);
}

/* Feeds body into the client's input step bytes at a time, reading runs. */
static void
read_request(struct h1_down *d, struct buf *in, const char *body, size_t len, size_t step,
             struct sink *payload, size_t *consumed, bool *is_end, bool *failed, size_t *fedp)
{
    size_t fed = 0;
    *fedp = 0;
    *consumed = 0;
    *is_end = *failed = false;
    while (!*is_end) {
        size_t add = MIN(step, len - fed);
        if (add > 0)
            BUG_ON(buf_append(in, NULL, body + fed, add, 1u << 20) == -1);
        fed += add;
        *fedp = fed;
        for (;;) {
            size_t before = in->len;
            const char *head = in->len > 0 ? buf_head(in) : NULL;
            struct http_data dt;
            ssize_t r = P->req_body(d, &dt);
            if (r < 0) {
                *failed = true;
                return;
            }
            BUG_ON((size_t)r > before || in->len != before - (size_t)r);
            BUG_ON(r > 0 && (dt.wire.p != head || dt.wire.len != (size_t)r));
            BUG_ON(dt.data.len > 0 &&
                   (dt.data.p < dt.wire.p || dt.data.p + dt.data.len > dt.wire.p + dt.wire.len));
            sink_add(payload, dt.data.p != NULL ? dt.data.p : "", dt.data.len);
            *consumed += (size_t)r;
            *is_end = dt.is_end;
            if (r == 0 || dt.is_end)
                break;
        }
        if (fed == len && !*is_end)
            return; /* the body ends short */
    }
}

static void
fuzz_request_chunked(bool v10, const char *body, size_t len, size_t step)
{
    char head[128];
    struct h1_msg req;
    struct h1_down d;
    struct http_body_desc desc;
    struct buf in = {0};
    request_init(&d, head, sizeof(head), v10, "transfer-encoding: chunked\r\n", &in, &desc, &req);
    BUG_ON(desc.kind != HTTP_BODY_STREAM);
    struct sink got = {0}, want = {0};
    size_t consumed, fed;
    bool is_end, failed, done;
    read_request(&d, &in, body, len, step, &got, &consumed, &is_end, &failed, &fed);
    ssize_t whole = scan_whole(body, len, &want, &done);
    if (whole < 0) {
        BUG_ON(!failed);
    } else if (!failed) {
        BUG_ON(is_end != done);
        if (is_end)
            BUG_ON(consumed != (size_t)whole);
        BUG_ON(got.len > want.len || (got.len > 0 && memcmp(got.p, want.p, got.len) != 0));
        if (is_end)
            BUG_ON(got.len != want.len);
    }
    free(got.p);
    free(want.p);
    buf_release(&in, NULL);
}

static void
fuzz_request_length(bool v10, const char *body, size_t len, size_t step, size_t clen)
{
    char head[128], framing[48];
    snprintf(framing, sizeof(framing), "content-length: %zu\r\n", clen);
    struct h1_msg req;
    struct h1_down d;
    struct http_body_desc desc;
    struct buf in = {0};
    request_init(&d, head, sizeof(head), v10, framing, &in, &desc, &req);
    BUG_ON(clen > 0 ? desc.kind != HTTP_BODY_LENGTH || desc.length != clen
                    : desc.kind != HTTP_BODY_LENGTH && desc.kind != HTTP_BODY_NONE);
    struct sink got = {0};
    size_t consumed, fed;
    bool is_end, failed;
    read_request(&d, &in, body, len, step, &got, &consumed, &is_end, &failed, &fed);
    BUG_ON(failed);
    BUG_ON(consumed != MIN(len, clen) || got.len != consumed);
    BUG_ON(is_end != (len >= clen));
    BUG_ON(got.len > 0 && memcmp(got.p, body, got.len) != 0);
    /* What follows the body stays for the next request. */
    BUG_ON(in.len != fed - consumed);
    free(got.p);
    buf_release(&in, NULL);
}

static void
down_init(struct h1_down *d, bool v10)
{
    char head[64];
    int n = snprintf(head, sizeof(head), "GET / HTTP/1.%c\r\nhost: a\r\n\r\n", v10 ? '0' : '1');
    struct h1_msg req;
    BUG_ON(h1_parse_request(head, (size_t)n, &req) != n);
    struct http_body_desc none;
    h1_down_init(d, &req, NULL, &none);
}

static void
fuzz_resp_until_close(const char *body, size_t len, size_t step)
{
    struct h1_down d;
    down_init(&d, false);
    struct http_body_desc in = {.kind = HTTP_BODY_UNTIL_CLOSE};
    BUG_ON(!P->body_plan(&d, &in, true)); /* re-chunked: the connection may stay */
    struct buf out = {0};
    struct buf_out o = buf_out_to(&out, NULL, 1u << 22);
    for (size_t pos = 0; pos < len; pos += step) {
        size_t n = MIN(step, len - pos);
        struct http_data dt = {.wire = {body + pos, n}, .data = {body + pos, n}};
        P->data(&d, &o, &dt);
    }
    P->data_end(&d, &o);
    BUG_ON(o.failed);
    struct sink payload = {0};
    bool done;
    ssize_t whole = scan_whole(buf_head(&out), out.len, &payload, &done);
    BUG_ON(whole != (ssize_t)out.len || !done);
    BUG_ON(payload.len != len || (len > 0 && memcmp(payload.p, body, len) != 0));
    free(payload.p);
    buf_release(&out, NULL);
}

static void
fuzz_resp_chunked(bool v10, const char *body, size_t len, size_t step)
{
    struct h1_down d;
    down_init(&d, v10);
    struct http_body_desc in = {.kind = HTTP_BODY_STREAM};
    BUG_ON(P->body_plan(&d, &in, true) == v10); /* de-chunked: ends with the close */
    struct buf out = {0};
    struct buf_out o = buf_out_to(&out, NULL, 1u << 22);
    struct sink wire = {0}, payload = {0};
    struct h1_chunked st = {0};
    size_t pos = 0;
    while (pos < len && !st.done) {
        size_t avail = MIN(len - pos, step), off, dl;
        ssize_t r = h1_chunked_scan(&st, body + pos, avail, &off, &dl);
        if (r <= 0)
            break;
        struct http_data dt = {.wire = {body + pos, (size_t)r}, .data = {body + pos + off, dl}};
        P->data(&d, &o, &dt);
        sink_add(&wire, body + pos, (size_t)r);
        sink_add(&payload, body + pos + off, dl);
        pos += (size_t)r;
    }
    P->data_end(&d, &o);
    BUG_ON(o.failed);
    const struct sink *want = v10 ? &payload : &wire;
    BUG_ON(out.len != want->len || (out.len > 0 && memcmp(buf_head(&out), want->p, out.len) != 0));
    free(wire.p);
    free(payload.p);
    buf_release(&out, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    bool v10 = (data[0] & 1) != 0;
    unsigned mode = (data[0] >> 1) % 4;
    size_t step = 1 + data[1] % 64;
    size_t clen = data[2];
    /* An exact-size heap copy: ASan sees any read past the end. */
    size_t len = size - 3;
    char *body = malloc(len == 0 ? 1 : len);
    BUG_ON(body == NULL);
    memcpy(body, data + 3, len);
    switch (mode) {
    case 0:
        fuzz_request_chunked(false, body, len, step); /* a 1.0 request cannot be chunked */
        break;
    case 1:
        fuzz_request_length(v10, body, len, step, clen);
        break;
    case 2:
        fuzz_resp_until_close(body, len, step);
        break;
    default:
        fuzz_resp_chunked(v10, body, len, step);
        break;
    }
    free(body);
    return 0;
}
