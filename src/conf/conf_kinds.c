/*
 * conf_kinds.c: the Istio documents and the kinds that are small enough to
 * sit here as schema tables (ServiceEntry, Gateway, metadata); DestinationRule
 * is conf_policy.c's and VirtualService conf_vs.c's. Each YAML document
 * becomes one struct cf_obj; checks that involve several objects are
 * conf_compile.c's. Load time only.
 *
 * Every entry is built with the CF_* macros of conf_internal.h: a slot entry
 * names a member of its table's struct (the compiler checks the member's
 * type), an object handler names the members it writes in C, and a field
 * that only validates has no storage at all.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "canaryd/core/arena.h"
#include "canaryd/core/diag.h"

/* ---- ServiceEntry ---- */

static const struct cf_enum protocol_enum[] = {
    {"HTTP", 1, NULL},
    {"HTTP2", 0, "HTTP/2 is not yet available in canaryd; use HTTP"},
    {"HTTPS", 0, CF_TLS_UP_WHY},
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

/* A ServiceEntry port may declare any protocol (services often list an
 * HTTPS or database port beside their HTTP one); canaryd refuses only a
 * destination that selects a port it cannot speak (conf_compile.c). */
static int
h_se_protocol(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_port *port = obj;
    for (const struct cf_enum *e = f->enums; e->name != NULL; e++) {
        if (strcasecmp(e->name, n->str) != 0)
            continue;
        port->unusable = e->refused;
        return cf_h_tstr(c, f, n, &port->protocol);
    }
    int v;
    return cf_parse_enum_nocase(c, f->enums, n, &v); /* reports the unknown name */
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
     .store = CF_ST_OBJ,
     .fn.put = h_se_protocol,
     .why = "a port of any protocol may be declared; a destination that selects a port "
            "canaryd cannot speak is refused, as below",
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
    se->ports = cf_walk_list(c, n, &se_port_tab, NULL, &rc);
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
    se->eps = cf_walk_list(c, n, &se_ep_tab, ep_init, &rc);
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
    CF_REFUSE("subjectAltNames", CF_TLS_UP_WHY),
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
    {"TLS", 0,
     "a TLS server either terminates TLS (this needs the TLS support, not yet available) or "
     "passes it through by SNI (this needs an L4 proxy); canaryd routes HTTP only"},
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
    gw->servers = cf_walk_list(c, n, &server_tab, NULL, &rc);
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
    {"DestinationRule", CF_DR, &cf_dr_tab, net_apis, NULL, false},
    {"VirtualService", CF_VS, &cf_vs_tab, net_apis, NULL, false},
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
    {"DestinationRule", &cf_dr_tab, NULL, false},
    {"VirtualService", &cf_vs_tab, NULL, false},
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
        return CF_WALK(c, n, &cf_dr_tab, &o->u.dr);
    case CF_VS:
        return CF_WALK(c, n, &cf_vs_tab, &o->u.vs);
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
