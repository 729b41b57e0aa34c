/*
 * conf_kinds.c: the Istio kinds as schema tables (ServiceEntry,
 * DestinationRule, VirtualService, Gateway) and the handlers that need more
 * than a generic one. Each YAML document becomes one struct cf_obj; checks
 * that involve several objects are conf_compile.c's. Load time only.
 *
 * Every entry is built with the CF_* macros of conf_internal.h: a slot entry
 * names a member of its table's struct (the compiler checks the member's
 * type), an object handler names the members it writes in C, and a field
 * that only validates has no storage at all.
 */
#include "canaryd/common.h"
#include "canaryd/conf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/arena.h"
#include "canaryd/diag.h"

/* Every walk of a list of maps: allocates nitems elements of tab->size in the
 * scratch arena and walks each item with tab. */
static void *
walk_list(struct cf_ctx *c, const struct ast_node *n, const struct cf_table *tab,
          void (*init)(void *), int *rc)
{
    char *v = arena_alloc_array(c->tmp, n->nitems, tab->size);
    if (v == NULL) {
        *rc = cf_oom(c);
        return NULL;
    }
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        size_t mark = cf_path_idx(c, i);
        if (init != NULL)
            init(v + i * tab->size);
        if (it->type != AST_MAP) {
            cf_err(c, it, "expected a map, got %s", ast_type_name(it));
            *rc = -1;
        } else if (cf_walk(c, it, tab, v + i * tab->size) == -1) {
            *rc = -1;
        }
        cf_path_pop(c, mark);
    }
    return v;
}

/* ---- traffic policy (DestinationRule) ---- */

static const struct cf_enum lb_simple_enum[] = {
    {"UNSPECIFIED", LB_ROUND_ROBIN, NULL},
    {"ROUND_ROBIN", LB_ROUND_ROBIN, NULL},
    {"LEAST_REQUEST", LB_LEAST_REQUEST, NULL},
    {"LEAST_CONN", LB_LEAST_REQUEST, NULL},
    {"RANDOM", LB_RANDOM, NULL},
    {"PASSTHROUGH", 0,
     "needs the original destination address of a sidecar-captured connection, which a proxy "
     "that clients address directly never has; use ROUND_ROBIN"},
    {NULL, 0, NULL},
};

static int
key_named(struct cf_ctx *c, struct conf_key *k, enum conf_key_src src, const struct ast_node *n)
{
    k->src = src;
    k->name = src == CONF_KEY_HEADER ? cf_lower_dup(c->a, n->str, n->len)
                                     : arena_strndup(c->a, n->str, n->len);
    k->name_len = n->len;
    return k->name != NULL ? 0 : cf_oom(c);
}

static int
h_key_header(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    return key_named(c, obj, CONF_KEY_HEADER, n);
}

static int
h_key_query(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    return key_named(c, obj, CONF_KEY_QUERY, n);
}

static int
h_key_source_ip(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)c;
    (void)f;
    struct conf_key *k = obj;
    k->src = (n->str[0] | 0x20) == 't' ? CONF_KEY_SOURCE_IP : CONF_KEY_NONE;
    return 0;
}

static int
h_cookie_name(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_key *k = obj;
    return cf_parse_strlen(c, n, &k->name, &k->name_len);
}

static const struct cf_field cookie_fields[] = {
    CF_OBJ("name", CF_T_STR, true, h_cookie_name, NULL),
    CF_STR("path", false, cf_h_str, struct conf_key, cookie_path),
    CF_DUR("ttl", false, struct conf_key, cookie_ttl_ms),
    CF_REFUSE("attributes",
              "cookie attributes are not set by canaryd; give the cookie's name, path and ttl"),
    CF_END,
};
static const struct cf_table cookie_tab = CF_TABLE(struct conf_key, cookie_fields);

static int
h_key_cookie(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    ((struct conf_key *)obj)->src = CONF_KEY_COOKIE;
    return cf_walk(c, n, &cookie_tab, obj);
}

#define RING_WARN                                                                                  \
    "canaryd hashes with rendezvous hashing, which keeps the same key on the same endpoint as a "  \
    "ring or Maglev table does; the table settings are not used"

static const struct cf_field chash_fields[] = {
    CF_OBJ("httpHeaderName", CF_T_STR, false, h_key_header, NULL),
    CF_OBJ("httpCookie", CF_T_MAP, false, h_key_cookie, &cookie_tab),
    CF_OBJ("useSourceIp", CF_T_BOOL, false, h_key_source_ip, NULL),
    CF_OBJ("httpQueryParameterName", CF_T_STR, false, h_key_query, NULL),
    CF_WARN("ringHash", CF_T_MAP, RING_WARN),
    CF_WARN("maglev", CF_T_MAP, RING_WARN),
    CF_WARN("minimumRingSize", CF_T_INT, RING_WARN),
    CF_END,
};
static const struct cf_table chash_tab = CF_TABLE(struct conf_key, chash_fields);

static int
h_chash(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_policy *p = obj;
    p->lb = LB_HASH;
    memset(&p->hash, 0, sizeof(p->hash));
    if (CF_WALK(c, n, &chash_tab, &p->hash) == -1)
        return -1;
    static const char *const sources[] = {"httpHeaderName", "httpCookie", "useSourceIp",
                                          "httpQueryParameterName"};
    size_t nsrc = 0;
    for (size_t i = 0; i < countof(sources); i++)
        nsrc += ast_map_get(n, sources[i]) != NULL;
    if (nsrc != 1) {
        cf_err(c, n,
               "exactly one of httpHeaderName, httpCookie, useSourceIp or "
               "httpQueryParameterName must be set");
        return -1;
    }
    return 0;
}

static const struct cf_field lb_fields[] = {
    CF_ENUM("simple", false, struct conf_policy, lb, enum lb_policy, lb_simple_enum),
    {.key = "consistentHash",
     .type = CF_T_MAP,
     .store = CF_ST_OBJ,
     .fn.put = h_chash,
     .sub = &chash_tab,
     .sample = "{httpHeaderName: x-user}"},
    CF_WARN("localityLbSetting", CF_T_MAP,
            "canaryd serves every endpoint of a subset alike; it has no locality of its own to "
            "prefer or fail over from"),
    {.key = "warmupDurationSecs",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = cf_h_warmup_secs,
     .sample = "10s"},
    CF_OBJ("warmup", CF_T_MAP, false, cf_h_warmup, &cf_warmup_tab),
    CF_END,
};
static const struct cf_table lb_tab = CF_TABLE(struct conf_policy, lb_fields);

/* A subset's loadBalancer replaces the host's as a whole. */
static int
h_lb(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_policy *p = obj;
    p->lb = LB_ROUND_ROBIN;
    memset(&p->hash, 0, sizeof(p->hash));
    memset(&p->warmup, 0, sizeof(p->warmup));
    if (ast_map_get(n, "simple") != NULL && ast_map_get(n, "consistentHash") != NULL) {
        cf_err(c, n, "simple and consistentHash are mutually exclusive");
        return -1;
    }
    if (CF_WALK(c, n, &lb_tab, p) == -1)
        return -1;
    return cf_lb_warmup_resolve(c, n, p);
}

static const struct cf_field tcp_fields[] = {
    CF_U32("maxConnections", false, struct conf_conn_pool, max_connections, 0, INT32_MAX),
    CF_DUR("connectTimeout", false, struct conf_conn_pool, connect_timeout_ms),
    CF_REFUSE("tcpKeepalive", "TCP keepalive settings are not implemented by canaryd"),
    CF_REFUSE("maxConnectionDuration", "a connection lifetime limit is not implemented by canaryd"),
    CF_REFUSE("idleTimeout", "a TCP idle timeout is not implemented by canaryd; use "
                             "connectionPool.http.idleTimeout"),
    CF_END,
};
static const struct cf_table tcp_tab = CF_TABLE(struct conf_conn_pool, tcp_fields);

#define H2_WHY "HTTP/2 to upstreams is not yet available in canaryd"

static const struct cf_field http_pool_fields[] = {
    CF_U32("http1MaxPendingRequests", false, struct conf_conn_pool, max_pending, 0, INT32_MAX),
    CF_U32("maxRequestsPerConnection", false, struct conf_conn_pool, max_requests_per_conn, 0,
           INT32_MAX),
    CF_DUR("idleTimeout", false, struct conf_conn_pool, idle_timeout_ms),
    CF_REFUSE("http2MaxRequests", H2_WHY),
    CF_U32("maxRetries", false, struct conf_conn_pool, max_retries, 0, INT32_MAX),
    CF_REFUSE("h2UpgradePolicy", H2_WHY),
    CF_REFUSE("useClientProtocol", H2_WHY),
    CF_REFUSE("maxConcurrentStreams", H2_WHY),
    CF_END,
};
static const struct cf_table http_pool_tab = CF_TABLE(struct conf_conn_pool, http_pool_fields);

static const struct cf_field pool_fields[] = {
    CF_OBJ("tcp", CF_T_MAP, false, cf_h_map, &tcp_tab),
    CF_OBJ("http", CF_T_MAP, false, cf_h_map, &http_pool_tab),
    CF_END,
};
static const struct cf_table pool_tab = CF_TABLE(struct conf_conn_pool, pool_fields);

static const struct cf_field outlier_fields[] = {
    CF_OUTLIER_COUNT("consecutive5xxErrors", cf_h_outlier_5xx),
    CF_OUTLIER_COUNT("consecutiveGatewayErrors", cf_h_outlier_gateway),
    CF_DUR("interval", false, struct conf_outlier, interval_ms),
    CF_DUR("baseEjectionTime", false, struct conf_outlier, base_ejection_ms),
    CF_U32("maxEjectionPercent", false, struct conf_outlier, max_ejection_percent, 0, 100),
    CF_U32("minHealthPercent", false, struct conf_outlier, min_health_percent, 0, 100),
    CF_OUTLIER_COUNT("consecutiveErrors", cf_h_consecutive_errors),
    CF_REFUSE("consecutiveLocalOriginFailures",
              "local-origin failure tracking is not implemented by canaryd"),
    CF_REFUSE("splitExternalLocalOriginErrors",
              "local-origin failure tracking is not implemented by canaryd"),
    CF_END,
};
static const struct cf_table outlier_tab = CF_TABLE(struct conf_outlier, outlier_fields);

static int
h_outlier(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    struct conf_outlier *o = p;
    if (!o->enabled)
        *o = (struct conf_outlier){.enabled = true,
                                   .consecutive_5xx = 5,
                                   .interval_ms = 10000,
                                   .base_ejection_ms = 30000,
                                   .max_ejection_percent = 10};
    return CF_WALK(c, n, &outlier_tab, o);
}

#define TLS_UP_WHY CF_TLS_UP_WHY

static const struct cf_field policy_fields[] = {
    CF_OBJ("loadBalancer", CF_T_MAP, false, h_lb, &lb_tab),
    CF_SUB("connectionPool", false, struct conf_policy, pool, struct conf_conn_pool, pool_tab),
    {.key = "outlierDetection",
     .type = CF_T_MAP,
     .store = CF_ST_SLOT,
     .fn.put = h_outlier,
     CF__SLOT(struct conf_policy, outlier, struct conf_outlier),
     .sub = &outlier_tab},
    CF_REFUSE("tls", TLS_UP_WHY),
    CF_OBJ("portLevelSettings", CF_T_SEQ, false, cf_h_port_policies, &cf_port_policy_tab),
    CF_REFUSE("tunnel", "HTTP CONNECT tunnelling to upstreams is not implemented by canaryd"),
    CF_REFUSE("proxyProtocol", "the PROXY protocol to upstreams is not implemented by canaryd"),
    CF_END,
};
const struct cf_table cf_policy_tab = CF_TABLE(struct conf_policy, policy_fields);

#define CF_POLICY(k, st, mem)                                                                      \
    {                                                                                              \
        .key = k, .type = CF_T_MAP, .store = CF_ST_SLOT, .fn.put = cf_h_policy,                    \
        CF__SLOT(st, mem, const struct cf_policy *), .sub = &cf_policy_tab                         \
    }

/* ---- DestinationRule ---- */

static const struct cf_field subset_fields[] = {
    CF_STR("name", true, cf_h_tstr, struct cf_subset, name),
    CF_SLOT("labels", CF_T_MAP, false, cf_h_labels, struct cf_subset, labels, struct cf_labels),
    CF_POLICY("trafficPolicy", struct cf_subset, policy),
    CF_END,
};
static const struct cf_table subset_tab = CF_TABLE(struct cf_subset, subset_fields);

static int
h_subsets(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_dr *dr = obj;
    int rc = 0;
    dr->subsets = walk_list(c, n, &subset_tab, NULL, &rc);
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
    struct cf_dr *dr = obj;
    dr->host_where = cf_where_here(c, n);
    return cf_h_tlstr(c, f, n, &dr->host);
}

static const struct cf_field dr_selector_fields[] = {
    CF_SLOT("matchLabels", CF_T_MAP, false, cf_h_labels, struct cf_dr_selector, labels,
            struct cf_labels),
    CF_END,
};
static const struct cf_table dr_selector_tab = CF_TABLE(struct cf_dr_selector, dr_selector_fields);

/* Which workloads the rule applies to: decided against canaryd's own labels
 * (conf_scope.c). */
static int
h_dr_selector(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    struct cf_dr_selector *sel = p;
    sel->is_set = true;
    sel->where = cf_where_here(c, n);
    return CF_WALK(c, n, &dr_selector_tab, sel);
}

static const struct cf_field dr_fields[] = {
    CF_OBJ("host", CF_T_STR, true, h_dr_host, NULL),
    CF_POLICY("trafficPolicy", struct cf_dr, policy),
    CF_OBJ("subsets", CF_T_SEQ, false, h_subsets, &subset_tab),
    {.key = "exportTo",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = cf_h_export_to,
     .sample = "[\".\"]"},
    {.key = "workloadSelector",
     .type = CF_T_MAP,
     .store = CF_ST_SLOT,
     .fn.put = h_dr_selector,
     CF__SLOT(struct cf_dr, selector, struct cf_dr_selector),
     .sub = &dr_selector_tab},
    CF_END,
};
static const struct cf_table dr_tab = CF_TABLE(struct cf_dr, dr_fields);

/* ---- ServiceEntry ---- */

static const struct cf_enum protocol_enum[] = {
    {"HTTP", 1, NULL},
    {"HTTP2", 0, "HTTP/2 is not yet available in canaryd; use HTTP"},
    {"HTTPS", 0, TLS_UP_WHY},
    {"GRPC", 0, "gRPC needs HTTP/2, which is not yet available in canaryd"},
    {"TCP", 0, "canaryd routes HTTP only; TCP needs an L4 proxy"},
    {"TLS", 0, "canaryd routes HTTP only; TLS passthrough needs an L4 proxy"},
    {"MONGO", 0, "canaryd routes HTTP only"},
    {"REDIS", 0, "canaryd routes HTTP only"},
    {"MYSQL", 0, "canaryd routes HTTP only"},
    {NULL, 0, NULL},
};

/* A port protocol: checked against f->enums whatever its case (as Istio
 * does: "http", "Http"), kept as written. */
static int
h_protocol(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    int v = 0;
    if (cf_parse_enum_nocase(c, f->enums, n, &v) == -1)
        return -1;
    return cf_h_tstr(c, f, n, p);
}

static const struct cf_field se_port_fields[] = {
    {.key = "number",
     .type = CF_T_INT,
     .store = CF_ST_SLOT,
     .required = true,
     .fn.put = cf_h_u16,
     CF__SLOT(struct cf_port, number, uint16_t),
     .min = 1,
     .max = 65535,
     .sample = "80"},
    CF_STR("name", false, cf_h_tstr, struct cf_port, name),
    {.key = "protocol",
     .type = CF_T_STR,
     .store = CF_ST_SLOT,
     .fn.put = h_protocol,
     CF__SLOT(struct cf_port, protocol, const char *),
     .enums = protocol_enum},
    {.key = "targetPort",
     .type = CF_T_INT,
     .store = CF_ST_SLOT,
     .fn.put = cf_h_u16,
     CF__SLOT(struct cf_port, target_port, uint16_t),
     .min = 1,
     .max = 65535,
     .sample = "8080"},
    CF_END,
};
static const struct cf_table se_port_tab = CF_TABLE(struct cf_port, se_port_fields);

static int
h_se_ports(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_se *se = obj;
    int rc = 0;
    se->ports = walk_list(c, n, &se_port_tab, NULL, &rc);
    se->nports = se->ports != NULL ? n->nitems : 0;
    return rc;
}

/* endpoints[].ports: port name -> number. */
static int
h_ep_ports(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    static const struct cf_field num = CF_U16("", false, struct cf_named_port, number, 1, 65535);
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
    struct cf_se_ep *ep = obj;
    ep->addr_where = cf_where_here(c, n);
    return cf_h_tstr(c, f, n, &ep->address);
}

static const struct cf_field se_ep_fields[] = {
    {.key = "address",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .required = true,
     .fn.put = h_ep_address,
     .sample = "127.0.0.1"},
    {.key = "ports",
     .type = CF_T_MAP,
     .store = CF_ST_OBJ,
     .fn.put = h_ep_ports,
     .sample = "{http: 8080}"},
    CF_SLOT("labels", CF_T_MAP, false, cf_h_labels, struct cf_se_ep, labels, struct cf_labels),
    CF_U32("weight", false, struct cf_se_ep, weight, 1, 1000000),
    {.key = "locality",
     .type = CF_T_STR,
     .store = CF_ST_SLOT,
     .fn.put = cf_h_locality,
     CF__SLOT(struct cf_se_ep, locality, const char *),
     .sample = "us-east1/us-east1-b"},
    CF_WARN("network", CF_T_STR,
            "canaryd connects to the endpoint's address directly, as an Istio proxy without a "
            "network of its own does; it does not go through the network's gateway"),
    CF_WARN("serviceAccount", CF_T_STR,
            "canaryd connects to endpoints in plain text and checks no workload identity; the "
            "service account is not used"),
    CF_END,
};
static const struct cf_table se_ep_tab = CF_TABLE(struct cf_se_ep, se_ep_fields);

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
    se->eps = walk_list(c, n, &se_ep_tab, ep_init, &rc);
    se->neps = se->eps != NULL ? n->nitems : 0;
    for (size_t i = 0; i < se->neps; i++) {
        size_t mark = cf_path_idx(c, i);
        se->eps[i].where = cf_where_here(c, n->items[i]);
        cf_path_pop(c, mark);
    }
    return rc;
}

static const struct cf_enum resolution_enum[] = {
    {"DNS", CF_RES_DNS, NULL},
    {"STATIC", CF_RES_STATIC, NULL},
    {"DNS_ROUND_ROBIN", CF_RES_DNS, NULL},
    {"NONE", CF_RES_NONE, NULL},
    {NULL, 0, NULL},
};

static int
h_resolution(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_se *se = obj;
    int v = 0;
    se->res_where = cf_where_here(c, n);
    if (cf_parse_enum(c, f->enums, n, &v) == -1)
        return -1;
    se->resolution = (enum cf_resolution)v;
    return 0;
}

static const struct cf_enum location_enum[] = {
    {"MESH_EXTERNAL", CF_LOC_EXTERNAL, NULL},
    {"MESH_INTERNAL", CF_LOC_INTERNAL, NULL},
    {NULL, 0, NULL},
};

static int
h_se_hosts(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_se *se = obj;
    return cf_parse_strs(c, n, true, &se->hosts, &se->nhosts);
}

static const struct cf_field se_fields[] = {
    {.key = "hosts",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .required = true,
     .fn.put = h_se_hosts,
     .sample = "[api.example.com]"},
    CF_OBJ("ports", CF_T_SEQ, true, h_se_ports, &se_port_tab),
    {.key = "resolution",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_resolution,
     .enums = resolution_enum},
    CF_OBJ("endpoints", CF_T_SEQ, false, h_se_eps, &se_ep_tab),
    CF_ENUM("location", false, struct cf_se, location, enum cf_location, location_enum),
    {.key = "addresses",
     .type = CF_T_SEQ,
     .store = CF_ST_CHECK,
     .fn.check = cf_check_addresses,
     .why = "VIPs mean nothing to a proxy that clients address directly; canaryd routes by Host",
     .sample = "[240.240.0.1, 240.240.1.0/24]"},
    {.key = "workloadSelector",
     .type = CF_T_MAP,
     .store = CF_ST_SLOT,
     .fn.put = cf_h_selector,
     CF__SLOT(struct cf_se, selector, struct cf_selector),
     .sub = &cf_selector_tab},
    {.key = "exportTo",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = cf_h_export_to,
     .sample = "[\".\"]"},
    CF_REFUSE("subjectAltNames", TLS_UP_WHY),
    CF_END,
};
static const struct cf_table se_tab = CF_TABLE(struct cf_se, se_fields);

/* ---- Gateway ---- */

#define TLS_DOWN_WHY                                                                               \
    "TLS termination needs the TLS support (not yet available); terminate TLS in front of canaryd"

static const struct cf_enum gw_protocol_enum[] = {
    {"HTTP", 1, NULL},
    {"HTTPS", 0, TLS_DOWN_WHY},
    {"HTTP2", 0, "HTTP/2 is not yet available in canaryd; use HTTP"},
    {"GRPC", 0, "gRPC needs HTTP/2, which is not yet available in canaryd"},
    {"TCP", 0, "canaryd routes HTTP only; TCP needs an L4 proxy"},
    {"TLS", 0, TLS_DOWN_WHY},
    {NULL, 0, NULL},
};

static const struct cf_field gw_port_fields[] = {
    CF_U16("number", true, struct cf_server, port, 1, 65535),
    CF_STR("name", false, cf_h_tstr, struct cf_server, port_name),
    {.key = "protocol",
     .type = CF_T_STR,
     .store = CF_ST_SLOT,
     .required = true,
     .fn.put = h_protocol,
     CF__SLOT(struct cf_server, protocol, const char *),
     .enums = gw_protocol_enum},
    CF_REFUSE("targetPort", "targetPort is not implemented by canaryd"),
    CF_END,
};
static const struct cf_table gw_port_tab = CF_TABLE(struct cf_server, gw_port_fields);

static int
h_gw_port(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_server *s = obj;
    s->where = cf_where_here(c, n);
    return CF_WALK(c, n, &gw_port_tab, s);
}

static int
h_server_hosts(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_server *s = obj;
    return cf_parse_strs(c, n, true, &s->hosts, &s->nhosts);
}

static const struct cf_field server_fields[] = {
    CF_OBJ("port", CF_T_MAP, true, h_gw_port, &gw_port_tab),
    {.key = "hosts",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .required = true,
     .fn.put = h_server_hosts,
     .sample = "[\"*\"]"},
    {.key = "bind",
     .type = CF_T_STR,
     .store = CF_ST_SLOT,
     .fn.put = cf_h_tstr,
     CF__SLOT(struct cf_server, bind, const char *),
     .sample = "127.0.0.1"},
    CF_STR("name", false, cf_h_tstr, struct cf_server, name),
    CF_OBJ("tls", CF_T_MAP, false, cf_h_server_tls, &cf_server_tls_tab),
    CF_REFUSE("defaultEndpoint", "defaultEndpoint is for sidecars; canaryd is addressed directly"),
    CF_END,
};
static const struct cf_table server_tab = CF_TABLE(struct cf_server, server_fields);

static int
h_servers(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_gw *gw = obj;
    int rc = 0;
    gw->servers = walk_list(c, n, &server_tab, NULL, &rc);
    gw->nservers = gw->servers != NULL ? n->nitems : 0;
    return rc;
}

static const struct cf_field gw_fields[] = {
    CF_OBJ("servers", CF_T_SEQ, true, h_servers, &server_tab),
    {.key = "selector",
     .type = CF_T_MAP,
     .store = CF_ST_CHECK,
     .fn.check = cf_check_strmap,
     .sample = "{istio: ingressgateway}"},
    CF_END,
};
static const struct cf_table gw_tab = CF_TABLE(struct cf_gw, gw_fields);

/* ---- VirtualService: destinations ---- */

static int
h_portsel_number(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_destref *r = obj;
    r->port_where = cf_where_here(c, n);
    return cf_h_u16(c, f, n, &r->port);
}

static const struct cf_field portsel_fields[] = {
    {.key = "number",
     .type = CF_T_INT,
     .store = CF_ST_OBJ,
     .required = true,
     .fn.put = h_portsel_number,
     .min = 1,
     .max = 65535,
     .sample = "80"},
    CF_END,
};
static const struct cf_table portsel_tab = CF_TABLE(struct cf_destref, portsel_fields);

static int
h_subset_ref(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_destref *r = obj;
    r->subset_where = cf_where_here(c, n);
    return cf_h_tstr(c, f, n, &r->subset);
}

static const struct cf_field destination_fields[] = {
    CF_STR("host", true, cf_h_tlstr, struct cf_destref, host),
    {.key = "subset", .type = CF_T_STR, .store = CF_ST_OBJ, .fn.put = h_subset_ref, .sample = "v1"},
    CF_OBJ("port", CF_T_MAP, false, cf_h_map, &portsel_tab),
    CF_END,
};
static const struct cf_table destination_tab = CF_TABLE(struct cf_destref, destination_fields);

/* A destination: its where, then its fields. p is a struct cf_destref. */
static int
h_destref(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    struct cf_destref *r = p;
    r->where = cf_where_here(c, n);
    return CF_WALK(c, n, &destination_tab, r);
}

static int
h_weight(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_dest *d = obj;
    if (cf_h_u32(c, f, n, &d->weight) == -1)
        return -1;
    d->has_weight = true;
    return 0;
}

/* set/add: header name -> value. */
static int
parse_hdr_kvs(struct cf_ctx *c, const struct ast_node *n, struct conf_hdr_kv **out, size_t *nout)
{
    if (cf_check_strmap(c, NULL, n) == -1)
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
    *out = v;
    *nout = n->npairs;
    return 0;
}

static int
h_hdr_set(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_hdr_ops *ops = obj;
    return parse_hdr_kvs(c, n, &ops->set, &ops->nset);
}

static int
h_hdr_add(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_hdr_ops *ops = obj;
    return parse_hdr_kvs(c, n, &ops->add, &ops->nadd);
}

static int
h_hdr_remove(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_hdr_ops *ops = obj;
    struct cf_str *names = NULL;
    size_t nnames = 0;
    if (cf_parse_strs(c, n, true, &names, &nnames) == -1)
        return -1;
    struct conf_hdr_kv *v = arena_alloc_array(c->a, nnames, sizeof(*v));
    if (v == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < nnames; i++)
        v[i] = (struct conf_hdr_kv){.name = names[i].s, .name_len = names[i].len, .value = ""};
    ops->remove = v;
    ops->nremove = nnames;
    return 0;
}

static const struct cf_field hdr_ops_fields[] = {
    {.key = "set",
     .type = CF_T_MAP,
     .store = CF_ST_OBJ,
     .fn.put = h_hdr_set,
     .sample = "{x-canary: \"yes\"}"},
    {.key = "add",
     .type = CF_T_MAP,
     .store = CF_ST_OBJ,
     .fn.put = h_hdr_add,
     .sample = "{x-added: one}"},
    {.key = "remove",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = h_hdr_remove,
     .sample = "[x-internal]"},
    CF_END,
};
static const struct cf_table hdr_ops_tab = CF_TABLE(struct conf_hdr_ops, hdr_ops_fields);

static const struct cf_field headers_fields[] = {
    CF_SUB("request", false, struct conf_headers, request, struct conf_hdr_ops, hdr_ops_tab),
    CF_SUB("response", false, struct conf_headers, response, struct conf_hdr_ops, hdr_ops_tab),
    CF_END,
};
static const struct cf_table headers_tab = CF_TABLE(struct conf_headers, headers_fields);

/* Destination headers are rare: stored only when written. */
static int
h_dest_headers(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_dest *d = obj;
    if ((d->headers = arena_alloc(c->tmp, sizeof(*d->headers))) == NULL)
        return cf_oom(c);
    return CF_WALK(c, n, &headers_tab, d->headers);
}

static const struct cf_field dest_fields[] = {
    {.key = "destination",
     .type = CF_T_MAP,
     .store = CF_ST_SLOT,
     .required = true,
     .fn.put = h_destref,
     CF__SLOT(struct cf_dest, ref, struct cf_destref),
     .sub = &destination_tab},
    {.key = "weight",
     .type = CF_T_INT,
     .store = CF_ST_OBJ,
     .fn.put = h_weight,
     .min = 0,
     .max = INT32_MAX},
    CF_OBJ("headers", CF_T_MAP, false, h_dest_headers, &headers_tab),
    CF_END,
};
static const struct cf_table dest_tab = CF_TABLE(struct cf_dest, dest_fields);

/* The route being parsed: the handlers of a route's parse-time parts. */
static struct cf_route *
cur_route(struct cf_ctx *c)
{
    BUG_ON(c->route == NULL);
    return c->route;
}

static int
h_dests(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    (void)obj;
    struct cf_route *r = cur_route(c);
    int rc = 0;
    r->actions |= CF_ACT_ROUTE;
    r->dests = walk_list(c, n, &dest_tab, NULL, &rc);
    r->ndests = r->dests != NULL ? n->nitems : 0;
    if (n->nitems == 0) {
        cf_err(c, n, "a route needs at least one destination");
        rc = -1;
    }
    return rc;
}

/* ---- VirtualService: match ---- */

static int
h_match_headers(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_match *m = obj;
    return cf_parse_hdr_matches(c, n, CF_HDR_HEADERS, &m->headers, &m->nheaders);
}

static int
h_match_without(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_match *m = obj;
    return cf_parse_hdr_matches(c, n, CF_HDR_WITHOUT, &m->headers, &m->nheaders);
}

static int
h_match_query(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_match *m = obj;
    return cf_parse_hdr_matches(c, n, CF_HDR_QUERY, &m->query, &m->nquery);
}

#define CF_STRING_MATCH(k, st, mem)                                                                \
    {                                                                                              \
        .key = k, .type = CF_T_MAP, .store = CF_ST_SLOT, .fn.put = cf_h_match,                     \
        CF__SLOT(st, mem, struct match *), .sub = &cf_string_match_tab                             \
    }
#define CF_MATCH_MAP(k, put_)                                                                      \
    {                                                                                              \
        .key = k, .type = CF_T_MAP, .store = CF_ST_OBJ, .fn.put = put_,                            \
        .sample = "{x-user: {exact: beta}}"                                                        \
    }

static const struct cf_field match_fields[] = {
    CF_STR("name", false, cf_h_str, struct conf_match, name),
    CF_STRING_MATCH("uri", struct conf_match, uri),
    CF_STRING_MATCH("scheme", struct conf_match, scheme),
    CF_STRING_MATCH("method", struct conf_match, method),
    CF_STRING_MATCH("authority", struct conf_match, authority),
    CF_MATCH_MAP("headers", h_match_headers),
    CF_MATCH_MAP("withoutHeaders", h_match_without),
    CF_MATCH_MAP("queryParams", h_match_query),
    /* Read by h_matches once the uri matcher exists. */
    CF_ACCEPT("ignoreUriCase", CF_T_BOOL),
    CF_U16("port", false, struct conf_match, port, 1, 65535),
    CF_OBJ("sourceLabels", CF_T_MAP, false, cf_h_source_labels, NULL),
    {.key = "gateways",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = cf_h_match_gateways,
     .sample = "[mesh]"},
    CF_OBJ("sourceNamespace", CF_T_STR, false, cf_h_source_ns, NULL),
    CF_WARN("statPrefix", CF_T_STR,
            "canaryd labels its metrics by virtual service and route; statPrefix is not used"),
    CF_END,
};
static const struct cf_table match_tab = CF_TABLE(struct conf_match, match_fields);

static int
h_matches(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_route *r = obj;
    int rc = 0;
    r->matches = arena_alloc_array(c->a, n->nitems, sizeof(*r->matches));
    cur_route(c)->msrc = arena_alloc_array(c->tmp, n->nitems, sizeof(*cur_route(c)->msrc));
    if (r->matches == NULL || cur_route(c)->msrc == NULL)
        return cf_oom(c);
    r->nmatches = n->nitems;
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        size_t mark = cf_path_idx(c, i);
        if (it->type != AST_MAP) {
            cf_err(c, it, "expected a map, got %s", ast_type_name(it));
            rc = -1;
        } else if (CF_WALK(c, it, &match_tab, &r->matches[i]) == -1) {
            rc = -1;
        }
        const struct ast_node *ic = ast_map_get(it, "ignoreUriCase");
        struct match *uri = r->matches[i].uri;
        /* Istio: ignoreUriCase applies to exact and prefix, not to regex. */
        bool ic_true =
            ic != NULL && ast_scalar_kind(ic) == AST_S_BOOL && (ic->str[0] | 0x20) == 't';
        cur_route(c)->msrc[i].ignore_case = ic_true;
        if (ic_true && uri != NULL && (uri->kind == MATCH_EXACT || uri->kind == MATCH_PREFIX))
            uri->ignore_case = true;
        cf_path_pop(c, mark);
    }
    return rc;
}

/* ---- VirtualService: the rest of a route ---- */

static int
h_rewrite_uri(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_rewrite *rw = obj;
    return cf_parse_strlen(c, n, &rw->uri, &rw->uri_len);
}

static int
h_rewrite_authority(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_rewrite *rw = obj;
    return cf_parse_strlen(c, n, &rw->authority, &rw->authority_len);
}

static const struct cf_field rewrite_fields[] = {
    {.key = "uri", .type = CF_T_STR, .store = CF_ST_OBJ, .fn.put = h_rewrite_uri, .sample = "/v2"},
    {.key = "authority",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_rewrite_authority,
     .sample = "mobile-api.internal"},
    CF_REFUSE("uriRegexRewrite", "regex rewrites are not implemented by canaryd; use a prefix "
                                 "rewrite (rewrite.uri)"),
    CF_END,
};
static const struct cf_table rewrite_tab = CF_TABLE(struct conf_rewrite, rewrite_fields);

static int
h_redirect_uri(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_redirect *rd = obj;
    return cf_parse_strlen(c, n, &rd->uri, &rd->uri_len);
}

static int
h_redirect_authority(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                     void *obj)
{
    (void)f;
    struct conf_redirect *rd = obj;
    return cf_parse_strlen(c, n, &rd->authority, &rd->authority_len);
}

static const struct cf_field redirect_fields[] = {
    {.key = "uri",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_redirect_uri,
     .sample = "/new"},
    {.key = "authority",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_redirect_authority,
     .sample = "www.example.com"},
    {.key = "scheme",
     .type = CF_T_STR,
     .store = CF_ST_SLOT,
     .fn.put = cf_h_str,
     CF__SLOT(struct conf_redirect, scheme, const char *),
     .sample = "https"},
    CF_U16("port", false, struct conf_redirect, port, 1, 65535),
    CF_U16("redirectCode", false, struct conf_redirect, status, 300, 399),
    CF_REFUSE("derivePort", "derivePort is not implemented by canaryd; give redirect.port"),
    CF_END,
};
static const struct cf_table redirect_tab = CF_TABLE(struct conf_redirect, redirect_fields);

static int
h_redirect(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_route *r = obj;
    cur_route(c)->actions |= CF_ACT_REDIRECT;
    r->redirect.status = 301;
    return CF_WALK(c, n, &redirect_tab, &r->redirect);
}

static int
h_body_string(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_direct *d = obj;
    return cf_parse_strlen(c, n, &d->body, &d->body_len);
}

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

static const struct cf_field body_fields[] = {
    {.key = "string",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_body_string,
     .sample = "maintenance"},
    {.key = "bytes",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_body_bytes,
     .sample = "aGVsbG8="},
    CF_END,
};
static const struct cf_table body_tab = CF_TABLE(struct conf_direct, body_fields);

static const struct cf_field direct_fields[] = {
    CF_U16("status", true, struct conf_direct, status, 200, 599),
    CF_OBJ("body", CF_T_MAP, false, cf_h_map, &body_tab),
    CF_END,
};
static const struct cf_table direct_tab = CF_TABLE(struct conf_direct, direct_fields);

static int
h_direct(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_route *r = obj;
    cur_route(c)->actions |= CF_ACT_DIRECT;
    const struct ast_node *body = ast_map_get(n, "body");
    if (body != NULL && ast_map_get(body, "string") && ast_map_get(body, "bytes")) {
        cf_err(c, body, "string and bytes are mutually exclusive");
        return -1;
    }
    return CF_WALK(c, n, &direct_tab, &r->direct);
}

static int h_retry_on(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                      void *obj);

static int
check_retry_remote(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    (void)f;
    if ((n->str[0] | 0x20) != 't')
        return 0;
    cf_err(c, n,
           "retryRemoteLocalities: true needs localities, which canaryd does not have; "
           "retries already go to other endpoints of the subset");
    return -1;
}

static const struct cf_field retries_fields[] = {
    CF_U32("attempts", false, struct conf_retries, attempts, 0, 100),
    CF_DUR("perTryTimeout", false, struct conf_retries, per_try_timeout_ms),
    {.key = "retryOn",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_retry_on,
     .sample = "\"connect-failure,reset,503\""},
    {.key = "retryRemoteLocalities",
     .type = CF_T_BOOL,
     .store = CF_ST_CHECK,
     .fn.check = check_retry_remote,
     .sample = "false"},
    CF_BOOL("retryIgnorePreviousHosts", false, struct conf_retries, ignore_previous_hosts),
    CF_REFUSE("backoff", "a retry backoff setting is not implemented by canaryd"),
    CF_END,
};
static const struct cf_table retries_tab = CF_TABLE(struct conf_retries, retries_fields);

static const struct cf_enum retry_on_enum[] = {
    {"connect-failure", RETRY_ON_CONNECT_FAILURE, NULL},
    {"refused-stream", RETRY_ON_REFUSED_STREAM, NULL},
    {"reset", RETRY_ON_RESET, NULL},
    {"5xx", RETRY_ON_5XX, NULL},
    {"gateway-error", RETRY_ON_GATEWAY_ERROR, NULL},
    {"retriable-4xx", RETRY_ON_RETRIABLE_4XX, NULL},
    {"retriable-status-codes", RETRY_ON_STATUS_CODES, NULL},
    {NULL, 0, NULL},
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
    struct ast_node tn = *n;
    tn.str = tok;
    tn.len = strlen(tok);
    if (cf_parse_enum(c, retry_on_enum, &tn, &bit) == -1)
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
    return CF_WALK(c, n, &retries_tab, rt);
}

/* The deprecated integer percent forms (fault percent, mirrorPercent): 0 to
 * 100, validated here, applied by the map's handler when the percentage form
 * is not also given (Istio lets the newer form win). */
static int
check_int_percent(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    uint32_t v;
    return cf_h_u32(c, f, n, &v);
}

#define CF_INT_PERCENT(k)                                                                          \
    {                                                                                              \
        .key = k, .type = CF_T_INT, .store = CF_ST_CHECK, .fn.check = check_int_percent, .min = 0, \
        .max = 100                                                                                 \
    }

/* The ppm an integer percent n stands for; n was validated by its entry. */
static uint32_t
int_percent_ppm(const struct ast_node *n)
{
    return (uint32_t)strtoul(n->str, NULL, 10) * 10000u;
}

/* The value of the deprecated integer form k of map n, when n does not also
 * have the percentage form; NULL otherwise. */
static const struct ast_node *
old_percent(const struct ast_node *n, const char *k, const char *newer)
{
    const struct ast_node *v = ast_map_get(n, k);
    if (v == NULL || ast_map_get(n, newer) != NULL || ast_scalar_kind(v) != AST_S_INT)
        return NULL;
    return v;
}

static const struct cf_field delay_fields[] = {
    CF_DUR("fixedDelay", true, struct conf_fault, delay_ms),
    CF_PPM("percentage", false, struct conf_fault, delay_ppm),
    CF_INT_PERCENT("percent"),
    CF_REFUSE("exponentialDelay", "exponentialDelay is not implemented by canaryd"),
    CF_END,
};
static const struct cf_table delay_tab = CF_TABLE(struct conf_fault, delay_fields);

static const struct cf_field abort_fields[] = {
    CF_U16("httpStatus", true, struct conf_fault, abort_status, 200, 599),
    CF_PPM("percentage", false, struct conf_fault, abort_ppm),
    CF_REFUSE("grpcStatus", "gRPC needs HTTP/2, which is not yet available in canaryd"),
    CF_REFUSE("http2Error", "HTTP/2 is not yet available in canaryd"),
    CF_INT_PERCENT("percent"),
    CF_END,
};
static const struct cf_table abort_tab = CF_TABLE(struct conf_fault, abort_fields);

static int
h_delay(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_fault *ft = obj;
    ft->has_delay = true;
    ft->delay_ppm = CONF_PPM_ALL;
    if (CF_WALK(c, n, &delay_tab, ft) == -1)
        return -1;
    const struct ast_node *pct = old_percent(n, "percent", "percentage");
    if (pct != NULL)
        ft->delay_ppm = int_percent_ppm(pct);
    return 0;
}

static int
h_abort(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_fault *ft = obj;
    ft->has_abort = true;
    ft->abort_ppm = CONF_PPM_ALL;
    if (CF_WALK(c, n, &abort_tab, ft) == -1)
        return -1;
    const struct ast_node *pct = old_percent(n, "percent", "percentage");
    if (pct != NULL)
        ft->abort_ppm = int_percent_ppm(pct);
    return 0;
}

static const struct cf_field fault_fields[] = {
    CF_OBJ("delay", CF_T_MAP, false, h_delay, &delay_tab),
    CF_OBJ("abort", CF_T_MAP, false, h_abort, &abort_tab),
    CF_END,
};
static const struct cf_table fault_tab = CF_TABLE(struct conf_fault, fault_fields);

static const struct cf_field mirror_item_fields[] = {
    {.key = "destination",
     .type = CF_T_MAP,
     .store = CF_ST_SLOT,
     .required = true,
     .fn.put = h_destref,
     CF__SLOT(struct cf_mirror, ref, struct cf_destref),
     .sub = &destination_tab},
    CF_PPM("percentage", false, struct cf_mirror, ppm),
    CF_END,
};
static const struct cf_table mirror_item_tab = CF_TABLE(struct cf_mirror, mirror_item_fields);

/* mirror is rare: stored only when written. */
static int
h_mirror(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)obj;
    struct cf_mirror *m = arena_alloc(c->tmp, sizeof(*m));
    if (m == NULL)
        return cf_oom(c);
    cur_route(c)->mirror = m;
    return h_destref(c, f, n, &m->ref);
}

static int
h_mirror_pct(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)obj;
    struct cf_route *r = cur_route(c);
    r->has_mirror_ppm = true;
    return cf_h_ppm(c, f, n, &r->mirror_ppm);
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
    struct cf_route *r = cur_route(c);
    int rc = 0;
    r->mirrors = walk_list(c, n, &mirror_item_tab, mirror_init, &rc);
    r->nmirrors = r->mirrors != NULL ? n->nitems : 0;
    return rc;
}

/* Walked with the snapshot's struct conf_route as object; handlers of the
 * parse-time parts (destinations, mirrors, actions) use c->route. */
static const struct cf_field route_fields[] = {
    CF_STR("name", false, cf_h_str, struct conf_route, name),
    CF_OBJ("match", CF_T_SEQ, false, h_matches, &match_tab),
    CF_OBJ("route", CF_T_SEQ, false, h_dests, &dest_tab),
    CF_OBJ("redirect", CF_T_MAP, false, h_redirect, &redirect_tab),
    CF_OBJ("directResponse", CF_T_MAP, false, h_direct, &direct_tab),
    CF_SUB("rewrite", false, struct conf_route, rewrite, struct conf_rewrite, rewrite_tab),
    CF_DUR("timeout", false, struct conf_route, timeout_ms),
    CF_OBJ("retries", CF_T_MAP, false, h_retries, &retries_tab),
    CF_SUB("fault", false, struct conf_route, fault, struct conf_fault, fault_tab),
    CF_OBJ("mirror", CF_T_MAP, false, h_mirror, &destination_tab),
    CF_OBJ("mirrorPercentage", CF_T_MAP, false, h_mirror_pct, &cf_pct_tab),
    CF_OBJ("mirrors", CF_T_SEQ, false, h_mirrors, &mirror_item_tab),
    CF_SUB("headers", false, struct conf_route, headers, struct conf_headers, headers_tab),
    CF_OBJ("delegate", CF_T_MAP, false, cf_h_delegate, &cf_delegate_tab),
    CF_CORS("corsPolicy", struct conf_route, cors),
    CF_INT_PERCENT("mirrorPercent"),
    CF_INT_PERCENT("mirror_percent"),
    CF_WARN("websocketUpgrade", CF_T_BOOL,
            "canaryd always tunnels an Upgrade (WebSocket) request to the upstream; "
            "websocketUpgrade is not needed"),
    CF_END,
};
static const struct cf_table route_tab = CF_TABLE(struct conf_route, route_fields);

/* The checks Istio's validation makes on one HTTPRoute. */
static int
check_route(struct cf_ctx *c, struct cf_route *r, const struct ast_node *n)
{
    static const char *const names[] = {"route", "redirect", "directResponse", "delegate"};
    unsigned a = r->actions;
    if (a == 0) {
        cf_err(c, n, "a route needs one of route, redirect, directResponse or delegate");
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
        cf_err(c, n, "mirrorPercentage (or mirrorPercent) needs mirror");
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
            if (CF_WALK(c, it, &route_tab, r->r) == -1)
                rc = -1;
            c->route = NULL;
        }
        cf_path_pop(c, mark);
    }
    return rc;
}

/* mirrorPercent (mirror_percent), when mirrorPercentage is not given. */
static void
mirror_int_percent(struct cf_route *r, const struct ast_node *route)
{
    if (route->type != AST_MAP)
        return;
    const struct ast_node *pct = old_percent(route, "mirrorPercent", "mirrorPercentage");
    if (pct == NULL)
        pct = old_percent(route, "mirror_percent", "mirrorPercentage");
    if (pct == NULL)
        return;
    r->has_mirror_ppm = true;
    r->mirror_ppm = int_percent_ppm(pct);
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
        mirror_int_percent(r, n->items[i]);
        if (r->mirror != NULL)
            r->mirror->ppm = r->has_mirror_ppm ? r->mirror_ppm : CONF_PPM_ALL;
        if (n->items[i]->type == AST_MAP && check_route(c, r, n->items[i]) == -1)
            rc = -1;
        cf_path_pop(c, mark);
    }
    return rc;
}

static int
h_vs_hosts(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_vs *vs = obj;
    return cf_parse_strs(c, n, true, &vs->hosts, &vs->nhosts);
}

static int
h_vs_gateways(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_vs *vs = obj;
    return cf_parse_strs(c, n, false, &vs->gateways, &vs->ngateways);
}

static const struct cf_field vs_fields[] = {
    /* A VirtualService without hosts is a delegate (conf_delegate.c). */
    {.key = "hosts",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = h_vs_hosts,
     .sample = "[mobile-api]"},
    {.key = "gateways",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = h_vs_gateways,
     .sample = "[edge]"},
    CF_OBJ("http", CF_T_SEQ, false, h_routes, &route_tab),
    CF_REFUSE("tls", "canaryd routes HTTP only; tls routes need an L4 proxy"),
    CF_REFUSE("tcp", "canaryd routes HTTP only; tcp routes need an L4 proxy"),
    {.key = "exportTo",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = cf_h_export_to,
     .sample = "[\".\"]"},
    CF_END,
};
static const struct cf_table vs_tab = CF_TABLE(struct cf_vs, vs_fields);

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
check_annotations(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    if (cf_check_strmap(c, f, n) == -1)
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
    struct cf_meta *m = obj;
    m->name_where = cf_where_here(c, n);
    return cf_h_tstr(c, f, n, &m->name);
}

static const struct cf_field meta_fields[] = {
    {.key = "name",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .required = true,
     .fn.put = h_meta_name,
     .sample = "reviews"},
    {.key = "namespace",
     .type = CF_T_STR,
     .store = CF_ST_SLOT,
     .fn.put = cf_h_tstr,
     CF__SLOT(struct cf_meta, ns, const char *),
     .sample = "default"},
    {.key = "labels",
     .type = CF_T_MAP,
     .store = CF_ST_CHECK,
     .fn.check = cf_check_strmap,
     .sample = "{app: reviews}"},
    {.key = "annotations",
     .type = CF_T_MAP,
     .store = CF_ST_CHECK,
     .fn.check = check_annotations,
     .sample = "{canaryd.io/split-key: \"cookie:user\"}"},
    /* Written by the API server; kept by "kubectl get -o yaml". */
    CF_ACCEPT("uid", CF_T_ANY),
    CF_ACCEPT("resourceVersion", CF_T_ANY),
    CF_ACCEPT("generation", CF_T_ANY),
    /* Orders DestinationRules for one host (conf_dr.c). */
    {.key = "creationTimestamp",
     .type = CF_T_ANY,
     .store = CF_ST_OBJ,
     .fn.put = cf_h_created,
     .sample = "\"2024-05-01T10:00:00Z\""},
    CF_ACCEPT("managedFields", CF_T_ANY),
    CF_ACCEPT("ownerReferences", CF_T_ANY),
    CF_ACCEPT("finalizers", CF_T_ANY),
    CF_ACCEPT("generateName", CF_T_ANY),
    CF_END,
};
const struct cf_table cf_meta_tab = CF_TABLE(struct cf_meta, meta_fields);

/* The API groups' versions a kind is served in. */
static const char *const net_apis[] = {
    "networking.istio.io/v1",
    "networking.istio.io/v1beta1",
    "networking.istio.io/v1alpha3",
    NULL,
};
static const char *const net_alpha_apis[] = {"networking.istio.io/v1alpha3", NULL};
static const char *const net_beta_apis[] = {"networking.istio.io/v1beta1", NULL};
static const char *const sec_apis[] = {"security.istio.io/v1", "security.istio.io/v1beta1", NULL};
static const char *const tel_apis[] = {"telemetry.istio.io/v1", "telemetry.istio.io/v1alpha1",
                                       NULL};
static const char *const ext_apis[] = {"extensions.istio.io/v1alpha1", NULL};

#define NOT_ENFORCED(k, what)                                                                      \
    k " is not enforced by canaryd: loading it would let in requests that Istio " what             \
      "; enforce it in front of canaryd or remove it from canaryd's config"

static const char sidecar_why[] = "Sidecar has no effect on a proxy that clients address "
                                  "directly; canaryd serves every host its VirtualServices name";
static const char proxy_config_why[] =
    "ProxyConfig tunes Envoy's own process (concurrency, environment, image), which canaryd "
    "does not run; canaryd takes -w and its own environment";
static const char telemetry_why[] =
    "Telemetry is not applied by canaryd: it serves its own metrics (/metrics on the admin port) "
    "and access log (--access-log); routing and access do not depend on it";
static const char authz_why[] = NOT_ENFORCED("AuthorizationPolicy", "denies");
static const char peer_why[] = NOT_ENFORCED("PeerAuthentication", "refuses without mutual TLS");
static const char reqauth_why[] = NOT_ENFORCED("RequestAuthentication", "refuses for an invalid "
                                                                        "JWT");
static const char envoy_filter_why[] =
    "EnvoyFilter patches Envoy's configuration, which canaryd does not have: its effect on "
    "routing, headers or access would be lost; express it with VirtualService fields, or run it "
    "in front of canaryd";
static const char wasm_why[] =
    "WasmPlugin is not run by canaryd: a plugin may deny or change requests (authentication, "
    "rewrites), which canaryd would not do; run it in front of canaryd or remove it from "
    "canaryd's config";

/* A kind canaryd reads into an object (kind < CF_NKINDS), or one it accepts
 * with a warning (why, !refused) or refuses whole (why, refused). */
struct kind_def {
    const char *name;
    enum cf_kind kind;
    const struct cf_table *spec;
    const char *const *apis;
    const char *why;
    bool refused;
};

/* The first CF_NKINDS entries in enum cf_kind's order (cf_kind_name). */
static const struct kind_def kinds[] = {
    {"ServiceEntry", CF_SE, &se_tab, net_apis, NULL, false},
    {"DestinationRule", CF_DR, &dr_tab, net_apis, NULL, false},
    {"VirtualService", CF_VS, &vs_tab, net_apis, NULL, false},
    {"Gateway", CF_GW, &gw_tab, net_apis, NULL, false},
    {"WorkloadEntry", CF_WE, &se_ep_tab, net_apis, NULL, false},
    {"Sidecar", CF_NKINDS, NULL, net_apis, sidecar_why, false},
    {"ProxyConfig", CF_NKINDS, NULL, net_beta_apis, proxy_config_why, false},
    {"Telemetry", CF_NKINDS, NULL, tel_apis, telemetry_why, false},
    {"AuthorizationPolicy", CF_NKINDS, NULL, sec_apis, authz_why, true},
    {"PeerAuthentication", CF_NKINDS, NULL, sec_apis, peer_why, true},
    {"RequestAuthentication", CF_NKINDS, NULL, sec_apis, reqauth_why, true},
    {"EnvoyFilter", CF_NKINDS, NULL, net_alpha_apis, envoy_filter_why, true},
    {"WasmPlugin", CF_NKINDS, NULL, ext_apis, wasm_why, true},
};

const struct cf_kind_schema cf_kind_schemas[] = {
    {"ServiceEntry", &se_tab, NULL, false},
    {"DestinationRule", &dr_tab, NULL, false},
    {"VirtualService", &vs_tab, NULL, false},
    {"Gateway", &gw_tab, NULL, false},
    {"WorkloadEntry", &se_ep_tab, NULL, false},
    {"Sidecar", NULL, sidecar_why, false},
    {"ProxyConfig", NULL, proxy_config_why, false},
    {"Telemetry", NULL, telemetry_why, false},
    {"AuthorizationPolicy", NULL, authz_why, true},
    {"PeerAuthentication", NULL, peer_why, true},
    {"RequestAuthentication", NULL, reqauth_why, true},
    {"EnvoyFilter", NULL, envoy_filter_why, true},
    {"WasmPlugin", NULL, wasm_why, true},
};
const size_t cf_nkind_schemas = countof(cf_kind_schemas);

const char *
cf_kind_name(enum cf_kind k)
{
    return kinds[k].name;
}

static size_t
count_strs(const char *const *v)
{
    size_t n = 0;
    while (v[n] != NULL)
        n++;
    return n;
}

static int
check_api_version(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    (void)f;
    const char *const *apis = c->apis != NULL ? c->apis : net_apis;
    size_t napis = count_strs(apis);
    for (size_t i = 0; i < napis; i++)
        if (strcmp(n->str, apis[i]) == 0)
            return 0;
    const char *s = cf_suggest(n->str, apis, napis);
    char all[256];
    size_t at = 0;
    for (size_t i = 0; i < napis && at < sizeof(all); i++)
        at += (size_t)snprintf(all + at, sizeof(all) - at, "%s%s",
                               i == 0           ? ""
                               : i + 1 == napis ? " or "
                                                : ", ",
                               apis[i]);
    cf_err(c, n, "unknown apiVersion \"%s\" (expected %s)", n->str, s != NULL ? s : all);
    return -1;
}

/* The spec: walked into the kind's member of the object's union. A kind
 * accepted with a warning (CF_NKINDS) has its spec's shape checked only. */
static int
h_spec(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_obj *o = obj;
    switch (o->kind) {
    case CF_SE:
        return CF_WALK(c, n, &se_tab, &o->u.se);
    case CF_DR:
        return CF_WALK(c, n, &dr_tab, &o->u.dr);
    case CF_VS:
        return CF_WALK(c, n, &vs_tab, &o->u.vs);
    case CF_GW:
        return CF_WALK(c, n, &gw_tab, &o->u.gw);
    case CF_WE:
        o->u.we.weight = 1;
        o->u.we.where = cf_where_here(c, n);
        return CF_WALK(c, n, &se_ep_tab, &o->u.we);
    case CF_NKINDS:
        return 0;
    }
    return -1;
}

static const struct cf_field doc_fields[] = {
    {.key = "apiVersion",
     .type = CF_T_STR,
     .store = CF_ST_CHECK,
     .required = true,
     .fn.check = check_api_version,
     .sample = "networking.istio.io/v1"},
    /* Read by find_kind before the walk. */
    CF_ACCEPT("kind", CF_T_STR),
    CF_SUB("metadata", true, struct cf_obj, meta, struct cf_meta, cf_meta_tab),
    CF_OBJ("spec", CF_T_MAP, true, h_spec, NULL),
    CF_ACCEPT("status", CF_T_ANY),
    CF_END,
};
const struct cf_table cf_doc_tab = CF_TABLE(struct cf_obj, doc_fields);

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
               "VirtualService, Gateway and WorkloadEntry",
               k->str ? " \"" : "", k->str ? k->str : "", k->str ? "\"" : "");
    cf_path_pop(c, mark);
    return NULL;
}

/* A kind refused whole, or accepted with a warning: its document is checked
 * (apiVersion, metadata, a spec that is a map) but makes no object. */
static void
parse_other_kind(struct cf_ctx *c, const struct ast_node *root, const struct kind_def *k)
{
    size_t mark = cf_path_key(c, "kind");
    const struct ast_node *kn = ast_map_get(root, "kind");
    if (k->refused) {
        cf_err(c, kn, "%s", k->why);
        cf_path_pop(c, mark);
        return;
    }
    struct cf_obj *o = arena_alloc(c->tmp, sizeof(*o));
    if (o == NULL) {
        cf_oom(c);
        return;
    }
    cf_warn(c, kn, "%s", k->why);
    cf_path_pop(c, mark);
    o->kind = CF_NKINDS;
    o->where = (struct cf_where){.loc = root->loc, .path = ""};
    c->cur = o;
    CF_WALK(c, root, &cf_doc_tab, o);
    c->cur = NULL;
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
    c->apis = k->apis;
    if (k->kind == CF_NKINDS) {
        parse_other_kind(c, root, k);
        c->apis = NULL;
        return;
    }
    struct cf_obj *o = arena_alloc(c->tmp, sizeof(*o));
    if (o == NULL || cf_vec_push(c->tmp, &c->objs[k->kind], o) == -1) {
        cf_oom(c);
        return;
    }
    o->kind = k->kind;
    o->where = (struct cf_where){.loc = root->loc, .path = ""};
    c->cur = o;
    size_t nerrors = c->diags->nerrors;
    CF_WALK(c, root, &cf_doc_tab, o);
    o->failed = c->diags->nerrors > nerrors;
    if (o->meta.ns == NULL)
        o->meta.ns = "default";
    c->cur = NULL;
    c->apis = NULL;
}
