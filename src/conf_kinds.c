/*
 * conf_kinds.c: the Istio kinds as schema tables (ServiceEntry,
 * DestinationRule, VirtualService, Gateway) and the handlers that need more
 * than a generic one. Each YAML document becomes one struct cf_obj; checks
 * that involve several objects are conf_compile.c's. Load time only.
 */
#include "canaryd/common.h"
#include "canaryd/conf_internal.h"

#include <string.h>

#include "canaryd/arena.h"
#include "canaryd/diag.h"

#define END                                                                                        \
    {                                                                                              \
        NULL, 0, false, NULL, 0, 0, 0, NULL                                                        \
    }
#define NOTSUP(k)                                                                                  \
    {                                                                                              \
        k, CF_T_NOTSUP, false, NULL, 0, 0, 0, NULL                                                 \
    }
#define IGNORE(k, t)                                                                               \
    {                                                                                              \
        k, t, false, NULL, 0, 0, 0, NULL                                                           \
    }
#define F(k, t, req, fn, st, mem)                                                                  \
    {                                                                                              \
        k, t, req, fn, offsetof(st, mem), 0, 0, NULL                                               \
    }
#define FN(k, t, req, fn)                                                                          \
    {                                                                                              \
        k, t, req, fn, 0, 0, 0, NULL                                                               \
    }
#define FINT(k, req, fn, st, mem, lo, hi)                                                          \
    {                                                                                              \
        k, CF_T_INT, req, fn, offsetof(st, mem), lo, hi, NULL                                      \
    }
#define FAUX(k, t, req, fn, st, mem, aux)                                                          \
    {                                                                                              \
        k, t, req, fn, offsetof(st, mem), 0, 0, aux                                                \
    }

#define FIELD(obj, f, type) ((type *)(void *)((char *)(obj) + (f)->off))

/* Every walk of a list of maps: allocates nitems elements of size elem in the
 * scratch arena and walks each item with tab. */
static void *
walk_list(struct cf_ctx *c, const struct ast_node *n, const struct cf_field *tab, size_t elem,
          void (*init)(void *), int *rc)
{
    char *v = arena_alloc_array(c->tmp, n->nitems, elem);
    if (v == NULL) {
        *rc = cf_oom(c);
        return NULL;
    }
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        size_t mark = cf_path_idx(c, i);
        if (init != NULL)
            init(v + i * elem);
        if (it->type != AST_MAP) {
            cf_err(c, it, "expected a map, got %s", ast_type_name(it));
            *rc = -1;
        } else if (cf_walk(c, it, tab, v + i * elem) == -1) {
            *rc = -1;
        }
        cf_path_pop(c, mark);
    }
    return v;
}

/* ---- traffic policy (DestinationRule) ---- */

static const struct cf_enum lb_simple_enum[] = {
    {"UNSPECIFIED", LB_ROUND_ROBIN},
    {"ROUND_ROBIN", LB_ROUND_ROBIN},
    {"LEAST_REQUEST", LB_LEAST_REQUEST},
    {"LEAST_CONN", LB_LEAST_REQUEST},
    {"RANDOM", LB_RANDOM},
    {"PASSTHROUGH", -1},
    {NULL, 0},
};

static int
h_key_src(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct conf_key *k = obj;
    k->src = (enum conf_key_src)f->min;
    if (k->src == CONF_KEY_SOURCE_IP && !(n->str[0] == 't' || n->str[0] == 'T')) {
        k->src = CONF_KEY_NONE;
        return 0;
    }
    if (k->src == CONF_KEY_HEADER)
        k->name = cf_lower_dup(c->a, n->str, n->len);
    else if (k->src == CONF_KEY_QUERY)
        k->name = arena_strdup(c->a, n->str);
    else
        return 0;
    k->name_len = n->len;
    return k->name != NULL ? 0 : cf_oom(c);
}

static const struct cf_field cookie_tab[] = {
    F("name", CF_T_STR, true, cf_h_strlen, struct conf_key, name),
    F("path", CF_T_STR, false, cf_h_str, struct conf_key, cookie_path),
    F("ttl", CF_T_STR, false, cf_h_dur, struct conf_key, cookie_ttl_ms),
    END,
};

static int
h_key_cookie(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    ((struct conf_key *)obj)->src = CONF_KEY_COOKIE;
    return cf_walk(c, n, cookie_tab, obj);
}

static const struct cf_field chash_tab[] = {
    {"httpHeaderName", CF_T_STR, false, h_key_src, 0, CONF_KEY_HEADER, 0, NULL},
    {"httpCookie", CF_T_MAP, false, h_key_cookie, 0, 0, 0, NULL},
    {"useSourceIp", CF_T_BOOL, false, h_key_src, 0, CONF_KEY_SOURCE_IP, 0, NULL},
    {"httpQueryParameterName", CF_T_STR, false, h_key_src, 0, CONF_KEY_QUERY, 0, NULL},
    NOTSUP("ringHash"),
    NOTSUP("maglev"),
    NOTSUP("minimumRingSize"),
    END,
};

static int
h_chash(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_policy *p = obj;
    p->lb = LB_HASH;
    memset(&p->hash, 0, sizeof(p->hash));
    if (cf_walk(c, n, chash_tab, &p->hash) == -1)
        return -1;
    if (n->npairs != 1) {
        cf_err(c, n,
               "exactly one of httpHeaderName, httpCookie, useSourceIp or "
               "httpQueryParameterName must be set");
        return -1;
    }
    return 0;
}

static const struct cf_field lb_tab[] = {
    FAUX("simple", CF_T_STR, false, cf_h_enum, struct conf_policy, lb, lb_simple_enum),
    FN("consistentHash", CF_T_MAP, false, h_chash),
    NOTSUP("localityLbSetting"),
    NOTSUP("warmupDurationSecs"),
    NOTSUP("warmup"),
    END,
};

/* A subset's loadBalancer replaces the host's as a whole. */
static int
h_lb(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_policy *p = obj;
    p->lb = LB_ROUND_ROBIN;
    memset(&p->hash, 0, sizeof(p->hash));
    if (ast_map_get(n, "simple") != NULL && ast_map_get(n, "consistentHash") != NULL) {
        cf_err(c, n, "simple and consistentHash are mutually exclusive");
        return -1;
    }
    return cf_walk(c, n, lb_tab, obj);
}

static const struct cf_field tcp_tab[] = {
    FINT("maxConnections", false, cf_h_u32, struct conf_conn_pool, max_connections, 0, INT32_MAX),
    F("connectTimeout", CF_T_STR, false, cf_h_dur, struct conf_conn_pool, connect_timeout_ms),
    NOTSUP("tcpKeepalive"),
    NOTSUP("maxConnectionDuration"),
    NOTSUP("idleTimeout"),
    END,
};

static const struct cf_field http_pool_tab[] = {
    FINT("http1MaxPendingRequests", false, cf_h_u32, struct conf_conn_pool, max_pending, 0,
         INT32_MAX),
    FINT("maxRequestsPerConnection", false, cf_h_u32, struct conf_conn_pool, max_requests_per_conn,
         0, INT32_MAX),
    F("idleTimeout", CF_T_STR, false, cf_h_dur, struct conf_conn_pool, idle_timeout_ms),
    NOTSUP("http2MaxRequests"),
    NOTSUP("maxRetries"),
    NOTSUP("h2UpgradePolicy"),
    NOTSUP("useClientProtocol"),
    NOTSUP("maxConcurrentStreams"),
    END,
};

static const struct cf_field pool_tab[] = {
    {"tcp", CF_T_MAP, false, cf_h_map, 0, 0, 0, tcp_tab},
    {"http", CF_T_MAP, false, cf_h_map, 0, 0, 0, http_pool_tab},
    END,
};

static const struct cf_field outlier_tab[] = {
    FINT("consecutive5xxErrors", false, cf_h_u32, struct conf_outlier, consecutive_5xx, 0,
         INT32_MAX),
    FINT("consecutiveGatewayErrors", false, cf_h_u32, struct conf_outlier, consecutive_gateway, 0,
         INT32_MAX),
    F("interval", CF_T_STR, false, cf_h_dur, struct conf_outlier, interval_ms),
    F("baseEjectionTime", CF_T_STR, false, cf_h_dur, struct conf_outlier, base_ejection_ms),
    FINT("maxEjectionPercent", false, cf_h_u32, struct conf_outlier, max_ejection_percent, 0, 100),
    FINT("minHealthPercent", false, cf_h_u32, struct conf_outlier, min_health_percent, 0, 100),
    NOTSUP("consecutiveErrors"),
    NOTSUP("consecutiveLocalOriginFailures"),
    NOTSUP("splitExternalLocalOriginErrors"),
    END,
};

static int
h_outlier(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct conf_outlier *o = FIELD(obj, f, struct conf_outlier);
    if (!o->enabled)
        *o = (struct conf_outlier){.enabled = true,
                                   .consecutive_5xx = 5,
                                   .interval_ms = 10000,
                                   .base_ejection_ms = 30000,
                                   .max_ejection_percent = 10};
    return cf_walk(c, n, outlier_tab, o);
}

const struct cf_field cf_policy_tab[] = {
    FN("loadBalancer", CF_T_MAP, false, h_lb),
    FAUX("connectionPool", CF_T_MAP, false, cf_h_map, struct conf_policy, pool, pool_tab),
    F("outlierDetection", CF_T_MAP, false, h_outlier, struct conf_policy, outlier),
    NOTSUP("tls"),
    NOTSUP("portLevelSettings"),
    NOTSUP("tunnel"),
    NOTSUP("proxyProtocol"),
    END,
};

/* Validates a trafficPolicy now and keeps a copy of its node (the tree is
 * freed with its document): conf_compile.c re-walks it per cluster, host
 * level first, then the subset's, so that a subset overrides field by field. */
static int
h_policy(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct conf_policy scratch = {0};
    const struct ast_node *copy = ast_node_clone(c->tmp, n);
    if (copy == NULL)
        return cf_oom(c);
    *FIELD(obj, f, const struct ast_node *) = copy;
    return cf_walk(c, n, cf_policy_tab, &scratch);
}

/* ---- DestinationRule ---- */

static const struct cf_field subset_tab[] = {
    F("name", CF_T_STR, true, cf_h_tstr, struct cf_subset, name),
    F("labels", CF_T_MAP, false, cf_h_labels, struct cf_subset, labels),
    F("trafficPolicy", CF_T_MAP, false, h_policy, struct cf_subset, policy),
    END,
};

static int
h_subsets(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_dr *dr = obj;
    int rc = 0;
    dr->subsets = walk_list(c, n, subset_tab, sizeof(*dr->subsets), NULL, &rc);
    dr->nsubsets = dr->subsets != NULL ? n->nitems : 0;
    for (size_t i = 0; i < dr->nsubsets; i++) {
        size_t mark = cf_path_idx(c, i);
        dr->subsets[i].where = cf_where_here(c, n->items[i]);
        cf_path_pop(c, mark);
    }
    return rc;
}

static int
h_dr_host(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    ((struct cf_dr *)obj)->host_where = cf_where_here(c, n);
    return cf_h_tlstr(c, f, n, obj);
}

static const struct cf_field dr_tab[] = {
    F("host", CF_T_STR, true, h_dr_host, struct cf_dr, host),
    F("trafficPolicy", CF_T_MAP, false, h_policy, struct cf_dr, policy),
    FN("subsets", CF_T_SEQ, false, h_subsets),
    NOTSUP("exportTo"),
    NOTSUP("workloadSelector"),
    END,
};

/* ---- ServiceEntry ---- */

static const struct cf_enum protocol_enum[] = {
    {"HTTP", 1}, {"HTTP2", -1}, {"HTTPS", -1}, {"GRPC", -1},  {"TCP", -1},
    {"TLS", -1}, {"MONGO", -1}, {"REDIS", -1}, {"MYSQL", -1}, {NULL, 0},
};

static int
h_protocol(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    int v = 0;
    struct cf_field ef = {.aux = protocol_enum};
    if (cf_h_enum(c, &ef, n, &v) == -1)
        return -1;
    return cf_h_tstr(c, f, n, obj);
}

static const struct cf_field se_port_tab[] = {
    FINT("number", true, cf_h_u16, struct cf_port, number, 1, 65535),
    F("name", CF_T_STR, false, cf_h_tstr, struct cf_port, name),
    F("protocol", CF_T_STR, false, h_protocol, struct cf_port, protocol),
    NOTSUP("targetPort"),
    END,
};

static int
h_se_ports(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_se *se = obj;
    int rc = 0;
    se->ports = walk_list(c, n, se_port_tab, sizeof(*se->ports), NULL, &rc);
    se->nports = se->ports != NULL ? n->nitems : 0;
    return rc;
}

/* endpoints[].ports: port name -> number. */
static int
h_ep_ports(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    static const struct cf_field num = {"", CF_T_INT, false, cf_h_u16, 0, 1, 65535, NULL};
    struct cf_se_ep *ep = obj;
    ep->ports = arena_alloc_array(c->tmp, n->npairs, sizeof(*ep->ports));
    if (ep->ports == NULL)
        return cf_oom(c);
    int rc = 0;
    for (size_t i = 0; i < n->npairs; i++) {
        const struct ast_pair *p = &n->pairs[i];
        size_t mark = cf_path_key(c, p->key->str);
        if ((ep->ports[i].name = arena_strndup(c->tmp, p->key->str, p->key->len)) == NULL) {
            rc = cf_oom(c);
        } else if (ast_scalar_kind(p->val) != AST_S_INT) {
            cf_err(c, p->val, "expected an integer, got %s", ast_type_name(p->val));
            rc = -1;
        } else if (cf_h_u16(c, &num, p->val, &ep->ports[i].number) == -1) {
            rc = -1;
        }
        cf_path_pop(c, mark);
    }
    ep->nports = n->npairs;
    return rc;
}

static int
h_ep_address(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    ((struct cf_se_ep *)obj)->addr_where = cf_where_here(c, n);
    return cf_h_tstr(c, f, n, obj);
}

static const struct cf_field se_ep_tab[] = {
    F("address", CF_T_STR, true, h_ep_address, struct cf_se_ep, address),
    FN("ports", CF_T_MAP, false, h_ep_ports),
    F("labels", CF_T_MAP, false, cf_h_labels, struct cf_se_ep, labels),
    FINT("weight", false, cf_h_u32, struct cf_se_ep, weight, 1, 1000000),
    NOTSUP("network"),
    NOTSUP("locality"),
    NOTSUP("serviceAccount"),
    END,
};

static void
ep_init(void *p)
{
    ((struct cf_se_ep *)p)->weight = 1;
}

static int
h_se_eps(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_se *se = obj;
    int rc = 0;
    se->eps = walk_list(c, n, se_ep_tab, sizeof(*se->eps), ep_init, &rc);
    se->neps = se->eps != NULL ? n->nitems : 0;
    for (size_t i = 0; i < se->neps; i++) {
        size_t mark = cf_path_idx(c, i);
        se->eps[i].where = cf_where_here(c, n->items[i]);
        cf_path_pop(c, mark);
    }
    return rc;
}

static const struct cf_enum resolution_enum[] = {
    {"STATIC", CF_RES_STATIC},
    {"DNS", CF_RES_DNS},
    {"DNS_ROUND_ROBIN", CF_RES_DNS},
    {"NONE", -1},
    {NULL, 0},
};

static int
h_resolution(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    ((struct cf_se *)obj)->res_where = cf_where_here(c, n);
    return cf_h_enum(c, f, n, obj);
}

static const struct cf_enum location_enum[] = {
    {"MESH_EXTERNAL", 0},
    {"MESH_INTERNAL", 0},
    {NULL, 0},
};

static const struct cf_field se_tab[] = {
    F("hosts", CF_T_SEQ, true, cf_h_lstrs, struct cf_se, hosts),
    F("ports", CF_T_SEQ, true, h_se_ports, struct cf_se, ports),
    FAUX("resolution", CF_T_STR, true, h_resolution, struct cf_se, resolution, resolution_enum),
    FN("endpoints", CF_T_SEQ, false, h_se_eps),
    {"location", CF_T_STR, false, cf_h_enum, 0, 0, 0, location_enum},
    NOTSUP("addresses"),
    NOTSUP("workloadSelector"),
    NOTSUP("exportTo"),
    NOTSUP("subjectAltNames"),
    END,
};

/* ---- Gateway ---- */

static const struct cf_enum gw_protocol_enum[] = {
    {"HTTP", 1}, {"HTTPS", -1}, {"HTTP2", -1}, {"GRPC", -1}, {"TCP", -1}, {"TLS", -1}, {NULL, 0},
};

static int
h_gw_protocol(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    int v = 0;
    struct cf_field ef = {.aux = gw_protocol_enum};
    if (cf_h_enum(c, &ef, n, &v) == -1)
        return -1;
    return cf_h_tstr(c, f, n, obj);
}

static const struct cf_field gw_port_tab[] = {
    FINT("number", true, cf_h_u16, struct cf_server, port, 1, 65535),
    F("name", CF_T_STR, false, cf_h_tstr, struct cf_server, port_name),
    F("protocol", CF_T_STR, true, h_gw_protocol, struct cf_server, protocol),
    NOTSUP("targetPort"),
    END,
};

static int
h_gw_port(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    ((struct cf_server *)obj)->where = cf_where_here(c, n);
    return cf_walk(c, n, gw_port_tab, obj);
}

static const struct cf_field server_tab[] = {
    FN("port", CF_T_MAP, true, h_gw_port),
    F("hosts", CF_T_SEQ, true, cf_h_lstrs, struct cf_server, hosts),
    F("bind", CF_T_STR, false, cf_h_tstr, struct cf_server, bind),
    F("name", CF_T_STR, false, cf_h_tstr, struct cf_server, name),
    NOTSUP("tls"),
    NOTSUP("defaultEndpoint"),
    END,
};

static int
h_servers(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_gw *gw = obj;
    int rc = 0;
    gw->servers = walk_list(c, n, server_tab, sizeof(*gw->servers), NULL, &rc);
    gw->nservers = gw->servers != NULL ? n->nitems : 0;
    return rc;
}

static const struct cf_field gw_tab[] = {
    FN("servers", CF_T_SEQ, true, h_servers),
    {"selector", CF_T_MAP, false, cf_h_strmap, 0, 0, 0, NULL},
    END,
};

/* ---- VirtualService: destinations ---- */

static const struct cf_field portsel_tab[] = {
    FINT("number", true, cf_h_u16, struct cf_destref, port, 1, 65535),
    END,
};

static int
h_portsel(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    ((struct cf_destref *)obj)->port_where = cf_where_here(c, n);
    return cf_walk(c, n, portsel_tab, obj);
}

static int
h_subset_ref(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    ((struct cf_destref *)obj)->subset_where = cf_where_here(c, n);
    return cf_h_tstr(c, f, n, obj);
}

static const struct cf_field destination_tab[] = {
    F("host", CF_T_STR, true, cf_h_tlstr, struct cf_destref, host),
    F("subset", CF_T_STR, false, h_subset_ref, struct cf_destref, subset),
    FN("port", CF_T_MAP, false, h_portsel),
    END,
};

static int
h_destref(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_destref *r = FIELD(obj, f, struct cf_destref);
    r->where = cf_where_here(c, n);
    return cf_walk(c, n, destination_tab, r);
}

static int
h_weight(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_dest *d = obj;
    uint32_t w = 0;
    if (cf_h_u32(c, f, n, &w) == -1)
        return -1;
    d->weight = w;
    d->has_weight = true;
    return 0;
}

static const struct cf_field hdr_ops_tab[];

static int h_hdr_kvs(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                     void *obj);
static int h_hdr_remove(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                        void *obj);

static const struct cf_field hdr_ops_tab[] = {
    F("set", CF_T_MAP, false, h_hdr_kvs, struct conf_hdr_ops, set),
    F("add", CF_T_MAP, false, h_hdr_kvs, struct conf_hdr_ops, add),
    F("remove", CF_T_SEQ, false, h_hdr_remove, struct conf_hdr_ops, remove),
    END,
};

static const struct cf_field headers_tab[] = {
    FAUX("request", CF_T_MAP, false, cf_h_map, struct conf_headers, request, hdr_ops_tab),
    FAUX("response", CF_T_MAP, false, cf_h_map, struct conf_headers, response, hdr_ops_tab),
    END,
};

/* set/add: header name -> value. */
static int
h_hdr_kvs(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    if (cf_h_strmap(c, f, n, obj) == -1)
        return -1;
    struct conf_hdr_kv *v = arena_alloc_array(c->a, n->npairs, sizeof(*v));
    if (v == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < n->npairs; i++) {
        const struct ast_pair *p = &n->pairs[i];
        v[i].name = cf_lower_dup(c->a, p->key->str, p->key->len);
        v[i].name_len = p->key->len;
        v[i].value = arena_strndup(c->a, p->val->str, p->val->len);
        v[i].value_len = p->val->len;
        if (v[i].name == NULL || v[i].value == NULL)
            return cf_oom(c);
    }
    *FIELD(obj, f, struct conf_hdr_kv *) = v;
    *(size_t *)(void *)((char *)obj + f->off + sizeof(void *)) = n->npairs;
    return 0;
}

static int
h_hdr_remove(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_str *names = NULL;
    struct {
        struct cf_str *v;
        size_t n;
    } tmp = {0};
    struct cf_field sf = {.off = 0};
    if (cf_h_lstrs(c, &sf, n, &tmp) == -1)
        return -1;
    names = tmp.v;
    struct conf_hdr_kv *v = arena_alloc_array(c->a, tmp.n, sizeof(*v));
    if (v == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < tmp.n; i++)
        v[i] = (struct conf_hdr_kv){.name = names[i].s, .name_len = names[i].len, .value = ""};
    *FIELD(obj, f, struct conf_hdr_kv *) = v;
    *(size_t *)(void *)((char *)obj + f->off + sizeof(void *)) = tmp.n;
    return 0;
}

/* Destination headers are rare: stored only when written. */
static int
h_dest_headers(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_dest *d = obj;
    if ((d->headers = arena_alloc(c->tmp, sizeof(*d->headers))) == NULL)
        return cf_oom(c);
    return cf_walk(c, n, headers_tab, d->headers);
}

static const struct cf_field dest_tab[] = {
    F("destination", CF_T_MAP, true, h_destref, struct cf_dest, ref),
    {"weight", CF_T_INT, false, h_weight, 0, 0, INT32_MAX, NULL},
    FN("headers", CF_T_MAP, false, h_dest_headers),
    END,
};

static int
h_dests(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    (void)obj;
    struct cf_route *r = c->route;
    int rc = 0;
    r->actions |= CF_ACT_ROUTE;
    r->dests = walk_list(c, n, dest_tab, sizeof(*r->dests), NULL, &rc);
    r->ndests = r->dests != NULL ? n->nitems : 0;
    if (n->nitems == 0) {
        cf_err(c, n, "a route needs at least one destination");
        rc = -1;
    }
    return rc;
}

/* ---- VirtualService: match ---- */

static const struct cf_field match_tab[] = {
    F("name", CF_T_STR, false, cf_h_str, struct conf_match, name),
    F("uri", CF_T_MAP, false, cf_h_match, struct conf_match, uri),
    F("scheme", CF_T_MAP, false, cf_h_match, struct conf_match, scheme),
    F("method", CF_T_MAP, false, cf_h_match, struct conf_match, method),
    F("authority", CF_T_MAP, false, cf_h_match, struct conf_match, authority),
    F("headers", CF_T_MAP, false, cf_h_headers, struct conf_match, headers),
    FAUX("withoutHeaders", CF_T_MAP, false, cf_h_headers, struct conf_match, headers, ""),
    {"queryParams", CF_T_MAP, false, cf_h_headers, offsetof(struct conf_match, query), 1, 0, NULL},
    IGNORE("ignoreUriCase", CF_T_BOOL),
    FINT("port", false, cf_h_u16, struct conf_match, port, 1, 65535),
    NOTSUP("sourceLabels"),
    NOTSUP("gateways"),
    NOTSUP("sourceNamespace"),
    NOTSUP("statPrefix"),
    END,
};

static int
h_matches(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_route *r = obj;
    int rc = 0;
    r->matches = arena_alloc_array(c->a, n->nitems, sizeof(*r->matches));
    if (r->matches == NULL)
        return cf_oom(c);
    r->nmatches = n->nitems;
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        size_t mark = cf_path_idx(c, i);
        if (it->type != AST_MAP) {
            cf_err(c, it, "expected a map, got %s", ast_type_name(it));
            rc = -1;
        } else if (cf_walk(c, it, match_tab, &r->matches[i]) == -1) {
            rc = -1;
        }
        const struct ast_node *ic = ast_map_get(it, "ignoreUriCase");
        struct match *uri = r->matches[i].uri;
        /* Istio: ignoreUriCase applies to exact and prefix, not to regex. */
        if (ic != NULL && ast_scalar_kind(ic) == AST_S_BOOL && (ic->str[0] | 0x20) == 't' &&
            uri != NULL && (uri->kind == MATCH_EXACT || uri->kind == MATCH_PREFIX))
            uri->ignore_case = true;
        cf_path_pop(c, mark);
    }
    return rc;
}

/* ---- VirtualService: the rest of a route ---- */

static const struct cf_field rewrite_tab[] = {
    F("uri", CF_T_STR, false, cf_h_strlen, struct conf_rewrite, uri),
    F("authority", CF_T_STR, false, cf_h_strlen, struct conf_rewrite, authority),
    NOTSUP("uriRegexRewrite"),
    END,
};

static const struct cf_field redirect_tab[] = {
    F("uri", CF_T_STR, false, cf_h_strlen, struct conf_redirect, uri),
    F("authority", CF_T_STR, false, cf_h_strlen, struct conf_redirect, authority),
    F("scheme", CF_T_STR, false, cf_h_str, struct conf_redirect, scheme),
    FINT("port", false, cf_h_u16, struct conf_redirect, port, 1, 65535),
    FINT("redirectCode", false, cf_h_u16, struct conf_redirect, status, 300, 399),
    NOTSUP("derivePort"),
    END,
};

static int
h_redirect(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_route *r = obj;
    c->route->actions |= CF_ACT_REDIRECT;
    r->redirect.status = 301;
    return cf_walk(c, n, redirect_tab, &r->redirect);
}

static int h_body_bytes(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                        void *obj);

static const struct cf_field body_tab[] = {
    F("string", CF_T_STR, false, cf_h_strlen, struct conf_direct, body),
    FN("bytes", CF_T_STR, false, h_body_bytes),
    END,
};

static int
b64_value(unsigned char ch)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = ch != '\0' ? strchr(alphabet, ch) : NULL;
    return p != NULL ? (int)(p - alphabet) : -1;
}

/* Standard base64 with optional '=' padding, as protobuf JSON writes bytes. */
static int
h_body_bytes(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_direct *d = obj;
    unsigned char *out = arena_alloc(c->a, n->len + 1);
    if (out == NULL)
        return cf_oom(c);
    size_t len = n->len, o = 0;
    uint32_t acc = 0;
    int bits = 0;
    while (len > 0 && n->str[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)n->str[i]);
        if (v < 0) {
            cf_err(c, n, "invalid base64 at offset %zu", i);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    d->body = (const char *)out;
    d->body_len = o;
    return 0;
}

static const struct cf_field direct_tab[] = {
    FINT("status", true, cf_h_u16, struct conf_direct, status, 200, 599),
    {"body", CF_T_MAP, false, cf_h_map, 0, 0, 0, body_tab},
    END,
};

static int
h_direct(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_route *r = obj;
    c->route->actions |= CF_ACT_DIRECT;
    const struct ast_node *body = ast_map_get(n, "body");
    if (body != NULL && ast_map_get(body, "string") && ast_map_get(body, "bytes")) {
        cf_err(c, body, "string and bytes are mutually exclusive");
        return -1;
    }
    return cf_walk(c, n, direct_tab, &r->direct);
}

static int h_retry_on(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                      void *obj);

static int
h_retry_remote(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    (void)obj;
    if ((n->str[0] | 0x20) != 't')
        return 0;
    cf_err(c, n, "retryRemoteLocalities: true is not supported by canaryd");
    return -1;
}

static const struct cf_field retries_tab[] = {
    FINT("attempts", false, cf_h_u32, struct conf_retries, attempts, 0, 100),
    F("perTryTimeout", CF_T_STR, false, cf_h_dur, struct conf_retries, per_try_timeout_ms),
    FN("retryOn", CF_T_STR, false, h_retry_on),
    FN("retryRemoteLocalities", CF_T_BOOL, false, h_retry_remote),
    F("retryIgnorePreviousHosts", CF_T_BOOL, false, cf_h_bool, struct conf_retries,
      ignore_previous_hosts),
    NOTSUP("backoff"),
    END,
};

static const struct cf_enum retry_on_enum[] = {
    {"connect-failure", RETRY_ON_CONNECT_FAILURE},
    {"refused-stream", RETRY_ON_REFUSED_STREAM},
    {"reset", RETRY_ON_RESET},
    {"5xx", RETRY_ON_5XX},
    {"gateway-error", RETRY_ON_GATEWAY_ERROR},
    {"retriable-4xx", RETRY_ON_RETRIABLE_4XX},
    {"retriable-status-codes", RETRY_ON_STATUS_CODES},
    {NULL, 0},
};

static int
retry_token(struct cf_ctx *c, const struct ast_node *n, struct conf_retries *rt, const char *tok,
            uint16_t *codes)
{
    char *end;
    long code = strtol(tok, &end, 10);
    if (tok[0] >= '0' && tok[0] <= '9' && *end == '\0') {
        if (code < 100 || code > 599) {
            cf_err(c, n, "invalid status code \"%s\" in retryOn", tok);
            return -1;
        }
        codes[rt->ncodes++] = (uint16_t)code;
        rt->on |= RETRY_ON_STATUS_CODES;
        return 0;
    }
    int bit = 0;
    struct cf_field ef = {.aux = retry_on_enum};
    struct ast_node tn = *n;
    tn.str = tok;
    tn.len = strlen(tok);
    if (cf_h_enum(c, &ef, &tn, &bit) == -1)
        return -1;
    rt->on |= (uint32_t)bit;
    return 0;
}

/* retryOn: a comma-separated list of conditions and bare status codes. */
static int
h_retry_on(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_retries *rt = obj;
    char *copy = arena_strndup(c->tmp, n->str, n->len);
    uint16_t *codes = arena_alloc(c->a, (n->len / 2 + 1) * sizeof(*codes));
    if (copy == NULL || codes == NULL)
        return cf_oom(c);
    rt->on = 0;
    rt->ncodes = 0;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t tl = strlen(tok);
        while (tl > 0 && tok[tl - 1] == ' ')
            tok[--tl] = '\0';
        if (tl > 0 && retry_token(c, n, rt, tok, codes) == -1)
            rc = -1;
    }
    rt->codes = codes;
    return rc;
}

static int
h_retries(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_retries *rt = &((struct conf_route *)obj)->retries;
    rt->is_set = true;
    rt->ignore_previous_hosts = true;
    return cf_walk(c, n, retries_tab, rt);
}

static const struct cf_field delay_tab[] = {
    F("fixedDelay", CF_T_STR, true, cf_h_dur, struct conf_fault, delay_ms),
    F("percentage", CF_T_MAP, false, cf_h_ppm, struct conf_fault, delay_ppm),
    NOTSUP("percent"),
    NOTSUP("exponentialDelay"),
    END,
};

static const struct cf_field abort_tab[] = {
    FINT("httpStatus", true, cf_h_u16, struct conf_fault, abort_status, 200, 599),
    F("percentage", CF_T_MAP, false, cf_h_ppm, struct conf_fault, abort_ppm),
    NOTSUP("grpcStatus"),
    NOTSUP("http2Error"),
    NOTSUP("percent"),
    END,
};

static int
h_delay(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_fault *ft = obj;
    ft->has_delay = true;
    ft->delay_ppm = CONF_PPM_ALL;
    return cf_walk(c, n, delay_tab, ft);
}

static int
h_abort(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_fault *ft = obj;
    ft->has_abort = true;
    ft->abort_ppm = CONF_PPM_ALL;
    return cf_walk(c, n, abort_tab, ft);
}

static const struct cf_field fault_tab[] = {
    FN("delay", CF_T_MAP, false, h_delay),
    FN("abort", CF_T_MAP, false, h_abort),
    END,
};

static const struct cf_field mirror_item_tab[] = {
    F("destination", CF_T_MAP, true, h_destref, struct cf_mirror, ref),
    F("percentage", CF_T_MAP, false, cf_h_ppm, struct cf_mirror, ppm),
    END,
};

/* mirror is rare: stored only when written. */
static int
h_mirror(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)obj;
    struct cf_mirror *m = arena_alloc(c->tmp, sizeof(*m));
    if (m == NULL)
        return cf_oom(c);
    c->route->mirror = m;
    return h_destref(c, f, n, m);
}

static int
h_mirror_pct(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)obj;
    c->route->has_mirror_ppm = true;
    return cf_h_ppm(c, f, n, c->route);
}

static void
mirror_init(void *p)
{
    ((struct cf_mirror *)p)->ppm = CONF_PPM_ALL;
}

static int
h_mirrors(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    (void)obj;
    struct cf_route *r = c->route;
    int rc = 0;
    r->mirrors = walk_list(c, n, mirror_item_tab, sizeof(*r->mirrors), mirror_init, &rc);
    r->nmirrors = r->mirrors != NULL ? n->nitems : 0;
    return rc;
}

/* Walked with the snapshot's struct conf_route as object; handlers of the
 * parse-time parts (destinations, mirrors, actions) use c->route. */
static const struct cf_field route_tab[] = {
    F("name", CF_T_STR, false, cf_h_str, struct conf_route, name),
    FN("match", CF_T_SEQ, false, h_matches),
    FN("route", CF_T_SEQ, false, h_dests),
    FN("redirect", CF_T_MAP, false, h_redirect),
    FN("directResponse", CF_T_MAP, false, h_direct),
    FAUX("rewrite", CF_T_MAP, false, cf_h_map, struct conf_route, rewrite, rewrite_tab),
    F("timeout", CF_T_STR, false, cf_h_dur, struct conf_route, timeout_ms),
    FN("retries", CF_T_MAP, false, h_retries),
    FAUX("fault", CF_T_MAP, false, cf_h_map, struct conf_route, fault, fault_tab),
    {"mirror", CF_T_MAP, false, h_mirror, offsetof(struct cf_mirror, ref), 0, 0, NULL},
    {"mirrorPercentage", CF_T_MAP, false, h_mirror_pct, offsetof(struct cf_route, mirror_ppm), 0, 0,
     NULL},
    FN("mirrors", CF_T_SEQ, false, h_mirrors),
    FAUX("headers", CF_T_MAP, false, cf_h_map, struct conf_route, headers, headers_tab),
    NOTSUP("delegate"),
    NOTSUP("corsPolicy"),
    NOTSUP("mirrorPercent"),
    NOTSUP("mirror_percent"),
    END,
};

/* The checks Istio's validation makes on one HTTPRoute. */
static int
check_route(struct cf_ctx *c, struct cf_route *r, const struct ast_node *n)
{
    static const char *const names[] = {"route", "redirect", "directResponse"};
    unsigned a = r->actions;
    if (a == 0) {
        cf_err(c, n, "a route needs one of route, redirect or directResponse");
        return -1;
    }
    if ((a & (a - 1)) != 0) {
        const char *first = names[__builtin_ctz(a)];
        a &= a - 1;
        cf_err(c, n, "%s and %s are mutually exclusive", first, names[__builtin_ctz(a)]);
        return -1;
    }
    if (r->mirror != NULL && r->nmirrors > 0) {
        cf_err(c, n, "mirror and mirrors are mutually exclusive");
        return -1;
    }
    if (r->has_mirror_ppm && r->mirror == NULL) {
        cf_err(c, n, "mirrorPercentage needs mirror");
        return -1;
    }
    return 0;
}

/* Walks every route of n into vs->routes[i] and the snapshot's vs->out[i]. */
static int
walk_routes(struct cf_ctx *c, const struct ast_node *n, struct cf_vs *vs)
{
    int rc = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        struct cf_route *r = &vs->routes[i];
        size_t mark = cf_path_idx(c, i);
        r->r = &vs->out[i];
        if (it->type != AST_MAP) {
            cf_err(c, it, "expected a map, got %s", ast_type_name(it));
            rc = -1;
        } else {
            c->route = r;
            if (cf_walk(c, it, route_tab, r->r) == -1)
                rc = -1;
            c->route = NULL;
        }
        cf_path_pop(c, mark);
    }
    return rc;
}

/* The routes are built in place in the snapshot (vs->out becomes
 * conf_vs.routes), so only the parse-time parts are scratch. */
static int
h_routes(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_vs *vs = obj;
    vs->routes = arena_alloc_array(c->tmp, n->nitems, sizeof(*vs->routes));
    vs->out = arena_alloc_array(c->a, n->nitems, sizeof(*vs->out));
    if (vs->routes == NULL || vs->out == NULL)
        return cf_oom(c);
    vs->nroutes = n->nitems;
    int rc = walk_routes(c, n, vs);
    for (size_t i = 0; i < vs->nroutes; i++) {
        struct cf_route *r = &vs->routes[i];
        size_t mark = cf_path_idx(c, i);
        r->where = cf_where_here(c, n->items[i]);
        if (r->mirror != NULL)
            r->mirror->ppm = r->has_mirror_ppm ? r->mirror_ppm : CONF_PPM_ALL;
        if (n->items[i]->type == AST_MAP && check_route(c, r, n->items[i]) == -1)
            rc = -1;
        cf_path_pop(c, mark);
    }
    return rc;
}

static const struct cf_field vs_tab[] = {
    F("hosts", CF_T_SEQ, true, cf_h_lstrs, struct cf_vs, hosts),
    F("gateways", CF_T_SEQ, false, cf_h_strs, struct cf_vs, gateways),
    FN("http", CF_T_SEQ, false, h_routes),
    NOTSUP("tls"),
    NOTSUP("tcp"),
    NOTSUP("exportTo"),
    END,
};

/* ---- metadata and documents ---- */

/* canaryd.io/split-key: cookie:NAME | header:NAME | query:NAME | source-ip */
static const struct {
    const char *prefix;
    enum conf_key_src src;
} split_keys[] = {
    {"cookie:", CONF_KEY_COOKIE},
    {"header:", CONF_KEY_HEADER},
    {"query:", CONF_KEY_QUERY},
    {"source-ip", CONF_KEY_SOURCE_IP},
};

static int
parse_split_key(struct cf_ctx *c, const struct ast_node *n, struct conf_key *k)
{
    for (size_t i = 0; i < countof(split_keys); i++) {
        size_t pl = strlen(split_keys[i].prefix);
        if (n->len < pl || memcmp(n->str, split_keys[i].prefix, pl) != 0)
            continue;
        bool named = split_keys[i].src != CONF_KEY_SOURCE_IP;
        if (named ? n->len == pl : n->len != pl)
            break;
        k->src = split_keys[i].src;
        if (!named)
            return 0;
        k->name = k->src == CONF_KEY_HEADER ? cf_lower_dup(c->a, n->str + pl, n->len - pl)
                                            : arena_strdup(c->a, n->str + pl);
        k->name_len = n->len - pl;
        return k->name != NULL ? 0 : cf_oom(c);
    }
    cf_err(c, n,
           "invalid split key \"%s\": expected cookie:NAME, header:NAME, query:NAME or "
           "source-ip",
           n->str);
    return -1;
}

#define SPLIT_KEY_ANNOTATION "canaryd.io/split-key"

static int
h_annotations(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)obj;
    if (cf_h_strmap(c, f, n, obj) == -1)
        return -1;
    const struct ast_node *v = ast_map_get(n, SPLIT_KEY_ANNOTATION);
    if (v == NULL)
        return 0;
    size_t mark = cf_path_key(c, SPLIT_KEY_ANNOTATION);
    int rc = 0;
    if (c->cur->kind != CF_VS)
        cf_warn(c, v, "only a VirtualService uses this annotation; ignored");
    else
        rc = parse_split_key(c, v, &c->cur->split_key);
    cf_path_pop(c, mark);
    return rc;
}

static int
h_meta_name(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    ((struct cf_meta *)obj)->name_where = cf_where_here(c, n);
    return cf_h_tstr(c, f, n, obj);
}

static const struct cf_field meta_tab[] = {
    F("name", CF_T_STR, true, h_meta_name, struct cf_meta, name),
    F("namespace", CF_T_STR, false, cf_h_tstr, struct cf_meta, ns),
    FN("labels", CF_T_MAP, false, cf_h_strmap),
    FN("annotations", CF_T_MAP, false, h_annotations),
    /* Written by the API server; kept by "kubectl get -o yaml". */
    IGNORE("uid", CF_T_ANY),
    IGNORE("resourceVersion", CF_T_ANY),
    IGNORE("generation", CF_T_ANY),
    IGNORE("creationTimestamp", CF_T_ANY),
    IGNORE("managedFields", CF_T_ANY),
    IGNORE("ownerReferences", CF_T_ANY),
    IGNORE("finalizers", CF_T_ANY),
    IGNORE("generateName", CF_T_ANY),
    END,
};

struct kind_def {
    const char *name;
    enum cf_kind kind;
    const struct cf_field *spec;
    size_t spec_off;
};

static const struct kind_def kinds[] = {
    {"ServiceEntry", CF_SE, se_tab, offsetof(struct cf_obj, u.se)},
    {"DestinationRule", CF_DR, dr_tab, offsetof(struct cf_obj, u.dr)},
    {"VirtualService", CF_VS, vs_tab, offsetof(struct cf_obj, u.vs)},
    {"Gateway", CF_GW, gw_tab, offsetof(struct cf_obj, u.gw)},
};

static const char *const api_versions[] = {
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
};

const char *
cf_kind_name(enum cf_kind k)
{
    return kinds[k].name;
}

static int
h_api_version(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    (void)obj;
    for (size_t i = 0; i < countof(api_versions); i++)
        if (strcmp(n->str, api_versions[i]) == 0)
            return 0;
    const char *s = cf_suggest(n->str, api_versions, countof(api_versions));
    cf_err(c, n, "unknown apiVersion \"%s\" (expected %s)", n->str,
           s != NULL ? s : "networking.istio.io/v1, v1beta1 or v1alpha3");
    return -1;
}

static int
h_spec(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    const struct kind_def *k = &kinds[c->cur->kind];
    return cf_walk(c, n, k->spec, (char *)obj + k->spec_off);
}

static const struct cf_field doc_tab[] = {
    FN("apiVersion", CF_T_STR, true, h_api_version),
    IGNORE("kind", CF_T_STR),
    FAUX("metadata", CF_T_MAP, true, cf_h_map, struct cf_obj, meta, meta_tab),
    FN("spec", CF_T_MAP, true, h_spec),
    IGNORE("status", CF_T_ANY),
    END,
};

static const struct kind_def *
find_kind(struct cf_ctx *c, const struct ast_node *root)
{
    const struct ast_node *k = ast_map_get(root, "kind");
    if (k == NULL) {
        size_t mark = cf_path_key(c, "kind");
        cf_err(c, root, "missing required field");
        cf_path_pop(c, mark);
        return NULL;
    }
    const char *names[countof(kinds)];
    for (size_t i = 0; i < countof(kinds); i++) {
        names[i] = kinds[i].name;
        if (k->type == AST_SCALAR && strcmp(k->str, kinds[i].name) == 0)
            return &kinds[i];
    }
    size_t mark = cf_path_key(c, "kind");
    const char *s = k->type == AST_SCALAR ? cf_suggest(k->str, names, countof(names)) : NULL;
    if (s != NULL)
        cf_err(c, k, "unknown kind \"%s\" (did you mean \"%s\"?)", k->str, s);
    else
        cf_err(c, k,
               "unknown kind%s%s%s: canaryd reads ServiceEntry, DestinationRule, "
               "VirtualService and Gateway",
               k->str ? " \"" : "", k->str ? k->str : "", k->str ? "\"" : "");
    cf_path_pop(c, mark);
    return NULL;
}

void
cf_parse_doc(struct cf_ctx *c, const struct ast_doc *doc)
{
    const struct ast_node *root = doc->root;
    if (root == NULL || ast_is_null(root))
        return;
    cf_path_pop(c, 0);
    if (root->type != AST_MAP) {
        cf_err(c, root, "a document must be a map (an Istio object), got %s", ast_type_name(root));
        return;
    }
    const struct kind_def *k = find_kind(c, root);
    if (k == NULL)
        return;
    struct cf_obj *o = arena_alloc(c->tmp, sizeof(*o));
    if (o == NULL || cf_vec_push(c->tmp, &c->objs[k->kind], o) == -1) {
        cf_oom(c);
        return;
    }
    o->kind = k->kind;
    o->where = (struct cf_where){.loc = root->loc, .path = ""};
    c->cur = o;
    cf_walk(c, root, doc_tab, o);
    if (o->meta.ns == NULL)
        o->meta.ns = "default";
    c->cur = NULL;
}
