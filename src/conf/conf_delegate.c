/*
 * conf_delegate.c: VirtualService delegation (http[].delegate), with Istio's
 * semantics. A root VirtualService (one with hosts) hands a route to a
 * delegate (one without hosts, found by name and namespace); at load time the
 * delegate's routes are spliced in place of the delegating route, each match
 * merged with the root route's (the delegate's must lie within it), and the
 * root route's policy (rewrite, timeout, retries, fault, mirrors, headers, CORS)
 * inherited where the delegate's route sets none. One level only: a delegate
 * cannot delegate again. The snapshot never sees a delegate: runtime routing
 * reads plain routes. Load time only.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <string.h>

#include "canaryd/core/arena.h"
#include "canaryd/core/diag.h"
#include "canaryd/core/match.h"

/* Longest delegation chain followed to tell a cycle from a nested delegate. */
#define CHAIN_MAX 16
#define CHAIN_BUF 512

/* ---- parse ---- */

static const struct cf_field delegate_fields[] = {
    {.key = "name",
     .type = CF_T_STR,
     .store = CF_ST_SLOT,
     .required = true,
     .fn.put = cf_h_tstr,
     CF__SLOT(struct cf_delegate, name, const char *),
     .sample = "base-delegate"},
    {.key = "namespace",
     .type = CF_T_STR,
     .store = CF_ST_SLOT,
     .fn.put = cf_h_tstr,
     CF__SLOT(struct cf_delegate, ns, const char *),
     .sample = "default"},
    CF_END,
};
const struct cf_table cf_delegate_tab = CF_TABLE(struct cf_delegate, delegate_fields);

int
cf_h_delegate(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    (void)obj;
    BUG_ON(c->route == NULL);
    struct cf_delegate *d = arena_alloc(c->tmp, sizeof(*d));
    if (d == NULL)
        return cf_oom(c);
    d->where = cf_where_here(c, n);
    c->route->delegate = d;
    c->route->actions |= CF_ACT_DELEGATE;
    return CF_WALK(c, n, &cf_delegate_tab, d);
}

/* ---- lookups ---- */

static const char *
obj_key(struct cf_ctx *c, const char *ns, const char *name)
{
    const char *k = cf_printf(c->tmp, "%s/%s", ns, name);
    if (k == NULL)
        cf_oom(c);
    return k;
}

static const char *
target_ns(const struct cf_obj *from, const struct cf_delegate *dl)
{
    return dl->ns != NULL ? dl->ns : from->meta.ns;
}

static struct cf_dlg *
find_dlg(struct cf_ctx *c, const struct cf_delegates *d, const struct cf_obj *from,
         const struct cf_delegate *dl)
{
    const char *k = obj_key(c, target_ns(from, dl), dl->name);
    return k != NULL ? cf_map_get(&d->by_name, k, strlen(k)) : NULL;
}

static const struct cf_delegate *
first_delegate(const struct cf_obj *o)
{
    for (size_t i = 0; i < o->u.vs.nroutes; i++)
        if (o->u.vs.routes[i].delegate != NULL)
            return o->u.vs.routes[i].delegate;
    return NULL;
}

/* Moves the VirtualServices without hosts from c->objs to d. */
static int
collect(struct cf_ctx *c, struct cf_delegates *d)
{
    struct cf_vec *v = &c->objs[CF_VS];
    size_t keep = 0;
    for (size_t i = 0; i < v->n; i++) {
        struct cf_obj *o = v->v[i];
        if (o->u.vs.nhosts > 0 || o->meta.name == NULL) {
            v->v[keep++] = o;
            continue;
        }
        struct cf_dlg *g = arena_alloc(c->tmp, sizeof(*g));
        const char *k = obj_key(c, o->meta.ns, o->meta.name);
        if (g == NULL || k == NULL)
            return cf_oom(c);
        g->o = o;
        /* Names are unique per namespace (checked before). */
        if (cf_map_put(c->tmp, &d->by_name, k, strlen(k), g, NULL) == -1 ||
            cf_vec_push(c->tmp, &d->all, g) == -1)
            return cf_oom(c);
    }
    v->n = keep;
    return 0;
}

/* ---- Istio's checks ---- */

static bool
is_regex(const struct match *m)
{
    return m != NULL && m->kind == MATCH_REGEX;
}

static const char *
regex_field(const struct conf_match *e)
{
    if (is_regex(e->uri))
        return "uri";
    if (is_regex(e->scheme))
        return "scheme";
    if (is_regex(e->method))
        return "method";
    if (is_regex(e->authority))
        return "authority";
    for (size_t i = 0; i < e->nheaders; i++)
        if (e->headers[i].m.kind == MATCH_REGEX)
            return e->headers[i].invert ? "withoutHeaders" : "headers";
    for (size_t i = 0; i < e->nquery; i++)
        if (e->query[i].m.kind == MATCH_REGEX)
            return "queryParams";
    return NULL;
}

/* Istio refuses regex matches in delegating routes and in delegates' routes:
 * whether one lies within another could not be decided. */
static void
check_no_regex(struct cf_ctx *c, const struct cf_route *r)
{
    for (size_t i = 0; i < r->r->nmatches; i++) {
        const char *field = regex_field(&r->r->matches[i]);
        if (field != NULL)
            cf_err_at(c, &r->where,
                      "match[%zu].%s: a regex match cannot take part in delegation (Istio); "
                      "use exact or prefix",
                      i, field);
    }
}

/* A delegate that delegates again: a cycle when the chain leads back. */
static void
nested_error(struct cf_ctx *c, const struct cf_delegates *d, const struct cf_obj *from,
             const struct cf_delegate *dl)
{
    char chain[CHAIN_BUF];
    int len = snprintf(chain, sizeof(chain), "%s/%s", from->meta.ns, from->meta.name);
    const struct cf_obj *cur = from;
    const struct cf_delegate *next = dl;
    bool cycle = false;
    for (int hop = 0; hop < CHAIN_MAX && next != NULL && len >= 0 && len < CHAIN_BUF; hop++) {
        const char *ns = target_ns(cur, next);
        len += snprintf(chain + len, sizeof(chain) - (size_t)len, " -> %s/%s", ns, next->name);
        if (strcmp(ns, from->meta.ns) == 0 && strcmp(next->name, from->meta.name) == 0) {
            cycle = true;
            break;
        }
        const struct cf_dlg *t = find_dlg(c, d, cur, next);
        cur = t != NULL ? t->o : NULL;
        next = cur != NULL ? first_delegate(cur) : NULL;
    }
    if (cycle)
        cf_err_at(c, &dl->where,
                  "delegation cycle %s: a delegate cannot delegate again (Istio delegates one "
                  "level only)",
                  chain);
    else
        cf_err_at(c, &dl->where,
                  "VirtualService %s/%s has no hosts, so it is a delegate, and a delegate cannot "
                  "delegate again (Istio delegates one level only)",
                  from->meta.ns, from->meta.name);
}

static void
check_delegate_vs(struct cf_ctx *c, const struct cf_delegates *d, const struct cf_dlg *g)
{
    const struct cf_obj *o = g->o;
    const struct cf_vs *vs = &o->u.vs;
    if (vs->ngateways > 0)
        cf_err_at(c, &vs->gateways[0].where,
                  "a VirtualService without hosts is a delegate, and a delegate cannot have "
                  "gateways: its root's apply");
    if (o->split_key.src != CONF_KEY_NONE)
        cf_warn_at(c, &o->meta.name_where,
                   "canaryd.io/split-key on a delegate is not used: the root VirtualService's "
                   "applies to the spliced routes");
    for (size_t i = 0; i < vs->nroutes; i++) {
        const struct cf_route *r = &vs->routes[i];
        check_no_regex(c, r);
        if (r->delegate != NULL)
            nested_error(c, d, o, r->delegate);
    }
}

/* The delegate route r of root o names; NULL after an error. */
static struct cf_dlg *
resolve(struct cf_ctx *c, struct cf_delegates *d, const struct cf_map *roots,
        const struct cf_obj *o, const struct cf_route *r)
{
    const struct cf_delegate *dl = r->delegate;
    const char *k = obj_key(c, target_ns(o, dl), dl->name);
    if (k == NULL)
        return NULL;
    struct cf_dlg *g = cf_map_get(&d->by_name, k, strlen(k));
    if (g == NULL) {
        if (cf_map_get(roots, k, strlen(k)) != NULL)
            cf_err_at(c, &dl->where,
                      "VirtualService %s has hosts, so it is no delegate: only a "
                      "VirtualService without hosts can be delegated to",
                      k);
        else
            cf_err_at(c, &dl->where, "delegate VirtualService %s is not defined", k);
        return NULL;
    }
    g->referenced = true;
    /* A delegate with errors adds no follow-up errors and is not spliced. */
    if (g->o->failed)
        return NULL;
    if (!cf_exported_to(g->o, o->meta.ns)) {
        cf_err_at(c, &dl->where,
                  "delegate VirtualService %s is not exported to namespace \"%s\" of this "
                  "VirtualService",
                  k, o->meta.ns);
        return NULL;
    }
    return g;
}

/* ---- merging matches ---- */

/* Whether leaf cannot lie within root, with Istio's rules: an exact root takes
 * the same exact only, a prefix root an exact or prefix that extends it. */
static bool
sm_conflict(const struct match *root, const struct match *leaf)
{
    if (root == NULL || leaf == NULL)
        return false;
    if (root->kind == MATCH_REGEX || leaf->kind == MATCH_REGEX)
        return true;
    if (root->kind == MATCH_EXACT)
        return leaf->kind != MATCH_EXACT || leaf->len != root->len ||
               memcmp(leaf->str, root->str, root->len) != 0;
    if (root->kind == MATCH_PREFIX)
        return (leaf->kind != MATCH_EXACT && leaf->kind != MATCH_PREFIX) || leaf->len < root->len ||
               memcmp(leaf->str, root->str, root->len) != 0;
    return true;
}

static const struct conf_hdr_match *
find_hdr(const struct conf_hdr_match *v, size_t n, const struct conf_hdr_match *h)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].invert == h->invert && v[i].name_len == h->name_len &&
            memcmp(v[i].name, h->name, h->name_len) == 0)
            return &v[i];
    return NULL;
}

static bool
hdrs_conflict(const struct conf_hdr_match *r, size_t nr, const struct conf_hdr_match *l, size_t nl)
{
    for (size_t i = 0; i < nl; i++) {
        const struct conf_hdr_match *rh = find_hdr(r, nr, &l[i]);
        if (rh != NULL && sm_conflict(&rh->m, &l[i].m))
            return true;
    }
    return false;
}

static bool
sources_conflict(const struct cf_msrc *rs, const struct cf_msrc *ls)
{
    if (rs == NULL)
        return false;
    if (rs->ns != NULL && (ls == NULL || ls->ns == NULL || strcmp(rs->ns, ls->ns) != 0))
        return true;
    for (size_t i = 0; ls != NULL && i < ls->labels.n; i++)
        for (size_t j = 0; j < rs->labels.n; j++)
            if (strcmp(ls->labels.v[i].key, rs->labels.v[j].key) == 0 &&
                strcmp(ls->labels.v[i].val, rs->labels.v[j].val) != 0)
                return true;
    return false;
}

/* Entry ri of the root route against entry li of the delegate's route. */
static bool
entry_conflict(const struct cf_route *root, size_t ri, const struct cf_route *leaf, size_t li)
{
    const struct conf_match *r = &root->r->matches[ri], *l = &leaf->r->matches[li];
    const struct cf_msrc *rs = root->msrc != NULL ? &root->msrc[ri] : NULL;
    const struct cf_msrc *ls = leaf->msrc != NULL ? &leaf->msrc[li] : NULL;
    if (sm_conflict(r->uri, l->uri) || sm_conflict(r->scheme, l->scheme) ||
        sm_conflict(r->method, l->method) || sm_conflict(r->authority, l->authority))
        return true;
    if (hdrs_conflict(r->headers, r->nheaders, l->headers, l->nheaders) ||
        hdrs_conflict(r->query, r->nquery, l->query, l->nquery))
        return true;
    if ((rs != NULL && rs->ignore_case) != (ls != NULL && ls->ignore_case))
        return true;
    if (r->port != 0 && l->port != 0 && r->port != l->port)
        return true;
    return sources_conflict(rs, ls);
}

/* The root's conditions the delegate's do not restate, then the delegate's. */
static int
hdr_union(struct cf_ctx *c, const struct conf_hdr_match *r, size_t nr,
          const struct conf_hdr_match *l, size_t nl, struct conf_hdr_match **out, size_t *nout)
{
    struct conf_hdr_match *v = arena_alloc_array(c->a, nr + nl + 1, sizeof(*v));
    if (v == NULL)
        return cf_oom(c);
    size_t n = 0;
    for (size_t i = 0; i < nr; i++)
        if (find_hdr(l, nl, &r[i]) == NULL)
            v[n++] = r[i];
    for (size_t i = 0; i < nl; i++)
        v[n++] = l[i];
    *out = v;
    *nout = n;
    return 0;
}

static const char *
joined_name(struct cf_ctx *c, const char *root, const char *leaf, bool *oom)
{
    if (leaf == NULL || root == NULL)
        return leaf != NULL ? leaf : root;
    const char *s = cf_printf(c->a, "%s-%s", root, leaf);
    *oom = s == NULL;
    return s;
}

static int
merge_entry(struct cf_ctx *c, const struct conf_match *r, const struct conf_match *l,
            struct conf_match *out)
{
    bool oom = false;
    *out = *l;
    out->name = joined_name(c, r->name, l->name, &oom);
    if (oom)
        return cf_oom(c);
    if (out->uri == NULL)
        out->uri = r->uri;
    if (out->scheme == NULL)
        out->scheme = r->scheme;
    if (out->method == NULL)
        out->method = r->method;
    if (out->authority == NULL)
        out->authority = r->authority;
    if (out->port == 0)
        out->port = r->port;
    out->never = r->never || l->never;
    if (hdr_union(c, r->headers, r->nheaders, l->headers, l->nheaders, &out->headers,
                  &out->nheaders) == -1)
        return -1;
    return hdr_union(c, r->query, r->nquery, l->query, l->nquery, &out->query, &out->nquery);
}

/* match[].gateways of a merged entry: the delegate entry's when it names any,
 * else the root entry's (Istio's mergeHTTPMatchRequest). */
static struct cf_match_gws
merged_gws(const struct cf_route *root, size_t ri, const struct cf_route *leaf, size_t li)
{
    static const struct cf_match_gws none = {0};
    const struct cf_match_gws *l = leaf->match_gws != NULL ? &leaf->match_gws[li] : &none;
    const struct cf_match_gws *r = root->match_gws != NULL ? &root->match_gws[ri] : &none;
    return l->n > 0 ? *l : *r;
}

/* out's matches: every delegate entry merged with every root entry it lies
 * within. 1 done, 0 some delegate entry lies within none (the route is left
 * out, as Istio does), -1 allocation failure. */
static int
merge_matches(struct cf_ctx *c, const struct cf_route *root, const struct cf_route *leaf,
              struct cf_route *outr)
{
    const struct conf_route *R = root->r, *D = leaf->r;
    struct conf_route *out = outr->r;
    if (R->nmatches == 0 || D->nmatches == 0) {
        out->matches = R->nmatches == 0 ? D->matches : R->matches;
        out->nmatches = R->nmatches == 0 ? D->nmatches : R->nmatches;
        outr->match_gws = R->nmatches == 0 ? leaf->match_gws : root->match_gws;
        return 1;
    }
    /* Whether the leaf nests at all, and how many entries the merge has, is
     * decided before anything is allocated: a wide delegate under many roots
     * leaves most pairs out. */
    size_t nmerged = 0;
    for (size_t li = 0; li < D->nmatches; li++) {
        size_t before = nmerged;
        for (size_t ri = 0; ri < R->nmatches; ri++)
            nmerged += !entry_conflict(root, ri, leaf, li);
        if (nmerged == before)
            return 0;
    }
    struct conf_match *v = arena_alloc_array(c->a, nmerged, sizeof(*v));
    struct cf_match_gws *g = NULL;
    if (v == NULL || ((root->match_gws != NULL || leaf->match_gws != NULL) &&
                      (g = arena_alloc_array(c->tmp, nmerged, sizeof(*g))) == NULL))
        return cf_oom(c);
    size_t n = 0;
    for (size_t li = 0; li < D->nmatches; li++) {
        size_t before = n;
        for (size_t ri = 0; ri < R->nmatches; ri++) {
            if (entry_conflict(root, ri, leaf, li))
                continue;
            if (g != NULL)
                g[n] = merged_gws(root, ri, leaf, li);
            if (merge_entry(c, &R->matches[ri], &D->matches[li], &v[n++]) == -1)
                return -1;
        }
        if (n == before)
            return 0;
    }
    out->matches = v;
    out->nmatches = n;
    outr->match_gws = g;
    return 1;
}

/* ---- the rest of a route ---- */

static bool
headers_empty(const struct conf_headers *h)
{
    return h->request.nset + h->request.nadd + h->request.nremove + h->response.nset +
               h->response.nadd + h->response.nremove ==
           0;
}

/* A copy of the root's mirror for a route resolved in namespace ns: a short
 * host keeps meaning the root namespace's service. */
static struct cf_mirror *
moved_mirrors(struct cf_ctx *c, const struct cf_mirror *m, size_t n, const char *root_ns,
              const char *ns)
{
    struct cf_mirror *v = arena_memdup(c->tmp, m, n * sizeof(*m));
    if (v == NULL) {
        cf_oom(c);
        return NULL;
    }
    for (size_t i = 0; i < n && strcmp(root_ns, ns) != 0; i++) {
        const char *h = v[i].ref.host;
        if (strchr(h, '.') != NULL || strchr(h, '*') != NULL)
            continue;
        if ((v[i].ref.host = cf_printf(c->tmp, "%s.%s.svc.cluster.local", h, root_ns)) == NULL) {
            cf_oom(c);
            return NULL;
        }
    }
    return v;
}

static int
inherit_mirrors(struct cf_ctx *c, const struct cf_route *root, const char *root_ns,
                struct cf_route *out)
{
    const char *ns = out->from->meta.ns;
    if (out->mirror == NULL && root->mirror != NULL &&
        (out->mirror = moved_mirrors(c, root->mirror, 1, root_ns, ns)) == NULL)
        return -1;
    else if (out->mirror != NULL && !out->has_mirror_ppm && root->has_mirror_ppm) {
        if ((out->mirror = arena_memdup(c->tmp, out->mirror, sizeof(*out->mirror))) == NULL)
            return cf_oom(c);
        out->mirror->ppm = root->mirror_ppm;
    }
    if (out->nmirrors == 0 && root->nmirrors > 0) {
        out->mirrors = moved_mirrors(c, root->mirrors, root->nmirrors, root_ns, ns);
        if (out->mirrors == NULL)
            return -1;
        out->nmirrors = root->nmirrors;
    }
    return 0;
}

/* What the delegate's route does not set, it takes from the root's. */
static int
inherit(struct cf_ctx *c, const struct cf_route *root, const char *root_ns, struct cf_route *out)
{
    const struct conf_route *R = root->r;
    struct conf_route *o = out->r;
    bool oom = false;
    o->name = joined_name(c, R->name, o->name, &oom);
    if (oom)
        return cf_oom(c);
    if (o->rewrite.uri == NULL && o->rewrite.authority == NULL)
        o->rewrite = R->rewrite;
    if (o->timeout_ms == 0)
        o->timeout_ms = R->timeout_ms;
    if (!o->retries.is_set)
        o->retries = R->retries;
    if (!o->fault.has_delay && !o->fault.has_abort)
        o->fault = R->fault;
    if (headers_empty(&o->headers))
        o->headers = R->headers;
    if (o->cors == NULL)
        o->cors = R->cors;
    return inherit_mirrors(c, root, root_ns, out);
}

/* Delegate route leaf (of delegate dobj) spliced for root route root (route ri
 * of VirtualService o) into out/outc. 1 spliced, 0 left out, -1 failure. */
/* Left-out delegate routes warned about one by one, per delegating route;
 * the rest are counted in one warning (a wide delegate under many roots would
 * otherwise print a warning per pair). */
#define LEFT_OUT_WARN_MAX 10

static int
splice_one(struct cf_ctx *c, const struct cf_obj *o, size_t ri, const struct cf_obj *dobj,
           const struct cf_route *leaf, struct cf_route *out, struct conf_route *outc,
           size_t *nleft)
{
    *outc = *leaf->r;
    *out = *leaf;
    out->r = outc;
    out->from = dobj;
    out->msrc = NULL;
    /* The delegate's gateway names resolve in its own namespace. */
    for (size_t i = 0; leaf->match_gws != NULL && i < leaf->r->nmatches; i++)
        leaf->match_gws[i].ns = dobj->meta.ns;
    int rc = merge_matches(c, &o->u.vs.routes[ri], leaf, out);
    if (rc == 0 && (*nleft)++ < LEFT_OUT_WARN_MAX)
        cf_warn_at(c, &leaf->where,
                   "this route's match does not lie within the match of spec.http[%zu] of "
                   "VirtualService %s/%s, which delegates to it: left out there, as Istio does",
                   ri, o->meta.ns, o->meta.name);
    if (rc != 1)
        return rc;
    return inherit(c, &o->u.vs.routes[ri], o->meta.ns, out) == -1 ? -1 : 1;
}

static int
add_root(struct cf_ctx *c, struct cf_dlg *g, const struct cf_obj *o)
{
    for (size_t i = 0; i < g->roots.n; i++)
        if (g->roots.v[i] == o)
            return 0;
    return cf_vec_push(c->tmp, &g->roots, (void *)o) == 0 ? 0 : cf_oom(c);
}

/* Spliced routes while they are collected: a root route times a delegate's
 * routes is only an upper bound (most pairs may be left out), so the arrays
 * grow with what is really spliced, in the scratch arena. */
struct splice_buf {
    struct cf_route *routes; /* borrowed: scratch arena */
    struct conf_route *out;  /* borrowed: scratch arena; routes[i].r is fixed up at the end */
    size_t n;
    size_t cap;
};

static int
splice_reserve(struct cf_ctx *c, struct splice_buf *b)
{
    if (b->n < b->cap)
        return 0;
    size_t ncap = b->cap ? b->cap * 2 : 16;
    struct cf_route *nr = arena_alloc_array(c->tmp, ncap, sizeof(*nr));
    struct conf_route *no = arena_alloc_array(c->tmp, ncap, sizeof(*no));
    if (nr == NULL || no == NULL)
        return cf_oom(c);
    if (b->n > 0) {
        memcpy(nr, b->routes, b->n * sizeof(*nr));
        memcpy(no, b->out, b->n * sizeof(*no));
    }
    b->routes = nr;
    b->out = no;
    b->cap = ncap;
    return 0;
}

/* A plain (not delegating) route of the root, kept as it is. */
static int
splice_keep(struct cf_ctx *c, struct splice_buf *b, const struct cf_route *r)
{
    if (splice_reserve(c, b) == -1)
        return -1;
    b->out[b->n] = *r->r;
    b->routes[b->n] = *r;
    b->n++;
    return 0;
}

/* Every route of delegate d spliced for route i of root o. */
static int
splice_delegate(struct cf_ctx *c, struct splice_buf *b, struct cf_obj *o, size_t i,
                const struct cf_obj *d)
{
    const struct cf_route *r = &o->u.vs.routes[i];
    size_t before = b->n, nleft = 0;
    for (size_t j = 0; j < d->u.vs.nroutes; j++) {
        if (splice_reserve(c, b) == -1)
            return -1;
        int rc =
            splice_one(c, o, i, d, &d->u.vs.routes[j], &b->routes[b->n], &b->out[b->n], &nleft);
        if (rc == -1)
            return -1;
        b->n += (size_t)rc;
    }
    if (nleft > LEFT_OUT_WARN_MAX)
        cf_warn_at(c, &r->where,
                   "%zu more routes of delegate VirtualService %s/%s do not lie within this "
                   "route's match: left out here, as Istio does",
                   nleft - LEFT_OUT_WARN_MAX, d->meta.ns, d->meta.name);
    if (b->n == before)
        cf_warn_at(c, &r->where,
                   "no route of delegate VirtualService %s/%s lies within this route's "
                   "match: the route is left out",
                   d->meta.ns, d->meta.name);
    return 0;
}

/* Routes of root o with every delegation spliced, into vs->routes/out; the
 * snapshot gets exactly the routes kept. */
static int
splice_routes(struct cf_ctx *c, struct cf_obj *o, struct cf_dlg **tg)
{
    struct cf_vs *vs = &o->u.vs;
    struct splice_buf b = {0};
    for (size_t i = 0; i < vs->nroutes; i++) {
        const struct cf_route *r = &vs->routes[i];
        if (r->delegate == NULL) {
            if (splice_keep(c, &b, r) == -1)
                return -1;
            continue;
        }
        if (tg[i] == NULL)
            continue;
        if (splice_delegate(c, &b, o, i, tg[i]->o) == -1 || add_root(c, tg[i], o) == -1)
            return -1;
    }
    struct conf_route *out = arena_alloc_array(c->a, b.n + 1, sizeof(*out));
    if (out == NULL)
        return cf_oom(c);
    if (b.n > 0)
        memcpy(out, b.out, b.n * sizeof(*out));
    for (size_t i = 0; i < b.n; i++)
        b.routes[i].r = &out[i];
    vs->routes = b.routes;
    vs->out = out;
    vs->nroutes = b.n;
    return 0;
}

static int
splice_root(struct cf_ctx *c, struct cf_delegates *d, const struct cf_map *roots, struct cf_obj *o)
{
    struct cf_vs *vs = &o->u.vs;
    struct cf_dlg **tg = arena_alloc_array(c->tmp, vs->nroutes + 1, sizeof(*tg));
    if (tg == NULL)
        return cf_oom(c);
    size_t ndelegating = 0;
    for (size_t i = 0; i < vs->nroutes; i++) {
        const struct cf_route *r = &vs->routes[i];
        if (r->delegate == NULL)
            continue;
        ndelegating++;
        check_no_regex(c, r);
        tg[i] = resolve(c, d, roots, o, r);
    }
    if (ndelegating == 0 || cf_failed(c))
        return 0;
    return splice_routes(c, o, tg);
}

/* The delegates that hidden roots, or roots with errors, name are not unused:
 * canaryd does not see those roots, or cannot use them. */
static void
mark_refs(struct cf_ctx *c, const struct cf_vec *roots, struct cf_delegates *d)
{
    for (size_t i = 0; i < roots->n; i++) {
        const struct cf_obj *o = roots->v[i];
        for (size_t j = 0; o->kind == CF_VS && j < o->u.vs.nroutes; j++) {
            const struct cf_delegate *dl = o->u.vs.routes[j].delegate;
            bool named = dl != NULL && dl->name != NULL;
            struct cf_dlg *g = named ? find_dlg(c, d, o, dl) : NULL;
            if (g != NULL)
                g->referenced = true;
        }
    }
}

static int
index_roots(struct cf_ctx *c, const struct cf_vec *hidden, struct cf_map *roots)
{
    const struct cf_vec *lists[] = {&c->objs[CF_VS], hidden};
    for (size_t l = 0; l < countof(lists); l++) {
        for (size_t i = 0; i < lists[l]->n; i++) {
            const struct cf_obj *o = lists[l]->v[i];
            bool named = o->kind == CF_VS && o->meta.name != NULL;
            const char *k = named ? obj_key(c, o->meta.ns, o->meta.name) : NULL;
            if (k != NULL && cf_map_put(c->tmp, roots, k, strlen(k), (void *)o, NULL) == -1)
                return cf_oom(c);
        }
    }
    return 0;
}

int
cf_delegate_splice(struct cf_ctx *c, const struct cf_vec *hidden, struct cf_delegates *d)
{
    struct cf_map roots = {0};
    if (collect(c, d) == -1 || index_roots(c, hidden, &roots) == -1)
        return -1;
    for (size_t i = 0; i < d->all.n; i++)
        if (!((struct cf_dlg *)d->all.v[i])->o->failed)
            check_delegate_vs(c, d, d->all.v[i]);
    for (size_t i = 0; i < c->objs[CF_VS].n; i++) {
        struct cf_obj *o = c->objs[CF_VS].v[i];
        if (!o->failed && splice_root(c, d, &roots, o) == -1)
            return -1;
    }
    mark_refs(c, hidden, d);
    mark_refs(c, &c->objs[CF_VS], d);
    for (size_t i = 0; i < d->all.n; i++) {
        const struct cf_dlg *g = d->all.v[i];
        if (!g->referenced)
            cf_warn_at(c, &g->o->meta.name_where,
                       "VirtualService %s/%s has no hosts, so it is a delegate, and no "
                       "VirtualService delegates to it: it is not used",
                       g->o->meta.ns, g->o->meta.name);
    }
    return 0;
}

/* ---- -t summary ---- */

void
cf_delegate_sum_vs(const struct cf_obj *o, FILE *f)
{
    const char *sep = " delegated=";
    for (size_t i = 0; i < o->u.vs.nroutes; i++) {
        const struct cf_route *r = &o->u.vs.routes[i];
        if (r->from == NULL)
            continue;
        fprintf(f, "%s%s<-%s/%s", sep, r->r->name, r->from->meta.ns, r->from->meta.name);
        sep = ",";
    }
}

void
cf_delegate_summary(const struct cf_delegates *d, FILE *f)
{
    for (size_t i = 0; i < d->all.n; i++) {
        const struct cf_dlg *g = d->all.v[i];
        fprintf(f, "VirtualService %s/%s: delegate routes=%zu used-by=", g->o->meta.ns,
                g->o->meta.name, g->o->u.vs.nroutes);
        for (size_t j = 0; j < g->roots.n; j++) {
            const struct cf_obj *r = g->roots.v[j];
            fprintf(f, "%s%s/%s", j ? "," : "", r->meta.ns, r->meta.name);
        }
        fprintf(f, "%s\n", g->roots.n == 0 ? "none" : "");
    }
}
