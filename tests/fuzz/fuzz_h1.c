/*
 * fuzz_h1.c: libFuzzer target for the HTTP/1.1 parser (h1.h).
 * The first input byte picks the mode: request head, response head (the
 * second byte picks HEAD or GET as the request method) or chunked body (the
 * second byte picks how the body is split over calls). Every call runs on an
 * exact-size heap copy so that ASan sees any read past len, and the
 * invariants below abort on violation: results never exceed len, views stay
 * inside the head, framing agrees with the headers, a proper prefix of a
 * complete head is "need more", errors do not change with more bytes,
 * h1_head_is_ready never hides a complete head, and a chunked body gives the
 * same result and payload however it is split.
 */
#include "canaryd/common.h"
#include "canaryd/http1/h1.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *
copy(const uint8_t *data, size_t len)
{
    char *p = malloc(len == 0 ? 1 : len);
    BUG_ON(p == NULL);
    memcpy(p, data, len);
    return p;
}

static bool
inside(const char *base, size_t len, const char *p, size_t n)
{
    return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static void
check_view(const char *base, size_t len, const char *p, size_t n)
{
    if (p != NULL)
        BUG_ON(!inside(base, len, p, n));
}

static void
check_field(const struct http_hdr *h, const char *base, size_t len)
{
    BUG_ON(!inside(base, len, h->name, h->name_len));
    BUG_ON(!inside(base, len, h->value, h->value_len));
    BUG_ON(h->name_len == 0);
    for (uint32_t i = 0; i < h->name_len; i++)
        BUG_ON(h->name[i] >= 'A' && h->name[i] <= 'Z');
    for (uint32_t i = 0; i < h->value_len; i++) {
        unsigned char c = (unsigned char)h->value[i];
        BUG_ON((c < 0x20 && c != '\t') || c == 0x7f);
    }
    if (h->value_len > 0) {
        BUG_ON(h->value[0] == ' ' || h->value[0] == '\t');
        BUG_ON(h->value[h->value_len - 1] == ' ' || h->value[h->value_len - 1] == '\t');
    }
}

static void
check_framing(const struct h1_msg *m, bool is_request)
{
    bool has_cl = h1_hdr_find(m, "content-length", 14) != NULL;
    bool has_te = h1_hdr_find(m, "transfer-encoding", 17) != NULL;

    BUG_ON(has_cl && has_te);
    BUG_ON(m->version_minor > 1);
    if (m->framing == H1_FRAME_CHUNKED)
        BUG_ON(!has_te || m->version_minor != 1);
    if (m->framing == H1_FRAME_LENGTH)
        BUG_ON(!has_cl || m->content_length > INT64_MAX);
    if (is_request) {
        BUG_ON(m->framing == H1_FRAME_CLOSE);
        BUG_ON(m->framing == H1_FRAME_NONE && (has_cl || has_te));
        BUG_ON(m->version_minor == 1 && m->host == NULL);
    } else {
        BUG_ON(m->status < 100 || m->status > 999);
        if (m->status < 200 || m->status == 204)
            BUG_ON(m->framing != H1_FRAME_NONE);
    }
}

static void
check_msg(const struct h1_msg *m, const char *buf, size_t n, bool is_request)
{
    BUG_ON(m->head_len != n);
    BUG_ON(m->nhdrs > H1_MAX_HEADERS);
    check_view(buf, n, m->method, m->method_len);
    check_view(buf, n, m->target, m->target_len);
    if (m->path != NULL && !(m->path_len == 1 && m->path[0] == '/'))
        check_view(buf, n, m->path, m->path_len);
    check_view(buf, n, m->query, m->query_len);
    check_view(buf, n, m->host, m->host_len);
    check_view(buf, n, m->reason, m->reason_len);
    if (is_request)
        BUG_ON(m->path == NULL || (m->path[0] != '/' && m->path[0] != '*'));
    for (uint32_t i = 0; i < m->nhdrs; i++)
        check_field(&m->hdrs[i], buf, n);
    check_framing(m, is_request);
}

static ssize_t
parse(const uint8_t *data, size_t len, bool is_request, const char *method, struct h1_msg *m,
      char **out)
{
    char *buf = copy(data, len);
    ssize_t rc = is_request ? h1_parse_request(buf, len, m)
                            : h1_parse_response(buf, len, method, strlen(method), m);
    BUG_ON(rc > (ssize_t)len || rc < -1);
    if (rc < 0) {
        BUG_ON(m->err == NULL);
        if (is_request)
            BUG_ON(m->err_status != 400 && m->err_status != 414 && m->err_status != 431 &&
                   m->err_status != 501 && m->err_status != 505);
        else
            BUG_ON(m->err_status != 502);
    }
    if (rc > 0)
        check_msg(m, buf, (size_t)rc, is_request);
    *out = buf;
    return rc;
}

/* Fed in steps, h1_head_is_ready never says false while a head is complete. */
static void
fuzz_ready(const uint8_t *data, size_t len, bool is_request, const char *method)
{
    struct h1_head_progress hp = {0};
    static struct h1_msg m;
    size_t step = 1 + len % 13;

    for (size_t n = MIN(step, len); n > 0; n = MIN(n + step, len)) {
        char *buf = copy(data, n);
        bool is_ready = h1_head_is_ready(&hp, buf, n);
        ssize_t rc = is_request ? h1_parse_request(buf, n, &m)
                                : h1_parse_response(buf, n, method, strlen(method), &m);
        free(buf);
        BUG_ON(rc > 0 && !is_ready);
        if (rc > 0 || n == len)
            break;
    }
}

static void
fuzz_head(const uint8_t *data, size_t len, bool is_request, const char *method)
{
    static struct h1_msg m, p;
    char *buf, *pbuf;
    ssize_t rc = parse(data, len, is_request, method, &m, &buf);
    uint16_t status = m.err_status;

    if (rc > 0) {
        /* a proper prefix of a complete head is incomplete */
        BUG_ON(parse(data, (size_t)rc - 1, is_request, method, &p, &pbuf) != 0);
        free(pbuf);
        /* parsing the lower-cased buffer again gives the same answer */
        char *again = copy((const uint8_t *)buf, len);
        BUG_ON((is_request ? h1_parse_request(again, len, &p)
                           : h1_parse_response(again, len, method, strlen(method), &p)) != rc);
        free(again);
    } else if (len > 0) {
        /* errors are sequential: a prefix is incomplete or fails the same way */
        ssize_t prc = parse(data, MIN(len - 1, len / 2 + len % 7), is_request, method, &p, &pbuf);
        BUG_ON(prc > 0 || (rc == 0 && prc < 0) || (prc < 0 && p.err_status != status));
        free(pbuf);
    }
    free(buf);
    if (len <= 1024)
        fuzz_ready(data, len, is_request, method);
}

struct chunk_out {
    ssize_t consumed; /* -1 on error */
    bool is_done;
    size_t data_len;
    char *data; /* owned */
};

static void
chunk_feed(const uint8_t *body, size_t len, size_t step, struct chunk_out *o)
{
    struct h1_chunked st = {0};
    size_t pos = 0, fed = 0;

    o->data = malloc(len == 0 ? 1 : len);
    BUG_ON(o->data == NULL);
    o->data_len = 0;
    o->consumed = -1;
    for (;;) {
        fed = MIN(len, fed + step);
        size_t off, dl, avail = fed - pos;
        char *tmp = copy(body + pos, avail);
        ssize_t rc = h1_chunked_scan(&st, tmp, avail, &off, &dl);
        if (rc < 0) {
            free(tmp);
            return;
        }
        BUG_ON((size_t)rc > avail || off + dl > (size_t)rc || (rc == 0 && avail > 0 && !st.done));
        BUG_ON(st.line_len > H1_MAX_CHUNK_LINE || st.trailer_len > H1_MAX_TRAILERS + 2);
        memcpy(o->data + o->data_len, tmp + off, dl);
        o->data_len += dl;
        pos += (size_t)rc;
        free(tmp);
        if (st.done || (pos == len && fed == len))
            break;
    }
    o->consumed = (ssize_t)pos;
    o->is_done = st.done;
}

static void
fuzz_chunked(const uint8_t *data, size_t len, size_t step)
{
    struct chunk_out whole, split;

    chunk_feed(data, len, len == 0 ? 1 : len, &whole);
    chunk_feed(data, len, step, &split);
    BUG_ON(whole.consumed != split.consumed);
    if (whole.consumed >= 0) {
        BUG_ON(whole.is_done != split.is_done);
        BUG_ON(whole.data_len != split.data_len);
        BUG_ON(memcmp(whole.data, split.data, whole.data_len) != 0);
        BUG_ON(whole.data_len > (size_t)whole.consumed);
    }
    free(whole.data);
    free(split.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_head(data + 1, size - 1, true, "");
        break;
    case 1:
        fuzz_head(data + 2, size - 2, false, (data[1] & 1) ? "HEAD" : "GET");
        break;
    default:
        fuzz_chunked(data + 2, size - 2, (size_t)(data[1] % 16) + 1);
        break;
    }
    return 0;
}
