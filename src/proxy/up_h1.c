/*
 * up_h1.c: the request head canaryd sends an upstream over HTTP/1.1 (see
 * up_h1.h): the route's rewrites, the forwarded fields, X-Forwarded-For and
 * -Proto, X-Request-Id, the header operations and the body's framing.
 */
#include "canaryd/common.h"
#include "canaryd/proxy/up_h1.h"

#include <string.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/buf.h"
#include "canaryd/core/match.h"
#include "canaryd/http1/h1_down.h"
#include "canaryd/proxy/fwd.h"
#include "canaryd/proxy/stream_int.h"

/* Istio rewrite.uri replaces the matched prefix, or the whole path when the
 * route matched otherwise. */
static void
out_path(struct buf_out *o, const struct stream *st)
{
    const struct h1_msg *r = &st->req;
    const struct conf_rewrite *rw = &st->route->rewrite;
    if (rw->uri == NULL || r->path == NULL || r->path[0] != '/') {
        buf_out_mem(o, r->path != NULL ? r->path : r->target,
                    r->path != NULL ? r->path_len : r->target_len);
    } else {
        size_t cut = r->path_len;
        for (size_t i = 0; i < st->route->nmatches; i++) {
            const struct match *m = st->route->matches[i].uri;
            if (m != NULL && m->kind == MATCH_PREFIX && match_test(m, r->path, r->path_len)) {
                cut = m->len;
                break;
            }
        }
        buf_out_mem(o, rw->uri, rw->uri_len);
        buf_out_mem(o, r->path + cut, r->path_len - cut);
    }
    if (r->query != NULL) {
        buf_out_mem(o, "?", 1);
        buf_out_mem(o, r->query, r->query_len);
    }
}

static void
out_host(struct buf_out *o, const char *host, size_t len, bool is_shadow)
{
    if (!is_shadow) {
        h1_out_field(o, "host", 4, host, len);
        return;
    }
    /* Envoy's shadow host: "-shadow" after the host name, before a port. */
    const char *colon = memrchr(host, ':', len);
    if (colon != NULL && host[len - 1] == ']')
        colon = NULL;
    size_t name_len = colon != NULL ? (size_t)(colon - host) : len;
    buf_out_str(o, "host: ");
    buf_out_mem(o, host, name_len);
    buf_out_str(o, "-shadow");
    buf_out_mem(o, host + name_len, len - name_len);
    buf_out_str(o, "\r\n");
}

/* X-Forwarded-For: every line the client sent, in order, then the client. */
static void
out_xff(struct buf_out *o, const struct h1_msg *r, const char *peer_ip)
{
    buf_out_str(o, "x-forwarded-for: ");
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        const struct http_hdr *h = &r->hdrs[i];
        if (str_eq(h->name, h->name_len, "x-forwarded-for", 15)) {
            buf_out_mem(o, h->value, h->value_len);
            buf_out_str(o, ", ");
        }
    }
    buf_out_str(o, peer_ip);
    buf_out_str(o, "\r\n");
}

int
up_h1_req_head(struct stream *st, struct buf *b, bool is_shadow)
{
    const struct h1_msg *r = &st->req;
    struct sess *s = st->sess;
    struct buf_out o = out_to(b, &s->w->bufs);
    struct hdr_skip sk;
    hdr_skip_init(&sk, r, &st->route->headers.request, &st->dest->headers.request);
    buf_out_mem(&o, r->method, r->method_len);
    buf_out_mem(&o, " ", 1);
    out_path(&o, st);
    buf_out_str(&o, " HTTP/1.1\r\n");
    const struct conf_rewrite *rw = &st->route->rewrite;
    if (rw->authority != NULL)
        out_host(&o, rw->authority, rw->authority_len, is_shadow);
    else if (r->host != NULL)
        out_host(&o, r->host, r->host_len, is_shadow);
    if (is_shadow)
        buf_out_str(&o, "connection: close\r\n");
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        const struct http_hdr *h = &r->hdrs[i];
        if (hdr_is_framing(h) || str_eq(h->name, h->name_len, "x-forwarded-proto", 17) ||
            str_eq(h->name, h->name_len, "x-request-id", 12) ||
            str_eq(h->name, h->name_len, "x-forwarded-for", 15))
            continue;
        if (hdr_skipped(&sk, h))
            continue;
        h1_out_field(&o, h->name, h->name_len, h->value, h->value_len);
    }
    out_xff(&o, r, s->peer_ip);
    buf_out_str(&o, "x-forwarded-proto: http\r\n");
    h1_out_field(&o, "x-request-id", 12, st->request_id, st->request_id_len);
    out_ops_add(&o, h1_out_field, &st->route->headers.request, NULL, 0);
    out_ops_add(&o, h1_out_field, &st->dest->headers.request, NULL, 0);
    if (st->req_body.kind == HTTP_BODY_STREAM)
        h1_out_te(&o, &st->req_body, false);
    else if (st->req_body.kind == HTTP_BODY_LENGTH) {
        buf_out_str(&o, "content-length: ");
        buf_out_u64(&o, r->content_length);
        buf_out_str(&o, "\r\n");
    }
    if (st->is_upgrade && !is_shadow) {
        const struct http_hdr *up = h1_hdr_find(r, "upgrade", 7);
        buf_out_str(&o, "connection: upgrade\r\n");
        h1_out_field(&o, "upgrade", 7, up->value, up->value_len);
    }
    buf_out_str(&o, "\r\n");
    return o.failed ? -1 : 0;
}
