/*
 * conf_dr.c: the DestinationRule parts beyond the generic tables. A
 * trafficPolicy (host or subset level) is parsed on its own, from defaults,
 * into a struct cf_policy that records which components it writes and its
 * portLevelSettings; conf_compile.c merges the levels per cluster (host,
 * subset, port) with cf_policy_merge, as Istio does. Rules for one host are
 * merged in Istio's config order (cf_obj_order, from creationTimestamp).
 * Load time only.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <string.h>

#include "canaryd/core/arena.h"
#include "canaryd/conf/ast.h"
#include "canaryd/core/diag.h"

/* ---- components ---- */

static const struct {
    const char *key;
    unsigned bit;
} components[] = {
    {"loadBalancer", CF_POL_LB},
    {"connectionPool", CF_POL_POOL},
    {"outlierDetection", CF_POL_OUTLIER},
};

static unsigned
components_of(const struct ast_node *n)
{
    unsigned set = 0;
    for (size_t i = 0; i < countof(components); i++)
        if (ast_map_get(n, components[i].key) != NULL)
            set |= components[i].bit;
    return set;
}

/* ---- portLevelSettings ---- */

static const struct cf_field port_sel_fields[] = {
    {.key = "number",
     .type = CF_T_INT,
     .store = CF_ST_SLOT,
     .required = true,
     .fn.put = cf_h_u16,
     CF__SLOT(struct cf_port_policy, port, uint16_t),
     .min = 1,
     .max = 65535,
     .sample = "80"},
    CF_END,
};
static const struct cf_table port_sel_tab = CF_TABLE(struct cf_port_policy, port_sel_fields);

static int
h_port_sel(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_port_policy *pp = obj;
    pp->port_where = cf_where_here(c, n);
    return CF_WALK(c, n, &port_sel_tab, pp);
}

/* A port's loadBalancer, connectionPool or outlierDetection: the
 * trafficPolicy's own entry for the key, applied to the port's policy, so that
 * both levels are read by the same code. */
static int
h_component(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_port_policy *pp = obj;
    for (const struct cf_field *pf = cf_policy_tab.fields; pf->key != NULL; pf++) {
        if (strcmp(pf->key, f->key) != 0)
            continue;
        BUG_ON(pf->store != CF_ST_SLOT && pf->store != CF_ST_OBJ);
        BUG_ON(pf->store == CF_ST_SLOT && pf->off + pf->size > sizeof(pp->p));
        void *dst = &pp->p;
        if (pf->store == CF_ST_SLOT)
            dst = (char *)&pp->p + pf->off;
        return pf->fn.put(c, pf, n, dst);
    }
    BUG_ON(true);
    return -1;
}

#define CF_COMPONENT(k, sample_)                                                                   \
    {                                                                                              \
        .key = k, .type = CF_T_MAP, .store = CF_ST_OBJ, .fn.put = h_component, .sample = sample_   \
    }

static const struct cf_field port_policy_fields[] = {
    CF_OBJ("port", CF_T_MAP, true, h_port_sel, &port_sel_tab),
    CF_COMPONENT("loadBalancer", "{simple: LEAST_REQUEST}"),
    CF_COMPONENT("connectionPool", "{tcp: {maxConnections: 10}}"),
    CF_COMPONENT("outlierDetection", "{consecutive5xxErrors: 3}"),
    CF_CLIENT_TLS("tls"),
    CF_END,
};
const struct cf_table cf_port_policy_tab = CF_TABLE(struct cf_port_policy, port_policy_fields);

/* Istio's checks on one item: some setting besides the port; a port listed
 * twice keeps its first settings (the later ones can never apply). */
static int
check_port_item(struct cf_ctx *c, struct cf_port_policy *v, size_t i, const struct ast_node *n)
{
    struct cf_port_policy *pp = &v[i];
    pp->set = components_of(n);
    if (pp->set == 0) {
        cf_err(c, n,
               "a port-level traffic policy needs loadBalancer, connectionPool or "
               "outlierDetection besides its port");
        return -1;
    }
    for (size_t j = 0; pp->port != 0 && j < i; j++) {
        if (v[j].port != pp->port || v[j].set == 0)
            continue;
        const struct ast_loc *l = &v[j].where.loc;
        cf_warn(c, n,
                "port %u already has port-level settings at %s:%d:%d; these are ignored (the "
                "first item for a port is used)",
                (unsigned)pp->port, l->file, l->line, l->col);
        break;
    }
    return 0;
}

int
cf_h_port_policies(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    (void)obj;
    struct cf_policy *pol = c->policy;
    BUG_ON(pol == NULL);
    struct cf_port_policy *v = arena_alloc_array(c->tmp, n->nitems + 1, sizeof(*v));
    if (v == NULL)
        return cf_oom(c);
    int rc = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        size_t mark = cf_path_idx(c, i);
        v[i].where = cf_where_here(c, it);
        if (it->type != AST_MAP) {
            cf_err(c, it, "expected a map, got %s", ast_type_name(it));
            rc = -1;
        } else if (CF_WALK(c, it, &cf_port_policy_tab, &v[i]) == -1 ||
                   check_port_item(c, v, i, it) == -1) {
            rc = -1;
        }
        cf_path_pop(c, mark);
    }
    pol->ports = v;
    pol->nports = n->nitems;
    return rc;
}

/* ---- trafficPolicy ---- */

int
cf_h_policy(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    struct cf_policy *pol = arena_alloc(c->tmp, sizeof(*pol));
    if (pol == NULL)
        return cf_oom(c);
    pol->where = cf_where_here(c, n);
    pol->set = components_of(n);
    *(const struct cf_policy **)p = pol;
    struct cf_policy *outer = c->policy;
    c->policy = pol;
    int rc = CF_WALK(c, n, &cf_policy_tab, &pol->p);
    c->policy = outer;
    return rc;
}

const struct cf_port_policy *
cf_policy_port(const struct cf_policy *pol, uint16_t port)
{
    for (size_t i = 0; pol != NULL && i < pol->nports; i++)
        if (pol->ports[i].port == port)
            return &pol->ports[i];
    return NULL;
}

static void
apply_components(struct conf_policy *out, const struct conf_policy *in, unsigned set)
{
    if (set & CF_POL_LB) {
        out->lb = in->lb;
        out->hash = in->hash;
        out->warmup = in->warmup;
    }
    if (set & CF_POL_POOL)
        out->pool = in->pool;
    if (set & CF_POL_OUTLIER)
        out->outlier = in->outlier;
}

/* A level's item for the port replaces the whole level: what the item leaves
 * out takes its default, not the level's value. */
static void
apply_level(struct conf_policy *out, const struct cf_policy *pol, uint16_t port)
{
    if (pol == NULL)
        return;
    const struct cf_port_policy *pp = cf_policy_port(pol, port);
    if (pp != NULL)
        apply_components(out, &pp->p, CF_POL_ALL);
    else
        apply_components(out, &pol->p, pol->set);
}

void
cf_policy_merge(struct conf_policy *out, const struct cf_policy *host, const struct cf_policy *sub,
                uint16_t port)
{
    memset(out, 0, sizeof(*out));
    apply_level(out, host, port);
    apply_level(out, sub, port);
}

/* ---- creation order ---- */

/* The form Kubernetes writes (RFC 3339, UTC, whole seconds), which sorts as
 * text in time order. */
static bool
is_k8s_time(const char *s, size_t len)
{
    static const char form[] = "dddd-dd-ddTdd:dd:ddZ";
    if (len != sizeof(form) - 1)
        return false;
    for (size_t i = 0; i < len; i++)
        if (form[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != form[i])
            return false;
    return true;
}

int
cf_h_created(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_meta *m = obj;
    if (ast_is_null(n))
        return 0;
    if (n->type != AST_SCALAR || !is_k8s_time(n->str, n->len)) {
        cf_warn(c, n,
                "not a creation time as Kubernetes writes it (YYYY-MM-DDTHH:MM:SSZ); this "
                "object is ordered as if it had none (before the others, then by name)");
        return 0;
    }
    m->created = arena_strndup(c->tmp, n->str, n->len);
    return m->created != NULL ? 0 : cf_oom(c);
}

int
cf_obj_order(const void *a, const void *b)
{
    const struct cf_meta *x = &(*(const struct cf_obj *const *)a)->meta;
    const struct cf_meta *y = &(*(const struct cf_obj *const *)b)->meta;
    int r = strcmp(x->created != NULL ? x->created : "", y->created != NULL ? y->created : "");
    if (r == 0)
        r = strcmp(x->name != NULL ? x->name : "", y->name != NULL ? y->name : "");
    return r != 0 ? r : strcmp(x->ns, y->ns);
}
