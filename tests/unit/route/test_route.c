/*
 * test_route.c: unit tests of route.c through route.h: Host -> VirtualService
 * (exact hash table, wildcard suffixes, "*", port and case folding) and
 * first-match route selection with Istio's match semantics. Conf fragments
 * and requests are built by hand (route_fixture.h).
 */
#include "canaryd/common.h"
#include "canaryd/route/route.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/core/diag.h"
#include "route_fixture.h"

static int
setup(void **state)
{
    (void)state;
    return fx_init();
}

static int
teardown(void **state)
{
    (void)state;
    fx_fini();
    return 0;
}

/* Name of the route chosen for t on vs, or "404". */
static const char *
chosen(const struct conf_vs *vs, const struct fx_req *t)
{
    const struct conf_route *r = route_select(vs, &t->rr);
    return r != NULL ? r->name : "404";
}

/* ---- route_vhost ---- */

struct hosts {
    struct conf_vhosts vh;
    struct conf_vs *exact, *wild, *longer_wild, *star, *svc;
};

static void
hosts_build(struct hosts *h, bool with_star)
{
    fx_vhosts_init(&h->vh, 16);
    h->exact = fx_vs("exact");
    h->wild = fx_vs("wild");
    h->longer_wild = fx_vs("longer-wild");
    h->star = fx_vs("star");
    h->svc = fx_vs("svc");
    fx_vhosts_exact(&h->vh, "api.example.com", h->exact);
    fx_vhosts_exact(&h->vh, "[::1]", h->exact);
    /* What conf.c inserts for the short name "mobile-api" in namespace default. */
    fx_vhosts_exact(&h->vh, "mobile-api", h->svc);
    fx_vhosts_exact(&h->vh, "mobile-api.default", h->svc);
    fx_vhosts_exact(&h->vh, "mobile-api.default.svc", h->svc);
    fx_vhosts_exact(&h->vh, "mobile-api.default.svc.cluster.local", h->svc);
    /* Inserted shortest first: route_vhost must still prefer the longest. */
    fx_vhosts_wild(&h->vh, ".example.com", h->wild);
    fx_vhosts_wild(&h->vh, ".api.example.com", h->longer_wild);
    h->vh.star = with_star ? fx_vhost(h->star) : NULL;
}

static const struct conf_vs *
vhost(const struct hosts *h, const char *host)
{
    return fx_vs_of(route_vhost(&h->vh, host, host != NULL ? strlen(host) : 0));
}

static void
test_route_vhost_exact_host_matches(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, false);
    assert_ptr_equal(vhost(&h, "api.example.com"), h.exact);
}

static void
test_route_vhost_port_and_case_are_ignored(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, false);
    assert_ptr_equal(vhost(&h, "API.Example.com:8080"), h.exact);
    assert_ptr_equal(vhost(&h, "api.example.com:"), h.exact);
    assert_ptr_equal(vhost(&h, "Mobile-API"), h.svc);
}

static void
test_route_vhost_ipv6_literal_keeps_brackets(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, false);
    assert_ptr_equal(vhost(&h, "[::1]:8080"), h.exact);
    assert_ptr_equal(vhost(&h, "[::1]"), h.exact);
    assert_null(vhost(&h, "[::2]:8080"));
    assert_null(vhost(&h, "[::1"));
    assert_null(vhost(&h, "[::1]x"));
}

static void
test_route_vhost_malformed_port_returns_null(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, true);
    assert_null(vhost(&h, "api.example.com:80x"));
    assert_null(vhost(&h, "evil.test:x.example.com"));
}

static void
test_route_vhost_wildcard_longest_suffix_wins(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, true);
    assert_ptr_equal(vhost(&h, "www.example.com"), h.wild);
    assert_ptr_equal(vhost(&h, "a.b.example.com"), h.wild);
    assert_ptr_equal(vhost(&h, "x.api.example.com"), h.longer_wild);
    assert_ptr_equal(vhost(&h, "X.API.EXAMPLE.COM:443"), h.longer_wild);
}

static void
test_route_vhost_wildcard_needs_a_label_before_the_suffix(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, false);
    assert_null(vhost(&h, "example.com"));
    assert_null(vhost(&h, ".example.com"));
    assert_null(vhost(&h, "notexample.com"));
}

static void
test_route_vhost_star_is_the_last_resort(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, true);
    assert_ptr_equal(vhost(&h, "example.com"), h.star);
    assert_ptr_equal(vhost(&h, "other.test"), h.star);
    assert_ptr_equal(vhost(&h, "api.example.com"), h.exact);
}

static void
test_route_vhost_unknown_host_without_star_returns_null(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, false);
    assert_null(vhost(&h, "other.test"));
    assert_null(vhost(&h, "mobile-api.test"));
    assert_ptr_equal(vhost(&h, "mobile-api.example.com"), h.wild);
}

static void
test_route_vhost_absent_host_only_matches_star(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, false);
    assert_null(vhost(&h, NULL));
    assert_null(vhost(&h, ""));
    h.vh.star = fx_vhost(h.star);
    assert_ptr_equal(vhost(&h, NULL), h.star);
    assert_ptr_equal(vhost(&h, ":8080"), h.star);
}

static void
test_route_vhost_host_longer_than_255_returns_null(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, true);
    char host[300];
    memset(host, 'a', sizeof(host));
    memcpy(host + 255 - 12, ".example.com", 12);
    /* 255 bytes: looked up (wildcard); the port does not count. */
    assert_ptr_equal(fx_vs_of(route_vhost(&h.vh, host, 255)), h.wild);
    memcpy(host + 255, ":8080", 5);
    assert_ptr_equal(fx_vs_of(route_vhost(&h.vh, host, 260)), h.wild);
    /* 256 bytes: no VirtualService at all, not even "*". */
    memset(host, 'a', sizeof(host));
    memcpy(host + 256 - 12, ".example.com", 12);
    assert_null(route_vhost(&h.vh, host, 256));
}

static void
test_route_vhost_kubernetes_short_name_forms_match(void **state)
{
    (void)state;
    struct hosts h;
    hosts_build(&h, false);
    assert_ptr_equal(vhost(&h, "mobile-api"), h.svc);
    assert_ptr_equal(vhost(&h, "mobile-api.default"), h.svc);
    assert_ptr_equal(vhost(&h, "mobile-api.default.svc"), h.svc);
    assert_ptr_equal(vhost(&h, "mobile-api.default.svc.cluster.local:80"), h.svc);
    assert_null(vhost(&h, "mobile-api.other"));
}

static void
test_route_vhost_probes_past_collisions(void **state)
{
    (void)state;
    /* 8 hosts in 8 slots: a full table, so every lookup probes and a miss
     * must stop after one lap. */
    struct conf_vhosts vh;
    fx_vhosts_init(&vh, 8);
    struct conf_vs *vs[8];
    char name[8][24];
    for (int i = 0; i < 8; i++) {
        snprintf(name[i], sizeof(name[i]), "h%d.test", i);
        vs[i] = fx_vs(name[i]);
        fx_vhosts_exact(&vh, name[i], vs[i]);
    }
    for (int i = 0; i < 8; i++)
        assert_ptr_equal(fx_vs_of(route_vhost(&vh, name[i], strlen(name[i]))), vs[i]);
    assert_null(route_vhost(&vh, "h8.test", 7));
}

static void
test_route_vhost_empty_table_falls_through(void **state)
{
    (void)state;
    struct conf_vhosts vh;
    memset(&vh, 0, sizeof(vh));
    assert_null(route_vhost(&vh, "a.test", 6));
    struct conf_vs *star = fx_vs("star");
    vh.star = fx_vhost(star);
    assert_ptr_equal(fx_vs_of(route_vhost(&vh, "a.test", 6)), star);
}

/* The table conf.c builds: short names get their Kubernetes forms in the
 * VirtualService's namespace; wildcards longest first; "*" last. */
static const char HOSTS_YAML[] =
    "apiVersion: networking.istio.io/v1\n"
    "kind: VirtualService\n"
    "metadata: {name: short, namespace: team}\n"
    "spec:\n"
    "  hosts: [mobile-api]\n"
    "  http: [{name: short, route: [{destination: {host: mobile-api}}]}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: VirtualService\n"
    "metadata: {name: wild}\n"
    "spec:\n"
    "  hosts: [\"*.example.com\", api.example.com]\n"
    "  http: [{name: wild, route: [{destination: {host: mobile-api}}]}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: VirtualService\n"
    "metadata: {name: longer-wild}\n"
    "spec:\n"
    "  hosts: [\"*.api.example.com\"]\n"
    "  http: [{name: longer-wild, route: [{destination: {host: mobile-api}}]}]\n"
    "---\n"
    "apiVersion: networking.istio.io/v1\n"
    "kind: VirtualService\n"
    "metadata: {name: star}\n"
    "spec:\n"
    "  hosts: [\"*\"]\n"
    "  http: [{name: star, route: [{destination: {host: mobile-api}}]}]\n";

static const char *
conf_vhost_name(const struct conf *c, const char *host)
{
    const struct conf_vs *vs = fx_vs_of(route_vhost(&c->listeners[0].vhosts, host, strlen(host)));
    return vs != NULL ? vs->name : "404";
}

static void
test_route_vhost_uses_the_table_conf_builds(void **state)
{
    (void)state;
    struct diag_list dl;
    diag_list_init(&dl);
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    struct conf *c = conf_build_buffer("hosts.yaml", HOSTS_YAML, strlen(HOSTS_YAML), &opts, &dl);
    diag_list_print(&dl, stderr);
    diag_list_fini(&dl);
    assert_non_null(c);
    assert_int_equal(c->nlisteners, 1);
    assert_string_equal(conf_vhost_name(c, "mobile-api"), "short");
    assert_string_equal(conf_vhost_name(c, "mobile-api.team"), "short");
    assert_string_equal(conf_vhost_name(c, "Mobile-API.team.svc"), "short");
    assert_string_equal(conf_vhost_name(c, "mobile-api.team.svc.cluster.local:80"), "short");
    assert_string_equal(conf_vhost_name(c, "mobile-api.default"), "star");
    assert_string_equal(conf_vhost_name(c, "api.example.com"), "wild");
    assert_string_equal(conf_vhost_name(c, "www.example.com"), "wild");
    assert_string_equal(conf_vhost_name(c, "x.api.example.com:8080"), "longer-wild");
    assert_string_equal(conf_vhost_name(c, "example.com"), "star");
    conf_unref(&c);
}

/* ---- route_select: structure ---- */

static void
test_route_select_route_without_match_takes_everything(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_route(vs, "all");
    struct fx_req t;
    fx_req_init(&t, "DELETE", "/anything?x=1", NULL);
    assert_string_equal(chosen(vs, &t), "all");
}

static void
test_route_select_first_match_wins(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_entry(fx_route(vs, "first"))->uri = fx_prefix("/a");
    fx_entry(fx_route(vs, "second"))->uri = fx_prefix("/a/b");
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/a/b/c", "mobile-api");
    assert_string_equal(chosen(vs, &t), "first");
    fx_req_init(&t, "GET", "/z", "mobile-api");
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_no_route_returns_null(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_entry(fx_route(vs, "a"))->uri = fx_prefix("/a");
    struct fx_req t;
    fx_req_init(&t, "GET", "/z", "mobile-api");
    assert_null(route_select(vs, &t.rr));
    struct conf_vs *empty = fx_vs("empty");
    assert_null(route_select(empty, &t.rr));
}

static void
test_route_select_entries_are_ored_fields_anded(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    struct conf_route *r = fx_route(vs, "beta");
    struct conf_match *e = fx_entry(r);
    e->method = fx_exact("POST");
    fx_hdr(e, "x-beta", fx_exact("yes"), false);
    fx_entry(r)->uri = fx_prefix("/beta/");
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "POST", "/", "mobile-api");
    fx_req_hdr(&t, "x-beta", "yes");
    assert_string_equal(chosen(vs, &t), "beta");
    fx_req_init(&t, "GET", "/", "mobile-api");
    fx_req_hdr(&t, "x-beta", "yes");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "POST", "/", "mobile-api");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/beta/page", "mobile-api");
    assert_string_equal(chosen(vs, &t), "beta");
}

static void
test_route_select_empty_entry_matches_everything(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    struct conf_route *r = fx_route(vs, "any");
    fx_entry(r);
    struct fx_req t;
    fx_req_init(&t, "GET", "/x", NULL);
    assert_string_equal(chosen(vs, &t), "any");
}

/* ---- route_select: uri ---- */

static void
test_route_select_uri_ignores_the_query(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_entry(fx_route(vs, "api"))->uri = fx_prefix("/api");
    fx_entry(fx_route(vs, "item"))->uri = fx_regex("/items/[0-9]+");
    fx_entry(fx_route(vs, "exact"))->uri = fx_exact("/login");
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/apiv2/x", "h");
    assert_string_equal(chosen(vs, &t), "api");
    fx_req_init(&t, "GET", "/items/42?sort=asc", "h");
    assert_string_equal(chosen(vs, &t), "item");
    fx_req_init(&t, "GET", "/items/42x", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/login?next=/", "h");
    assert_string_equal(chosen(vs, &t), "exact");
    fx_req_init(&t, "GET", "/login/", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/x?/api", "h");
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_uri_regex_is_full_match(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_entry(fx_route(vs, "re"))->uri = fx_regex("/v[0-9]");
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/v1", "h");
    assert_string_equal(chosen(vs, &t), "re");
    fx_req_init(&t, "GET", "/v1/x", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/a/v1", "h");
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_ignore_uri_case_applies_to_exact_and_prefix_only(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_entry(fx_route(vs, "login"))->uri = fx_match(MATCH_EXACT, "/Login", true);
    fx_entry(fx_route(vs, "static"))->uri = fx_match(MATCH_PREFIX, "/Static/", true);
    /* conf.c never sets ignore_case on a regex: ignoreUriCase does not apply. */
    fx_entry(fx_route(vs, "shop"))->uri = fx_regex("/shop");
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/login", "h");
    assert_string_equal(chosen(vs, &t), "login");
    fx_req_init(&t, "GET", "/LOGIN", "h");
    assert_string_equal(chosen(vs, &t), "login");
    fx_req_init(&t, "GET", "/STATIC/app.js", "h");
    assert_string_equal(chosen(vs, &t), "static");
    fx_req_init(&t, "GET", "/SHOP", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/shop", "h");
    assert_string_equal(chosen(vs, &t), "shop");
}

static void
test_route_select_uri_is_case_sensitive_by_default(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_entry(fx_route(vs, "login"))->uri = fx_exact("/login");
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/Login", "h");
    assert_string_equal(chosen(vs, &t), "default");
}

/* ---- route_select: method, scheme, authority, port ---- */

static void
test_route_select_method_matches(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_entry(fx_route(vs, "writes"))->method = fx_regex("POST|PUT|PATCH");
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "PUT", "/", "h");
    assert_string_equal(chosen(vs, &t), "writes");
    fx_req_init(&t, "GET", "/", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "POSTX", "/", "h");
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_scheme_matches_the_callers_scheme(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_entry(fx_route(vs, "https"))->scheme = fx_exact("https");
    fx_entry(fx_route(vs, "http"))->scheme = fx_exact("http");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    assert_string_equal(chosen(vs, &t), "http");
    t.hr.scheme = (struct http_str){"https", 5};
    assert_string_equal(chosen(vs, &t), "https");
    t.hr.scheme = (struct http_str){NULL, 0};
    assert_string_equal(chosen(vs, &t), "404");
}

static void
test_route_select_authority_is_the_host_as_sent(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_entry(fx_route(vs, "exact"))->authority = fx_exact("api.example.com");
    fx_entry(fx_route(vs, "port"))->authority = fx_regex("api\\.example\\.com:[0-9]+");
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "api.example.com");
    assert_string_equal(chosen(vs, &t), "exact");
    fx_req_init(&t, "GET", "/", "api.example.com:8080");
    assert_string_equal(chosen(vs, &t), "port");
    fx_req_init(&t, "GET", "/", "API.example.com");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/", NULL);
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_port_is_the_listener_port(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_entry(fx_route(vs, "p9090"))->port = 9090;
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h:9090");
    assert_string_equal(chosen(vs, &t), "default");
    t.rr.port = 9090;
    assert_string_equal(chosen(vs, &t), "p9090");
}

/* ---- route_select: headers ---- */

static void
test_route_select_header_exact_is_case_sensitive(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_hdr(fx_entry(fx_route(vs, "prod")), "x-env", fx_exact("prod"), false);
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-env", "prod");
    assert_string_equal(chosen(vs, &t), "prod");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-env", "Prod");
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_absent_header_never_matches(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_hdr(fx_entry(fx_route(vs, "present")), "x-canary", fx_present(), false);
    fx_hdr(fx_entry(fx_route(vs, "empty-prefix")), "x-a", fx_prefix(""), false);
    fx_hdr(fx_entry(fx_route(vs, "any-regex")), "x-b", fx_regex(".*"), false);
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-canary", "");
    assert_string_equal(chosen(vs, &t), "present");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-a", "");
    assert_string_equal(chosen(vs, &t), "empty-prefix");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-b", "");
    assert_string_equal(chosen(vs, &t), "any-regex");
}

static void
test_route_select_header_regex_is_full_match(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_hdr(fx_entry(fx_route(vs, "ali")), "x-user", fx_regex("ali"), false);
    fx_hdr(fx_entry(fx_route(vs, "beta")), "x-channel", fx_regex("(?i)beta"), false);
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-user", "alice");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-user", "ali");
    assert_string_equal(chosen(vs, &t), "ali");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-channel", "BeTa");
    assert_string_equal(chosen(vs, &t), "beta");
}

static void
test_route_select_several_headers_must_all_hold(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    struct conf_match *e = fx_entry(fx_route(vs, "both"));
    fx_hdr(e, "x-a", fx_exact("1"), false);
    fx_hdr(e, "x-b", fx_exact("2"), false);
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-b", "2");
    fx_req_hdr(&t, "x-a", "1");
    assert_string_equal(chosen(vs, &t), "both");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-a", "1");
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_without_headers_is_inverted(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_hdr(fx_entry(fx_route(vs, "not-internal")), "x-internal", fx_exact("1"), true);
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    assert_string_equal(chosen(vs, &t), "not-internal");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-internal", "2");
    assert_string_equal(chosen(vs, &t), "not-internal");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-internal", "1");
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_without_headers_presence_fails_when_present(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_hdr(fx_entry(fx_route(vs, "no-debug")), "x-debug", fx_present(), true);
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    assert_string_equal(chosen(vs, &t), "no-debug");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-debug", "");
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_repeated_headers_are_joined_with_comma(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_hdr(fx_entry(fx_route(vs, "joined")), "x-tag", fx_exact("a, b, c"), false);
    fx_hdr(fx_entry(fx_route(vs, "first")), "x-tag", fx_exact("a"), false);
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-tag", "a");
    fx_req_hdr(&t, "x-other", "z");
    fx_req_hdr(&t, "x-tag", "b");
    fx_req_hdr(&t, "x-tag", "c");
    assert_string_equal(chosen(vs, &t), "joined");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-tag", "a");
    assert_string_equal(chosen(vs, &t), "first");
}

static void
test_route_select_cookie_lines_are_joined_with_semicolon_space(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_hdr(fx_entry(fx_route(vs, "both")), "cookie", fx_regex("^a=1; b=2$"), false);
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "cookie", "a=1");
    fx_req_hdr(&t, "cookie", "b=2");
    assert_string_equal(chosen(vs, &t), "both");
}

static void
test_route_select_istio_cookie_regex_misses_a_later_cookie(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_hdr(fx_entry(fx_route(vs, "seed")), "cookie",
           fx_regex("^(.*?;)?(email=[^;]*@example.com)(;.*)?$"), false);
    fx_hdr(fx_entry(fx_route(vs, "robust")), "cookie",
           fx_regex("^(.*?;\\s*)?(email=[^;]*@example\\.com)(;.*)?$"), false);
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "cookie", "email=joe@example.com; theme=dark");
    assert_string_equal(chosen(vs, &t), "seed");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "cookie", "session=1; email=joe@example.com; theme=dark");
    assert_string_equal(chosen(vs, &t), "robust");
    /* The same cookies on two lines join to the same string. */
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "cookie", "session=1");
    fx_req_hdr(&t, "cookie", "email=joe@example.com");
    assert_string_equal(chosen(vs, &t), "robust");
}

static void
test_route_select_join_overflow_is_no_match(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_hdr(fx_entry(fx_route(vs, "tag")), "x-tag", fx_present(), false);
    fx_hdr(fx_entry(fx_route(vs, "no-tag")), "x-tag", fx_exact("zzz"), true);
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-tag", "abcd");
    fx_req_hdr(&t, "x-tag", "efgh");
    t.rr.scratch_cap = 10; /* "abcd, efgh" needs 10 */
    assert_string_equal(chosen(vs, &t), "tag");
    t.rr.scratch_cap = 9;
    assert_string_equal(chosen(vs, &t), "default");
    t.rr.scratch = NULL;
    t.rr.scratch_cap = 0;
    assert_string_equal(chosen(vs, &t), "default");
}

/* ---- route_select: query parameters ---- */

static void
test_route_select_query_uses_the_first_value(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_query(fx_entry(fx_route(vs, "canary")), "canary", fx_exact("1"));
    fx_query(fx_entry(fx_route(vs, "flag")), "debug", fx_exact(""));
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/?canary=1", "h");
    assert_string_equal(chosen(vs, &t), "canary");
    fx_req_init(&t, "GET", "/?x=0&canary=1&canary=2", "h");
    assert_string_equal(chosen(vs, &t), "canary");
    fx_req_init(&t, "GET", "/?canary=2&canary=1", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/?debug", "h");
    assert_string_equal(chosen(vs, &t), "flag");
    fx_req_init(&t, "GET", "/?debug=", "h");
    assert_string_equal(chosen(vs, &t), "flag");
    fx_req_init(&t, "GET", "/?debug=1", "h");
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_query_absent_never_matches(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_query(fx_entry(fx_route(vs, "any")), "k", fx_regex(".*"));
    fx_query(fx_entry(fx_route(vs, "present")), "p", fx_present());
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/?", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/?kk=1&xk=1", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/?p", "h");
    assert_string_equal(chosen(vs, &t), "present");
}

static void
test_route_select_query_is_not_percent_decoded(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_query(fx_entry(fx_route(vs, "one")), "v", fx_exact("1"));
    fx_query(fx_entry(fx_route(vs, "raw")), "v", fx_exact("%31"));
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/?v=%31", "h");
    assert_string_equal(chosen(vs, &t), "raw");
    fx_req_init(&t, "GET", "/?%76=1", "h");
    assert_string_equal(chosen(vs, &t), "default");
}

static void
test_route_select_query_names_are_case_sensitive(void **state)
{
    (void)state;
    struct conf_vs *vs = fx_vs("vs");
    fx_query(fx_entry(fx_route(vs, "q")), "Canary", fx_exact("1"));
    fx_route(vs, "default");
    struct fx_req t;
    fx_req_init(&t, "GET", "/?canary=1", "h");
    assert_string_equal(chosen(vs, &t), "default");
    fx_req_init(&t, "GET", "/?Canary=1", "h");
    assert_string_equal(chosen(vs, &t), "q");
}

/* ---- helpers ---- */

static void
test_route_hdr_get_single_value_needs_no_scratch(void **state)
{
    (void)state;
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-a", "v");
    t.rr.scratch = NULL;
    t.rr.scratch_cap = 0;
    const char *v = NULL;
    size_t len = 0;
    assert_int_equal(route_hdr_get(&t.rr, "x-a", 3, &v, &len), 1);
    assert_int_equal(len, 1);
    assert_memory_equal(v, "v", 1);
    assert_int_equal(route_hdr_get(&t.rr, "x-b", 3, &v, &len), 0);
    assert_int_equal(route_hdr_get(&t.rr, "host", 4, &v, &len), 1);
    assert_int_equal(len, 1);
}

static void
test_route_hdr_get_joins_and_reports_overflow(void **state)
{
    (void)state;
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-a", "");
    fx_req_hdr(&t, "x-a", "2");
    fx_req_hdr(&t, "cookie", "a=1");
    fx_req_hdr(&t, "cookie", "");
    const char *v = NULL;
    size_t len = 0;
    assert_int_equal(route_hdr_get(&t.rr, "x-a", 3, &v, &len), 1);
    assert_int_equal(len, 3);
    assert_memory_equal(v, ", 2", 3);
    assert_int_equal(route_hdr_get(&t.rr, "cookie", 6, &v, &len), 1);
    assert_int_equal(len, 5);
    assert_memory_equal(v, "a=1; ", 5);
    t.rr.scratch_cap = 4;
    assert_int_equal(route_hdr_get(&t.rr, "cookie", 6, &v, &len), -1);
}

static void
test_route_query_get_splits_on_ampersand_only(void **state)
{
    (void)state;
    const char *q = "a=1=2&&b&c=&d=x;e=y&a=3";
    size_t qlen = strlen(q);
    const char *v = NULL;
    size_t len = 0;
    assert_true(route_query_get(q, qlen, "a", 1, &v, &len));
    assert_int_equal(len, 3);
    assert_memory_equal(v, "1=2", 3);
    assert_true(route_query_get(q, qlen, "b", 1, &v, &len));
    assert_int_equal(len, 0);
    assert_true(route_query_get(q, qlen, "c", 1, &v, &len));
    assert_int_equal(len, 0);
    assert_true(route_query_get(q, qlen, "d", 1, &v, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(v, "x;e=y", 5);
    assert_false(route_query_get(q, qlen, "e", 1, &v, &len));
    assert_true(route_query_get(q, qlen, "", 0, &v, &len)); /* the empty "&&" segment */
    assert_false(route_query_get(NULL, 0, "a", 1, &v, &len));
    assert_false(route_query_get("a", 1, "ab", 2, &v, &len));
    /* A view that ends before the next parameter. */
    assert_false(route_query_get("x=1&a=2", 3, "a", 1, &v, &len));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_route_vhost_exact_host_matches),
        T(test_route_vhost_port_and_case_are_ignored),
        T(test_route_vhost_ipv6_literal_keeps_brackets),
        T(test_route_vhost_malformed_port_returns_null),
        T(test_route_vhost_wildcard_longest_suffix_wins),
        T(test_route_vhost_wildcard_needs_a_label_before_the_suffix),
        T(test_route_vhost_star_is_the_last_resort),
        T(test_route_vhost_unknown_host_without_star_returns_null),
        T(test_route_vhost_absent_host_only_matches_star),
        T(test_route_vhost_host_longer_than_255_returns_null),
        T(test_route_vhost_kubernetes_short_name_forms_match),
        T(test_route_vhost_probes_past_collisions),
        T(test_route_vhost_empty_table_falls_through),
        T(test_route_vhost_uses_the_table_conf_builds),
        T(test_route_select_route_without_match_takes_everything),
        T(test_route_select_first_match_wins),
        T(test_route_select_no_route_returns_null),
        T(test_route_select_entries_are_ored_fields_anded),
        T(test_route_select_empty_entry_matches_everything),
        T(test_route_select_uri_ignores_the_query),
        T(test_route_select_uri_regex_is_full_match),
        T(test_route_select_ignore_uri_case_applies_to_exact_and_prefix_only),
        T(test_route_select_uri_is_case_sensitive_by_default),
        T(test_route_select_method_matches),
        T(test_route_select_scheme_matches_the_callers_scheme),
        T(test_route_select_authority_is_the_host_as_sent),
        T(test_route_select_port_is_the_listener_port),
        T(test_route_select_header_exact_is_case_sensitive),
        T(test_route_select_absent_header_never_matches),
        T(test_route_select_header_regex_is_full_match),
        T(test_route_select_several_headers_must_all_hold),
        T(test_route_select_without_headers_is_inverted),
        T(test_route_select_without_headers_presence_fails_when_present),
        T(test_route_select_repeated_headers_are_joined_with_comma),
        T(test_route_select_cookie_lines_are_joined_with_semicolon_space),
        T(test_route_select_istio_cookie_regex_misses_a_later_cookie),
        T(test_route_select_join_overflow_is_no_match),
        T(test_route_select_query_uses_the_first_value),
        T(test_route_select_query_absent_never_matches),
        T(test_route_select_query_is_not_percent_decoded),
        T(test_route_select_query_names_are_case_sensitive),
        T(test_route_hdr_get_single_value_needs_no_scratch),
        T(test_route_hdr_get_joins_and_reports_overflow),
        T(test_route_query_get_splits_on_ampersand_only),
    };
    return cmocka_run_group_tests_name("route", tests, NULL, NULL);
}
