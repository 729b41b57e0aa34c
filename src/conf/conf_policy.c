/*
 * conf_policy.c: the DestinationRule kind and its trafficPolicy as schema
 * tables (loadBalancer, connectionPool, outlierDetection, portLevelSettings,
 * subsets, workloadSelector). conf_dr.c merges the levels and the rules;
 * conf_kinds.c dispatches documents here. Load time only.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/core/arena.h"
#include "canaryd/core/diag.h"

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

/* ClientTLSSettings: a table of its own, walked into nothing (the only mode
 * accepted is DISABLE, which is what canaryd does anyway). */
struct client_tls {
    int mode;
};

static const struct cf_enum client_tls_modes[] = {
    {"DISABLE", 0, NULL},
    {"SIMPLE", 0, CF_TLS_UP_WHY},
    {"MUTUAL", 0, CF_TLS_UP_WHY},
    {"ISTIO_MUTUAL", 0, CF_TLS_UP_WHY},
    {NULL, 0, NULL},
};

static const struct cf_field client_tls_fields[] = {
    {.key = "mode",
     .type = CF_T_STR,
     .store = CF_ST_CHECK,
     .fn.check = cf_check_enum,
     .enums = client_tls_modes},
    CF_REFUSE("clientCertificate", CF_TLS_UP_WHY),
    CF_REFUSE("privateKey", CF_TLS_UP_WHY),
    CF_REFUSE("caCertificates", CF_TLS_UP_WHY),
    CF_REFUSE("credentialName", CF_TLS_UP_WHY),
    CF_REFUSE("subjectAltNames", CF_TLS_UP_WHY),
    CF_REFUSE("sni", CF_TLS_UP_WHY),
    CF_REFUSE("insecureSkipVerify", CF_TLS_UP_WHY),
    CF_REFUSE("caCrl", CF_TLS_UP_WHY),
    CF_END,
};
const struct cf_table cf_client_tls_tab = CF_TABLE(struct client_tls, client_tls_fields);

int
cf_check_client_tls(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    (void)f;
    struct client_tls t = {0};
    return CF_WALK(c, n, &cf_client_tls_tab, &t);
}

static const struct cf_field policy_fields[] = {
    CF_OBJ("loadBalancer", CF_T_MAP, false, h_lb, &lb_tab),
    CF_SUB("connectionPool", false, struct conf_policy, pool, struct conf_conn_pool, pool_tab),
    {.key = "outlierDetection",
     .type = CF_T_MAP,
     .store = CF_ST_SLOT,
     .fn.put = h_outlier,
     CF__SLOT(struct conf_policy, outlier, struct conf_outlier),
     .sub = &outlier_tab},
    CF_CLIENT_TLS("tls"),
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
    dr->subsets = cf_walk_list(c, n, &subset_tab, NULL, &rc);
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
const struct cf_table cf_dr_tab = CF_TABLE(struct cf_dr, dr_fields);
