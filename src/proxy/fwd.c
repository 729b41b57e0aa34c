/*
 * fwd.c: what a forwarded head keeps and what canaryd adds to it (see fwd.h),
 * the same whichever protocol either side speaks.
 */
#include "canaryd/common.h"
#include "canaryd/proxy/fwd.h"

#include <string.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/buf.h"
#include "canaryd/route/cors.h"

static bool
str_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static bool
ops_names(const struct conf_hdr_ops *ops, const char *name, size_t len)
{
    if (ops == NULL)
        return false;
    for (size_t i = 0; i < ops->nremove; i++)
        if (str_eq(ops->remove[i].name, ops->remove[i].name_len, name, len))
            return true;
    for (size_t i = 0; i < ops->nset; i++)
        if (str_eq(ops->set[i].name, ops->set[i].name_len, name, len))
            return true;
    return false;
}

/* Framing is canaryd's to write: Content-Length goes out as one normalised
 * value (RFC 9110 8.6), never as received, and a Connection header naming it
 * (or Host) cannot make it disappear, which would change the framing. */
bool
hdr_is_framing(const struct http_hdr *h)
{
    return str_eq(h->name, h->name_len, "content-length", 14) ||
           str_eq(h->name, h->name_len, "host", 4);
}

static bool
conn_line_names(const struct http_hdr *c, const struct http_hdr *h)
{
    return h1_token_list_has(c->value, c->value_len, h->name, h->name_len);
}

/* Whether a Connection line of the head names h. */
static bool
conn_names(const struct hdr_skip *sk, const struct http_hdr *h)
{
    if (sk->nconn <= HDR_SKIP_CONN) {
        for (size_t i = 0; i < sk->nconn; i++)
            if (conn_line_names(sk->conn[i], h))
                return true;
        return false;
    }
    for (uint32_t i = 0; i < sk->m->nhdrs; i++) {
        const struct http_hdr *c = &sk->m->hdrs[i];
        if (str_eq(c->name, c->name_len, "connection", 10) && conn_line_names(c, h))
            return true;
    }
    return false;
}

bool
hdr_skipped(const struct hdr_skip *sk, const struct http_hdr *h)
{
    if (h1_is_hop_by_hop(h->name, h->name_len))
        return true;
    if (sk->nconn > 0 && !hdr_is_framing(h) && conn_names(sk, h))
        return true;
    return ops_names(sk->ops[0], h->name, h->name_len) ||
           ops_names(sk->ops[1], h->name, h->name_len);
}

static void
out_kvs(struct buf_out *o, field_fn *field, const struct conf_hdr_kv *kv, size_t n,
        const struct cors_hdr *skip, size_t nskip)
{
    for (size_t i = 0; i < n; i++)
        if (nskip == 0 || !cors_hdrs_has(skip, nskip, kv[i].name, kv[i].name_len))
            field(o, kv[i].name, kv[i].name_len, kv[i].value, kv[i].value_len);
}

/* The set and add operations, except the headers named in skip[0..nskip)
 * (the CORS headers, which replace whatever the route adds, as Envoy's CORS
 * filter runs after the router's header operations on a response). */
void
out_ops_add(struct buf_out *o, field_fn *field, const struct conf_hdr_ops *ops,
            const struct cors_hdr *skip, size_t nskip)
{
    if (ops == NULL)
        return;
    out_kvs(o, field, ops->set, ops->nset, skip, nskip);
    out_kvs(o, field, ops->add, ops->nadd, skip, nskip);
}

void
hdr_skip_init(struct hdr_skip *sk, const struct h1_msg *m, const struct conf_hdr_ops *a,
              const struct conf_hdr_ops *b)
{
    sk->nconn = 0;
    sk->m = m;
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        const struct http_hdr *h = &m->hdrs[i];
        if (!str_eq(h->name, h->name_len, "connection", 10))
            continue;
        if (sk->nconn < HDR_SKIP_CONN)
            sk->conn[sk->nconn] = h;
        sk->nconn++;
    }
    sk->ops[0] = a;
    sk->ops[1] = b;
}
