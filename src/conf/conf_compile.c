/*
 * conf_compile.c: from parsed objects to the immutable snapshot.
 * First the checks that involve several objects (duplicate names, undefined
 * subsets, subsets that select nothing, unreachable routes, weights, Gateway
 * ports, host conflicts), then construction: clusters for every distinct
 * (host, subset, port) destination with their endpoints and merged traffic
 * policy, routes with cumulative weight tables, listeners with host tables,
 * and the -t summary. Load time only; does no I/O.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "canaryd/core/addr.h"
#include "canaryd/core/arena.h"
#include "canaryd/core/diag.h"
#include "canaryd/core/sha256.h"

#define DEFAULT_LISTEN "0.0.0.0:8080"
#define DEFAULT_LISTENER "default"
#define MIN_HOST_SLOTS 8
/* Room for most fully qualified hosts: lookups build them on the stack
 * rather than in the scratch arena (once per destination). */
#define FQDN_BUF 256

/* A cluster while it is being collected. */
struct ccl {
    const char *key;  /* borrowed: scratch; "fqdn|subset|port" */
    const char *host; /* borrowed: arena */
    const char *subset;
    uint16_t port;
    const struct cf_obj *se;     /* borrowed: may be NULL (a DNS name) */
    const struct cdr *dr;        /* borrowed: may be NULL */
    const struct cf_subset *sub; /* borrowed: may be NULL */
    uint32_t index;
};

/* The DestinationRules for one host, merged as Istio merges them. */
struct cdr {
    const struct cf_obj *first;     /* borrowed: the first rule in Istio's order */
    const struct cf_obj *policy_dr; /* borrowed: the first rule with a trafficPolicy, or NULL */
    struct cf_vec subsets;          /* const struct cf_subset *: unique names, first wins */
    struct cf_vec owners;           /* const struct cf_obj *: the rule of each subset */
    size_t nrules;
    const struct cf_obj *se; /* borrowed: the host's ServiceEntry, or NULL */
    bool se_broken;          /* the host's ServiceEntry had errors (reported already) */
};

/* A listener while hosts are attached to it. */
struct clis {
    struct conf_listener l;
    struct cf_vec servers; /* struct lsrv *: the Gateway servers on this address; none for
                              "default" */
    struct cf_map hosts;   /* host form -> struct bind * */
    struct cf_vec exact;   /* struct conf_host_entry * */
    struct cf_vec wild;    /* struct conf_wildcard * */
    const struct conf_vhost *star;
};

struct comp {
    struct cf_ctx *c;
    struct cf_map se_host;  /* fqdn -> struct cf_obj * */
    struct cf_map dr_host;  /* fqdn -> struct cdr * */
    struct cf_map gw_name;  /* "ns/name" -> struct cf_obj * */
    struct cf_map broken;   /* fqdn of a ServiceEntry or DestinationRule host whose
                               document had errors -> its struct cf_obj * */
    struct cf_map we_ns;    /* namespace -> struct cf_vec of WorkloadEntries (cf_obj *) */
    struct cf_map cl_key;   /* cluster key -> struct ccl * */
    struct cf_vec cls;      /* struct ccl * */
    struct cf_vec lis;      /* struct clis * */
    struct cf_vec *vs_lis;  /* per VS: listener indices (as pointers) */
    struct cf_vec hidden;   /* struct cf_obj *: not exported to canaryd's namespace */
    struct cf_delegates dl; /* the VirtualServices without hosts */
};

#define OBJ(c, k, i) ((struct cf_obj *)(c)->objs[k].v[i])

/* ---- names ---- */

static const char *
fqdn(struct cf_ctx *c, const char *host, const char *ns)
{
    if (strchr(host, '.') != NULL || strchr(host, '*') != NULL)
        return host;
    const char *s = cf_printf(c->tmp, "%s.%s.svc.cluster.local", host, ns);
    if (s == NULL)
        cf_oom(c);
    return s != NULL ? s : host;
}

/* fqdn() for a lookup: the result is in buf[FQDN_BUF] when it fits (valid as
 * long as buf), else in the scratch arena. */
static const char *
fqdn_tmp(struct cf_ctx *c, const char *host, const char *ns, char *buf)
{
    static const char tail[] = ".svc.cluster.local";
    if (strchr(host, '.') != NULL || strchr(host, '*') != NULL)
        return host;
    size_t hl = strlen(host), nl = strlen(ns);
    if (hl + 1 + nl + sizeof(tail) > FQDN_BUF)
        return fqdn(c, host, ns);
    memcpy(buf, host, hl);
    buf[hl] = '.';
    memcpy(buf + hl + 1, ns, nl);
    memcpy(buf + hl + 1 + nl, tail, sizeof(tail));
    return buf;
}

static void
check_dup_names(struct cf_ctx *c)
{
    for (int k = 0; k < CF_NKINDS; k++) {
        struct cf_map seen = {0};
        for (size_t i = 0; i < c->objs[k].n; i++) {
            struct cf_obj *o = OBJ(c, k, i);
            if (o->meta.name == NULL)
                continue;
            const char *key = cf_printf(c->tmp, "%s/%s", o->meta.ns, o->meta.name);
            void *old = NULL;
            int rc = key != NULL ? cf_map_put(c->tmp, &seen, key, strlen(key), o, &old) : -1;
            if (rc == -1) {
                cf_oom(c);
                return;
            }
            if (rc == 1) {
                const struct ast_loc *l = &((struct cf_obj *)old)->meta.name_where.loc;
                cf_err_at(c, &o->meta.name_where, "%s \"%s\" is already defined at %s:%d:%d",
                          cf_kind_name(k), key, l->file, l->line, l->col);
            }
        }
    }
}

/* ---- ServiceEntry and DestinationRule ---- */

static bool
is_ip(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* A ServiceEntry without endpoints or workloadSelector whose resolution is
 * DNS, or NONE (where Istio forwards to the address the client resolved the
 * host to), resolves its hosts themselves. */
static void
se_default_eps(struct cf_ctx *c, struct cf_se *se)
{
    if (se->neps > 0 || se->selector.is_set || se->resolution == CF_RES_STATIC)
        return;
    se->eps = arena_alloc(c->tmp, (se->nhosts + 1) * sizeof(*se->eps));
    if (se->eps == NULL) {
        cf_oom(c);
        return;
    }
    for (size_t i = 0; i < se->nhosts; i++)
        se->eps[i] = (struct cf_se_ep){.address = se->hosts[i].s,
                                       .weight = 1,
                                       .where = se->hosts[i].where,
                                       .addr_where = se->hosts[i].where};
    se->neps = se->nhosts;
    se->eps_from_hosts = se->resolution == CF_RES_NONE;
}

/* Hosts resolved by canaryd must be names it can resolve. */
static void
check_resolved_hosts(struct cf_ctx *c, const struct cf_se *se)
{
    if (se->neps > 0 || se->selector.is_set || se->resolution == CF_RES_STATIC)
        return;
    for (size_t i = 0; i < se->nhosts; i++)
        if (strchr(se->hosts[i].s, '*') != NULL)
            cf_err_at(c, &se->hosts[i].where,
                      "canaryd cannot resolve the wildcard host \"%s\": with resolution %s and "
                      "no endpoints it resolves the hosts themselves; give endpoints (or a "
                      "workloadSelector) or list the host names",
                      se->hosts[i].s, se->resolution == CF_RES_DNS ? "DNS" : "NONE");
}

/* resolution NONE (Istio's default) with endpoints: Istio's validation
 * refuses it and its proxies forward to the address the client resolved;
 * canaryd, addressed directly, routes to the endpoints as with STATIC. */
static void
check_none(struct cf_ctx *c, const struct cf_se *se, const struct cf_where *w)
{
    if (se->resolution != CF_RES_NONE)
        return;
    if (se->neps > 0 || se->selector.is_set)
        cf_warn_at(c, w,
                   "resolution NONE (the default) with %s: Istio forwards to the address the "
                   "client resolved and ignores them; canaryd routes to them as with resolution "
                   "STATIC (write resolution: STATIC, which both read alike)",
                   se->selector.is_set ? "a workloadSelector" : "endpoints");
    for (size_t i = 0; i < se->nports && se->neps == 0 && !se->selector.is_set; i++)
        if (se->ports[i].target_port != 0)
            cf_warn_at(c, w,
                       "targetPort %u of port %u has no effect with resolution NONE and no "
                       "endpoints: the hosts are reached on the port number, as in Istio",
                       (unsigned)se->ports[i].target_port, (unsigned)se->ports[i].number);
}

static void
check_se(struct comp *m, struct cf_obj *o)
{
    struct cf_ctx *c = m->c;
    struct cf_se *se = &o->u.se;
    cf_workloads_select(c, &m->we_ns, o);
    if (se->resolution == CF_RES_STATIC && se->neps == 0 && !se->selector.is_set)
        cf_err_at(c, &se->res_where, "resolution STATIC needs endpoints or a workloadSelector");
    for (size_t i = 0; i < se->neps; i++)
        if (se->resolution == CF_RES_STATIC && !is_ip(se->eps[i].address))
            cf_err_at(c, &se->eps[i].addr_where,
                      "with resolution STATIC the address must be an IP address (use "
                      "resolution DNS for a host name)");
    check_none(c, se, se->res_where.path != NULL ? &se->res_where : &o->meta.name_where);
    check_resolved_hosts(c, se);
    se_default_eps(c, se);
    for (size_t i = 0; i < se->nhosts; i++) {
        const char *h = fqdn(c, se->hosts[i].s, o->meta.ns);
        void *old = NULL;
        int rc = cf_map_put(c->tmp, &m->se_host, h, strlen(h), o, &old);
        if (rc == -1)
            cf_oom(c);
        else if (rc == 1)
            cf_err_at(c, &se->hosts[i].where,
                      "host \"%s\" is already defined by ServiceEntry "
                      "%s/%s",
                      se->hosts[i].s, ((struct cf_obj *)old)->meta.ns,
                      ((struct cf_obj *)old)->meta.name);
    }
}

bool
cf_labels_select(const struct cf_labels *want, const struct cf_labels *have)
{
    for (size_t i = 0; i < want->n; i++) {
        size_t j = 0;
        while (j < have->n && (strcmp(want->v[i].key, have->v[j].key) != 0 ||
                               strcmp(want->v[i].val, have->v[j].val) != 0))
            j++;
        if (j == have->n)
            return false;
    }
    return true;
}

static size_t
count_selected(const struct cf_se *se, const struct cf_subset *sub)
{
    size_t n = 0;
    for (size_t i = 0; i < se->neps; i++)
        n += cf_labels_select(&sub->labels, &se->eps[i].labels);
    return n;
}

static const struct cf_port *
find_port(const struct cf_obj *se, uint16_t number)
{
    for (size_t i = 0; i < se->u.se.nports; i++)
        if (number == 0 || se->u.se.ports[i].number == number)
            return &se->u.se.ports[i];
    return NULL;
}

/* The index of the subset called name in a merged rule, or -1. */
static ssize_t
subset_index(const struct cdr *d, const char *name)
{
    for (size_t i = 0; d != NULL && i < d->subsets.n; i++)
        if (strcmp(((const struct cf_subset *)d->subsets.v[i])->name, name) == 0)
            return (ssize_t)i;
    return -1;
}

static const struct cf_subset *
find_subset(const struct cdr *d, const char *name)
{
    ssize_t i = subset_index(d, name);
    return i >= 0 ? d->subsets.v[i] : NULL;
}

/* Port-level settings for a port the host's ServiceEntry does not have
 * apply to no cluster (as in Istio); a host without one may be reached on
 * any port. */
static void
check_policy_ports(struct comp *m, const struct cf_policy *pol, const struct cf_obj *se)
{
    for (size_t i = 0; pol != NULL && se != NULL && i < pol->nports; i++) {
        const struct cf_port_policy *pp = &pol->ports[i];
        if (pp->port != 0 && find_port(se, pp->port) == NULL)
            cf_warn_at(m->c, &pp->port_where,
                       "port %u is not a port of ServiceEntry %s/%s: these settings apply to no "
                       "destination",
                       (unsigned)pp->port, se->meta.ns, se->meta.name);
    }
}

/* A subset of a rule merged into d: a name an earlier rule defined is
 * ignored (Istio keeps the first), the others are added and checked. */
static void
merge_subset(struct comp *m, struct cdr *d, const struct cf_obj *o, const struct cf_subset *s)
{
    struct cf_ctx *c = m->c;
    const struct cf_obj *se = d->se;
    ssize_t i = subset_index(d, s->name);
    if (i >= 0) {
        const struct cf_obj *owner = d->owners.v[i];
        const struct ast_loc *l = &((const struct cf_subset *)d->subsets.v[i])->where.loc;
        cf_warn_at(c, &s->where,
                   "subset \"%s\" is ignored: DestinationRule %s/%s defines it for host \"%s\" "
                   "at %s:%d:%d, and the first rule for a host wins",
                   s->name, owner->meta.ns, owner->meta.name, o->u.dr.host, l->file, l->line,
                   l->col);
        return;
    }
    if (cf_vec_push(c->tmp, &d->subsets, (void *)s) == -1 ||
        cf_vec_push(c->tmp, &d->owners, (void *)o) == -1) {
        cf_oom(c);
        return;
    }
    check_policy_ports(m, s->policy, se);
    if (d->se_broken)
        return;
    if (se == NULL)
        cf_err_at(c, &s->where,
                  "subset \"%s\": host \"%s\" has no ServiceEntry, so the "
                  "subset selects no endpoint",
                  s->name, o->u.dr.host);
    else if (count_selected(&se->u.se, s) == 0)
        cf_err_at(c, &s->where,
                  "subset \"%s\": its labels select no endpoint of "
                  "ServiceEntry %s/%s",
                  s->name, se->meta.ns, se->meta.name);
}

static void
merge_subsets(struct comp *m, struct cdr *d, const struct cf_obj *o)
{
    struct cf_ctx *c = m->c;
    const struct cf_dr *dr = &o->u.dr;
    for (size_t i = 0; i < dr->nsubsets; i++) {
        const struct cf_subset *s = &dr->subsets[i];
        size_t j = 0;
        while (j < i && strcmp(dr->subsets[j].name, s->name) != 0)
            j++;
        if (j < i)
            cf_err_at(c, &s->where, "subset \"%s\" is defined twice", s->name);
        else
            merge_subset(m, d, o, s);
    }
}

/* The first top-level trafficPolicy among a host's rules is the one used;
 * a later one is ignored, as Istio does. */
static void
merge_policy(struct comp *m, struct cdr *d, const struct cf_obj *o)
{
    if (o->u.dr.policy == NULL)
        return;
    if (d->policy_dr == NULL) {
        d->policy_dr = o;
        check_policy_ports(m, o->u.dr.policy, d->se);
        return;
    }
    const struct cf_obj *p = d->policy_dr;
    const struct ast_loc *l = &p->u.dr.policy->where.loc;
    cf_warn_at(m->c, &o->u.dr.policy->where,
               "this trafficPolicy is ignored: host \"%s\" already has the trafficPolicy of "
               "DestinationRule %s/%s at %s:%d:%d, and the first rule's trafficPolicy wins",
               o->u.dr.host, p->meta.ns, p->meta.name, l->file, l->line, l->col);
}

static struct cdr *
cdr_new(struct comp *m, const struct cf_obj *o, const char *h)
{
    struct cf_ctx *c = m->c;
    struct cdr *d = arena_alloc(c->tmp, sizeof(*d));
    if (d == NULL || cf_map_put(c->tmp, &m->dr_host, h, strlen(h), d, NULL) == -1) {
        cf_oom(c);
        return NULL;
    }
    d->first = o;
    d->se = cf_map_get(&m->se_host, h, strlen(h));
    d->se_broken = d->se == NULL && cf_map_get(&m->broken, h, strlen(h)) != NULL;
    return d;
}

/* Rules are merged in Istio's order (conf_dr.c): o comes after every rule
 * already merged for its host. */
static void
check_dr(struct comp *m, const struct cf_obj *o)
{
    struct cf_ctx *c = m->c;
    const char *h = fqdn(c, o->u.dr.host, o->meta.ns);
    struct cdr *d = cf_map_get(&m->dr_host, h, strlen(h));
    if (d != NULL && strcmp(d->first->meta.ns, o->meta.ns) != 0) {
        cf_err_at(c, &o->u.dr.host_where,
                  "host \"%s\" already has DestinationRule %s/%s: rules for one host are "
                  "merged only within a namespace, and canaryd has no client namespace to "
                  "choose between namespaces %s and %s",
                  o->u.dr.host, d->first->meta.ns, d->first->meta.name, d->first->meta.ns,
                  o->meta.ns);
        return;
    }
    if (d == NULL && (d = cdr_new(m, o, h)) == NULL)
        return;
    d->nrules++;
    merge_subsets(m, d, o);
    merge_policy(m, d, o);
}

static void
check_drs(struct comp *m)
{
    struct cf_ctx *c = m->c;
    size_t n = c->objs[CF_DR].n;
    const struct cf_obj **v = arena_alloc_array(c->tmp, n + 1, sizeof(*v));
    if (v == NULL) {
        cf_oom(c);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!OBJ(c, CF_DR, i)->failed)
            v[k++] = OBJ(c, CF_DR, i);
    qsort(v, k, sizeof(*v), cf_obj_order);
    for (size_t i = 0; i < k; i++)
        check_dr(m, v[i]);
}

/* ---- VirtualService ---- */

static void
check_subset_ref(struct comp *m, const struct cf_destref *r, const struct cf_obj *se,
                 const struct cdr *dr)
{
    struct cf_ctx *c = m->c;
    if (dr == NULL)
        cf_err_at(c, &r->subset_where,
                  "subset \"%s\" of host \"%s\" is not defined: no "
                  "DestinationRule for this host",
                  r->subset, r->host);
    else if (find_subset(dr, r->subset) == NULL && dr->nrules == 1)
        cf_err_at(c, &r->subset_where, "subset \"%s\" is not defined by DestinationRule %s/%s",
                  r->subset, dr->first->meta.ns, dr->first->meta.name);
    else if (find_subset(dr, r->subset) == NULL)
        cf_err_at(c, &r->subset_where,
                  "subset \"%s\" is not defined by any of the %zu DestinationRules for host "
                  "\"%s\" (the first is %s/%s)",
                  r->subset, dr->nrules, r->host, dr->first->meta.ns, dr->first->meta.name);
    else if (se == NULL)
        cf_err_at(c, &r->subset_where,
                  "subset \"%s\" of host \"%s\" needs a ServiceEntry: the "
                  "host has none, so it is a DNS name without labelled endpoints",
                  r->subset, r->host);
}

static void
check_destref(struct comp *m, const struct cf_destref *r, const char *ns)
{
    struct cf_ctx *c = m->c;
    if (r->host == NULL)
        return;
    char buf[FQDN_BUF];
    const char *h = fqdn_tmp(c, r->host, ns, buf);
    const struct cf_obj *se = cf_map_get(&m->se_host, h, strlen(h));
    const struct cdr *dr = cf_map_get(&m->dr_host, h, strlen(h));
    if (cf_map_get(&m->broken, h, strlen(h)) != NULL)
        return; /* its ServiceEntry or DestinationRule was reported already */
    const struct cf_port *port = se != NULL ? find_port(se, r->port) : NULL;
    if (se != NULL && r->port != 0 && port == NULL)
        cf_err_at(c, &r->port_where, "port %u is not a port of ServiceEntry %s/%s",
                  (unsigned)r->port, se->meta.ns, se->meta.name);
    else if (port != NULL && port->unusable != NULL)
        cf_err_at(c, r->port != 0 ? &r->port_where : &r->where,
                  "port %u (%s) of ServiceEntry %s/%s: %s", (unsigned)port->number, port->protocol,
                  se->meta.ns, se->meta.name, port->unusable);
    if (r->subset != NULL)
        check_subset_ref(m, r, se, dr);
}

/* A route that takes every request; an entry restricted to gateways does not
 * (requests on the other gateways pass it). */
static bool
is_catch_all(const struct cf_route *cr)
{
    const struct conf_route *r = cr->r;
    if (r->nmatches == 0)
        return true;
    for (size_t i = 0; i < r->nmatches; i++) {
        const struct conf_match *e = &r->matches[i];
        if (cr->match_gws != NULL && cr->match_gws[i].n > 0)
            continue;
        if (!e->never && e->uri == NULL && e->scheme == NULL && e->method == NULL &&
            e->authority == NULL && e->nheaders == 0 && e->nquery == 0 && e->port == 0)
            return true;
    }
    return false;
}

static void
check_weights(struct cf_ctx *c, const struct cf_route *r)
{
    if (r->ndests < 2)
        return;
    uint64_t sum = 0;
    for (size_t i = 0; i < r->ndests; i++)
        sum += r->dests[i].has_weight ? (uint64_t)r->dests[i].weight : 0;
    if (sum == 0)
        cf_err_at(c, &r->where,
                  "every destination has weight 0: the route could send "
                  "traffic nowhere");
    else if (sum > UINT32_MAX)
        cf_err_at(c, &r->where, "the weights add up to more than %u", UINT32_MAX);
    else if (sum != 100)
        cf_warn_at(c, &r->where,
                   "the weights add up to %llu, not 100; they are relative "
                   "shares",
                   (unsigned long long)sum);
}

static void
check_route_refs(struct comp *m, const struct cf_route *r, const char *ns)
{
    for (size_t i = 0; i < r->ndests; i++)
        check_destref(m, &r->dests[i].ref, ns);
    if (r->mirror != NULL)
        check_destref(m, &r->mirror->ref, ns);
    for (size_t i = 0; i < r->nmirrors; i++)
        check_destref(m, &r->mirrors[i].ref, ns);
    check_weights(m->c, r);
}

/* The namespace short hosts of route r of o resolve in: the one it was written
 * in (a delegate's, for a spliced route). */
static const char *
route_ns(const struct cf_obj *o, const struct cf_route *r)
{
    return r->from != NULL ? r->from->meta.ns : o->meta.ns;
}

static void
check_routes(struct comp *m, const struct cf_obj *o)
{
    const struct cf_vs *vs = &o->u.vs;
    const struct cf_route *catch_all = NULL;
    size_t catch_idx = 0;
    for (size_t i = 0; i < vs->nroutes; i++) {
        const struct cf_route *r = &vs->routes[i];
        check_route_refs(m, r, route_ns(o, r));
        if (catch_all != NULL) {
            cf_warn_at(m->c, &r->where,
                       "this route can never match: %s%s%s (spec.http[%zu]) "
                       "before it matches every request",
                       catch_all->r->name ? "route \"" : "a route",
                       catch_all->r->name ? catch_all->r->name : "", catch_all->r->name ? "\"" : "",
                       catch_idx);
        } else if (is_catch_all(r)) {
            catch_all = r;
            catch_idx = i;
        }
    }
}

/* The "ns/name" key of a gateway reference, as Istio resolves it: "ns/name"
 * as written, "./name" and a short name in the VirtualService's namespace ns,
 * and the legacy "name.ns[.svc.cluster.local]" form as ns/name. */
static const char *
gateway_key(struct cf_ctx *c, const char *g, const char *ns)
{
    const char *slash = strchr(g, '/'), *dot = strchr(g, '.');
    if (slash != NULL)
        return slash == g + 1 && g[0] == '.' ? cf_printf(c->tmp, "%s%s", ns, slash) : g;
    if (dot == NULL)
        return cf_printf(c->tmp, "%s/%s", ns, g);
    const char *end = strchr(dot + 1, '.');
    int nsl = end != NULL ? (int)(end - dot - 1) : (int)strlen(dot + 1);
    return cf_printf(c->tmp, "%.*s/%.*s", nsl, dot + 1, (int)(dot - g), g);
}

static const struct cf_obj *
find_gateway(struct comp *m, const struct cf_str *g, const char *ns)
{
    const char *key = gateway_key(m->c, g->s, ns);
    if (key == NULL) {
        cf_oom(m->c);
        return NULL;
    }
    return cf_map_get(&m->gw_name, key, strlen(key));
}

static bool
is_mesh(const struct cf_str *g)
{
    return strcmp(g->s, "mesh") == 0;
}

/* A host as Istio writes it: exact, "*" or "*.suffix". */
static bool
is_host_shape_ok(const char *h)
{
    const char *star = strchr(h, '*');
    return star == NULL || (star == h && (h[1] == '\0' || h[1] == '.') && !strchr(h + 1, '*'));
}

static void
check_gateway_refs(struct comp *m, const struct cf_str *v, size_t n, const char *ns)
{
    for (size_t i = 0; i < n; i++)
        if (!is_mesh(&v[i]) && find_gateway(m, &v[i], ns) == NULL)
            cf_err_at(m->c, &v[i].where, "Gateway \"%s\" is not defined", v[i].s);
}

static void
check_vs(struct comp *m, const struct cf_obj *o)
{
    const struct cf_vs *vs = &o->u.vs;
    check_gateway_refs(m, vs->gateways, vs->ngateways, o->meta.ns);
    for (size_t i = 0; i < vs->nhosts; i++)
        if (!is_host_shape_ok(vs->hosts[i].s))
            cf_err_at(m->c, &vs->hosts[i].where,
                      "a wildcard host must be \"*\" or start with "
                      "\"*.\"");
    for (size_t i = 0; i < vs->nroutes; i++) {
        const struct cf_route *r = &vs->routes[i];
        for (size_t j = 0; r->match_gws != NULL && j < r->r->nmatches; j++)
            check_gateway_refs(m, r->match_gws[j].v, r->match_gws[j].n,
                               r->match_gws[j].ns != NULL ? r->match_gws[j].ns : o->meta.ns);
    }
    check_routes(m, o);
}

/* Server hosts are [namespace/]dnsName; namespace "*" (any) or "." (the
 * Gateway's) or a name; dnsName shaped like a VirtualService host. */
static void
check_gw(struct comp *m, const struct cf_obj *o)
{
    for (size_t i = 0; i < o->u.gw.nservers; i++) {
        const struct cf_server *s = &o->u.gw.servers[i];
        for (size_t j = 0; j < s->nhosts; j++) {
            const char *h = s->hosts[j].s, *slash = strchr(h, '/');
            const char *dns = slash != NULL ? slash + 1 : h;
            if (slash == h || (slash != NULL && strchr(dns, '/') != NULL))
                cf_err_at(m->c, &s->hosts[j].where,
                          "a Gateway host is [namespace/]dnsName, with namespace \"*\", \".\" "
                          "or a namespace name");
            else if (dns[0] == '\0' || !is_host_shape_ok(dns))
                cf_err_at(m->c, &s->hosts[j].where,
                          "the host must be a DNS name, \"*\" or start with \"*.\"");
        }
    }
}

static void
index_gateways(struct comp *m)
{
    struct cf_ctx *c = m->c;
    for (size_t i = 0; i < c->objs[CF_GW].n; i++) {
        struct cf_obj *o = OBJ(c, CF_GW, i);
        if (o->meta.name == NULL)
            continue;
        const char *key = cf_printf(c->tmp, "%s/%s", o->meta.ns, o->meta.name);
        if (key == NULL || cf_map_put(c->tmp, &m->gw_name, key, strlen(key), o, NULL) == -1)
            cf_oom(c);
    }
}

static void
mark_broken(struct comp *m, const struct cf_obj *o, const char *host)
{
    if (host == NULL)
        return;
    const char *h = fqdn(m->c, host, o->meta.ns);
    if (h == NULL || cf_map_put(m->c->tmp, &m->broken, h, strlen(h), (void *)o, NULL) == -1)
        cf_oom(m->c);
}

/* Objects whose documents had errors are not checked further; the hosts
 * they name are remembered so that references to them add no errors. */
static void
index_broken(struct comp *m)
{
    struct cf_ctx *c = m->c;
    for (size_t i = 0; i < c->objs[CF_SE].n; i++) {
        const struct cf_obj *o = OBJ(c, CF_SE, i);
        for (size_t j = 0; o->failed && j < o->u.se.nhosts; j++)
            mark_broken(m, o, o->u.se.hosts[j].s);
    }
    for (size_t i = 0; i < c->objs[CF_DR].n; i++) {
        const struct cf_obj *o = OBJ(c, CF_DR, i);
        if (o->failed)
            mark_broken(m, o, o->u.dr.host);
    }
}

static void
check_all(struct comp *m)
{
    struct cf_ctx *c = m->c;
    check_dup_names(c);
    if (cf_scope_hide(c, &m->hidden) == -1 || cf_delegate_splice(c, &m->hidden, &m->dl) == -1)
        return;
    index_gateways(m);
    index_broken(m);
    if (cf_workloads_index(c, &m->we_ns) == -1)
        return;
    for (size_t i = 0; i < c->objs[CF_SE].n; i++)
        if (!OBJ(c, CF_SE, i)->failed)
            check_se(m, OBJ(c, CF_SE, i));
    check_drs(m);
    for (size_t i = 0; i < c->objs[CF_VS].n; i++)
        if (!OBJ(c, CF_VS, i)->failed)
            check_vs(m, OBJ(c, CF_VS, i));
    for (size_t i = 0; i < c->objs[CF_GW].n; i++)
        if (!OBJ(c, CF_GW, i)->failed)
            check_gw(m, OBJ(c, CF_GW, i));
}

/* ---- clusters and endpoints ---- */

/* The cluster key "fqdn|subset|port" of r, in kbuf[2 * FQDN_BUF] when it
 * fits, else in the scratch arena; NULL on allocation failure. */
static const char *
cluster_key(struct cf_ctx *c, const char *h, const char *subset, uint16_t port, char *kbuf)
{
    int n = snprintf(kbuf, 2 * FQDN_BUF, "%s|%s|%u", h, subset, port);
    if (n >= 0 && n < 2 * FQDN_BUF)
        return kbuf;
    return cf_printf(c->tmp, "%s|%s|%u", h, subset, port);
}

static struct ccl *
cluster_get(struct comp *m, const struct cf_destref *r, const char *ns)
{
    struct cf_ctx *c = m->c;
    char buf[FQDN_BUF], kbuf[2 * FQDN_BUF];
    const char *h = fqdn_tmp(c, r->host, ns, buf);
    const struct cf_obj *se = cf_map_get(&m->se_host, h, strlen(h));
    const struct cf_port *sp = se != NULL ? find_port(se, r->port) : NULL;
    uint16_t port = sp != NULL ? sp->number : r->port != 0 ? r->port : 80;
    const char *key = cluster_key(c, h, r->subset ? r->subset : "", port, kbuf);
    if (key == NULL)
        return NULL;
    struct ccl *cl = cf_map_get(&m->cl_key, key, strlen(key));
    if (cl != NULL)
        return cl;
    /* A new cluster: the map keeps its key. */
    if (key == kbuf && (key = arena_strdup(c->tmp, kbuf)) == NULL)
        return NULL;
    cl = arena_alloc(c->tmp, sizeof(*cl));
    if (cl == NULL)
        return NULL;
    *cl = (struct ccl){.key = key,
                       .host = r->host,
                       .subset = r->subset,
                       .port = port,
                       .se = se,
                       .dr = cf_map_get(&m->dr_host, h, strlen(h)),
                       .index = (uint32_t)m->cls.n};
    cl->sub = r->subset != NULL ? find_subset(cl->dr, r->subset) : NULL;
    if (cf_map_put(c->tmp, &m->cl_key, key, strlen(key), cl, NULL) == -1 ||
        cf_vec_push(c->tmp, &m->cls, cl) == -1)
        return NULL;
    return cl;
}

static int
collect_ref(struct comp *m, struct cf_destref *r, const char *ns)
{
    struct ccl *cl = cluster_get(m, r, ns);
    if (cl == NULL)
        return cf_oom(m->c);
    r->cluster = cl->index;
    return 0;
}

static int
collect_clusters(struct comp *m)
{
    struct cf_ctx *c = m->c;
    for (size_t i = 0; i < c->objs[CF_VS].n; i++) {
        struct cf_obj *o = OBJ(c, CF_VS, i);
        for (size_t j = 0; j < o->u.vs.nroutes; j++) {
            struct cf_route *r = &o->u.vs.routes[j];
            const char *ns = route_ns(o, r);
            int rc = 0;
            for (size_t k = 0; k < r->ndests; k++)
                rc |= collect_ref(m, &r->dests[k].ref, ns);
            if (r->mirror != NULL)
                rc |= collect_ref(m, &r->mirror->ref, ns);
            for (size_t k = 0; k < r->nmirrors; k++)
                rc |= collect_ref(m, &r->mirrors[k].ref, ns);
            if (rc != 0)
                return -1;
        }
    }
    return 0;
}

/* As Istio: the endpoint's port for the port's name, else the port's
 * targetPort, else its number (dflt). Hosts resolved for resolution NONE are
 * reached on the number. */
static uint16_t
ep_port(const struct cf_se *se, const struct cf_se_ep *ep, const struct cf_port *sp, uint16_t dflt)
{
    for (size_t i = 0; sp != NULL && sp->name != NULL && i < ep->nports; i++)
        if (strcmp(ep->ports[i].name, sp->name) == 0)
            return ep->ports[i].number;
    if (sp != NULL && sp->target_port != 0 && !se->eps_from_hosts)
        return sp->target_port;
    return dflt;
}

static int
fill_endpoint(struct cf_ctx *c, struct conf_endpoint *e, const char *addr, uint16_t port,
              uint32_t weight)
{
    char buf[INET6_ADDRSTRLEN + 16];
    e->address = arena_strdup(c->a, addr);
    if (e->address == NULL)
        return cf_oom(c);
    e->address_len = strlen(addr);
    e->port = port;
    e->weight = weight;
    (void)addr_join(buf, sizeof(buf), strchr(addr, ':') != NULL ? AF_INET6 : AF_INET, addr, port);
    e->is_dns = !is_ip(addr) || conf_addr_parse(buf, &e->sa, &e->salen, &e->port) == -1;
    return 0;
}

/* Endpoints of cluster cl appended at conf->endpoints[*next]; with ep == NULL
 * only counts them. */
static int
cluster_eps(struct cf_ctx *c, const struct ccl *cl, struct conf_endpoint *eps, size_t *next)
{
    if (cl->se == NULL) {
        if (eps != NULL && fill_endpoint(c, &eps[*next], cl->host, cl->port, 1) == -1)
            return -1;
        (*next)++;
        return 0;
    }
    const struct cf_se *se = &cl->se->u.se;
    const struct cf_port *sp = find_port(cl->se, cl->port);
    for (size_t i = 0; i < se->neps; i++) {
        const struct cf_se_ep *ep = &se->eps[i];
        if (cl->sub != NULL && !cf_labels_select(&cl->sub->labels, &ep->labels))
            continue;
        if (eps != NULL && fill_endpoint(c, &eps[*next], ep->address, ep_port(se, ep, sp, cl->port),
                                         ep->weight) == -1)
            return -1;
        (*next)++;
    }
    return 0;
}

static int
build_cluster(struct cf_ctx *c, const struct ccl *cl, struct conf_cluster *out, size_t *next)
{
    struct conf *conf = c->conf;
    size_t first = *next;
    out->host = arena_strdup(c->a, cl->host);
    out->subset = cl->subset != NULL ? arena_strdup(c->a, cl->subset) : NULL;
    out->name =
        cf_printf(c->a, "outbound|%u|%s|%s", cl->port, cl->subset ? cl->subset : "", cl->host);
    if (out->host == NULL || out->name == NULL || (cl->subset != NULL && out->subset == NULL))
        return cf_oom(c);
    out->port = cl->port;
    out->index = cl->index;
    out->is_dns = cl->se == NULL || cl->se->u.se.resolution == CF_RES_DNS;
    cf_policy_merge(&out->policy,
                    cl->dr != NULL && cl->dr->policy_dr != NULL ? cl->dr->policy_dr->u.dr.policy
                                                                : NULL,
                    cl->sub != NULL ? cl->sub->policy : NULL, cl->port);
    if (cluster_eps(c, cl, conf->endpoints, next) == -1)
        return -1;
    out->neps = *next - first;
    out->eps = arena_alloc(c->a, (out->neps + 1) * sizeof(*out->eps));
    if (out->eps == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < out->neps; i++) {
        conf->endpoints[first + i].index = (uint32_t)(first + i);
        out->eps[i] = &conf->endpoints[first + i];
    }
    return 0;
}

static int
build_clusters(struct comp *m)
{
    struct cf_ctx *c = m->c;
    struct conf *conf = c->conf;
    size_t neps = 0;
    for (size_t i = 0; i < m->cls.n; i++)
        cluster_eps(c, m->cls.v[i], NULL, &neps);
    conf->clusters = arena_alloc(c->a, (m->cls.n + 1) * sizeof(*conf->clusters));
    conf->endpoints = arena_alloc(c->a, (neps + 1) * sizeof(*conf->endpoints));
    if (conf->clusters == NULL || conf->endpoints == NULL)
        return cf_oom(c);
    size_t next = 0;
    for (size_t i = 0; i < m->cls.n; i++)
        if (build_cluster(c, m->cls.v[i], &conf->clusters[i], &next) == -1)
            return -1;
    conf->nclusters = m->cls.n;
    conf->nendpoints = next;
    return 0;
}

/* ---- routes ---- */

static int
build_weights(struct cf_ctx *c, struct conf_route *out, const struct cf_route *r)
{
    out->ndests = r->ndests;
    out->dests = arena_alloc_array(c->a, r->ndests, sizeof(*out->dests));
    out->cum_weight = arena_alloc_array(c->a, r->ndests, sizeof(*out->cum_weight));
    if (out->dests == NULL || out->cum_weight == NULL)
        return cf_oom(c);
    uint32_t total = 0;
    for (size_t i = 0; i < r->ndests; i++) {
        const struct cf_dest *d = &r->dests[i];
        uint32_t w = d->has_weight ? d->weight : 0;
        /* A lone destination takes all traffic whatever its weight says. */
        if (r->ndests == 1 && w == 0)
            w = 100;
        out->dests[i] =
            (struct conf_dest){.cluster = &c->conf->clusters[d->ref.cluster], .weight = w};
        if (d->headers != NULL)
            out->dests[i].headers = *d->headers;
        total += w;
        out->cum_weight[i] = total;
    }
    out->total_weight = total;
    return 0;
}

static int
build_mirrors(struct cf_ctx *c, struct conf_route *out, const struct cf_route *r)
{
    size_t n = r->nmirrors + (r->mirror != NULL ? 1 : 0);
    out->mirrors = arena_alloc_array(c->a, n, sizeof(*out->mirrors));
    if (out->mirrors == NULL)
        return cf_oom(c);
    const struct cf_mirror *src = r->mirror != NULL ? r->mirror : r->mirrors;
    for (size_t i = 0; i < n; i++)
        out->mirrors[i] = (struct conf_mirror){.cluster = &c->conf->clusters[src[i].ref.cluster],
                                               .ppm = src[i].ppm};
    out->nmirrors = n;
    return 0;
}

static const enum conf_action action_of[] = {
    [CF_ACT_ROUTE] = CONF_ACTION_FORWARD,
    [CF_ACT_REDIRECT] = CONF_ACTION_REDIRECT,
    [CF_ACT_DIRECT] = CONF_ACTION_DIRECT,
    [CF_ACT_DELEGATE] = CONF_ACTION_FORWARD, /* spliced away before build */
};

/* Finishes route i of vs, built in place by the parse (r->r). */
static int
build_route(struct cf_ctx *c, struct conf_vs *vs, size_t i, const struct cf_route *r)
{
    struct conf_route *out = r->r;
    out->vs = vs;
    out->index = (uint32_t)c->conf->nroutes;
    out->action = action_of[r->actions];
    if (out->cors != NULL && out->action != CONF_ACTION_FORWARD)
        cf_warn_at(c, &r->where,
                   "corsPolicy has no effect on a redirect or directResponse route (Envoy's "
                   "CORS filter skips them)");
    if (out->name == NULL && (out->name = cf_printf(c->a, "route-%zu", i)) == NULL)
        return cf_oom(c);
    if (build_weights(c, out, r) == -1 || build_mirrors(c, out, r) == -1)
        return -1;
    c->conf->routes[c->conf->nroutes++] = out;
    return 0;
}

static int
build_vs(struct cf_ctx *c, const struct cf_obj *o, struct conf_vs *vs, size_t idx)
{
    vs->name = arena_strdup(c->a, o->meta.name);
    vs->ns = arena_strdup(c->a, o->meta.ns);
    vs->hosts = arena_alloc_array(c->a, o->u.vs.nhosts, sizeof(*vs->hosts));
    vs->routes = o->u.vs.out != NULL ? o->u.vs.out : arena_alloc(c->a, 0);
    if (vs->name == NULL || vs->ns == NULL || vs->hosts == NULL || vs->routes == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < o->u.vs.nhosts; i++)
        vs->hosts[i] = o->u.vs.hosts[i].s;
    vs->nhosts = o->u.vs.nhosts;
    vs->split_key = o->split_key;
    vs->index = (uint32_t)idx;
    vs->nroutes = o->u.vs.nroutes;
    for (size_t i = 0; i < vs->nroutes; i++)
        if (build_route(c, vs, i, &o->u.vs.routes[i]) == -1)
            return -1;
    return 0;
}

static int
build_vss(struct cf_ctx *c)
{
    struct conf *conf = c->conf;
    size_t nvs = c->objs[CF_VS].n, nroutes = 0;
    for (size_t i = 0; i < nvs; i++)
        nroutes += OBJ(c, CF_VS, i)->u.vs.nroutes;
    conf->vss = arena_alloc_array(c->a, nvs, sizeof(*conf->vss));
    conf->routes = arena_alloc_array(c->a, nroutes, sizeof(*conf->routes));
    if (conf->vss == NULL || conf->routes == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < nvs; i++)
        if (build_vs(c, OBJ(c, CF_VS, i), &conf->vss[i], i) == -1)
            return -1;
    conf->nvss = nvs;
    return 0;
}

/* ---- match[].gateways ---- */

static size_t
gateway_index(const struct cf_ctx *c, const struct cf_obj *gw)
{
    size_t i = 0;
    while (i < c->objs[CF_GW].n && OBJ(c, CF_GW, i) != gw)
        i++;
    return i;
}

/* Whether VirtualService o is bound to gateway gw (NULL: to "mesh"). */
static bool
vs_binds(struct comp *m, const struct cf_obj *o, const struct cf_obj *gw)
{
    const struct cf_vs *vs = &o->u.vs;
    if (vs->ngateways == 0)
        return gw == NULL;
    for (size_t i = 0; i < vs->ngateways; i++) {
        if (is_mesh(&vs->gateways[i])
                ? gw == NULL
                : gw != NULL && find_gateway(m, &vs->gateways[i], o->meta.ns) == gw)
            return true;
    }
    return false;
}

/* Sets the bit of gateway name g in set; warns when the VirtualService does
 * not bind to it, since the entry can then never hold there. */
static void
add_match_gateway(struct comp *m, const struct cf_obj *o, const struct cf_str *g, const char *ns,
                  uint64_t *set)
{
    struct cf_ctx *c = m->c;
    const struct cf_obj *gw = is_mesh(g) ? NULL : find_gateway(m, g, ns);
    size_t bit = gw != NULL ? gateway_index(c, gw) : c->objs[CF_GW].n;
    set[bit / 64] |= 1ull << (bit % 64);
    if (vs_binds(m, o, gw))
        return;
    if (gw == NULL)
        cf_warn_at(c, &g->where,
                   "this match entry never holds for \"mesh\" (the --listen listener): the "
                   "VirtualService is not served there (add \"mesh\" to spec.gateways)");
    else
        cf_warn_at(c, &g->where,
                   "this match entry never holds on Gateway %s/%s: the VirtualService is not "
                   "bound to it (add it to spec.gateways)",
                   gw->meta.ns, gw->meta.name);
}

/* match[].gateways become Gateway sets on the snapshot's match entries. */
static int
build_match_gateways(struct comp *m)
{
    struct cf_ctx *c = m->c;
    for (size_t i = 0; i < c->objs[CF_VS].n; i++) {
        const struct cf_obj *o = OBJ(c, CF_VS, i);
        for (size_t r = 0; r < o->u.vs.nroutes; r++) {
            const struct cf_route *cr = &o->u.vs.routes[r];
            for (size_t j = 0; cr->match_gws != NULL && j < cr->r->nmatches; j++) {
                const struct cf_match_gws *names = &cr->match_gws[j];
                if (names->n == 0)
                    continue;
                uint64_t *set = arena_alloc_array(c->a, c->conf->gw_words, sizeof(*set));
                if (set == NULL)
                    return cf_oom(c);
                for (size_t k = 0; k < names->n; k++)
                    add_match_gateway(m, o, &names->v[k],
                                      names->ns != NULL ? names->ns : o->meta.ns, set);
                cr->r->matches[j].gateways = set;
            }
        }
    }
    return 0;
}

/* ---- listeners and host tables ---- */

/* One Gateway server of a listener (several servers on one address share it). */
struct lsrv {
    const struct cf_obj *gw;   /* borrowed: the Gateway */
    const struct cf_server *s; /* borrowed: its server */
    size_t bit;                /* the Gateway's index: its bit in Gateway sets */
};

/* One host form of a listener while it is being built. */
struct bind {
    const struct cf_obj *o; /* borrowed: the VirtualService, NULL for an httpsRedirect-only host */
    struct conf_vhost *vh;  /* borrowed: snapshot arena */
    uint64_t *gw;           /* borrowed: snapshot arena; vh->gateways, writable */
};

static struct clis *
listener_new(struct comp *m, const char *name, const char *addr, const struct cf_where *w)
{
    struct cf_ctx *c = m->c;
    struct clis *l = arena_alloc(c->tmp, sizeof(*l));
    if (l == NULL || cf_vec_push(c->tmp, &m->lis, l) == -1) {
        cf_oom(c);
        return NULL;
    }
    l->l.name = arena_strdup(c->a, name);
    l->l.addr = arena_strdup(c->a, addr);
    if (l->l.name == NULL || l->l.addr == NULL) {
        cf_oom(c);
        return NULL;
    }
    if (conf_addr_parse(addr, &l->l.sa, &l->l.salen, &l->l.port) == -1) {
        if (w != NULL)
            cf_err_at(c, w, "invalid listen address \"%s\"", addr);
        else
            diag_add(c->diags, DIAG_ERROR, NULL, 0, 0, NULL,
                     "--listen: invalid address \"%s\" (expected HOST:PORT, [IPv6]:PORT or :PORT)",
                     addr);
        return NULL;
    }
    return l;
}

/* Servers on one address share a listener, as Istio merges them by port: each
 * filters the hosts it serves, the listener serves their union. */
static void
server_listener(struct comp *m, size_t gi, const struct cf_server *s, struct cf_map *addrs)
{
    struct cf_ctx *c = m->c;
    const struct cf_obj *gw = OBJ(c, CF_GW, gi);
    const char *bind = s->bind != NULL ? s->bind : "0.0.0.0";
    const char *addr = cf_printf(c->tmp, strchr(bind, ':') ? "[%s]:%u" : "%s:%u", bind, s->port);
    const char *name = s->port_name != NULL
                           ? cf_printf(c->tmp, "%s/%s", gw->meta.name, s->port_name)
                           : cf_printf(c->tmp, "%s/%u", gw->meta.name, s->port);
    struct lsrv *ls = arena_alloc(c->tmp, sizeof(*ls));
    if (addr == NULL || name == NULL || ls == NULL) {
        cf_oom(c);
        return;
    }
    *ls = (struct lsrv){.gw = gw, .s = s, .bit = gi};
    struct clis *l = cf_map_get(addrs, addr, strlen(addr));
    if (l == NULL) {
        if ((l = listener_new(m, name, addr, &s->where)) == NULL)
            return; /* reported */
        if (cf_map_put(c->tmp, addrs, addr, strlen(addr), l, NULL) == -1) {
            cf_oom(c);
            return;
        }
    }
    if (cf_vec_push(c->tmp, &l->servers, ls) == -1)
        cf_oom(c);
}

static bool
needs_default_listener(struct cf_ctx *c)
{
    if (c->objs[CF_GW].n == 0)
        return true;
    for (size_t i = 0; i < c->objs[CF_VS].n; i++) {
        const struct cf_vs *vs = &OBJ(c, CF_VS, i)->u.vs;
        if (vs->ngateways == 0)
            return true;
        for (size_t j = 0; j < vs->ngateways; j++)
            if (is_mesh(&vs->gateways[j]))
                return true;
    }
    return false;
}

/* Listeners in order: every Gateway server address, then "default" (--listen)
 * when a VirtualService is served there. Returns the default's index or -1. */
static ssize_t
make_listeners(struct comp *m)
{
    struct cf_ctx *c = m->c;
    struct cf_map addrs = {0};
    for (size_t i = 0; i < c->objs[CF_GW].n; i++) {
        const struct cf_obj *gw = OBJ(c, CF_GW, i);
        for (size_t j = 0; j < gw->u.gw.nservers; j++)
            server_listener(m, i, &gw->u.gw.servers[j], &addrs);
    }
    if (!needs_default_listener(c))
        return -1;
    const char *addr =
        c->opts != NULL && c->opts->listen_addr != NULL ? c->opts->listen_addr : DEFAULT_LISTEN;
    if (listener_new(m, DEFAULT_LISTENER, addr, NULL) == NULL)
        return -1;
    return (ssize_t)m->lis.n - 1;
}

/* A new host form on listener l, bound to vs (NULL: redirect only). */
static struct bind *
bind_new(struct comp *m, struct clis *l, const char *form, const struct cf_obj *o,
         struct conf_vs *vs)
{
    struct cf_ctx *c = m->c;
    struct bind *b = arena_alloc(c->tmp, sizeof(*b));
    char *key = arena_strdup(c->a, form);
    size_t len = strlen(form);
    if (b == NULL || key == NULL || (b->vh = arena_alloc(c->a, sizeof(*b->vh))) == NULL ||
        (b->gw = arena_alloc_array(c->a, c->conf->gw_words, sizeof(uint64_t))) == NULL ||
        cf_map_put(c->tmp, &l->hosts, key, len, b, NULL) == -1) {
        cf_oom(c);
        return NULL;
    }
    b->vh->gateways = b->gw;
    b->o = o;
    b->vh->vs = vs;
    if (strcmp(key, "*") == 0) {
        l->star = b->vh;
        return b;
    }
    if (key[0] == '*') {
        struct conf_wildcard *w = arena_alloc(c->tmp, sizeof(*w));
        if (w == NULL || cf_vec_push(c->tmp, &l->wild, w) == -1) {
            cf_oom(c);
            return NULL;
        }
        *w = (struct conf_wildcard){.suffix = key + 1, .len = len - 1, .vh = b->vh};
        return b;
    }
    struct conf_host_entry *e = arena_alloc(c->tmp, sizeof(*e));
    if (e == NULL || cf_vec_push(c->tmp, &l->exact, e) == -1) {
        cf_oom(c);
        return NULL;
    }
    *e = (struct conf_host_entry){
        .host = key, .len = len, .hash = conf_host_hash(key, len), .vh = b->vh};
    return b;
}

/* Binds host form (a VS host or its intersection with a server host) on
 * listener l to VirtualService o, for Gateway bit (and https redirect). A
 * form is the VirtualService's on a listener alone; the same VirtualService
 * reaching it through several servers adds their Gateways. */
static int
bind_host(struct comp *m, struct clis *l, const char *form, const struct cf_str *h,
          const struct cf_obj *o, size_t vi, size_t bit, bool redirect)
{
    struct bind *b = cf_map_get(&l->hosts, form, strlen(form));
    if (b != NULL && b->o != o && b->o != NULL) {
        cf_err_at(m->c, &h->where,
                  "host \"%s\" on listener \"%s\" is already claimed by VirtualService %s/%s", form,
                  l->l.name, b->o->meta.ns, b->o->meta.name);
        return -1;
    }
    if (b == NULL && (b = bind_new(m, l, form, o, &m->c->conf->vss[vi])) == NULL)
        return -1;
    b->o = o;
    b->vh->vs = &m->c->conf->vss[vi];
    b->gw[bit / 64] |= 1ull << (bit % 64);
    b->vh->https_redirect |= redirect;
    return 0;
}

/* Istio's Name.SubsetOf: every host a matches, b matches too. */
static bool
host_within(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return true;
    if (b[0] != '*')
        return false;
    const char *x = a[0] == '*' ? a + 1 : a;
    size_t xl = strlen(x), sl = strlen(b + 1);
    return xl >= sl && memcmp(x + xl - sl, b + 1, sl) == 0;
}

/* The hosts a and b both match, as one host pattern (the narrower), or NULL. */
static const char *
host_meet(const char *a, const char *b)
{
    if (host_within(a, b))
        return a;
    return host_within(b, a) ? b : NULL;
}

/* Whether server host sh ("[ns/]dns") admits VirtualServices of namespace ns
 * ("." is the Gateway's namespace gw_ns, "*" any); *dns is set to its DNS part. */
static bool
server_host_admits(const char *sh, const char *gw_ns, const char *ns, const char **dns)
{
    const char *slash = strchr(sh, '/');
    *dns = slash != NULL ? slash + 1 : sh;
    if (slash == NULL)
        return true;
    size_t nl = (size_t)(slash - sh);
    if (nl == 1 && sh[0] == '*')
        return true;
    if (nl == 1 && sh[0] == '.')
        return strcmp(gw_ns, ns) == 0;
    return strlen(ns) == nl && memcmp(sh, ns, nl) == 0;
}

/* The forms a VirtualService host is served under: itself, and for a short
 * name its Kubernetes forms. Returns their number (1 or 4); 0 on OOM. */
static size_t
host_forms(struct cf_ctx *c, const char *h, const char *ns, const char *forms[4])
{
    static const char *const fmts[] = {"%s.%s", "%s.%s.svc", "%s.%s.svc.cluster.local"};
    forms[0] = h;
    if (strchr(h, '.') != NULL || strchr(h, '*') != NULL)
        return 1;
    for (size_t i = 0; i < countof(fmts); i++) {
        if ((forms[i + 1] = cf_printf(c->tmp, fmts[i], h, ns)) == NULL) {
            cf_oom(c);
            return 0;
        }
    }
    return 4;
}

/* Binds the forms of VS host h that server ls serves (all of them on the
 * default listener, ls NULL). Every conflict is reported. Returns how many
 * forms were bound, or -1. */
static int
attach_host(struct comp *m, size_t vi, struct clis *l, const struct lsrv *ls,
            const struct cf_str *h)
{
    struct cf_ctx *c = m->c;
    const struct cf_obj *o = OBJ(c, CF_VS, vi);
    const char *forms[4];
    size_t nforms = host_forms(c, h->s, o->meta.ns, forms);
    int n = 0, rc = nforms > 0 ? 0 : -1;
    for (size_t f = 0; f < nforms; f++) {
        if (ls == NULL) {
            rc |= bind_host(m, l, forms[f], h, o, vi, c->objs[CF_GW].n, false);
            n++;
            continue;
        }
        for (size_t j = 0; j < ls->s->nhosts; j++) {
            const char *dns = NULL, *meet = NULL;
            if (!server_host_admits(ls->s->hosts[j].s, ls->gw->meta.ns, o->meta.ns, &dns) ||
                (meet = host_meet(forms[f], dns)) == NULL)
                continue;
            rc |= bind_host(m, l, meet, h, o, vi, ls->bit, ls->s->https_redirect);
            n++;
        }
    }
    return rc == 0 ? n : -1;
}

static int
note_vs_listener(struct comp *m, size_t vi, size_t li)
{
    struct cf_vec *v = &m->vs_lis[vi];
    for (size_t i = 0; i < v->n; i++)
        if ((uintptr_t)v->v[i] == li)
            return 0;
    return cf_vec_push(m->c->tmp, v, (void *)(uintptr_t)li) == 0 ? 0 : cf_oom(m->c);
}

/* Host h of VS vi on every server of gateway gw, on whichever listeners they
 * share. Returns how many forms were bound, or -1. */
static int
attach_host_gw(struct comp *m, size_t vi, const struct cf_obj *gw, const struct cf_str *h)
{
    int total = 0;
    for (size_t i = 0; i < m->lis.n; i++) {
        struct clis *l = m->lis.v[i];
        for (size_t k = 0; k < l->servers.n; k++) {
            const struct lsrv *ls = l->servers.v[k];
            if (ls->gw != gw)
                continue;
            int n = attach_host(m, vi, l, ls, h);
            if (n == -1 || total == -1 || (n > 0 && note_vs_listener(m, vi, i) == -1))
                total = -1;
            else
                total += n;
        }
    }
    return total;
}

/* As istioctl's IST0132: the VS hosts that no server of the Gateway serves. */
static void
warn_unserved(struct comp *m, const struct cf_str *ref, const struct cf_obj *gw,
              const char *missing)
{
    cf_warn_at(m->c, &ref->where,
               "no server of Gateway %s/%s serves host(s) %s of this VirtualService (no server "
               "host matches): requests for them on its ports get 404",
               gw->meta.ns, gw->meta.name, missing);
}

static int
attach_gateway(struct comp *m, size_t vi, const struct cf_str *ref, const struct cf_obj *gw)
{
    struct cf_ctx *c = m->c;
    const struct cf_vs *vs = &OBJ(c, CF_VS, vi)->u.vs;
    char *missing = NULL;
    int rc = 0;
    for (size_t i = 0; gw != NULL && i < vs->nhosts; i++) {
        int n = attach_host_gw(m, vi, gw, &vs->hosts[i]);
        if (n == -1)
            rc = -1;
        else if (n == 0 && (missing = missing == NULL ? cf_printf(c->tmp, "\"%s\"", vs->hosts[i].s)
                                                      : cf_printf(c->tmp, "%s, \"%s\"", missing,
                                                                  vs->hosts[i].s)) == NULL)
            return cf_oom(c);
    }
    if (missing != NULL)
        warn_unserved(m, ref, gw, missing);
    return rc;
}

static int
attach_default(struct comp *m, size_t vi, size_t li)
{
    const struct cf_vs *vs = &OBJ(m->c, CF_VS, vi)->u.vs;
    int rc = note_vs_listener(m, vi, li);
    for (size_t i = 0; i < vs->nhosts; i++)
        if (attach_host(m, vi, m->lis.v[li], NULL, &vs->hosts[i]) == -1)
            rc = -1;
    return rc;
}

static int
attach_all(struct comp *m, ssize_t def)
{
    struct cf_ctx *c = m->c;
    int rc = 0;
    for (size_t i = 0; i < c->objs[CF_VS].n; i++) {
        const struct cf_obj *o = OBJ(c, CF_VS, i);
        bool on_default = o->u.vs.ngateways == 0;
        for (size_t j = 0; j < o->u.vs.ngateways; j++) {
            const struct cf_str *g = &o->u.vs.gateways[j];
            if (is_mesh(g))
                on_default = true;
            else
                rc |= attach_gateway(m, i, g, find_gateway(m, g, o->meta.ns));
        }
        if (on_default && def >= 0)
            rc |= attach_default(m, i, (size_t)def);
    }
    return rc;
}

/* A server with tls.httpsRedirect redirects every host it names, also those
 * no VirtualService serves (Istio gives them a virtual host of their own). */
static int
add_redirect_hosts(struct comp *m, struct clis *l)
{
    for (size_t k = 0; k < l->servers.n; k++) {
        const struct lsrv *ls = l->servers.v[k];
        for (size_t j = 0; ls->s->https_redirect && j < ls->s->nhosts; j++) {
            const char *sh = ls->s->hosts[j].s, *slash = strchr(sh, '/');
            const char *dns = slash != NULL ? slash + 1 : sh;
            struct bind *b = cf_map_get(&l->hosts, dns, strlen(dns));
            if (b == NULL && (b = bind_new(m, l, dns, NULL, NULL)) == NULL)
                return -1;
            b->gw[ls->bit / 64] |= 1ull << (ls->bit % 64);
            b->vh->https_redirect = true;
        }
    }
    return 0;
}

static int
wild_cmp(const void *a, const void *b)
{
    const struct conf_wildcard *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return strcmp(x->suffix, y->suffix);
}

static int
build_vhosts(struct cf_ctx *c, struct clis *l)
{
    struct conf_vhosts *vh = &l->l.vhosts;
    size_t slots = MIN_HOST_SLOTS;
    while (slots < l->exact.n * 2)
        slots *= 2;
    vh->exact = arena_alloc(c->a, slots * sizeof(*vh->exact));
    vh->wild = arena_alloc(c->a, (l->wild.n + 1) * sizeof(*vh->wild));
    if (vh->exact == NULL || vh->wild == NULL)
        return cf_oom(c);
    vh->nexact_slots = slots;
    for (size_t i = 0; i < l->exact.n; i++) {
        const struct conf_host_entry *e = l->exact.v[i];
        size_t j = e->hash & (slots - 1);
        while (vh->exact[j].host != NULL)
            j = (j + 1) & (slots - 1);
        vh->exact[j] = *e;
    }
    for (size_t i = 0; i < l->wild.n; i++)
        vh->wild[i] = *(const struct conf_wildcard *)l->wild.v[i];
    vh->nwild = l->wild.n;
    qsort(vh->wild, vh->nwild, sizeof(*vh->wild), wild_cmp);
    vh->star = l->star;
    return 0;
}

static int
build_listeners(struct comp *m)
{
    struct cf_ctx *c = m->c;
    ssize_t def = make_listeners(m);
    m->vs_lis = arena_alloc(c->tmp, (c->objs[CF_VS].n + 1) * sizeof(*m->vs_lis));
    if (m->vs_lis == NULL)
        return cf_oom(c);
    if (cf_failed(c) || attach_all(m, def) != 0 || cf_failed(c))
        return -1;
    for (size_t i = 0; i < m->lis.n; i++)
        if (add_redirect_hosts(m, m->lis.v[i]) == -1)
            return -1;
    c->conf->listeners = arena_alloc(c->a, (m->lis.n + 1) * sizeof(*c->conf->listeners));
    if (c->conf->listeners == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < m->lis.n; i++) {
        struct clis *l = m->lis.v[i];
        if (build_vhosts(c, l) == -1)
            return -1;
        c->conf->listeners[i] = l->l;
    }
    c->conf->nlisteners = m->lis.n;
    return 0;
}

/* ---- sources, counts, summary ---- */

static int
build_sources(struct cf_ctx *c)
{
    const struct ast_set *set = c->set;
    struct conf *conf = c->conf;
    conf->sources = arena_alloc(c->a, (set->nfiles + 1) * sizeof(*conf->sources));
    if (conf->sources == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < set->nfiles; i++) {
        conf->sources[i].path = arena_strdup(c->a, set->files[i].path);
        if (conf->sources[i].path == NULL)
            return cf_oom(c);
        sha256_hex(set->files[i].sha256, conf->sources[i].sha256_hex);
    }
    conf->nsources = set->nfiles;
    return 0;
}

static void
fill_counts(struct cf_ctx *c)
{
    struct conf *conf = c->conf;
    conf->counts = (struct conf_counts){
        .service_entries = c->objs[CF_SE].n,
        .destination_rules = c->objs[CF_DR].n,
        .virtual_services = c->objs[CF_VS].n,
        .gateways = c->objs[CF_GW].n,
        .routes = conf->nroutes,
        .clusters = conf->nclusters,
        .endpoints = conf->nendpoints,
    };
}

static void
print_strs(FILE *f, const char *label, const struct cf_str *v, size_t n)
{
    fprintf(f, " %s=", label);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%s", i ? "," : "", v[i].s);
}

static const char *const resolution_names[] = {
    [CF_RES_NONE] = "NONE",
    [CF_RES_STATIC] = "STATIC",
    [CF_RES_DNS] = "DNS",
};

static void
print_labels(FILE *f, const char *label, const struct cf_labels *l)
{
    fprintf(f, " %s=", label);
    for (size_t i = 0; i < l->n; i++)
        fprintf(f, "%s%s=%s", i ? "," : "", l->v[i].key, l->v[i].val);
}

/* The endpoints' distinct localities, in order. */
static void
print_localities(struct cf_ctx *c, FILE *f, const struct cf_se *se)
{
    struct cf_map seen = {0};
    size_t n = 0;
    for (size_t i = 0; i < se->neps; i++) {
        const char *l = se->eps[i].locality;
        if (l == NULL)
            continue;
        int rc = cf_map_put(c->tmp, &seen, l, strlen(l), (void *)l, NULL);
        if (rc == -1) {
            cf_oom(c);
            return;
        }
        if (rc == 0)
            fprintf(f, "%s%s", n++ ? "," : " localities=", l);
    }
}

static void
sum_se(struct comp *m, FILE *f, const struct cf_obj *o)
{
    const struct cf_se *se = &o->u.se;
    print_strs(f, "hosts", se->hosts, se->nhosts);
    fprintf(f, " ports=");
    for (size_t i = 0; i < se->nports; i++) {
        fprintf(f, "%s%u", i ? "," : "", se->ports[i].number);
        if (se->ports[i].target_port != 0 && !se->eps_from_hosts)
            fprintf(f, "->%u", se->ports[i].target_port);
    }
    fprintf(f, " resolution=%s endpoints=%zu", resolution_names[se->resolution], se->neps);
    if (se->eps_from_hosts)
        fprintf(f, " (the hosts, by DNS)");
    if (se->selector.is_set)
        print_labels(f, "workloadSelector", &se->selector.labels);
    if (se->location != CF_LOC_UNSET)
        fprintf(f, " location=%s (routed alike)",
                se->location == CF_LOC_EXTERNAL ? "MESH_EXTERNAL" : "MESH_INTERNAL");
    print_localities(m->c, f, se);
}

static void
sum_we(struct comp *m, FILE *f, const struct cf_obj *o)
{
    (void)m;
    const struct cf_se_ep *we = &o->u.we;
    fprintf(f, " address=%s", we->address);
    if (we->nports > 0) {
        fprintf(f, " ports=");
        for (size_t i = 0; i < we->nports; i++)
            fprintf(f, "%s%s:%u", i ? "," : "", we->ports[i].name, we->ports[i].number);
    }
    print_labels(f, "labels", &we->labels);
    if (we->weight != 1)
        fprintf(f, " weight=%u", we->weight);
    if (we->locality != NULL)
        fprintf(f, " locality=%s", we->locality);
}

static void
sum_dr(struct comp *m, FILE *f, const struct cf_obj *o)
{
    (void)m;
    fprintf(f, " host=%s subsets=", o->u.dr.host);
    for (size_t i = 0; i < o->u.dr.nsubsets; i++)
        fprintf(f, "%s%s", i ? "," : "", o->u.dr.subsets[i].name);
    if (o->u.dr.nsubsets == 0)
        fprintf(f, "none");
}

static void
sum_vs(struct comp *m, FILE *f, const struct cf_obj *o)
{
    size_t vi;
    for (vi = 0; vi < m->c->objs[CF_VS].n && OBJ(m->c, CF_VS, vi) != o; vi++)
        ;
    print_strs(f, "hosts", o->u.vs.hosts, o->u.vs.nhosts);
    fprintf(f, " routes=%zu listener=", o->u.vs.nroutes);
    const struct cf_vec *v = &m->vs_lis[vi];
    for (size_t i = 0; i < v->n; i++)
        fprintf(f, "%s%s", i ? "," : "", ((struct clis *)m->lis.v[(uintptr_t)v->v[i]])->l.name);
    if (o->split_key.src != CONF_KEY_NONE)
        fprintf(f, " split-key=%s", o->split_key.name ? o->split_key.name : "source-ip");
    cf_delegate_sum_vs(o, f);
}

static void
sum_gw(struct comp *m, FILE *f, const struct cf_obj *o)
{
    (void)m;
    fprintf(f, " servers=%zu listeners=", o->u.gw.nservers);
    for (size_t i = 0; i < o->u.gw.nservers; i++) {
        const struct cf_server *s = &o->u.gw.servers[i];
        fprintf(f, "%s%s:%u%s", i ? "," : "", s->bind ? s->bind : "0.0.0.0", s->port,
                s->https_redirect ? "(https-redirect)" : "");
    }
}

static void (*const summarizers[CF_NKINDS])(struct comp *, FILE *, const struct cf_obj *) = {
    [CF_SE] = sum_se, [CF_DR] = sum_dr, [CF_VS] = sum_vs, [CF_GW] = sum_gw, [CF_WE] = sum_we,
};

static int
build_summary(struct comp *m)
{
    struct cf_ctx *c = m->c;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return cf_oom(c);
    for (int k = 0; k < CF_NKINDS; k++) {
        for (size_t i = 0; i < c->objs[k].n; i++) {
            const struct cf_obj *o = OBJ(c, k, i);
            fprintf(f, "%s %s/%s:", cf_kind_name(k), o->meta.ns, o->meta.name);
            summarizers[k](m, f, o);
            fputc('\n', f);
        }
    }
    cf_delegate_summary(&m->dl, f);
    for (size_t i = 0; i < m->hidden.n; i++) {
        const struct cf_obj *o = m->hidden.v[i];
        fprintf(f, "%s %s/%s: ", cf_kind_name(o->kind), o->meta.ns, o->meta.name);
        if (!cf_exported_to(o, cf_own_ns(c)))
            fprintf(f, "not exported to namespace %s, not used\n", cf_own_ns(c));
        else if (o->kind == CF_DR && o->u.dr.selector.is_set)
            fputs("its workloadSelector does not select canaryd, not used\n", f);
        else
            fputs("a rule whose workloadSelector selects canaryd wins, not used\n", f);
    }
    for (size_t i = 0; i < m->lis.n; i++) {
        const struct conf_listener *l = &((struct clis *)m->lis.v[i])->l;
        fprintf(f, "Listener %s: address=%s\n", l->name, l->addr);
    }
    if (fclose(f) != 0 || buf == NULL) {
        free(buf);
        return cf_oom(c);
    }
    c->conf->summary = arena_strndup(c->a, buf, len);
    free(buf);
    return c->conf->summary != NULL ? 0 : cf_oom(c);
}

int
cf_compile(struct cf_ctx *c)
{
    struct comp m = {.c = c};
    check_all(&m);
    if (cf_failed(c))
        return -1;
    c->conf->gw_words = c->objs[CF_GW].n / 64 + 1;
    if (collect_clusters(&m) == -1 || build_clusters(&m) == -1 || build_vss(c) == -1 ||
        build_match_gateways(&m) == -1)
        return -1;
    if (build_listeners(&m) == -1 || build_sources(c) == -1)
        return -1;
    fill_counts(c);
    return build_summary(&m);
}
