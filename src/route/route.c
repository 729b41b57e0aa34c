/*
 * route.c: Host -> VirtualService and first-match route selection (route.h).
 * Runs once per stream on the worker that parsed the head, over the snapshot
 * the stream pinned: a hash probe plus a short wildcard scan for the Host,
 * then the routes in order, cheapest conditions first inside each match entry.
 * Nothing is allocated; repeated headers are joined into the caller's scratch.
 */
#include "canaryd/common.h"
#include "canaryd/route/route.h"

#include <string.h>
#include <sys/types.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/http.h"
#include "canaryd/core/match.h"

/* Length of the host part of h[0..len) once the port is stripped, or -1 when
 * what follows the host is not ":" digits. "[v6]:port" keeps the brackets; a
 * bare IPv6 literal (two colons or more, no brackets) is kept whole. */
static ssize_t
host_len_without_port(const char *h, size_t len)
{
    size_t n = len;
    if (len > 0 && h[0] == '[') {
        const char *rb = memchr(h, ']', len);
        if (rb == NULL)
            return -1;
        n = (size_t)(rb - h) + 1;
        if (n < len && h[n] != ':')
            return -1;
    } else {
        const char *colon = memchr(h, ':', len);
        if (colon == NULL)
            return (ssize_t)len;
        n = (size_t)(colon - h);
        if (memchr(colon + 1, ':', len - n - 1) != NULL)
            return (ssize_t)len;
    }
    for (size_t i = n + 1; i < len; i++) {
        if (h[i] < '0' || h[i] > '9')
            return -1;
    }
    return (ssize_t)n;
}

static const struct conf_vhost *
exact_find(const struct conf_vhosts *vh, const char *h, size_t len)
{
    if (vh->nexact_slots == 0)
        return NULL;
    uint32_t hash = conf_host_hash(h, len);
    size_t mask = vh->nexact_slots - 1;
    size_t slot = hash & mask;
    /* Bounded by the table size so that a full table cannot spin forever. */
    for (size_t n = 0; n < vh->nexact_slots; n++) {
        const struct conf_host_entry *e = &vh->exact[slot];
        if (e->host == NULL)
            return NULL;
        if (e->hash == hash && e->len == len && memcmp(e->host, h, len) == 0)
            return e->vh;
        slot = (slot + 1) & mask;
    }
    return NULL;
}

/* Longest wildcard suffix; the suffix keeps its leading '.', and at least one
 * byte must precede it, so "*.example.com" never matches "example.com". */
static const struct conf_vhost *
wild_find(const struct conf_vhosts *vh, const char *h, size_t len)
{
    const struct conf_wildcard *best = NULL;
    for (size_t i = 0; i < vh->nwild; i++) {
        const struct conf_wildcard *w = &vh->wild[i];
        if (len <= w->len || (best != NULL && w->len <= best->len))
            continue;
        if (memcmp(h + len - w->len, w->suffix, w->len) == 0)
            best = w;
    }
    return best != NULL ? best->vh : NULL;
}

const struct conf_vhost *
route_vhost(const struct conf_vhosts *vh, const char *host, size_t len)
{
    if (host == NULL || len == 0)
        return vh->star;
    ssize_t n = host_len_without_port(host, len);
    if (n < 0 || n > ROUTE_HOST_MAX)
        return NULL;
    if (n == 0)
        return vh->star;
    char buf[ROUTE_HOST_MAX];
    for (ssize_t i = 0; i < n; i++) {
        char c = host[i];
        buf[i] = (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
    }
    const struct conf_vhost *b = exact_find(vh, buf, (size_t)n);
    if (b == NULL)
        b = wild_find(vh, buf, (size_t)n);
    return b != NULL ? b : vh->star;
}

static bool
hdr_is(const struct http_hdr *h, const char *name, size_t name_len)
{
    return h->name_len == name_len && memcmp(h->name, name, name_len) == 0;
}

/* Joins every header named name, starting at index first, into rr->scratch. */
static int
hdr_join(const struct route_req *rr, const char *name, size_t name_len, size_t first,
         const char **val, size_t *len)
{
    const struct http_req *req = rr->req;
    bool is_cookie = name_len == 6 && memcmp(name, "cookie", 6) == 0;
    const char *sep = is_cookie ? ROUTE_JOIN_SEP_COOKIE : ROUTE_JOIN_SEP;
    size_t sep_len = strlen(sep);
    size_t n = 0;
    if (rr->scratch == NULL)
        return -1;
    for (size_t i = first; i < req->nhdrs; i++) {
        const struct http_hdr *h = &req->hdrs[i];
        if (!hdr_is(h, name, name_len))
            continue;
        size_t add = (i == first ? 0 : sep_len) + h->value_len;
        if (add > rr->scratch_cap - n)
            return -1;
        if (i != first) {
            memcpy(rr->scratch + n, sep, sep_len);
            n += sep_len;
        }
        if (h->value_len > 0)
            memcpy(rr->scratch + n, h->value, h->value_len);
        n += h->value_len;
    }
    *val = rr->scratch;
    *len = n;
    return 1;
}

int
route_hdr_get(const struct route_req *rr, const char *name, size_t name_len, const char **val,
              size_t *len)
{
    const struct http_req *req = rr->req;
    size_t i = 0;
    while (i < req->nhdrs && !hdr_is(&req->hdrs[i], name, name_len))
        i++;
    if (i == req->nhdrs)
        return 0;
    for (size_t j = i + 1; j < req->nhdrs; j++) {
        if (hdr_is(&req->hdrs[j], name, name_len))
            return hdr_join(rr, name, name_len, i, val, len);
    }
    *val = req->hdrs[i].value;
    *len = req->hdrs[i].value_len;
    return 1;
}

bool
route_query_get(const char *query, size_t query_len, const char *name, size_t name_len,
                const char **val, size_t *len)
{
    if (query == NULL)
        return false;
    size_t start = 0;
    while (start < query_len) {
        const char *seg = query + start;
        const char *amp = memchr(seg, '&', query_len - start);
        size_t seg_len = amp != NULL ? (size_t)(amp - seg) : query_len - start;
        const char *eq = memchr(seg, '=', seg_len);
        size_t key_len = eq != NULL ? (size_t)(eq - seg) : seg_len;
        if (key_len == name_len && memcmp(seg, name, name_len) == 0) {
            *val = eq != NULL ? eq + 1 : seg + seg_len;
            *len = eq != NULL ? seg_len - key_len - 1 : 0;
            return true;
        }
        start += seg_len + 1;
    }
    return false;
}

static bool
hdr_holds(const struct conf_hdr_match *hm, const struct route_req *rr)
{
    const char *v = NULL;
    size_t len = 0;
    int rc = route_hdr_get(rr, hm->name, hm->name_len, &v, &len);
    if (rc < 0)
        return false;
    if (rc == 0)
        return hm->invert;
    return match_test(&hm->m, v, len) != hm->invert;
}

static bool
query_holds(const struct conf_hdr_match *qm, const struct http_req *req)
{
    const char *v = NULL;
    size_t len = 0;
    if (!route_query_get(req->query.p, req->query.len, qm->name, qm->name_len, &v, &len))
        return false;
    return match_test(&qm->m, v, len);
}

static bool
gateways_meet(const uint64_t *want, const struct route_req *rr)
{
    if (rr->gateways == NULL)
        return false;
    for (size_t i = 0; i < rr->gw_words; i++) {
        if ((want[i] & rr->gateways[i]) != 0)
            return true;
    }
    return false;
}

/* One match[] entry: every field set must hold. Cheap comparisons first. */
static bool
entry_holds(const struct conf_match *m, const struct route_req *rr)
{
    const struct http_req *req = rr->req;
    if (m->never)
        return false;
    if (m->gateways != NULL && !gateways_meet(m->gateways, rr))
        return false;
    if (m->port != 0 && m->port != rr->port)
        return false;
    if (m->method != NULL && !match_test(m->method, req->method.p, req->method.len))
        return false;
    if (m->scheme != NULL && !match_test(m->scheme, req->scheme.p, req->scheme.len))
        return false;
    if (m->uri != NULL && !match_test(m->uri, req->path.p, req->path.len))
        return false;
    if (m->authority != NULL && !match_test(m->authority, req->authority.p, req->authority.len))
        return false;
    for (size_t i = 0; i < m->nheaders; i++) {
        if (!hdr_holds(&m->headers[i], rr))
            return false;
    }
    for (size_t i = 0; i < m->nquery; i++) {
        if (!query_holds(&m->query[i], req))
            return false;
    }
    return true;
}

const struct conf_route *
route_select(const struct conf_vs *vs, const struct route_req *rr)
{
    for (size_t i = 0; i < vs->nroutes; i++) {
        const struct conf_route *r = &vs->routes[i];
        if (r->nmatches == 0)
            return r;
        for (size_t j = 0; j < r->nmatches; j++) {
            if (entry_holds(&r->matches[j], rr))
                return r;
        }
    }
    return NULL;
}
