/*
 * h1_down.c: the client's side of an exchange over HTTP/1.x (see h1_down.h).
 */
#include "canaryd/common.h"
#include "canaryd/http1/h1_down.h"

#include <string.h>

#include "canaryd/core/buf.h"

void
h1_down_init(struct h1_down *d, const struct h1_msg *req, struct buf *in,
             struct http_body_desc *body)
{
    memset(d, 0, sizeof(*d));
    d->in = in;
    d->version_minor = req->version_minor;
    d->req_keep = !(req->flags & H1_F_CONN_CLOSE) &&
                  !(req->version_minor == 0 && !(req->flags & H1_F_CONN_KEEPALIVE));
    d->req_framing = req->framing;
    d->req_left = req->content_length;
    memset(body, 0, sizeof(*body));
    switch (req->framing) {
    case H1_FRAME_LENGTH:
        body->kind = HTTP_BODY_LENGTH;
        body->length = req->content_length;
        break;
    case H1_FRAME_CHUNKED:
        body->kind = HTTP_BODY_STREAM;
        break;
    case H1_FRAME_NONE:
    case H1_FRAME_CLOSE: /* never a request's */
        body->kind = HTTP_BODY_NONE;
        break;
    }
    if (req->flags & H1_F_TE_OTHER) {
        body->has_codings = true;
        body->hdrs = req->hdrs;
        body->nhdrs = req->nhdrs;
    }
}

void
h1_out_field(struct buf_out *o, const char *name, size_t name_len, const char *value,
             size_t value_len)
{
    buf_out_mem(o, name, name_len);
    buf_out_mem(o, ": ", 2);
    buf_out_mem(o, value, value_len);
    buf_out_mem(o, "\r\n", 2);
}

void
h1_out_te(struct buf_out *o, const struct http_body_desc *in, bool add_chunked)
{
    if (!in->has_codings) {
        buf_out_str(o, "transfer-encoding: chunked\r\n");
        return;
    }
    /* The codings as the parser framed them: every line, in order, as one
     * list (RFC 9110 5.3), so that what is forwarded is what was framed. */
    buf_out_str(o, "transfer-encoding: ");
    bool first = true;
    for (uint32_t i = 0; i < in->nhdrs; i++) {
        const struct http_hdr *h = &in->hdrs[i];
        if (h->name_len != 17 || memcmp(h->name, "transfer-encoding", 17) != 0 || h->value_len == 0)
            continue;
        if (!first)
            buf_out_str(o, ", ");
        buf_out_mem(o, h->value, h->value_len);
        first = false;
    }
    buf_out_str(o, add_chunked ? ", chunked\r\n" : "\r\n");
}

/* Every response goes out as HTTP/1.1, also to a 1.0 client (RFC 9110 2.5). */
static void
h1_resp_begin(void *side, struct buf_out *o, uint16_t status, struct http_str reason)
{
    (void)side;
    buf_out_str(o, "HTTP/1.1 ");
    buf_out_u64(o, status);
    buf_out_mem(o, " ", 1);
    if (reason.p != NULL)
        buf_out_mem(o, reason.p, reason.len);
    else
        buf_out_str(o, http_reason_phrase(status));
    buf_out_mem(o, "\r\n", 2);
}

static bool
h1_body_plan(void *side, const struct http_body_desc *in, bool keep)
{
    struct h1_down *d = side;
    bool client10 = d->version_minor == 0;
    d->to_chunked = in->kind == HTTP_BODY_UNTIL_CLOSE && !client10;
    d->dechunk = in->kind == HTTP_BODY_STREAM && client10;
    /* A 1.0 client learns the end of a body of unknown length by the close. */
    if ((in->kind == HTTP_BODY_UNTIL_CLOSE && client10) || d->dechunk)
        keep = false;
    return keep;
}

static void
h1_resp_end(void *side, struct buf_out *o, const struct http_head_end *e)
{
    const struct h1_down *d = side;
    bool client10 = d != NULL && d->version_minor == 0;
    /* Content-Length is the caller's field; chunked framing is this side's. */
    bool to_chunked =
        e->body != NULL && e->body->kind == HTTP_BODY_UNTIL_CLOSE && d != NULL && d->to_chunked;
    if (to_chunked || (e->body != NULL && e->body->kind == HTTP_BODY_STREAM && !client10))
        h1_out_te(o, e->body, to_chunked);
    switch (e->conn) {
    case HTTP_CONN_UPGRADE:
        buf_out_str(o, "connection: upgrade\r\n");
        if (e->upgrade.p != NULL)
            h1_out_field(o, "upgrade", 7, e->upgrade.p, e->upgrade.len);
        break;
    case HTTP_CONN_CLOSE:
        buf_out_str(o, "connection: close\r\n");
        break;
    case HTTP_CONN_KEEP:
        if (client10)
            buf_out_str(o, "connection: keep-alive\r\n");
        break;
    case HTTP_CONN_NONE:
        break;
    }
    buf_out_mem(o, "\r\n", 2);
}

static bool
h1_has_interim(const void *side)
{
    const struct h1_down *d = side;
    return d->version_minor == 1;
}

static void
h1_data(void *side, struct buf_out *o, const struct http_data *dt)
{
    const struct h1_down *d = side;
    if (d->dechunk) {
        buf_out_mem(o, dt->data.p, dt->data.len);
    } else if (d->to_chunked) {
        if (dt->data.len == 0)
            return; /* an empty chunk would end the body */
        buf_out_hex(o, dt->data.len);
        buf_out_mem(o, "\r\n", 2);
        buf_out_mem(o, dt->data.p, dt->data.len);
        buf_out_mem(o, "\r\n", 2);
    } else {
        buf_out_mem(o, dt->wire.p, dt->wire.len);
    }
}

static void
h1_data_end(void *side, struct buf_out *o)
{
    const struct h1_down *d = side;
    if (d->to_chunked)
        buf_out_str(o, "0\r\n\r\n");
}

static ssize_t
h1_req_body(void *side, struct http_data *dt)
{
    struct h1_down *d = side;
    size_t len = d->in->len, take;
    /* An empty input may hold no memory at all (released while waiting). */
    const char *p = len > 0 ? buf_head(d->in) : "";
    memset(dt, 0, sizeof(*dt));
    switch (d->req_framing) {
    case H1_FRAME_LENGTH:
        take = (size_t)MIN((uint64_t)len, d->req_left);
        d->req_left -= take;
        dt->data = (struct http_str){p, take};
        dt->is_end = d->req_left == 0;
        break;
    case H1_FRAME_CHUNKED: {
        size_t doff = 0, dlen = 0;
        ssize_t r = h1_chunked_scan(&d->req_chunk, p, len, &doff, &dlen);
        if (r < 0)
            return -1;
        take = (size_t)r;
        dt->data = (struct http_str){p + doff, dlen};
        dt->is_end = d->req_chunk.done;
        break;
    }
    case H1_FRAME_NONE:
    case H1_FRAME_CLOSE:
    default:
        dt->is_end = true;
        return 0;
    }
    dt->wire = (struct http_str){p, take};
    buf_consume(d->in, take); /* the views stay valid until the input grows */
    return (ssize_t)take;
}

static bool
h1_keeps_conn(const void *side)
{
    const struct h1_down *d = side;
    return d->req_keep;
}

static const char *
h1_protocol(const void *side)
{
    const struct h1_down *d = side;
    return d != NULL && d->version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

const struct http_down_proto h1_down_proto = {
    .name = "HTTP/1.1",
    .resp_begin = h1_resp_begin,
    .field = h1_out_field,
    .body_plan = h1_body_plan,
    .resp_end = h1_resp_end,
    .has_interim = h1_has_interim,
    .data = h1_data,
    .data_end = h1_data_end,
    .req_body = h1_req_body,
    .keeps_conn = h1_keeps_conn,
    .protocol = h1_protocol,
};
