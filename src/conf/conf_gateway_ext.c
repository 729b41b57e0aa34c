/*
 * conf_gateway_ext.c: the gateway fields that conf_kinds.c's tables hand over
 * to handlers of their own: a Gateway server's tls (httpsRedirect is acted on;
 * TLS termination is refused until canaryd has TLS) and a VirtualService match
 * entry's gateways (kept as written, with their locations, for conf_compile.c,
 * which resolves them to Gateway sets). Load time only.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <stddef.h>

#include "canaryd/core/arena.h"

#define TLS_NEEDED                                                                                 \
    "TLS termination needs the TLS support (not yet available); terminate TLS in front of canaryd"

#define L4_NEEDED                                                                                  \
    "TLS passthrough routes connections by SNI without terminating them, which needs an L4 "       \
    "proxy; canaryd routes HTTP only"

static const struct cf_enum server_tls_modes[] = {
    {"SIMPLE", 0, TLS_NEEDED},
    {"MUTUAL", 0, TLS_NEEDED},
    {"OPTIONAL_MUTUAL", 0, TLS_NEEDED},
    {"ISTIO_MUTUAL", 0, TLS_NEEDED},
    {"PASSTHROUGH", 0, L4_NEEDED},
    {"AUTO_PASSTHROUGH", 0, L4_NEEDED},
    {NULL, 0, NULL},
};

/* Istio's ServerTLSSettings: only httpsRedirect works on a plain HTTP port;
 * every mode is refused with what it needs. */
static const struct cf_field server_tls_fields[] = {
    CF_BOOL("httpsRedirect", false, struct cf_server, https_redirect),
    {.key = "mode",
     .type = CF_T_STR,
     .store = CF_ST_CHECK,
     .fn.check = cf_check_enum,
     .enums = server_tls_modes},
    CF_REFUSE("serverCertificate", TLS_NEEDED),
    CF_REFUSE("privateKey", TLS_NEEDED),
    CF_REFUSE("caCertificates", TLS_NEEDED),
    CF_REFUSE("caCrl", TLS_NEEDED),
    CF_REFUSE("credentialName", TLS_NEEDED),
    CF_REFUSE("credentialNames", TLS_NEEDED),
    CF_REFUSE("tlsCertificates", TLS_NEEDED),
    CF_REFUSE("subjectAltNames", TLS_NEEDED),
    CF_REFUSE("verifyCertificateSpki", TLS_NEEDED),
    CF_REFUSE("verifyCertificateHash", TLS_NEEDED),
    CF_REFUSE("minProtocolVersion", TLS_NEEDED),
    CF_REFUSE("maxProtocolVersion", TLS_NEEDED),
    CF_REFUSE("cipherSuites", TLS_NEEDED),
    CF_END,
};
const struct cf_table cf_server_tls_tab = CF_TABLE(struct cf_server, server_tls_fields);

int
cf_h_server_tls(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    struct cf_server *s = p;
    return CF_WALK(c, n, f->sub, s);
}

/* p is one entry of the route's match[] (being walked, so c->route is its
 * route); the names go to the route's per-entry lists. */
int
cf_h_match_gateways(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    struct cf_route *r = c->route;
    BUG_ON(r == NULL);
    size_t i = (size_t)((struct conf_match *)p - r->r->matches);
    BUG_ON(i >= r->r->nmatches);
    if (r->match_gws == NULL) {
        r->match_gws = arena_alloc_array(c->tmp, r->r->nmatches, sizeof(*r->match_gws));
        if (r->match_gws == NULL)
            return cf_oom(c);
    }
    return cf_parse_strs(c, n, false, &r->match_gws[i].v, &r->match_gws[i].n);
}
