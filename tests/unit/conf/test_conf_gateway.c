/*
 * test_conf_gateway.c: Gateway semantics from YAML to routing decisions
 * (conf_compile.c, conf_gateway_ext.c, route.c): server hosts filter which
 * hosts of a bound VirtualService a listener serves ([namespace/]dnsName,
 * wildcard intersections, short names), servers on one address share a
 * listener, tls.httpsRedirect marks the host bindings, other tls fields are
 * refused, and match[].gateways limits match entries to the named Gateways.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "canaryd/common.h"

#include <stdio.h>
#include <string.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/diag.h"
#include "canaryd/route/route.h"
#include "../route/route_fixture.h"

#define SEDR                                                                                       \
    "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"                                \
    "metadata: {name: mobile-api}\nspec:\n  hosts: [mobile-api]\n"                                 \
    "  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n"                  \
    "  endpoints:\n  - {address: 127.0.0.1, ports: {http: 9001}, labels: {version: v1}}\n"

#define GW(name, ns, port, hosts, extra)                                                           \
    "---\napiVersion: networking.istio.io/v1\nkind: Gateway\n"                                     \
    "metadata: {name: " name ", namespace: " ns "}\nspec:\n  servers:\n"                           \
    "  - port: {number: " port ", name: http, protocol: HTTP}\n"                                   \
    "    hosts: " hosts "\n" extra

#define VS(name, ns, hosts, gateways, http)                                                        \
    "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"                              \
    "metadata: {name: " name ", namespace: " ns "}\nspec:\n  hosts: " hosts "\n"                   \
    "  gateways: " gateways "\n  http:\n" http

#define ROUTE(name) "  - name: " name "\n    route: [{destination: {host: mobile-api.default}}]\n"

struct fx_gw {
    struct diag_list dl;
    struct conf *c;
};

static int
setup(void **state)
{
    struct fx_gw *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    diag_list_init(&f->dl);
    assert_int_equal(fx_init(), 0);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx_gw *f = *state;
    conf_unref(&f->c);
    diag_list_fini(&f->dl);
    fx_fini();
    free(f);
    return 0;
}

static struct conf *
build(struct fx_gw *f, const char *yaml)
{
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    f->c = conf_build_buffer("t.yaml", yaml, strlen(yaml), &opts, &f->dl);
    if (f->c == NULL)
        diag_list_print(&f->dl, stderr);
    return f->c;
}

static bool
has_diag(struct fx_gw *f, const char *want)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    assert_non_null(m);
    diag_list_print(&f->dl, m);
    fclose(m);
    bool found = strstr(buf, want) != NULL;
    if (!found)
        fprintf(stderr, "diagnostics:\n%s", buf);
    free(buf);
    return found;
}

/* The listener on port, or fail. */
static const struct conf_listener *
listener(const struct fx_gw *f, uint16_t port)
{
    for (size_t i = 0; i < f->c->nlisteners; i++)
        if (f->c->listeners[i].port == port)
            return &f->c->listeners[i];
    fail_msg("no listener on port %u", port);
    return NULL;
}

/* The VirtualService serving host on port, or "-" when none does. */
static const char *
served(const struct fx_gw *f, uint16_t port, const char *host)
{
    const struct conf_vhost *vh = route_vhost(&listener(f, port)->vhosts, host, strlen(host));
    return vh != NULL && vh->vs != NULL ? vh->vs->name : "-";
}

/* The route a GET target with host takes on port, or "404". */
static const char *
routed(const struct fx_gw *f, uint16_t port, const char *host, const char *target)
{
    const struct conf_vhost *vh = route_vhost(&listener(f, port)->vhosts, host, strlen(host));
    if (vh == NULL || vh->vs == NULL)
        return "404";
    struct fx_req t;
    fx_req_init(&t, "GET", target, host);
    t.rr.gateways = vh->gateways;
    t.rr.gw_words = f->c->gw_words;
    const struct conf_route *r = route_select(vh->vs, &t.rr);
    return r != NULL ? r->name : "404";
}

/* ---- server hosts ---- */

static void
test_conf_gateway_server_hosts_filter_virtual_service_hosts(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(
        build(f, GW("g", "default", "8081", "[api.example.com, '*.shop.example.com']", "")
                     VS("vs", "default", "['*.example.com', other.test]", "[g]", ROUTE("r")) SEDR));
    assert_string_equal(served(f, 8081, "api.example.com"), "vs");
    assert_string_equal(served(f, 8081, "a.shop.example.com"), "vs");
    assert_string_equal(served(f, 8081, "www.example.com"), "-");
    assert_string_equal(served(f, 8081, "other.test"), "-");
    assert_true(has_diag(f, "t.yaml:15:14: warning: spec.gateways[0]: no server of Gateway "
                            "default/g serves host(s) \"other.test\" of this VirtualService"));
}

static void
test_conf_gateway_server_host_wildcard_narrows_or_widens(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(build(f, GW("g", "default", "8081", "['*.example.com']", "")
                                 VS("a", "default", "[a.example.com]", "[g]", ROUTE("a"))
                                     VS("b", "default", "['*.b.example.com']", "[g]", ROUTE("b"))
                                         VS("c", "default", "['*']", "[g]", ROUTE("c")) SEDR));
    assert_string_equal(served(f, 8081, "a.example.com"), "a");
    assert_string_equal(served(f, 8081, "x.b.example.com"), "b");
    /* "*" meets "*.example.com": the VS with "*" serves the server's wildcard. */
    assert_string_equal(served(f, 8081, "zzz.example.com"), "c");
    assert_string_equal(served(f, 8081, "example.org"), "-");
}

static void
test_conf_gateway_server_host_namespaces_restrict_virtual_services(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(build(
        f, GW("g", "edge", "8081", "[team-a/a.example.com, ./b.example.com, '*/c.example.com']", "")
               VS("va", "team-a", "[a.example.com, b.example.com, c.example.com]", "[edge/g]",
                  ROUTE("va")) VS("vb", "edge", "[b.example.com]", "[g]", ROUTE("vb")) SEDR));
    assert_string_equal(served(f, 8081, "a.example.com"), "va");
    assert_string_equal(served(f, 8081, "b.example.com"), "vb"); /* "." is edge, not team-a */
    assert_string_equal(served(f, 8081, "c.example.com"), "va");
}

static void
test_conf_gateway_short_name_forms_are_filtered_one_by_one(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(build(f, GW("g", "default", "8081", "['*.svc.cluster.local']", "")
                                 VS("vs", "default", "[mobile-api]", "[g]", ROUTE("r")) SEDR));
    assert_string_equal(served(f, 8081, "mobile-api.default.svc.cluster.local"), "vs");
    assert_string_equal(served(f, 8081, "mobile-api"), "-");
    assert_string_equal(served(f, 8081, "mobile-api.default"), "-");
}

static void
test_conf_gateway_servers_on_one_port_serve_the_union(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(build(f, GW("g1", "default", "8081", "[a.example.com]", "")
                                 GW("g2", "default", "8081", "[b.example.com]", "")
                                     VS("vs", "default", "[a.example.com, b.example.com]",
                                        "[g1, g2]", ROUTE("r")) SEDR));
    assert_int_equal(f->c->nlisteners, 1);
    assert_string_equal(served(f, 8081, "a.example.com"), "vs");
    assert_string_equal(served(f, 8081, "b.example.com"), "vs");
    /* Each host carries the Gateway of the server that serves it. */
    const struct conf_vhosts *vh = &listener(f, 8081)->vhosts;
    const struct conf_vhost *a = route_vhost(vh, "a.example.com", 13);
    const struct conf_vhost *b = route_vhost(vh, "b.example.com", 13);
    assert_true(CONF_GW_HAS(a->gateways, 0) && !CONF_GW_HAS(a->gateways, 1));
    assert_true(!CONF_GW_HAS(b->gateways, 0) && CONF_GW_HAS(b->gateways, 1));
}

/* Two VirtualServices narrowed to the same host on one listener: an error, as
 * any two claiming one host there (canaryd does not merge them). */
static void
test_conf_gateway_narrowed_to_one_host_conflict(void **state)
{
    struct fx_gw *f = *state;
    assert_null(build(f, GW("g", "default", "8081", "[api.example.com]", "")
                             VS("a", "default", "['*.example.com']", "[g]", ROUTE("a"))
                                 VS("b", "default", "[api.example.com]", "[g]", ROUTE("b")) SEDR));
    assert_true(has_diag(f, "spec.hosts[0]: host \"api.example.com\" on listener \"g/http\" is "
                            "already claimed by VirtualService default/a"));
}

static void
test_conf_gateway_bad_server_hosts_are_errors(void **state)
{
    struct fx_gw *f = *state;
    assert_null(build(f, GW("g", "default", "8081", "[a/b/c.example.com, 'x*.example.com', /a]", "")
                             VS("vs", "default", "[a.example.com]", "[g]", ROUTE("r")) SEDR));
    assert_true(has_diag(f, "t.yaml:8:13: error: spec.servers[0].hosts[0]: a Gateway host is "
                            "[namespace/]dnsName"));
    assert_true(has_diag(f, "t.yaml:8:32: error: spec.servers[0].hosts[1]: the host must be a DNS "
                            "name, \"*\" or start with \"*.\""));
    assert_true(has_diag(f, "spec.servers[0].hosts[2]: a Gateway host is"));
}

/* ---- tls ---- */

static void
test_conf_gateway_https_redirect_marks_every_host_of_the_server(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(build(f, GW("g", "default", "8081", "['*']", "    tls: {httpsRedirect: true}\n")
                                 VS("vs", "default", "[a.example.com]", "[g]", ROUTE("r")) SEDR));
    const struct conf_vhosts *vh = &listener(f, 8081)->vhosts;
    const struct conf_vhost *a = route_vhost(vh, "a.example.com", 13);
    assert_non_null(a);
    assert_true(a->https_redirect);
    assert_string_equal(a->vs->name, "vs");
    const struct conf_vhost *other = route_vhost(vh, "other.test", 10);
    assert_non_null(other);
    assert_true(other->https_redirect);
    assert_null(other->vs);
}

static void
test_conf_gateway_https_redirect_false_is_plain_http(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(build(f,
                          GW("g", "default", "8081", "['*']", "    tls: {httpsRedirect: false}\n")
                              VS("vs", "default", "[a.example.com]", "[g]", ROUTE("r")) SEDR));
    const struct conf_vhosts *vh = &listener(f, 8081)->vhosts;
    assert_false(route_vhost(vh, "a.example.com", 13)->https_redirect);
    assert_null(route_vhost(vh, "other.test", 10));
}

static void
test_conf_gateway_tls_termination_is_refused(void **state)
{
    struct fx_gw *f = *state;
    assert_null(build(f, GW("g", "default", "8081", "['*']",
                            "    tls: {httpsRedirect: true, mode: SIMPLE, credentialName: c}\n")
                             VS("vs", "default", "[a.example.com]", "[g]", ROUTE("r")) SEDR));
    assert_true(has_diag(f, "t.yaml:9:38: error: spec.servers[0].tls.mode: SIMPLE: TLS "
                            "termination needs the TLS support (not yet available); terminate "
                            "TLS in front of canaryd"));
    assert_true(has_diag(f, "spec.servers[0].tls.credentialName: TLS termination needs"));
}

/* ---- match[].gateways ---- */

#define TWO_GWS                                                                                    \
    GW("gw-a", "default", "8081", "['*']", "") GW("gw-b", "default", "8082", "['*']", "")

static void
test_conf_gateway_match_gateways_limit_an_entry_to_its_gateways(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(build(
        f, TWO_GWS VS("vs", "default", "[a.example.com]", "[gw-a, gw-b, mesh]",
                      "  - name: only-b\n"
                      "    match: [{gateways: [gw-b], uri: {prefix: /b}}]\n"
                      "    route: [{destination: {host: mobile-api}}]\n"
                      "  - name: only-mesh\n"
                      "    match: [{gateways: [mesh]}]\n"
                      "    route: [{destination: {host: mobile-api}}]\n" ROUTE("rest")) SEDR));
    assert_string_equal(routed(f, 8081, "a.example.com", "/b"), "rest");
    assert_string_equal(routed(f, 8082, "a.example.com", "/b"), "only-b");
    assert_string_equal(routed(f, 8082, "a.example.com", "/c"), "rest");
    /* "mesh" is the --listen listener. */
    assert_string_equal(routed(f, 8080, "a.example.com", "/b"), "only-mesh");
    /* An entry limited to gateways is no catch-all: no "can never match". */
    assert_false(has_diag(f, "can never match"));
}

static void
test_conf_gateway_match_gateways_resolve_istio_names(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(
        build(f, TWO_GWS VS("vs", "default", "[a.example.com]", "[gw-a, ./gw-b]",
                            "  - name: b\n"
                            "    match: [{gateways: [gw-b.default.svc.cluster.local]}]\n"
                            "    route: [{destination: {host: mobile-api}}]\n"
                            "  - name: a\n"
                            "    match: [{gateways: [default/gw-a]}]\n"
                            "    route: [{destination: {host: mobile-api}}]\n") SEDR));
    assert_string_equal(routed(f, 8081, "a.example.com", "/"), "a");
    assert_string_equal(routed(f, 8082, "a.example.com", "/"), "b");
}

static void
test_conf_gateway_match_gateways_undefined_is_an_error(void **state)
{
    struct fx_gw *f = *state;
    assert_null(build(f, TWO_GWS VS("vs", "default", "[a.example.com]", "[gw-a]",
                                    "  - match: [{gateways: [nope]}]\n"
                                    "    route: [{destination: {host: mobile-api}}]\n") SEDR));
    assert_true(has_diag(f, "t.yaml:25:25: error: spec.http[0].match[0].gateways[0]: Gateway "
                            "\"nope\" is not defined"));
}

static void
test_conf_gateway_match_gateways_unbound_warns(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(build(f, TWO_GWS VS("vs", "default", "[a.example.com]", "[gw-a]",
                                        "  - match: [{gateways: [gw-b, mesh]}]\n"
                                        "    route: [{destination: {host: mobile-api}}]\n") SEDR));
    assert_true(has_diag(f, "t.yaml:25:25: warning: spec.http[0].match[0].gateways[0]: this match "
                            "entry never holds on Gateway default/gw-b: the VirtualService is not "
                            "bound to it"));
    assert_true(has_diag(f, "spec.http[0].match[0].gateways[1]: this match entry never holds for "
                            "\"mesh\""));
    assert_string_equal(routed(f, 8081, "a.example.com", "/"), "404");
}

/* A delegate's entries keep their own gateways (resolved in the delegate's
 * namespace), else take the root entry's, as Istio merges them. */
static void
test_conf_gateway_match_gateways_through_a_delegate(void **state)
{
    struct fx_gw *f = *state;
    assert_non_null(build(
        f,
        TWO_GWS VS(
            "root", "default", "[a.example.com]", "[gw-a, gw-b]",
            "  - match: [{uri: {prefix: /api}}]\n"
            "    delegate: {name: leaf, namespace: team}\n"
            "  - match: [{gateways: [gw-a], uri: {prefix: /x}}]\n"
            "    delegate: {name: leaf2, namespace: team}\n") "---\napiVersion: "
                                                              "networking.istio.io/v1\nkind: "
                                                              "VirtualService\n"
                                                              "metadata: {name: leaf, namespace: "
                                                              "team}\nspec:\n  http:\n"
                                                              "  - name: beta\n"
                                                              "    match: [{gateways: "
                                                              "[default/gw-b], uri: {prefix: "
                                                              "/api/b}}]\n"
                                                              "    route: [{destination: {host: "
                                                              "mobile-api.default}}]\n" ROUTE(
                                                                  "api-rest") "---\napiVersion: "
                                                                              "networking.istio.io/"
                                                                              "v1\nkind: "
                                                                              "VirtualService\n"
                                                                              "metadata: {name: "
                                                                              "leaf2, namespace: "
                                                                              "team}\nspec:\n  "
                                                                              "http:\n"
                                                                              "  - name: y\n"
                                                                              "    match: [{uri: "
                                                                              "{prefix: /x/y}}]\n"
                                                                              "    route: "
                                                                              "[{destination: "
                                                                              "{host: "
                                                                              "mobile-api.default}}"
                                                                              "]\n" SEDR));
    assert_string_equal(routed(f, 8081, "a.example.com", "/api/b"), "api-rest");
    assert_string_equal(routed(f, 8082, "a.example.com", "/api/b"), "beta");
    assert_string_equal(routed(f, 8081, "a.example.com", "/x/y"), "y");
    assert_string_equal(routed(f, 8082, "a.example.com", "/x/y"), "404");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_conf_gateway_server_hosts_filter_virtual_service_hosts),
        T(test_conf_gateway_server_host_wildcard_narrows_or_widens),
        T(test_conf_gateway_server_host_namespaces_restrict_virtual_services),
        T(test_conf_gateway_short_name_forms_are_filtered_one_by_one),
        T(test_conf_gateway_servers_on_one_port_serve_the_union),
        T(test_conf_gateway_narrowed_to_one_host_conflict),
        T(test_conf_gateway_bad_server_hosts_are_errors),
        T(test_conf_gateway_https_redirect_marks_every_host_of_the_server),
        T(test_conf_gateway_https_redirect_false_is_plain_http),
        T(test_conf_gateway_tls_termination_is_refused),
        T(test_conf_gateway_match_gateways_limit_an_entry_to_its_gateways),
        T(test_conf_gateway_match_gateways_resolve_istio_names),
        T(test_conf_gateway_match_gateways_undefined_is_an_error),
        T(test_conf_gateway_match_gateways_unbound_warns),
        T(test_conf_gateway_match_gateways_through_a_delegate),
    };
    return cmocka_run_group_tests_name("conf_gateway", tests, NULL, NULL);
}
