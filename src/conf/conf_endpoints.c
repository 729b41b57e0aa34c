/*
 * conf_endpoints.c: what a ServiceEntry's endpoints carry beyond an address
 * and how WorkloadEntries become endpoints. Handlers for the fields that
 * conf_kinds.c's ServiceEntry tables name (workloadSelector, addresses, an
 * endpoint's locality, port protocols compared without regard to case), and
 * the selection conf_compile.c runs: a ServiceEntry with a workloadSelector
 * gets as endpoints the WorkloadEntries of its namespace whose labels include
 * the selector's. Load time only.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "canaryd/core/arena.h"
#include "canaryd/core/diag.h"

/* ---- port protocols ---- */

int
cf_parse_enum_nocase(struct cf_ctx *c, const struct cf_enum *e, const struct ast_node *n, int *v)
{
    for (const struct cf_enum *it = e; it->name != NULL; it++) {
        if (strcasecmp(it->name, n->str) != 0)
            continue;
        /* The table's spelling, at the value's place: refusals name it. */
        struct ast_node canon = *n;
        canon.str = it->name;
        canon.len = (uint32_t)strlen(it->name);
        return cf_parse_enum(c, e, &canon, v);
    }
    return cf_parse_enum(c, e, n, v); /* unknown: reported with a suggestion */
}

/* ---- ServiceEntry: workloadSelector, addresses ---- */

static const struct cf_field selector_fields[] = {
    CF_SLOT("labels", CF_T_MAP, false, cf_h_labels, struct cf_selector, labels, struct cf_labels),
    CF_END,
};
const struct cf_table cf_selector_tab = CF_TABLE(struct cf_selector, selector_fields);

int
cf_h_selector(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    struct cf_selector *s = p;
    s->is_set = true;
    s->where = cf_where_here(c, n);
    return CF_WALK(c, n, &cf_selector_tab, s);
}

/* An IP address, or a CIDR block (ADDR/BITS). */
static bool
is_ip_or_cidr(const char *s, size_t len)
{
    char buf[INET6_ADDRSTRLEN + 8];
    unsigned char addr[sizeof(struct in6_addr)];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash != NULL) {
        char *end = NULL;
        *slash = '\0';
        bits = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || bits < 0)
            return false;
    }
    if (inet_pton(AF_INET, buf, addr) == 1)
        return bits <= 32;
    return inet_pton(AF_INET6, buf, addr) == 1 && bits <= 128;
}

/* Istio's check (IP addresses or CIDR blocks), then f->why as a warning. */
int
cf_check_addresses(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    if (cf_check_strs(c, f, n) == -1)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        if (is_ip_or_cidr(it->str, it->len))
            continue;
        size_t mark = cf_path_idx(c, i);
        cf_err(c, it, "\"%s\" is not an IP address or a CIDR block", it->str);
        cf_path_pop(c, mark);
        rc = -1;
    }
    if (rc == 0)
        cf_warn(c, n, "%s", f->why);
    return rc;
}

/* ---- endpoints: locality ---- */

/* "region", "region/zone" or "region/zone/subzone"; no empty part, no
 * wildcard (a locality names a place; patterns belong to localityLbSetting). */
int
cf_h_locality(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    size_t parts = 1, plen = 0;
    bool ok = n->len > 0 && strchr(n->str, '*') == NULL;
    for (size_t i = 0; ok && i < n->len; i++) {
        if (n->str[i] != '/') {
            plen++;
            continue;
        }
        ok = plen > 0 && ++parts <= 3;
        plen = 0;
    }
    if (!ok || plen == 0) {
        cf_err(c, n, "invalid locality \"%s\": expected region, region/zone or region/zone/subzone",
               n->str);
        return -1;
    }
    return cf_h_tstr(c, f, n, p);
}

/* ---- WorkloadEntry selection ---- */

int
cf_workloads_index(struct cf_ctx *c, struct cf_map *by_ns)
{
    for (size_t i = 0; i < c->objs[CF_WE].n; i++) {
        struct cf_obj *o = c->objs[CF_WE].v[i];
        if (o->failed)
            continue; /* reported; selecting it would only repeat its errors */
        const char *ns = o->meta.ns;
        struct cf_vec *v = cf_map_get(by_ns, ns, strlen(ns));
        if (v == NULL) {
            v = arena_alloc(c->tmp, sizeof(*v));
            if (v == NULL || cf_map_put(c->tmp, by_ns, ns, strlen(ns), v, NULL) == -1)
                return cf_oom(c);
        }
        if (cf_vec_push(c->tmp, v, o) == -1)
            return cf_oom(c);
    }
    return 0;
}

void
cf_workloads_select(struct cf_ctx *c, const struct cf_map *by_ns, struct cf_obj *o)
{
    struct cf_se *se = &o->u.se;
    const struct cf_selector *sel = &se->selector;
    if (!sel->is_set)
        return;
    if (se->neps > 0) {
        cf_err_at(c, &sel->where, "only one of workloadSelector or endpoints can be set");
        return;
    }
    const struct cf_vec *v = cf_map_get(by_ns, o->meta.ns, strlen(o->meta.ns));
    size_t n = v != NULL ? v->n : 0;
    se->eps = arena_alloc(c->tmp, (n + 1) * sizeof(*se->eps));
    if (se->eps == NULL) {
        cf_oom(c);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const struct cf_obj *we = v->v[i];
        if (cf_labels_select(&sel->labels, &we->u.we.labels))
            se->eps[se->neps++] = we->u.we;
    }
    if (sel->labels.n == 0)
        cf_warn_at(c, &sel->where,
                   "workloadSelector without labels selects every WorkloadEntry of namespace "
                   "\"%s\"",
                   o->meta.ns);
    if (se->neps == 0)
        cf_warn_at(c, &sel->where,
                   "workloadSelector selects no WorkloadEntry of namespace \"%s\": requests "
                   "to this ServiceEntry get 503",
                   o->meta.ns);
}
