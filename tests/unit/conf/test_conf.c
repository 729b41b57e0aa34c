/*
 * test_conf.c: unit tests for the configuration loader and compiler
 * (conf.c, conf_schema.c, conf_kinds.c, conf_compile.c): every diagnostic
 * with its exact location and path, the compiled snapshot's shape, the seed
 * examples, directories (ConfigMap style) and the -t summary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "canaryd/common.h"

#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "canaryd/conf/conf.h"
#include "canaryd/conf/conf_internal.h"
#include "canaryd/core/diag.h"
#include "canaryd/core/match.h"

#ifndef CANARYD_SRCDIR
#define CANARYD_SRCDIR "."
#endif

/* ServiceEntry + DestinationRule for mobile-api (v1 on 9001, v2 on 9002);
 * appended after each test's own document so its line numbers start at 1. */
#define SEDR                                                                                       \
    "---\n"                                                                                        \
    "apiVersion: networking.istio.io/v1\n"                                                         \
    "kind: ServiceEntry\n"                                                                         \
    "metadata: {name: mobile-api}\n"                                                               \
    "spec:\n"                                                                                      \
    "  hosts: [mobile-api]\n"                                                                      \
    "  ports: [{number: 80, name: http, protocol: HTTP}]\n"                                        \
    "  resolution: STATIC\n"                                                                       \
    "  endpoints:\n"                                                                               \
    "  - {address: 127.0.0.1, ports: {http: 9001}, labels: {version: v1}}\n"                       \
    "  - {address: 127.0.0.1, ports: {http: 9002}, labels: {version: v2}}\n"                       \
    "---\n"                                                                                        \
    "apiVersion: networking.istio.io/v1\n"                                                         \
    "kind: DestinationRule\n"                                                                      \
    "metadata: {name: mobile-api}\n"                                                               \
    "spec:\n"                                                                                      \
    "  host: mobile-api\n"                                                                         \
    "  subsets:\n"                                                                                 \
    "  - {name: v1, labels: {version: v1}}\n"                                                      \
    "  - {name: v2, labels: {version: v2}}\n"

/* The first 7 lines of a VirtualService whose first route starts at line 7. */
#define VS_HEAD                                                                                    \
    "apiVersion: networking.istio.io/v1\n"                                                         \
    "kind: VirtualService\n"                                                                       \
    "metadata: {name: vs}\n"                                                                       \
    "spec:\n"                                                                                      \
    "  hosts: [mobile-api]\n"                                                                      \
    "  http:\n"

#define V1 "    route: [{destination: {host: mobile-api, subset: v1}}]\n"
#define V1I "  - route: [{destination: {host: mobile-api, subset: v1}}]\n"

struct fx {
    struct diag_list dl;
    struct conf *c;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    diag_list_init(&f->dl);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    conf_unref(&f->c);
    diag_list_fini(&f->dl);
    free(f);
    return 0;
}

static struct conf *
build(struct fx *f, const char *yaml)
{
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    conf_unref(&f->c);
    f->c = conf_build_buffer("t.yaml", yaml, strlen(yaml), &opts, &f->dl);
    return f->c;
}

static bool
has_diag(const struct diag_list *dl, const char *want)
{
    char buf[2048];
    for (size_t i = 0; i < dl->n; i++) {
        diag_format(&dl->v[i], buf, sizeof(buf));
        if (strcmp(buf, want) == 0)
            return true;
    }
    return false;
}

static bool
has_diag_containing(const struct diag_list *dl, const char *part)
{
    char buf[2048];
    for (size_t i = 0; i < dl->n; i++) {
        diag_format(&dl->v[i], buf, sizeof(buf));
        if (strstr(buf, part) != NULL)
            return true;
    }
    return false;
}

static void
expect_diag(struct fx *f, const char *want)
{
    if (!has_diag(&f->dl, want)) {
        diag_list_print(&f->dl, stderr);
        fail_msg("missing diagnostic: %s", want);
    }
}

/* Builds yaml, expects failure and exactly the diagnostic want among them. */
static void
expect_error(struct fx *f, const char *yaml, const char *want)
{
    assert_null(build(f, yaml));
    expect_diag(f, want);
}

static void
expect_ok(struct fx *f, const char *yaml)
{
    if (build(f, yaml) == NULL) {
        diag_list_print(&f->dl, stderr);
        fail_msg("build failed");
    }
}

/* ---- the seed examples ---- */

static struct conf *
build_file(struct fx *f, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", CANARYD_SRCDIR, rel);
    const char *paths[] = {path};
    struct conf_opts opts = {.listen_addr = ":8080"};
    f->c = conf_build(paths, 1, &opts, &f->dl);
    if (f->c == NULL)
        diag_list_print(&f->dl, stderr);
    return f->c;
}

static void
test_conf_seed_weights_splits_95_5(void **state)
{
    struct fx *f = *state;
    struct conf *c = build_file(f, "conf/weights.yaml");
    assert_non_null(c);
    assert_int_equal(f->dl.n, 0);
    assert_int_equal(c->nvss, 1);
    assert_string_equal(c->vss[0].name, "mobile-api");
    const struct conf_route *r = &c->vss[0].routes[0];
    assert_int_equal(r->ndests, 2);
    assert_int_equal(r->cum_weight[0], 95);
    assert_int_equal(r->cum_weight[1], 100);
    assert_int_equal(r->total_weight, 100);
    assert_string_equal(r->dests[0].cluster->subset, "v1");
    assert_string_equal(r->dests[1].cluster->subset, "v2");
    assert_int_equal(r->dests[0].cluster->neps, 1);
    assert_int_equal(r->dests[0].cluster->eps[0]->port, 9001);
    assert_int_equal(r->dests[1].cluster->eps[0]->port, 9002);
    assert_false(r->dests[1].cluster->eps[0]->is_dns);
    const struct sockaddr_in *sin = (const void *)&r->dests[1].cluster->eps[0]->sa;
    assert_int_equal(ntohs(sin->sin_port), 9002);
    assert_int_equal(c->nlisteners, 1);
    assert_string_equal(c->listeners[0].name, "default");
    assert_int_equal(c->listeners[0].port, 8080);
    assert_int_equal(c->counts.clusters, 2);
    assert_int_equal(c->counts.endpoints, 2);
    assert_int_equal(c->nsources, 1);
    assert_int_equal(strlen(c->sources[0].sha256_hex), 64);
}

static const struct match *
cookie_matcher(const struct conf *c)
{
    const struct conf_route *r = &c->vss[0].routes[0];
    assert_int_equal(r->nmatches, 1);
    assert_int_equal(r->matches[0].nheaders, 1);
    assert_string_equal(r->matches[0].headers[0].name, "cookie");
    return &r->matches[0].headers[0].m;
}

static void
test_conf_seed_cookie_full_match_semantics(void **state)
{
    struct fx *f = *state;
    struct conf *c = build_file(f, "conf/cookie.yaml");
    assert_non_null(c);
    const struct match *m = cookie_matcher(c);
    const char *yes1 = "email=a@example.com; x=1", *yes2 = "a=1;email=a@example.com";
    const char *no = "a=1; email=a@example.com";
    assert_true(match_test(m, yes1, strlen(yes1)));
    assert_true(match_test(m, yes2, strlen(yes2)));
    assert_false(match_test(m, no, strlen(no)));
    assert_string_equal(c->vss[0].routes[1].name, "default");
    assert_int_equal(c->vss[0].routes[1].nmatches, 0);
    assert_string_equal(c->vss[0].routes[1].dests[0].cluster->subset, "v1");
    assert_int_equal(c->vss[0].routes[1].total_weight, 100);
    assert_int_equal(f->dl.nwarnings, 1);
}

static void
test_conf_cookie_regex_trap_warns_with_fix(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_HEAD
              "  - match:\n"
              "    - headers: {cookie: {regex: \"^(.*?;)?(user=[^;]*)(;.*)?$\"}}\n" V1 SEDR);
    expect_diag(f,
                "t.yaml:8:33: warning: spec.http[0].match[0].headers.cookie.regex: this "
                "cookie regex misses the cookie when it is not the first one, because "
                "browsers separate cookies with \"; \": use \"^(.*?;\\s*)?(user=[^;]*)(;.*)?$\"");
}

/* ---- syntax and schema errors ---- */

static void
test_conf_yaml_syntax_error_is_located(void **state)
{
    struct fx *f = *state;
    expect_error(f, "kind: VirtualService\nmetadata: {name: [x}\n",
                 "t.yaml:2:20: error: YAML syntax error: did not find expected ',' or ']' "
                 "(while parsing a flow sequence at line 2, column 18)");
}

static void
test_conf_unknown_kind_suggests_closest(void **state)
{
    struct fx *f = *state;
    expect_error(f, "apiVersion: networking.istio.io/v1\nkind: VirtualServce\n",
                 "t.yaml:2:7: error: kind: unknown kind \"VirtualServce\" (did you mean "
                 "\"VirtualService\"?)");
}

static void
test_conf_unknown_api_version_is_an_error(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 "apiVersion: networking.istio.io/v2\nkind: Gateway\nmetadata: {name: g}\n"
                 "spec: {servers: []}\n",
                 "t.yaml:1:13: error: apiVersion: unknown apiVersion \"networking.istio.io/v2\" "
                 "(expected networking.istio.io/v1)");
}

static void
test_conf_unknown_field_suggests_weight(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD "  - route:\n"
                         "    - destination: {host: mobile-api, subset: v1}\n"
                         "      weigth: 5\n" SEDR,
                 "t.yaml:9:7: error: spec.http[0].route[0].weigth: unknown field (did you mean "
                 "\"weight\"?)");
}

static void
test_conf_unsupported_fields_are_rejected(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD "  - tcp: []\n" V1
                         "    rewrite: {uriRegexRewrite: {match: a, rewrite: b}}\n"
                         "    retries: {attempts: 2, retryRemoteLocalities: true}\n"
                         "  - match: [{uri: {prefix: /}}]\n" V1 SEDR,
                 "t.yaml:7:5: error: spec.http[0].tcp: unknown field");
    expect_diag(f, "t.yaml:9:15: error: spec.http[0].rewrite.uriRegexRewrite: regex rewrites are "
                   "not implemented by canaryd; use a prefix rewrite (rewrite.uri)");
    expect_diag(f, "t.yaml:10:51: error: spec.http[0].retries.retryRemoteLocalities: "
                   "retryRemoteLocalities: true needs localities, which canaryd does not have; "
                   "retries already go to other endpoints of the subset");
}

static void
test_conf_wrong_types_are_reported(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD "  - route:\n"
                         "    - destination: {host: mobile-api, port: {number: \"80\"}}\n"
                         "      weight: yes\n"
                         "    timeout: 5\n"
                         "    match: {uri: {prefix: /}}\n" SEDR,
                 "t.yaml:8:54: error: spec.http[0].route[0].destination.port.number: expected "
                 "an integer, got a string");
    expect_diag(f, "t.yaml:9:15: error: spec.http[0].route[0].weight: expected an integer, got "
                   "a string");
    expect_diag(f, "t.yaml:10:14: error: spec.http[0].timeout: expected a string, got an "
                   "integer (quote it: \"5\")");
    expect_diag(f, "t.yaml:11:12: error: spec.http[0].match: expected a list, got a map");
}

static void
test_conf_missing_required_fields_are_reported(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                 "metadata: {namespace: x}\nspec:\n  http:\n  - route: [{destination: {}}]\n",
                 "t.yaml:3:11: error: metadata.name: missing required field");
    expect_diag(f, "t.yaml:6:27: error: spec.http[0].route[0].destination.host: missing "
                   "required field");
}

static void
test_conf_duplicate_name_per_kind_is_an_error(void **state)
{
    struct fx *f = *state;
    expect_error(f, VS_HEAD V1I "---\n" VS_HEAD V1I SEDR,
                 "t.yaml:11:18: error: metadata.name: VirtualService \"default/vs\" is already "
                 "defined at t.yaml:3:18");
}

static void
test_conf_same_name_in_other_namespace_is_fine(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_HEAD V1I
              "---\napiVersion: networking.istio.io/v1\n"
              "kind: VirtualService\nmetadata: {name: vs, namespace: other}\n"
              "spec:\n  hosts: [other-api]\n  http:\n  - route: [{destination: {host: x}}]\n" SEDR);
    assert_int_equal(f->c->nvss, 2);
    assert_string_equal(f->c->vss[1].ns, "other");
}

/* ---- routes ---- */

static void
test_conf_negative_weight_is_an_error(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD "  - route:\n"
                         "    - {destination: {host: mobile-api, subset: v1}, weight: -5}\n"
                         "    - {destination: {host: mobile-api, subset: v2}, weight: 105}\n" SEDR,
                 "t.yaml:8:61: error: spec.http[0].route[0].weight: must not be negative (got "
                 "-5)");
}

static void
test_conf_all_zero_weights_is_an_error(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD "  - route:\n"
                         "    - {destination: {host: mobile-api, subset: v1}, weight: 0}\n"
                         "    - {destination: {host: mobile-api, subset: v2}}\n" SEDR,
                 "t.yaml:7:5: error: spec.http[0]: every destination has weight 0: the route "
                 "could send traffic nowhere");
}

static void
test_conf_weights_not_100_warn_and_stay_relative(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_HEAD
              "  - route:\n"
              "    - {destination: {host: mobile-api, subset: v1}, weight: 3}\n"
              "    - {destination: {host: mobile-api, subset: v2}, weight: 1}\n"
              "  - route: [{destination: {host: mobile-api, subset: v2}, weight: 0}]\n" SEDR);
    expect_diag(f, "t.yaml:7:5: warning: spec.http[0]: the weights add up to 4, not 100; they "
                   "are relative shares");
    const struct conf_route *r = &f->c->vss[0].routes[0];
    assert_int_equal(r->cum_weight[0], 3);
    assert_int_equal(r->total_weight, 4);
    assert_int_equal(f->c->vss[0].routes[1].total_weight, 100);
}

static void
test_conf_zero_weight_gets_empty_range(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_HEAD "  - route:\n"
                         "    - {destination: {host: mobile-api, subset: v1}, weight: 100}\n"
                         "    - {destination: {host: mobile-api, subset: v2}, weight: 0}\n" SEDR);
    const struct conf_route *r = &f->c->vss[0].routes[0];
    assert_int_equal(r->cum_weight[0], 100);
    assert_int_equal(r->cum_weight[1], 100);
    assert_int_equal(f->dl.n, 0);
}

/* One run lists everything: a parse error in one object does not hide the
 * semantic errors of the others, and adds none for what refers to it. */
static void
test_conf_all_errors_in_one_run(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 "apiVersion: networking.istio.io/v1\n"
                 "kind: DestinationRule\n"
                 "metadata: {name: broken}\n"
                 "spec:\n"
                 "  host: reviews\n"
                 "  subsetz: []\n"
                 "---\n" VS_HEAD "  - route:\n"
                 "    - {destination: {host: mobile-api, subset: v3}, weight: 50}\n"
                 "    - {destination: {host: reviews, subset: v9}, weight: 50}\n" SEDR,
                 "t.yaml:6:3: error: spec.subsetz: unknown field (did you mean \"subsets\"?)");
    expect_diag(f, "t.yaml:15:48: error: spec.http[0].route[0].destination.subset: subset \"v3\" "
                   "is not defined by DestinationRule default/mobile-api");
    assert_int_equal(f->dl.nerrors, 2);
}

/* YAML's .inf and .nan are numbers to libyaml, not percentages. */
static void
test_conf_non_finite_numbers_are_errors(void **state)
{
    struct fx *f = *state;
    expect_error(
        f, VS_HEAD "  - fault: {abort: {httpStatus: 500, percentage: {value: .inf}}}\n" V1 SEDR,
        "t.yaml:7:58: error: spec.http[0].fault.abort.percentage.value: expected a "
        "finite decimal number, got \".inf\"");
    assert_null(build(f, VS_HEAD
                      "  - route: [{destination: {host: mobile-api}}]\n" SEDR "  trafficPolicy:\n"
                      "    loadBalancer: {warmup: {duration: 10s, minimumPercent: .nan}}\n"));
    assert_true(has_diag_containing(&f->dl,
                                    "spec.trafficPolicy.loadBalancer.warmup.minimumPercent: "
                                    "expected a finite decimal number, got \".nan\""));
}

static void
test_conf_undefined_subsets_are_reported(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD "  - route:\n"
                         "    - {destination: {host: mobile-api, subset: v3}, weight: 50}\n"
                         "    - {destination: {host: other, subset: v1}, weight: 50}\n" SEDR,
                 "t.yaml:8:48: error: spec.http[0].route[0].destination.subset: subset \"v3\" is "
                 "not defined by DestinationRule default/mobile-api");
    expect_diag(f, "t.yaml:9:43: error: spec.http[0].route[1].destination.subset: subset \"v1\" "
                   "of host \"other\" is not defined: no DestinationRule for this host");
}

static void
test_conf_subset_of_host_without_service_entry_is_reported(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD "  - route: [{destination: {host: web, subset: v1}}]\n"
                         "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                         "metadata: {name: web}\nspec:\n  host: web\n  subsets: [{name: v1}]\n",
                 "t.yaml:7:47: error: spec.http[0].route[0].destination.subset: subset \"v1\" of "
                 "host \"web\" needs a ServiceEntry: the host has none, so it is a DNS name "
                 "without labelled endpoints");
    expect_diag(f, "t.yaml:14:13: error: spec.subsets[0]: subset \"v1\": host \"web\" has no "
                   "ServiceEntry, so the subset selects no endpoint");
}

static void
test_conf_subset_selecting_nothing_is_an_error(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                 "metadata: {name: dr2}\nspec:\n  host: mobile-api.default.svc.cluster.local\n"
                 "  subsets:\n  - name: v9\n    labels: {version: v9}\n" SEDR,
                 "t.yaml:7:5: error: spec.subsets[0]: subset \"v9\": its labels select no "
                 "endpoint of ServiceEntry default/mobile-api");
}

static void
test_conf_route_actions_must_be_exactly_one(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD "  - name: none\n"
                         "  - redirect: {uri: /x}\n" V1 "  - directResponse: {status: 200}\n" V1
                         "  - redirect: {uri: /x}\n    directResponse: {status: 200}\n" SEDR,
                 "t.yaml:7:5: error: spec.http[0]: a route needs one of route, redirect, "
                 "directResponse or delegate");
    expect_diag(f, "t.yaml:8:5: error: spec.http[1]: route and redirect are mutually exclusive");
    expect_diag(f, "t.yaml:10:5: error: spec.http[2]: route and directResponse are mutually "
                   "exclusive");
    expect_diag(f, "t.yaml:12:5: error: spec.http[3]: redirect and directResponse are mutually "
                   "exclusive");
}

static void
test_conf_bad_regex_shows_pcre2_message_and_offset(void **state)
{
    struct fx *f = *state;
    expect_error(f, VS_HEAD "  - match: [{uri: {regex: \"/a(b\"}}]\n" V1 SEDR,
                 "t.yaml:7:27: error: spec.http[0].match[0].uri.regex: invalid regex: missing "
                 "closing parenthesis at offset 4 of \"/a(b\"");
}

static void
test_conf_overlong_regex_is_an_error(void **state)
{
    struct fx *f = *state;
    char *yaml = malloc(4096);
    char big[1100];
    memset(big, 'a', 1030);
    big[1030] = '\0';
    snprintf(yaml, 4096, VS_HEAD "  - match: [{uri: {regex: \"%s\"}}]\n" V1 SEDR, big);
    assert_null(build(f, yaml));
    free(yaml);
    expect_diag(f, "t.yaml:7:27: error: spec.http[0].match[0].uri.regex: invalid regex: regex "
                   "is 1030 characters long, more than the limit of 1024 (at offset 1024)");
}

static void
test_conf_direct_response_status_out_of_range(void **state)
{
    struct fx *f = *state;
    expect_error(f, VS_HEAD "  - directResponse: {status: 199}\n" SEDR,
                 "t.yaml:7:30: error: spec.http[0].directResponse.status: must be between 200 "
                 "and 599 (got 199)");
}

static void
test_conf_route_after_catch_all_warns(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_HEAD "  - name: all\n    match: [{name: m}]\n" V1
                         "  - match: [{uri: {prefix: /a}}]\n" V1 SEDR);
    expect_diag(f, "t.yaml:10:5: warning: spec.http[1]: this route can never match: route "
                   "\"all\" (spec.http[0]) before it matches every request");
}

/* ---- listeners and hosts ---- */

#define GW(name, port, bind)                                                                       \
    "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: " name "}\n"         \
    "spec:\n  servers:\n  - port: {number: " port ", name: http, protocol: HTTP}\n"                \
    "    hosts: ['*']\n" bind

/* As Istio merges servers by port: one listener, named after the first. */
static void
test_conf_gateway_servers_on_one_address_share_a_listener(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_HEAD V1I GW("g1", "80", "") GW("g2", "80", "    bind: 0.0.0.0\n") SEDR);
    assert_int_equal(f->c->nlisteners, 2); /* g1+g2 on 0.0.0.0:80, and default */
    assert_string_equal(f->c->listeners[0].name, "g1/http");
    assert_string_equal(f->c->listeners[0].addr, "0.0.0.0:80");
}

static void
test_conf_gateways_make_listeners(void **state)
{
    struct fx *f = *state;
    expect_ok(f, "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                 "metadata: {name: vs}\nspec:\n  hosts: [mobile-api]\n  gateways: [g1]\n"
                 "  http:\n" V1I GW("g1", "8081", "    bind: 127.0.0.1\n") SEDR);
    assert_int_equal(f->c->nlisteners, 1);
    assert_string_equal(f->c->listeners[0].name, "g1/http");
    assert_string_equal(f->c->listeners[0].addr, "127.0.0.1:8081");
    assert_int_equal(f->c->listeners[0].port, 8081);
    assert_non_null(strstr(f->c->summary, "listener=g1/http\n"));
}

static void
test_conf_unknown_gateway_is_an_error(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                 "metadata: {name: vs}\nspec:\n  hosts: [mobile-api]\n  gateways: [nope]\n"
                 "  http:\n" V1I SEDR,
                 "t.yaml:6:14: error: spec.gateways[0]: Gateway \"nope\" is not defined");
}

static void
test_conf_host_claimed_twice_on_listener_is_an_error(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD V1I "---\napiVersion: networking.istio.io/v1\n"
                             "kind: VirtualService\nmetadata: {name: vs2}\nspec:\n"
                             "  hosts: [mobile-api.default.svc]\n  http:\n" V1I SEDR,
                 "t.yaml:13:11: error: spec.hosts[0]: host \"mobile-api.default.svc\" on listener "
                 "\"default\" is already claimed by VirtualService default/vs");
}

static const struct conf_vs *
lookup_exact(const struct conf_vhosts *vh, const char *host)
{
    size_t len = strlen(host);
    uint32_t h = conf_host_hash(host, len);
    for (size_t i = h & (vh->nexact_slots - 1); vh->exact[i].host != NULL;
         i = (i + 1) & (vh->nexact_slots - 1))
        if (vh->exact[i].len == len && strcasecmp(vh->exact[i].host, host) == 0)
            return vh->exact[i].vh->vs;
    return NULL;
}

static void
test_conf_host_table_has_short_forms_and_sorted_wildcards(void **state)
{
    struct fx *f = *state;
    expect_ok(f, "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                 "metadata: {name: vs, namespace: prod}\nspec:\n"
                 "  hosts: [Mobile-API, '*.example.com', '*.api.example.com', '*']\n"
                 "  http:\n  - route: [{destination: {host: mobile-api}}]\n");
    const struct conf_vhosts *vh = &f->c->listeners[0].vhosts;
    const char *forms[] = {"mobile-api", "mobile-api.prod", "mobile-api.prod.svc",
                           "mobile-api.prod.svc.cluster.local", "MOBILE-api.prod"};
    for (size_t i = 0; i < countof(forms); i++)
        assert_ptr_equal(lookup_exact(vh, forms[i]), &f->c->vss[0]);
    assert_null(lookup_exact(vh, "mobile-api.default"));
    assert_int_equal(vh->nwild, 2);
    assert_string_equal(vh->wild[0].suffix, ".api.example.com");
    assert_string_equal(vh->wild[1].suffix, ".example.com");
    assert_ptr_equal(vh->star->vs, &f->c->vss[0]);
    assert_int_equal(conf_host_hash("AbC", 3), conf_host_hash("abc", 3));
    /* No ServiceEntry: the destination host is a DNS name on port 80. */
    const struct conf_cluster *cl = f->c->vss[0].routes[0].dests[0].cluster;
    assert_true(cl->is_dns);
    assert_int_equal(cl->neps, 1);
    assert_true(cl->eps[0]->is_dns);
    assert_string_equal(cl->eps[0]->address, "mobile-api");
    assert_int_equal(cl->eps[0]->port, 80);
    assert_string_equal(f->c->vss[0].routes[0].name, "route-0");
}

static void
test_conf_listen_addresses_parse(void **state)
{
    (void)state;
    struct sockaddr_storage sa;
    socklen_t len;
    uint16_t port;
    assert_int_equal(conf_addr_parse("127.0.0.1:80", &sa, &len, &port), 0);
    assert_int_equal(port, 80);
    assert_int_equal(sa.ss_family, AF_INET);
    assert_int_equal(conf_addr_parse("[::1]:8443", &sa, &len, &port), 0);
    assert_int_equal(sa.ss_family, AF_INET6);
    assert_int_equal(len, sizeof(struct sockaddr_in6));
    assert_int_equal(conf_addr_parse(":9000", &sa, &len, &port), 0);
    assert_int_equal(((struct sockaddr_in *)&sa)->sin_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(conf_addr_parse("localhost:1", &sa, &len, &port), 0);
    assert_int_equal(conf_addr_parse("1.2.3.4", &sa, &len, &port), -1);
    assert_int_equal(conf_addr_parse("1.2.3.4:0", &sa, &len, &port), -1);
    assert_int_equal(conf_addr_parse("1.2.3.4:70000", &sa, &len, &port), -1);
    assert_int_equal(conf_addr_parse("example.com:80", &sa, &len, &port), -1);
    assert_int_equal(conf_addr_parse("[::1:80", &sa, &len, &port), -1);
}

static void
test_conf_bad_listen_option_is_an_error(void **state)
{
    struct fx *f = *state;
    struct conf_opts opts = {.listen_addr = "nope"};
    const char *y = VS_HEAD V1I SEDR;
    f->c = conf_build_buffer("t.yaml", y, strlen(y), &opts, &f->dl);
    assert_null(f->c);
    expect_diag(f, ":0:0: error: --listen: invalid address \"nope\" (expected HOST:PORT, "
                   "[IPv6]:PORT or :PORT)");
}

/* ---- typed fields ---- */

static void
test_conf_durations_parse(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint32_t ms;
    } ok[] = {{"1.5s", 1500}, {"250ms", 250}, {"1m", 60000},      {"1h", 3600000},
              {"10us", 1},    {"0s", 0},      {"1h30m", 5400000}, {"2000ns", 1}};
    for (size_t i = 0; i < countof(ok); i++) {
        uint32_t ms = 99;
        const char *why = NULL;
        assert_int_equal(cf_parse_duration(ok[i].s, strlen(ok[i].s), &ms, &why), 0);
        assert_int_equal(ms, ok[i].ms);
    }
    static const char *const bad[] = {"", "5", "s", "-1s", "1x", "5000000h"};
    for (size_t i = 0; i < countof(bad); i++) {
        uint32_t ms;
        const char *why = NULL;
        assert_int_equal(cf_parse_duration(bad[i], strlen(bad[i]), &ms, &why), -1);
        assert_non_null(why);
    }
}

static void
test_conf_route_fields_are_typed(void **state)
{
    struct fx *f = *state;
    expect_ok(
        f, VS_HEAD
        "  - match:\n"
        "    - uri: {prefix: /Api}\n      ignoreUriCase: true\n      method: {exact: GET}\n"
        "      queryParams: {Debug: {exact: \"\"}}\n      withoutHeaders: {X-Int: {}}\n"
        "      headers: {X-Dbg: {regex: \"*\"}}\n      port: 8080\n"
        "    route:\n"
        "    - destination: {host: mobile-api, subset: v2}\n"
        "      headers: {request: {set: {X-Canary: 'yes'}}}\n"
        "    timeout: 1.5s\n"
        "    retries: {attempts: 3, perTryTimeout: 250ms, retryOn: 'connect-failure,5xx,503'}\n"
        "    fault:\n      delay: {fixedDelay: 10us, percentage: {value: 0.5}}\n"
        "      abort: {httpStatus: 503}\n"
        "    mirror: {host: shadow, port: {number: 8080}}\n"
        "    mirrorPercentage: {value: 12.5}\n"
        "    headers:\n      request: {add: {X-A: b}, remove: [X-Gone]}\n"
        "      response: {set: {Server: canaryd}}\n"
        "    rewrite: {uri: /v2, authority: new}\n" SEDR);
    const struct conf_route *r = &f->c->vss[0].routes[0];
    const struct conf_match *m = &r->matches[0];
    assert_int_equal(m->uri->kind, MATCH_PREFIX);
    assert_true(m->uri->ignore_case);
    assert_int_equal(m->method->kind, MATCH_EXACT);
    assert_int_equal(m->nquery, 1);
    assert_string_equal(m->query[0].name, "Debug");
    assert_int_equal(m->query[0].m.kind, MATCH_EXACT);
    assert_int_equal(m->query[0].m.len, 0);
    assert_int_equal(m->nheaders, 2);
    assert_string_equal(m->headers[0].name, "x-int");
    assert_true(m->headers[0].invert);
    assert_int_equal(m->headers[0].m.kind, MATCH_PRESENT);
    assert_int_equal(m->headers[1].m.kind, MATCH_PRESENT);
    assert_false(m->headers[1].invert);
    assert_int_equal(m->port, 8080);
    assert_string_equal(r->dests[0].headers.request.set[0].name, "x-canary");
    assert_int_equal(r->timeout_ms, 1500);
    assert_true(r->retries.is_set);
    assert_int_equal(r->retries.attempts, 3);
    assert_int_equal(r->retries.per_try_timeout_ms, 250);
    assert_int_equal(r->retries.on,
                     RETRY_ON_CONNECT_FAILURE | RETRY_ON_5XX | RETRY_ON_STATUS_CODES);
    assert_int_equal(r->retries.ncodes, 1);
    assert_int_equal(r->retries.codes[0], 503);
    assert_true(r->retries.ignore_previous_hosts);
    assert_true(r->fault.has_delay);
    assert_int_equal(r->fault.delay_ms, 1);
    assert_int_equal(r->fault.delay_ppm, 5000);
    assert_int_equal(r->fault.abort_status, 503);
    assert_int_equal(r->fault.abort_ppm, CONF_PPM_ALL);
    assert_int_equal(r->nmirrors, 1);
    assert_int_equal(r->mirrors[0].ppm, 125000);
    assert_string_equal(r->mirrors[0].cluster->host, "shadow");
    assert_int_equal(r->mirrors[0].cluster->port, 8080);
    assert_string_equal(r->headers.request.add[0].name, "x-a");
    assert_string_equal(r->headers.request.remove[0].name, "x-gone");
    assert_string_equal(r->headers.response.set[0].value, "canaryd");
    assert_string_equal(r->rewrite.uri, "/v2");
    assert_int_equal(r->rewrite.authority_len, 3);
    assert_int_equal(f->c->nclusters, 2);
}

static void
test_conf_redirect_and_direct_response_are_typed(void **state)
{
    struct fx *f = *state;
    expect_ok(f,
              VS_HEAD "  - match: [{uri: {exact: /old}}]\n"
                      "    redirect: {uri: /new, authority: b.example, scheme: https, port: 8443}\n"
                      "  - match: [{uri: {exact: /t}}]\n"
                      "    directResponse: {status: 418, body: {bytes: aGVsbG8=}}\n"
                      "  - directResponse: {status: 503, body: {string: down}}\n" SEDR);
    const struct conf_route *r = f->c->vss[0].routes;
    assert_int_equal(r[0].action, CONF_ACTION_REDIRECT);
    assert_int_equal(r[0].redirect.status, 301);
    assert_int_equal(r[0].redirect.port, 8443);
    assert_string_equal(r[0].redirect.scheme, "https");
    assert_int_equal(r[1].action, CONF_ACTION_DIRECT);
    assert_int_equal(r[1].direct.body_len, 5);
    assert_memory_equal(r[1].direct.body, "hello", 5);
    assert_int_equal(r[2].direct.status, 503);
    assert_string_equal(r[2].direct.body, "down");
}

static void
test_conf_policy_subset_replaces_host_components(void **state)
{
    struct fx *f = *state;
    expect_ok(f,
              VS_HEAD "  - route:\n"
                      "    - {destination: {host: mobile-api, subset: v1}, weight: 50}\n"
                      "    - {destination: {host: mobile-api, subset: v2}, weight: 50}\n"
                      "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                      "metadata: {name: mobile-api}\nspec:\n  hosts: [mobile-api]\n"
                      "  ports: [{number: 80, name: http}]\n  resolution: DNS\n"
                      "  endpoints:\n  - {address: v1.internal, labels: {version: v1}}\n"
                      "  - {address: 10.0.0.2, labels: {version: v2}, weight: 3}\n"
                      "---\napiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\n"
                      "metadata: {name: mobile-api}\nspec:\n  host: mobile-api\n  trafficPolicy:\n"
                      "    loadBalancer: {consistentHash: {httpCookie: {name: u, ttl: 0s}}}\n"
                      "    connectionPool: {tcp: {maxConnections: 10, connectTimeout: 2s},\n"
                      "                     http: {idleTimeout: 30s}}\n"
                      "    outlierDetection: {consecutive5xxErrors: 3}\n"
                      "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
                      "  - name: v2\n    labels: {version: v2}\n    trafficPolicy:\n"
                      "      loadBalancer: {simple: LEAST_REQUEST}\n"
                      "      connectionPool: {tcp: {maxConnections: 5}}\n");
    const struct conf_route *r = &f->c->vss[0].routes[0];
    const struct conf_cluster *v1 = r->dests[0].cluster, *v2 = r->dests[1].cluster;
    assert_int_equal(v1->policy.lb, LB_HASH);
    assert_int_equal(v1->policy.hash.src, CONF_KEY_COOKIE);
    assert_string_equal(v1->policy.hash.name, "u");
    assert_int_equal(v1->policy.pool.max_connections, 10);
    assert_int_equal(v2->policy.lb, LB_LEAST_REQUEST);
    /* The subset's connectionPool replaces the host's whole (Istio): what it
     * leaves out takes the default, not the host's value. */
    assert_int_equal(v2->policy.pool.max_connections, 5);
    assert_int_equal(v2->policy.pool.connect_timeout_ms, 0);
    assert_int_equal(v2->policy.pool.idle_timeout_ms, 0);
    assert_int_equal(v1->policy.pool.connect_timeout_ms, 2000);
    assert_int_equal(v1->policy.pool.idle_timeout_ms, 30000);
    /* A component the subset does not write is the host's. */
    assert_true(v2->policy.outlier.enabled);
    assert_int_equal(v2->policy.outlier.consecutive_5xx, 3);
    assert_int_equal(v2->policy.outlier.interval_ms, 10000);
    assert_true(v1->is_dns);
    assert_true(v1->eps[0]->is_dns);
    assert_int_equal(v1->eps[0]->port, 80);
    assert_false(v2->eps[0]->is_dns);
    assert_int_equal(v2->eps[0]->weight, 3);
    assert_int_equal(f->c->endpoints[v2->eps[0]->index].weight, 3);
}

/* ---- several DestinationRules for one host ---- */

/* The ServiceEntry for mobile-api alone (v1 on 9001, v2 on 9002). */
#define SE_ONLY                                                                                    \
    "---\n"                                                                                        \
    "apiVersion: networking.istio.io/v1\n"                                                         \
    "kind: ServiceEntry\n"                                                                         \
    "metadata: {name: mobile-api}\n"                                                               \
    "spec:\n"                                                                                      \
    "  hosts: [mobile-api]\n"                                                                      \
    "  ports: [{number: 80, name: http, protocol: HTTP}, {number: 8080, name: admin}]\n"           \
    "  resolution: STATIC\n"                                                                       \
    "  endpoints:\n"                                                                               \
    "  - {address: 127.0.0.1, ports: {http: 9001}, labels: {version: v1}}\n"                       \
    "  - {address: 127.0.0.1, ports: {http: 9002}, labels: {version: v2}}\n"

/* A 50/50 split between v1 and v2, 9 lines. */
#define VS_SPLIT                                                                                   \
    VS_HEAD "  - route:\n"                                                                         \
            "    - {destination: {host: mobile-api, subset: v1}, weight: 50}\n"                    \
            "    - {destination: {host: mobile-api, subset: v2}, weight: 50}\n"

static void
test_conf_dr_merge_combines_subsets_of_two_rules(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_SPLIT "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: mobile-api-v2}\nspec:\n  host: mobile-api\n"
                          "  subsets: [{name: v2, labels: {version: v2}}]\n"
                          "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: mobile-api-v1}\nspec:\n"
                          "  host: mobile-api.default.svc.cluster.local\n"
                          "  subsets: [{name: v1, labels: {version: v1}}]\n" SE_ONLY);
    assert_int_equal(f->dl.n, 0);
    const struct conf_route *r = &f->c->vss[0].routes[0];
    assert_string_equal(r->dests[0].cluster->subset, "v1");
    assert_int_equal(r->dests[0].cluster->neps, 1);
    assert_int_equal(r->dests[0].cluster->eps[0]->port, 9001);
    assert_string_equal(r->dests[1].cluster->subset, "v2");
    assert_int_equal(r->dests[1].cluster->neps, 1);
    assert_int_equal(r->dests[1].cluster->eps[0]->port, 9002);
}

static void
test_conf_dr_merge_first_policy_wins_later_one_warns(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_SPLIT "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: b-rule}\nspec:\n  host: mobile-api\n"
                          "  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n"
                          "  subsets: [{name: v2, labels: {version: v2}}]\n"
                          "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: a-rule}\nspec:\n  host: mobile-api\n"
                          "  subsets: [{name: v1, labels: {version: v1}}]\n"
                          "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: c-rule}\nspec:\n  host: mobile-api\n"
                          "  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}\n" SE_ONLY);
    /* Istio's order is by name here (no creationTimestamp): a-rule has no
     * trafficPolicy, so b-rule's is the first one; c-rule's is ignored. */
    expect_diag(f, "t.yaml:31:18: warning: spec.trafficPolicy: this trafficPolicy is ignored: host "
                   "\"mobile-api\" already has the trafficPolicy of DestinationRule "
                   "default/b-rule at t.yaml:16:18, and the first rule's trafficPolicy wins");
    assert_int_equal(f->dl.nwarnings, 1);
    const struct conf_route *r = &f->c->vss[0].routes[0];
    assert_int_equal(r->dests[0].cluster->policy.lb, LB_RANDOM);
    assert_int_equal(r->dests[1].cluster->policy.lb, LB_RANDOM);
}

static void
test_conf_dr_merge_duplicate_subset_first_wins_with_warning(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_SPLIT "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: rule-2}\nspec:\n  host: mobile-api\n"
                          "  subsets:\n  - {name: v2, labels: {version: v2}}\n"
                          "  - {name: v1, labels: {version: v2}}\n"
                          "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: rule-1}\nspec:\n  host: mobile-api\n"
                          "  subsets: [{name: v1, labels: {version: v1}}]\n" SE_ONLY);
    expect_diag(f, "t.yaml:18:5: warning: spec.subsets[1]: subset \"v1\" is ignored: "
                   "DestinationRule default/rule-1 defines it for host \"mobile-api\" at "
                   "t.yaml:25:13, and the first rule for a host wins");
    const struct conf_route *r = &f->c->vss[0].routes[0];
    assert_int_equal(r->dests[0].cluster->eps[0]->port, 9001);
}

static void
test_conf_dr_merge_duplicate_subset_names_the_rule_that_defines_it(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_SPLIT "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: r1}\nspec:\n  host: mobile-api\n"
                          "  subsets: [{name: v1, labels: {version: v1}}]\n"
                          "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: r2}\nspec:\n  host: mobile-api\n"
                          "  subsets: [{name: v2, labels: {version: v2}}]\n"
                          "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: r3}\nspec:\n  host: mobile-api\n"
                          "  subsets: [{name: v2, labels: {version: v1}}]\n" SE_ONLY);
    expect_diag(f, "t.yaml:30:13: warning: spec.subsets[0]: subset \"v2\" is ignored: "
                   "DestinationRule default/r2 defines it for host \"mobile-api\" at "
                   "t.yaml:23:13, and the first rule for a host wins");
    assert_int_equal(f->c->vss[0].routes[0].dests[1].cluster->eps[0]->port, 9002);
}

static void
test_conf_dr_merge_orders_by_creation_time_then_name(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_SPLIT "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: a-new, creationTimestamp: \"2024-06-01T00:00:00Z\"}\n"
                          "spec:\n  host: mobile-api\n"
                          "  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n"
                          "  subsets: [{name: v1, labels: {version: v1}}]\n"
                          "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                          "metadata: {name: z-old, creationTimestamp: \"2023-01-01T00:00:00Z\"}\n"
                          "spec:\n  host: mobile-api\n"
                          "  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}\n"
                          "  subsets: [{name: v2, labels: {version: v2}}]\n" SE_ONLY);
    expect_diag(f, "t.yaml:16:18: warning: spec.trafficPolicy: this trafficPolicy is ignored: "
                   "host \"mobile-api\" already has the trafficPolicy of DestinationRule "
                   "default/z-old at t.yaml:24:18, and the first rule's trafficPolicy wins");
    assert_int_equal(f->c->vss[0].routes[0].dests[0].cluster->policy.lb, LB_LEAST_REQUEST);
}

static void
test_conf_dr_merge_bad_creation_time_warns(void **state)
{
    struct fx *f = *state;
    expect_ok(f, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                 "metadata: {name: dr, creationTimestamp: yesterday}\n"
                 "spec: {host: mobile-api}\n" SE_ONLY);
    expect_diag(f, "t.yaml:3:41: warning: metadata.creationTimestamp: not a creation time as "
                   "Kubernetes writes it (YYYY-MM-DDTHH:MM:SSZ); this object is ordered as if it "
                   "had none (before the others, then by name)");
    build(f, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
             "metadata: {name: dr, creationTimestamp: null}\n"
             "spec: {host: mobile-api}\n" SE_ONLY);
    assert_non_null(f->c);
    assert_int_equal(f->dl.nwarnings, 1);
}

static void
test_conf_dr_merge_across_namespaces_is_an_error(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                 "metadata: {name: a, namespace: shop}\n"
                 "spec: {host: mobile-api.default.svc.cluster.local}\n" SEDR,
                 /* Istio's order: by name, so shop/a comes first. */
                 "t.yaml:21:9: error: spec.host: host \"mobile-api\" already has DestinationRule "
                 "shop/a: rules for one host are merged only within a namespace, and canaryd has "
                 "no client namespace to choose between namespaces shop and default");
}

static void
test_conf_dr_merge_undefined_subset_names_the_rules(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD "  - route: [{destination: {host: mobile-api, subset: v3}}]\n"
                         "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                         "metadata: {name: extra}\nspec:\n  host: mobile-api\n" SEDR,
                 "t.yaml:7:54: error: spec.http[0].route[0].destination.subset: subset \"v3\" is "
                 "not defined by any of the 2 DestinationRules for host \"mobile-api\" (the first "
                 "is default/extra)");
}

static void
test_conf_dr_merge_corpus_example_loads(void **state)
{
    struct fx *f = *state;
    struct conf *c = build_file(f, "tests/corpus/dr-merge");
    assert_non_null(c);
    assert_int_equal(f->dl.n, 0);
    const struct conf_route *r = &c->vss[0].routes[0];
    const struct conf_cluster *v1 = r->dests[0].cluster, *v2 = r->dests[1].cluster;
    assert_int_equal(v1->neps, 2);
    assert_int_equal(v2->neps, 1);
    /* v2 comes from the canary's rule; the service rule's policy applies. */
    assert_int_equal(v2->policy.lb, LB_LEAST_REQUEST);
    assert_int_equal(v2->policy.pool.max_connections, 200);
    assert_int_equal(v2->policy.outlier.consecutive_5xx, 2);
    assert_int_equal(v1->policy.outlier.consecutive_5xx, 5);
}

/* ---- portLevelSettings ---- */

/* Routes to v1 on port 80, v1 on 8080, v2 on 80, v2 on 8080: 11 lines. */
#define VS_PORTS                                                                                   \
    VS_HEAD                                                                                        \
    "  - route:\n"                                                                                 \
    "    - {destination: {host: mobile-api, subset: v1}, weight: 25}\n"                            \
    "    - {destination: {host: mobile-api, subset: v1, port: {number: 8080}}, weight: 25}\n"      \
    "    - {destination: {host: mobile-api, subset: v2}, weight: 25}\n"                            \
    "    - {destination: {host: mobile-api, subset: v2, port: {number: 8080}}, weight: 25}\n"

#define DR_HEAD                                                                                    \
    "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"                             \
    "metadata: {name: mobile-api}\nspec:\n  host: mobile-api\n"

static const struct conf_policy *
dest_policy(const struct fx *f, size_t i)
{
    return &f->c->vss[0].routes[0].dests[i].cluster->policy;
}

static void
test_conf_port_level_settings_replace_host_policy_for_their_port(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_PORTS DR_HEAD "  trafficPolicy:\n"
                                  "    loadBalancer: {simple: RANDOM}\n"
                                  "    outlierDetection: {consecutive5xxErrors: 7}\n"
                                  "    portLevelSettings:\n"
                                  "    - port: {number: 8080}\n"
                                  "      loadBalancer: {consistentHash: {httpHeaderName: X-User}}\n"
                                  "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
                                  "  - {name: v2, labels: {version: v2}}\n" SE_ONLY);
    assert_int_equal(f->dl.n, 0);
    assert_int_equal(dest_policy(f, 0)->lb, LB_RANDOM);
    assert_int_equal(dest_policy(f, 0)->outlier.consecutive_5xx, 7);
    assert_int_equal(f->c->vss[0].routes[0].dests[1].cluster->port, 8080);
    assert_int_equal(dest_policy(f, 1)->lb, LB_HASH);
    assert_string_equal(dest_policy(f, 1)->hash.name, "x-user");
    /* Not inherited from the destination level: the default applies. */
    assert_false(dest_policy(f, 1)->outlier.enabled);
    assert_int_equal(dest_policy(f, 3)->lb, LB_HASH);
}

/* Istio's precedence: subset port level > subset > host port level > host. */
static void
test_conf_port_level_settings_follow_istio_precedence(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_PORTS DR_HEAD "  trafficPolicy:\n"
                                  "    connectionPool: {tcp: {maxConnections: 10}}\n"
                                  "    portLevelSettings:\n"
                                  "    - port: {number: 8080}\n"
                                  "      loadBalancer: {simple: LEAST_REQUEST}\n"
                                  "      connectionPool: {tcp: {maxConnections: 20}}\n"
                                  "  subsets:\n"
                                  "  - name: v1\n    labels: {version: v1}\n"
                                  "    trafficPolicy: {loadBalancer: {simple: RANDOM}}\n"
                                  "  - name: v2\n    labels: {version: v2}\n"
                                  "    trafficPolicy:\n"
                                  "      loadBalancer: {simple: RANDOM}\n"
                                  "      portLevelSettings:\n"
                                  "      - port: {number: 8080}\n"
                                  "        outlierDetection: {consecutive5xxErrors: 2}\n" SE_ONLY);
    /* v1:80: host policy + the subset's loadBalancer. */
    assert_int_equal(dest_policy(f, 0)->lb, LB_RANDOM);
    assert_int_equal(dest_policy(f, 0)->pool.max_connections, 10);
    /* v1:8080: the host's port item, then the subset's loadBalancer. */
    assert_int_equal(dest_policy(f, 1)->lb, LB_RANDOM);
    assert_int_equal(dest_policy(f, 1)->pool.max_connections, 20);
    /* v2:80: as v1:80. */
    assert_int_equal(dest_policy(f, 2)->lb, LB_RANDOM);
    assert_int_equal(dest_policy(f, 2)->pool.max_connections, 10);
    /* v2:8080: the subset's port item replaces everything. */
    assert_int_equal(dest_policy(f, 3)->lb, LB_ROUND_ROBIN);
    assert_int_equal(dest_policy(f, 3)->pool.max_connections, 0);
    assert_int_equal(dest_policy(f, 3)->outlier.consecutive_5xx, 2);
}

static void
test_conf_port_level_settings_are_checked(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                 "metadata: {name: mobile-api}\nspec:\n  host: mobile-api\n  trafficPolicy:\n"
                 "    portLevelSettings:\n"
                 "    - {port: {number: 80}, tls: {mode: SIMPLE}, loadBalancer: {}}\n"
                 "    - {port: {number: 8080}}\n"
                 "    - {loadBalancer: {simple: RANDOM}}\n" SE_ONLY,
                 "t.yaml:8:40: error: spec.trafficPolicy.portLevelSettings[0].tls.mode: SIMPLE: "
                 "TLS to upstreams needs the TLS support (not yet available); originate TLS "
                 "behind canaryd");
    expect_diag(f, "t.yaml:9:7: error: spec.trafficPolicy.portLevelSettings[1]: a port-level "
                   "traffic policy needs loadBalancer, connectionPool or outlierDetection "
                   "besides its port");
    expect_diag(f, "t.yaml:10:7: error: spec.trafficPolicy.portLevelSettings[2].port: missing "
                   "required field");
}

static void
test_conf_port_level_settings_warn_on_unknown_or_repeated_port(void **state)
{
    struct fx *f = *state;
    expect_ok(f, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                 "metadata: {name: mobile-api}\nspec:\n  host: mobile-api\n  trafficPolicy:\n"
                 "    portLevelSettings:\n"
                 "    - {port: {number: 8080}, loadBalancer: {simple: RANDOM}}\n"
                 "    - {port: {number: 9999}, loadBalancer: {simple: RANDOM}}\n"
                 "    - {port: {number: 8080}, loadBalancer: {simple: LEAST_REQUEST}}\n" SE_ONLY);
    expect_diag(f, "t.yaml:9:14: warning: spec.trafficPolicy.portLevelSettings[1].port: port "
                   "9999 is not a port of ServiceEntry default/mobile-api: these settings apply "
                   "to no destination");
    expect_diag(f, "t.yaml:10:7: warning: spec.trafficPolicy.portLevelSettings[2]: port 8080 "
                   "already has port-level settings at t.yaml:8:7; these are ignored (the first "
                   "item for a port is used)");
}

static void
test_conf_port_level_settings_corpus_example_loads(void **state)
{
    struct fx *f = *state;
    struct conf *c = build_file(f, "tests/corpus/port-level-settings.yaml");
    assert_non_null(c);
    assert_int_equal(f->dl.n, 0);
    const struct conf_cluster *session = c->vss[0].routes[0].dests[0].cluster;
    const struct conf_cluster *canary = c->vss[0].routes[1].dests[1].cluster;
    assert_int_equal(session->port, 8081);
    assert_int_equal(session->policy.lb, LB_HASH);
    assert_int_equal(session->policy.hash.src, CONF_KEY_COOKIE);
    assert_int_equal(session->policy.outlier.consecutive_gateway, 0);
    assert_int_equal(session->policy.outlier.consecutive_5xx, 5);
    assert_int_equal(canary->policy.lb, LB_LEAST_REQUEST);
    assert_int_equal(canary->policy.outlier.consecutive_5xx, 1);
}

static void
test_conf_static_endpoint_must_be_an_ip(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                 "metadata: {name: se}\nspec:\n  hosts: [x]\n  ports: [{number: 80}]\n"
                 "  resolution: STATIC\n  endpoints: [{address: x.internal}]\n",
                 "t.yaml:8:25: error: spec.endpoints[0].address: with resolution STATIC the "
                 "address must be an IP address (use resolution DNS for a host name)");
}

static void
test_conf_split_key_annotation_parses(void **state)
{
    struct fx *f = *state;
    expect_ok(f, "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                 "metadata:\n  name: vs\n  annotations: {canaryd.io/split-key: 'header:X-User',"
                 " other: free}\n  labels: {app: x}\n"
                 "spec:\n  hosts: [mobile-api]\n  http:\n" V1I SEDR);
    assert_int_equal(f->c->vss[0].split_key.src, CONF_KEY_HEADER);
    assert_string_equal(f->c->vss[0].split_key.name, "x-user");
    assert_non_null(strstr(f->c->summary, " split-key=x-user"));
    expect_error(f,
                 "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                 "metadata:\n  name: vs\n  annotations: {canaryd.io/split-key: 'ip'}\n"
                 "spec:\n  hosts: [mobile-api]\n  http:\n" V1I SEDR,
                 "t.yaml:5:39: error: metadata.annotations.canaryd.io/split-key: invalid split "
                 "key \"ip\": expected cookie:NAME, header:NAME, query:NAME or source-ip");
}

/* ---- files, directories, summary ---- */

static void
write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void
test_conf_configmap_directory_loads_each_file_once(void **state)
{
    struct fx *f = *state;
    char dir[] = "/tmp/canaryd-cm-XXXXXX";
    char p[256], q[256];
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/..2026_11_25_00_00_00.1", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/..2026_11_25_00_00_00.1/vs.yaml", dir);
    write_file(p, VS_HEAD V1I);
    snprintf(p, sizeof(p), "%s/..2026_11_25_00_00_00.1/base.yaml", dir);
    write_file(p, SEDR + 4);
    snprintf(p, sizeof(p), "%s/..data", dir);
    assert_int_equal(symlink("..2026_11_25_00_00_00.1", p), 0);
    snprintf(p, sizeof(p), "%s/vs.yaml", dir);
    assert_int_equal(symlink("..data/vs.yaml", p), 0);
    snprintf(p, sizeof(p), "%s/base.yaml", dir);
    assert_int_equal(symlink("..data/base.yaml", p), 0);
    snprintf(q, sizeof(q), "%s/.hidden.yaml", dir);
    write_file(q, "this: [is not valid\n");
    const char *paths[] = {dir};
    struct conf_opts opts = {0};
    f->c = conf_build(paths, 1, &opts, &f->dl);
    if (f->c == NULL)
        diag_list_print(&f->dl, stderr);
    assert_non_null(f->c);
    assert_int_equal(f->c->nsources, 2);
    snprintf(p, sizeof(p), "%s/base.yaml", dir);
    assert_string_equal(f->c->sources[0].path, p);
    assert_int_equal(f->c->counts.virtual_services, 1);
    assert_int_equal(f->c->counts.service_entries, 1);
    assert_string_equal(f->c->listeners[0].addr, "0.0.0.0:8080");
    snprintf(p, sizeof(p), "rm -rf %s", dir);
    assert_int_equal(system(p), 0);
}

static void
test_conf_several_paths_and_documents_load_together(void **state)
{
    struct fx *f = *state;
    char dir[] = "/tmp/canaryd-mp-XXXXXX";
    char a[256], b[256];
    assert_non_null(mkdtemp(dir));
    snprintf(a, sizeof(a), "%s/a.yaml", dir);
    snprintf(b, sizeof(b), "%s/b.yaml", dir);
    write_file(a, VS_HEAD V1I "---\n# nothing\n---\n");
    write_file(b, SEDR);
    const char *paths[] = {a, b};
    struct conf_opts opts = {.listen_addr = "[::1]:9090"};
    f->c = conf_build(paths, 2, &opts, &f->dl);
    assert_non_null(f->c);
    assert_int_equal(f->c->nsources, 2);
    assert_int_equal(f->c->counts.destination_rules, 1);
    assert_int_equal(f->c->listeners[0].sa.ss_family, AF_INET6);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_conf_summary_has_one_line_per_object(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_HEAD "  - match: [{uri: {prefix: /a}}]\n" V1 V1I SEDR);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    conf_print_summary(f->c, out);
    fclose(out);
    assert_string_equal(text,
                        "ServiceEntry default/mobile-api: hosts=mobile-api ports=80 "
                        "resolution=STATIC endpoints=2\n"
                        "DestinationRule default/mobile-api: host=mobile-api subsets=v1,v2\n"
                        "VirtualService default/vs: hosts=mobile-api routes=2 listener=default\n"
                        "Listener default: address=127.0.0.1:8080\n");
    free(text);
    assert_int_equal(f->c->counts.routes, 2);
    assert_int_equal(f->c->routes[1]->index, 1);
    assert_ptr_equal(f->c->routes[1]->vs, &f->c->vss[0]);
}

static void
test_conf_failed_build_leaves_caller_diags_alone(void **state)
{
    struct fx *f = *state;
    diag_add(&f->dl, DIAG_ERROR, "earlier", 1, 1, NULL, "old");
    expect_ok(f, VS_HEAD V1I SEDR);
    assert_int_equal(f->dl.nerrors, 1);
}

/* ---- memory: streaming, shared regexes ---- */

static void
test_conf_repeated_regex_is_compiled_once(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_HEAD
              "  - match:\n"
              "    - headers: {x-user: {regex: \"u-[0-9]+\"}}\n"
              "    - uri: {regex: \"u-[0-9]+\"}\n" V1 "  - match:\n"
              "    - headers: {x-user: {regex: \"u-[0-9]+\"}, x-b: {regex: \"b|c\"}}\n" V1 SEDR);
    const struct conf_route *r0 = &f->c->vss[0].routes[0], *r1 = &f->c->vss[0].routes[1];
    assert_int_equal(f->c->nregexes, 2);
    const struct match *a = &r0->matches[0].headers[0].m, *b = r0->matches[1].uri;
    const struct match *d = &r1->matches[0].headers[0].m, *e = &r1->matches[0].headers[1].m;
    assert_ptr_equal(a->re, b->re);
    assert_ptr_equal(a->re, d->re);
    assert_ptr_not_equal(a->re, e->re);
    assert_int_equal(d->kind, MATCH_REGEX);
    assert_true(match_test(d, "u-42", 4));
    assert_false(match_test(d, "xu-42", 5)); /* still a full match */
    assert_true(match_test(e, "c", 1));
}

/* Documents are parsed as they stream in, yet their diagnostics still come
 * after every YAML-level one, as when the whole file was loaded first. */
static void
test_conf_document_errors_follow_yaml_errors(void **state)
{
    struct fx *f = *state;
    assert_null(build(f, VS_HEAD V1I "    weigth: 5\n"
                                     "---\n"
                                     "a: 1\n"
                                     "a: 2\n"));
    assert_int_equal(f->dl.n, 3);
    char buf[512];
    diag_format(&f->dl.v[0], buf, sizeof(buf));
    assert_string_equal(buf,
                        "t.yaml:11:1: error: duplicate key \"a\" (first at line 10, column 1)");
    diag_format(&f->dl.v[1], buf, sizeof(buf));
    assert_string_equal(buf, "t.yaml:8:5: error: spec.http[0].weigth: unknown field");
    diag_format(&f->dl.v[2], buf, sizeof(buf));
    assert_string_equal(buf, "t.yaml:10:1: error: kind: missing required field");
    assert_int_equal(f->dl.nerrors, 3);
}

/* Labels, port names and traffic policies are read from documents long gone
 * by the time the clusters are built. */
static void
test_conf_earlier_documents_survive_until_compile(void **state)
{
    struct fx *f = *state;
    expect_ok(f, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                 "metadata: {name: mobile-api}\nspec:\n  host: mobile-api\n"
                 "  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: X-U}}}\n"
                 "  subsets:\n  - {name: v2, labels: {version: v2}}\n"
                 "---\n" VS_HEAD "  - route: [{destination: {host: mobile-api, subset: v2}}]\n"
                 "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                 "metadata: {name: mobile-api}\nspec:\n  hosts: [mobile-api]\n"
                 "  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: STATIC\n"
                 "  endpoints:\n"
                 "  - {address: 127.0.0.1, ports: {http: 9001}, labels: {version: v1}}\n"
                 "  - {address: 127.0.0.2, ports: {http: 9002}, labels: {version: v2}}\n");
    const struct conf_cluster *cl = f->c->vss[0].routes[0].dests[0].cluster;
    assert_string_equal(cl->subset, "v2");
    assert_int_equal(cl->policy.lb, LB_HASH);
    assert_string_equal(cl->policy.hash.name, "x-u");
    assert_int_equal(cl->neps, 1);
    assert_string_equal(cl->eps[0]->address, "127.0.0.2");
    assert_int_equal(cl->eps[0]->port, 9002);
}

/* ---- ServiceEntry fields, WorkloadEntry, mesh kinds ---- */

/* A diagnostic containing text (for long messages whose place is tested
 * elsewhere). */
static void
expect_diag_part(struct fx *f, const char *text)
{
    char buf[2048];
    for (size_t i = 0; i < f->dl.n; i++) {
        diag_format(&f->dl.v[i], buf, sizeof(buf));
        if (strstr(buf, text) != NULL)
            return;
    }
    diag_list_print(&f->dl, stderr);
    fail_msg("missing diagnostic containing: %s", text);
}

#define SE_HEAD(name)                                                                              \
    "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: " name "}\n"         \
    "spec:\n"

/* A VirtualService for host h (no subset), one route. */
#define VS_TO(h)                                                                                   \
    "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\n"        \
    "spec:\n  hosts: [" h "]\n  http: [{route: [{destination: {host: " h "}}]}]\n"

static const struct conf_cluster *
first_cluster(const struct fx *f)
{
    assert_non_null(f->c);
    return f->c->vss[0].routes[0].dests[0].cluster;
}

static void
test_conf_resolution_none_routes_to_endpoints_or_resolves_hosts(void **state)
{
    struct fx *f = *state;
    /* Omitted: NONE. With endpoints: routed to them, as STATIC, with a warning. */
    expect_ok(f, SE_HEAD("ext") "  hosts: [api.example.com]\n"
                                "  ports: [{number: 80, name: http}]\n"
                                "  endpoints: [{address: 127.0.0.1, ports: {http: 9001}}]\n" VS_TO(
                                    "api.example.com"));
    const struct conf_cluster *cl = first_cluster(f);
    assert_int_equal(cl->neps, 1);
    assert_string_equal(cl->eps[0]->address, "127.0.0.1");
    assert_int_equal(cl->eps[0]->port, 9001);
    assert_false(cl->eps[0]->is_dns);
    expect_diag(f, "t.yaml:3:18: warning: metadata.name: resolution NONE (the default) with "
                   "endpoints: Istio forwards to the address the client resolved and ignores "
                   "them; canaryd routes to them as with resolution STATIC (write resolution: "
                   "STATIC, which both read alike)");
    assert_non_null(strstr(f->c->summary, " resolution=NONE endpoints=1\n"));
    /* Without endpoints: the hosts themselves, by DNS, on the port number. */
    expect_ok(f, SE_HEAD("ext") "  hosts: [api.example.com]\n"
                                "  ports: [{number: 8080, name: http, targetPort: 9999}]\n"
                                "  resolution: NONE\n" VS_TO("api.example.com"));
    cl = first_cluster(f);
    assert_int_equal(cl->neps, 1);
    assert_string_equal(cl->eps[0]->address, "api.example.com");
    assert_int_equal(cl->eps[0]->port, 8080);
    assert_true(cl->eps[0]->is_dns);
    expect_diag(f, "t.yaml:7:15: warning: spec.resolution: targetPort 9999 of port 8080 has no "
                   "effect with resolution NONE and no endpoints: the hosts are reached on the "
                   "port number, as in Istio");
    assert_non_null(strstr(f->c->summary, "endpoints=1 (the hosts, by DNS)"));
    /* A wildcard cannot be resolved: NONE or DNS without endpoints. */
    expect_error(f,
                 SE_HEAD("ext") "  hosts: [\"*.example.com\"]\n  ports: [{number: 80}]\n" VS_TO(
                     "www.example.com"),
                 "t.yaml:5:11: error: spec.hosts[0]: canaryd cannot resolve the wildcard host "
                 "\"*.example.com\": with resolution NONE and no endpoints it resolves the hosts "
                 "themselves; give endpoints (or a workloadSelector) or list the host names");
    expect_error(f,
                 SE_HEAD("ext") "  hosts: [\"*.example.com\"]\n  ports: [{number: 80}]\n"
                                "  resolution: DNS\n",
                 "t.yaml:5:11: error: spec.hosts[0]: canaryd cannot resolve the wildcard host "
                 "\"*.example.com\": with resolution DNS and no endpoints it resolves the hosts "
                 "themselves; give endpoints (or a workloadSelector) or list the host names");
    /* With endpoints a wildcard host is fine. */
    expect_ok(f, SE_HEAD("ext") "  hosts: [\"*.example.com\"]\n  ports: [{number: 80}]\n"
                                "  resolution: STATIC\n  endpoints: [{address: 127.0.0.1}]\n");
}

static void
test_conf_target_port_comes_after_the_endpoint_port(void **state)
{
    struct fx *f = *state;
    expect_ok(f, SE_HEAD("ext") "  hosts: [api.example.com]\n"
                                "  ports: [{number: 80, name: http, targetPort: 8080}]\n"
                                "  resolution: STATIC\n"
                                "  endpoints:\n"
                                "  - {address: 127.0.0.1, ports: {http: 9001}}\n"
                                "  - {address: 127.0.0.2}\n"
                                "  - {address: 127.0.0.3, ports: {other: 7000}}\n" VS_TO(
                                    "api.example.com"));
    const struct conf_cluster *cl = first_cluster(f);
    assert_int_equal(cl->neps, 3);
    assert_int_equal(cl->port, 80);
    assert_int_equal(cl->eps[0]->port, 9001);
    assert_int_equal(cl->eps[1]->port, 8080);
    assert_int_equal(cl->eps[2]->port, 8080);
    assert_non_null(strstr(f->c->summary, " ports=80->8080 "));
    /* DNS without endpoints: the hosts on targetPort. */
    expect_ok(f, SE_HEAD("ext") "  hosts: [api.example.com]\n"
                                "  ports: [{number: 80, targetPort: 8443}]\n"
                                "  resolution: DNS\n" VS_TO("api.example.com"));
    assert_int_equal(first_cluster(f)->eps[0]->port, 8443);
    expect_error(
        f,
        SE_HEAD("ext") "  hosts: [a.example.com]\n"
                       "  ports: [{number: 80, targetPort: 0}]\n  resolution: DNS\n",
        "t.yaml:6:36: error: spec.ports[0].targetPort: must be between 1 and 65535 (got 0)");
}

static void
test_conf_service_entry_mesh_fields_are_accepted_and_shown(void **state)
{
    struct fx *f = *state;
    expect_ok(f, SE_HEAD("ext") "  hosts: [api.example.com]\n"
                                "  location: MESH_INTERNAL\n"
                                "  addresses: [240.240.0.1, 2001:db8::/32]\n"
                                "  ports: [{number: 80, name: http}]\n"
                                "  resolution: STATIC\n"
                                "  endpoints:\n"
                                "  - {address: 127.0.0.1, locality: us-east1/us-east1-b}\n"
                                "  - {address: 127.0.0.2, locality: us-east1/us-east1-b, network: "
                                "west, serviceAccount: api}\n"
                                "  - {address: 127.0.0.3, locality: eu-west1}\n");
    expect_diag(f, "t.yaml:7:14: warning: spec.addresses: VIPs mean nothing to a proxy that "
                   "clients address directly; canaryd routes by Host");
    expect_diag_part(f, "t.yaml:12:57: warning: spec.endpoints[1].network: canaryd connects to "
                        "the endpoint's address directly");
    expect_diag_part(f, "spec.endpoints[1].serviceAccount: canaryd connects to endpoints in "
                        "plain text and checks no workload identity");
    assert_non_null(strstr(f->c->summary, " location=MESH_INTERNAL (routed alike) "
                                          "localities=us-east1/us-east1-b,eu-west1\n"));
    expect_error(f,
                 SE_HEAD("ext") "  hosts: [a.example.com]\n  addresses: [10.0.0.1/40, vip]\n"
                                "  ports: [{number: 80}]\n  resolution: DNS\n",
                 "t.yaml:6:28: error: spec.addresses[1]: \"vip\" is not an IP address or a CIDR "
                 "block");
    expect_diag(f, "t.yaml:6:15: error: spec.addresses[0]: \"10.0.0.1/40\" is not an IP "
                   "address or a CIDR block");
    expect_error(f,
                 SE_HEAD("ext") "  hosts: [a.example.com]\n  ports: [{number: 80}]\n"
                                "  resolution: STATIC\n"
                                "  endpoints: [{address: 127.0.0.1, locality: us//b}]\n",
                 "t.yaml:8:46: error: spec.endpoints[0].locality: invalid locality \"us//b\": "
                 "expected region, region/zone or region/zone/subzone");
    expect_error(f,
                 SE_HEAD("ext") "  hosts: [a.example.com]\n  ports: [{number: 80}]\n"
                                "  location: OUTSIDE\n  resolution: DNS\n",
                 "t.yaml:7:13: error: spec.location: unknown value \"OUTSIDE\"");
    /* exportTo is acted on (test_conf_export_to_*). */
    expect_ok(f, SE_HEAD("ext") "  hosts: [a.example.com]\n  ports: [{number: 80}]\n"
                                "  resolution: DNS\n  exportTo: [\".\"]\n");
}

static void
test_conf_port_protocols_ignore_case(void **state)
{
    struct fx *f = *state;
    expect_ok(f, SE_HEAD("ext") "  hosts: [a.example.com, b.example.com]\n"
                                "  ports: [{number: 80, name: http, protocol: http}, {number: 81, "
                                "name: web, protocol: Http}, {number: 82, name: http-alt}]\n"
                                "  resolution: DNS\n"
                                "---\napiVersion: networking.istio.io/v1\nkind: Gateway\n"
                                "metadata: {name: edge}\nspec:\n  servers:\n"
                                "  - port: {number: 18080, name: http, protocol: http}\n"
                                "    hosts: [\"*\"]\n");
    assert_int_equal(f->c->nlisteners, 1);
    /* A port canaryd cannot speak may be declared; a destination on it is refused. */
    expect_ok(f, SE_HEAD("ext") "  hosts: [a.example.com]\n"
                                "  ports: [{number: 80, protocol: grpc}]\n  resolution: DNS\n");
    assert_null(
        build(f, SE_HEAD("ext") "  hosts: [a.example.com]\n"
                                "  ports: [{number: 80, protocol: grpc}]\n"
                                "  resolution: DNS\n"
                                "---\napiVersion: networking.istio.io/v1\n"
                                "kind: VirtualService\nmetadata: {name: vs}\nspec:\n"
                                "  hosts: [a.example.com]\n"
                                "  http: [{route: [{destination: {host: a.example.com}}]}]\n"));
    assert_true(has_diag_containing(&f->dl, "destination: port 80 (grpc) of ServiceEntry "
                                            "default/ext: gRPC needs HTTP/2, which is not yet "
                                            "available in canaryd"));
    expect_error(f,
                 SE_HEAD("ext") "  hosts: [a.example.com]\n"
                                "  ports: [{number: 80, protocol: htp}]\n  resolution: DNS\n",
                 "t.yaml:6:34: error: spec.ports[0].protocol: unknown value \"htp\" (did you "
                 "mean \"HTTP\"?)");
    expect_error(f,
                 "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: edge}\n"
                 "spec:\n  servers:\n  - port: {number: 18443, name: https, protocol: Https}\n"
                 "    hosts: [\"*\"]\n",
                 "t.yaml:6:50: error: spec.servers[0].port.protocol: HTTPS: TLS termination "
                 "needs the TLS support (not yet available); terminate TLS in front of canaryd");
}

/* Two WorkloadEntries per version of app reviews, one of another app, one in
 * another namespace; the ServiceEntry selects app: reviews. */
#define WE(name, ns, addr, labels)                                                                 \
    "---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n"                               \
    "metadata: {name: " name ", namespace: " ns "}\n"                                              \
    "spec: {address: " addr ", ports: {http: 9001}, labels: " labels "}\n"

static void
test_conf_workload_selector_selects_workload_entries(void **state)
{
    struct fx *f = *state;
    expect_ok(
        f,
        SE_HEAD(
            "reviews") "  hosts: [reviews.example.com]\n"
                       "  ports: [{number: 80, name: http, targetPort: 8000}]\n"
                       "  resolution: STATIC\n"
                       "  workloadSelector: {labels: {app: reviews}}\n" WE(
                           "r1", "default", "127.0.0.1", "{app: reviews, version: v1}")
                           WE("r2", "default", "127.0.0.2",
                              "{app: reviews, "
                              "version: v2}") "---\napiVersion: networking.istio.io/v1\nkind: "
                                              "WorkloadEntry\n"
                                              "metadata: {name: r3}\n"
                                              "spec: {address: 127.0.0.3, labels: {app: reviews, "
                                              "version: v2}, weight: 3, "
                                              "locality: eu-west1/b}\n" WE(
                                                  "other", "default", "127.0.0.9",
                                                  "{app: ratings, version: v1}")
                                                  WE("elsewhere", "prod", "127.0.0.8",
                                                     "{app: reviews, version: v1}") "---"
                                                                                    "\napiVersion: "
                                                                                    "networking."
                                                                                    "istio.io/"
                                                                                    "v1\nkind: "
                                                                                    "DestinationRul"
                                                                                    "e\n"
                                                                                    "metadata: "
                                                                                    "{name: "
                                                                                    "reviews}\n"
                                                                                    "spec:\n  "
                                                                                    "host: "
                                                                                    "reviews."
                                                                                    "example.com\n "
                                                                                    " subsets:\n"
                                                                                    "  - {name: "
                                                                                    "v1, labels: "
                                                                                    "{version: "
                                                                                    "v1}}\n"
                                                                                    "  - {name: "
                                                                                    "v2, labels: "
                                                                                    "{version: "
                                                                                    "v2}}\n"
                                                                                    "---"
                                                                                    "\napiVersion: "
                                                                                    "networking."
                                                                                    "istio.io/"
                                                                                    "v1\nkind: "
                                                                                    "VirtualService"
                                                                                    "\n"
                                                                                    "metadata: "
                                                                                    "{name: vs}\n"
                                                                                    "spec:\n  "
                                                                                    "hosts: "
                                                                                    "[reviews."
                                                                                    "example.com]"
                                                                                    "\n  http:\n"
                                                                                    "  - route:\n"
                                                                                    "    - "
                                                                                    "{destination: "
                                                                                    "{host: "
                                                                                    "reviews."
                                                                                    "example.com, "
                                                                                    "subset: v1}, "
                                                                                    "weight: 50}\n"
                                                                                    "    - "
                                                                                    "{destination: "
                                                                                    "{host: "
                                                                                    "reviews."
                                                                                    "example.com, "
                                                                                    "subset: v2}, "
                                                                                    "weight: "
                                                                                    "50}\n");
    const struct conf_route *r = &f->c->vss[0].routes[0];
    const struct conf_cluster *v1 = r->dests[0].cluster, *v2 = r->dests[1].cluster;
    assert_int_equal(v1->neps, 1);
    assert_string_equal(v1->eps[0]->address, "127.0.0.1");
    assert_int_equal(v1->eps[0]->port, 9001);
    assert_int_equal(v2->neps, 2);
    assert_string_equal(v2->eps[0]->address, "127.0.0.2");
    assert_string_equal(v2->eps[1]->address, "127.0.0.3");
    assert_int_equal(v2->eps[1]->port, 8000); /* no port of its own: targetPort */
    assert_int_equal(v2->eps[1]->weight, 3);
    assert_non_null(strstr(f->c->summary, "ServiceEntry default/reviews: hosts=reviews.example.com "
                                          "ports=80->8000 resolution=STATIC endpoints=3 "
                                          "workloadSelector=app=reviews localities=eu-west1/b\n"));
    assert_non_null(strstr(f->c->summary, "WorkloadEntry default/r3: address=127.0.0.3 "
                                          "labels=app=reviews,version=v2 weight=3 "
                                          "locality=eu-west1/b\n"));
    assert_int_equal(f->dl.n, 0);
}

static void
test_conf_workload_selector_rules(void **state)
{
    struct fx *f = *state;
    /* Istio: endpoints and workloadSelector are mutually exclusive. */
    expect_error(f,
                 SE_HEAD("ext") "  hosts: [a.example.com]\n  ports: [{number: 80}]\n"
                                "  resolution: STATIC\n"
                                "  workloadSelector: {labels: {app: a}}\n"
                                "  endpoints: [{address: 127.0.0.1}]\n",
                 "t.yaml:8:21: error: spec.workloadSelector: only one of workloadSelector or "
                 "endpoints can be set");
    /* Selecting nothing is valid (Istio answers 503): a warning says so. */
    expect_ok(f, SE_HEAD("ext") "  hosts: [a.example.com]\n  ports: [{number: 80}]\n"
                                "  resolution: STATIC\n"
                                "  workloadSelector: {labels: {app: a}}\n" VS_TO("a.example.com"));
    assert_int_equal(first_cluster(f)->neps, 0);
    expect_diag(f, "t.yaml:8:21: warning: spec.workloadSelector: workloadSelector selects no "
                   "WorkloadEntry of namespace \"default\": requests to this ServiceEntry get 503");
    /* DNS: a WorkloadEntry's address may be a host name. */
    expect_ok(f, SE_HEAD("ext") "  hosts: [a.example.com]\n  ports: [{number: 80, name: http}]\n"
                                "  resolution: DNS\n"
                                "  workloadSelector: {labels: {app: a}}\n" WE(
                                    "w", "default", "vm1.internal", "{app: a}")
                                    VS_TO("a.example.com"));
    assert_string_equal(first_cluster(f)->eps[0]->address, "vm1.internal");
    assert_true(first_cluster(f)->eps[0]->is_dns);
    /* STATIC: it must be an IP address, reported where the WorkloadEntry says it. */
    expect_error(f,
                 WE("w", "default", "vm1.internal", "{app: a}") "---\n" SE_HEAD(
                     "ext") "  hosts: [a.example.com]\n  ports: [{number: 80}]\n"
                            "  resolution: STATIC\n"
                            "  workloadSelector: {labels: {app: a}}\n",
                 "t.yaml:5:17: error: spec.address: with resolution STATIC the address must be "
                 "an IP address (use resolution DNS for a host name)");
    /* A WorkloadEntry is walked as a ServiceEntry endpoint. */
    expect_error(f,
                 "apiVersion: networking.istio.io/v1beta1\nkind: WorkloadEntry\n"
                 "metadata: {name: w}\nspec: {adress: 127.0.0.1}\n",
                 "t.yaml:4:8: error: spec.adress: unknown field (did you mean \"address\"?)");
}

static void
test_conf_mesh_kinds_are_warned_or_refused(void **state)
{
    struct fx *f = *state;
    expect_ok(f, "apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: {name: default}\n"
                 "spec: {egress: [{hosts: [\"./*\"]}]}\n"
                 "---\napiVersion: telemetry.istio.io/v1\nkind: Telemetry\n"
                 "metadata: {name: mesh-default}\nspec: {accessLogging: [{providers: []}]}\n"
                 "---\napiVersion: networking.istio.io/v1beta1\nkind: ProxyConfig\n"
                 "metadata: {name: p}\nspec: {concurrency: 2}\n---\n" VS_HEAD V1I SEDR);
    expect_diag(f, "t.yaml:2:7: warning: kind: Sidecar has no effect on a proxy that clients "
                   "address directly; canaryd serves every host its VirtualServices name");
    expect_diag_part(f, "t.yaml:7:7: warning: kind: Telemetry is not applied by canaryd");
    expect_diag_part(f, "t.yaml:12:7: warning: kind: ProxyConfig tunes Envoy's own process");
    expect_error(f,
                 "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n"
                 "metadata: {name: deny-all}\nspec: {}\n"
                 "---\napiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\n"
                 "metadata: {name: strict}\nspec: {mtls: {mode: STRICT}}\n"
                 "---\napiVersion: security.istio.io/v1\nkind: RequestAuthentication\n"
                 "metadata: {name: jwt}\nspec: {}\n"
                 "---\napiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\n"
                 "metadata: {name: ef}\nspec: {}\n"
                 "---\napiVersion: extensions.istio.io/v1alpha1\nkind: WasmPlugin\n"
                 "metadata: {name: wp}\nspec: {}\n",
                 "t.yaml:2:7: error: kind: AuthorizationPolicy is not enforced by canaryd: "
                 "loading it would let in requests that Istio denies; enforce it in front of "
                 "canaryd or remove it from canaryd's config");
    expect_diag_part(f, "t.yaml:7:7: error: kind: PeerAuthentication is not enforced by canaryd");
    expect_diag_part(f, "t.yaml:12:7: error: kind: RequestAuthentication is not enforced by "
                        "canaryd");
    expect_diag_part(f, "t.yaml:17:7: error: kind: EnvoyFilter patches Envoy's configuration");
    expect_diag_part(f, "t.yaml:22:7: error: kind: WasmPlugin is not run by canaryd");
    assert_int_equal(f->dl.nerrors, 5);
    /* A warned kind's document is still checked. */
    expect_error(f,
                 "apiVersion: security.istio.io/v1\nkind: Sidecar\nmetadata: {name: s}\n"
                 "spec: [egress]\n",
                 "t.yaml:1:13: error: apiVersion: unknown apiVersion \"security.istio.io/v1\" "
                 "(expected networking.istio.io/v1, networking.istio.io/v1beta1 or "
                 "networking.istio.io/v1alpha3)");
    expect_diag(f, "t.yaml:4:7: error: spec: expected a map, got a list");
    expect_error(f,
                 "apiVersion: networking.istio.io/v1\nkind: Telemetry\nmetadata: {name: t}\n"
                 "spec: {}\n",
                 "t.yaml:1:13: error: apiVersion: unknown apiVersion \"networking.istio.io/v1\" "
                 "(expected telemetry.istio.io/v1 or telemetry.istio.io/v1alpha1)");
}

static void
test_conf_corpus_examples_load(void **state)
{
    struct fx *f = *state;
    assert_non_null(build_file(f, "tests/corpus/service-entry-fields.yaml"));
    conf_unref(&f->c);
    assert_non_null(build_file(f, "tests/corpus/workload-entry.yaml"));
    assert_non_null(strstr(f->c->summary, "workloadSelector="));
}

/* ---- canaryd's identity: sourceLabels, sourceNamespace, exportTo, delegate ---- */

static const struct conf_label own_labels[] = {{"app", "edge"}, {"version", "v3"}};

/* build() as a canaryd started with --labels app=edge,version=v3 --namespace ns. */
static struct conf *
build_as(struct fx *f, const char *ns, const char *yaml)
{
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080",
                             .ns = ns,
                             .labels = own_labels,
                             .nlabels = countof(own_labels)};
    conf_unref(&f->c);
    f->c = conf_build_buffer("t.yaml", yaml, strlen(yaml), &opts, &f->dl);
    if (f->c == NULL)
        diag_list_print(&f->dl, stderr);
    return f->c;
}

/* DestinationRule workloadSelector: applied when it selects canaryd (labels
 * and namespace), and then it wins over the host's rule without one. */
#define DR_SEL(name, sel, lb)                                                                      \
    "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"                             \
    "metadata: {name: " name "}\nspec:\n  host: mobile-api\n" sel                                  \
    "  trafficPolicy: {loadBalancer: {simple: " lb "}}\n"                                          \
    "  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n"

static enum lb_policy
first_cluster_lb(const struct conf *c)
{
    assert_non_null(c);
    assert_true(c->nclusters > 0);
    return c->clusters[0].policy.lb;
}

static void
test_conf_dr_workload_selector_applies_to_canaryd(void **state)
{
    struct fx *f = *state;
    const char *mine = VS_SPLIT SE_ONLY DR_SEL("plain", "", "ROUND_ROBIN")
        DR_SEL("for-edge", "  workloadSelector: {matchLabels: {app: edge}}\n", "LEAST_REQUEST");
    assert_int_equal(first_cluster_lb(build_as(f, "default", mine)), LB_LEAST_REQUEST);
    assert_true(has_diag_containing(&f->dl, "DestinationRule default/plain is not used for host "
                                            "\"mobile-api\": a rule whose workloadSelector "
                                            "selects canaryd takes precedence"));
    const char *other = VS_SPLIT SE_ONLY DR_SEL("plain", "", "ROUND_ROBIN")
        DR_SEL("for-db", "  workloadSelector: {matchLabels: {app: db}}\n", "LEAST_REQUEST");
    assert_int_equal(first_cluster_lb(build_as(f, "default", other)), LB_ROUND_ROBIN);
    assert_true(has_diag_containing(&f->dl, "DestinationRule default/for-db is not used: its "
                                            "workloadSelector does not select canaryd"));
    /* A selector does not apply across namespaces. */
    assert_int_equal(first_cluster_lb(build_as(f, "other-ns", mine)), LB_ROUND_ROBIN);
}

static void
test_conf_source_labels_and_namespace_decide_at_load(void **state)
{
    struct fx *f = *state;
    assert_non_null(build_as(f, "edge-ns",
                             VS_HEAD "  - match: [{sourceLabels: {app: other}}]\n" V1
                                     "  - match: [{sourceLabels: {app: edge}, uri: {prefix: /a}},\n"
                                     "            {sourceNamespace: other-ns}]\n" V1
                                     "  - match: [{sourceNamespace: edge-ns}]\n" V1 SEDR));
    const struct conf_vs *vs = &f->c->vss[0];
    assert_true(vs->routes[0].matches[0].never);
    assert_false(vs->routes[1].matches[0].never);
    assert_true(vs->routes[1].matches[1].never);
    assert_false(vs->routes[2].matches[0].never);
    expect_diag(f, "t.yaml:7:34: warning: spec.http[0].match[0].sourceLabels.app: canaryd's "
                   "labels (--labels) do not include app=other: this match entry never holds");
    expect_diag(f, "t.yaml:10:31: warning: spec.http[1].match[1].sourceNamespace: canaryd's "
                   "namespace is \"edge-ns\" (--namespace), not \"other-ns\": this match entry "
                   "never holds");
}

/* A route whose every entry is for another workload matches nothing: it is not
 * a catch-all that would hide the routes after it. */
static void
test_conf_route_with_only_foreign_sources_is_no_catch_all(void **state)
{
    struct fx *f = *state;
    assert_non_null(build_as(f, NULL,
                             VS_HEAD "  - match: [{sourceLabels: {app: other}}, {sourceNamespace: "
                                     "x}]\n" V1 "  - match: [{uri: {prefix: /a}}]\n" V1 SEDR));
    assert_false(has_diag(&f->dl, "t.yaml:9:5: warning: spec.http[1]: this route can never "
                                  "match: a route (spec.http[0]) before it matches every "
                                  "request"));
    assert_int_equal(f->c->vss[0].nroutes, 2);
    assert_int_equal(f->c->vss[0].routes[0].nmatches, 2);
    /* sourceNamespace compared with the default namespace without --namespace. */
    assert_non_null(build_as(f, NULL,
                             VS_HEAD "  - match: [{sourceNamespace: default, sourceLabels: "
                                     "{version: v3}}]\n" V1 SEDR));
    assert_false(f->c->vss[0].routes[0].matches[0].never);
}

static void
test_conf_source_labels_are_validated(void **state)
{
    struct fx *f = *state;
    expect_error(
        f, VS_HEAD "  - match: [{sourceLabels: {\"-bad\": x}, sourceNamespace: Bad}]\n" V1 SEDR,
        "t.yaml:7:29: error: spec.http[0].match[0].sourceLabels.-bad: invalid label key "
        "\"-bad\"");
    expect_diag(f, "t.yaml:7:58: error: spec.http[0].match[0].sourceNamespace: invalid namespace "
                   "\"Bad\" (expected a DNS-1123 label)");
}

static void
test_conf_labels_option_parses(void **state)
{
    (void)state;
    struct conf_label l[4];
    size_t n = 0;
    const char *why = NULL;
    char ok[] = "app=edge,app.kubernetes.io/name=canaryd,empty=";
    assert_int_equal(conf_labels_parse(ok, l, countof(l), &n, &why), 0);
    assert_int_equal(n, 3);
    assert_string_equal(l[1].key, "app.kubernetes.io/name");
    assert_string_equal(l[1].value, "canaryd");
    assert_string_equal(l[2].value, "");
    char dup[] = "a=1,a=2";
    assert_int_equal(conf_labels_parse(dup, l, countof(l), &n, &why), -1);
    assert_string_equal(why, "a label key is given twice");
    char noeq[] = "a";
    assert_int_equal(conf_labels_parse(noeq, l, countof(l), &n, &why), -1);
    char badval[] = "a=-x";
    assert_int_equal(conf_labels_parse(badval, l, countof(l), &n, &why), -1);
    assert_true(conf_is_dns_label("istio-system"));
    assert_false(conf_is_dns_label("Istio"));
    assert_false(conf_is_dns_label("-a"));
}

/* A VirtualService for host mobile-api in namespace ns with the given
 * exportTo, sending everything to subset. */
#define VS_EXPORT(name, ns, export, subset)                                                        \
    "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"                              \
    "metadata: {name: " name ", namespace: " ns "}\n"                                              \
    "spec:\n  hosts: [mobile-api.default.svc.cluster.local]\n  exportTo: " export "\n"             \
                                                                                  "  http:\n  - "  \
                                                                                  "route: "        \
                                                                                  "[{destination:" \
                                                                                  " {host: "       \
                                                                                  "mobile-api."    \
                                                                                  "default.svc."   \
                                                                                  "cluster.local," \
                                                                                  " "              \
                                                                                  "subset:"        \
                                                                                  " " subset       \
                                                                                  "}}]\n"

static void
test_conf_export_to_hides_objects_from_other_namespaces(void **state)
{
    struct fx *f = *state;
    /* Two VirtualServices claim the same host; only one is exported to "edge". */
    assert_non_null(build_as(
        f, "edge",
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
        "metadata: {name: x}\nspec: {hosts: [x.example.com], ports: "
        "[{number: 80, name: http}], resolution: DNS}\n" VS_EXPORT("team-a", "team-a", "[.]", "v1")
            VS_EXPORT("team-b", "team-b", "[edge, team-b]", "v2") SEDR));
    assert_int_equal(f->c->nvss, 1);
    assert_string_equal(f->c->vss[0].name, "team-b");
    expect_diag(f, "t.yaml:8:18: warning: metadata.name: VirtualService team-a/team-a is not "
                   "exported to namespace \"edge\" (canaryd's --namespace): canaryd does not "
                   "use it");
    assert_non_null(strstr(f->c->summary, "VirtualService team-a/team-a: not exported to "
                                          "namespace edge, not used\n"));
    /* In namespace team-a, "." is canaryd's own namespace: both are seen. */
    assert_null(build_as(f, "team-a",
                         VS_EXPORT("team-a", "team-a", "[.]", "v1")
                             VS_EXPORT("team-b", "team-b", "['*']", "v2") SEDR));
    expect_diag(f, "t.yaml:15:11: error: spec.hosts[0]: host "
                   "\"mobile-api.default.svc.cluster.local\" on listener \"default\" is already "
                   "claimed by VirtualService team-a/team-a");
}

/* A hidden DestinationRule or ServiceEntry gives the errors a missing one gives. */
static void
test_conf_export_to_hidden_rule_is_as_missing(void **state)
{
    struct fx *f = *state;
    static const char dr_hidden[] =
        VS_HEAD V1I "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                    "metadata: {name: mobile-api}\nspec:\n  hosts: [mobile-api]\n"
                    "  ports: [{number: 80, name: http}]\n  resolution: STATIC\n"
                    "  endpoints: [{address: 127.0.0.1, labels: {version: v1}}]\n"
                    "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                    "metadata: {name: mobile-api}\nspec:\n  host: mobile-api\n"
                    "  exportTo: [.]\n  subsets: [{name: v1, labels: {version: v1}}]\n";
    assert_non_null(build_as(f, NULL, dr_hidden));
    assert_null(build_as(f, "edge", dr_hidden));
    expect_diag(f, "t.yaml:7:54: error: spec.http[0].route[0].destination.subset: subset "
                   "\"v1\" of host \"mobile-api\" is not defined: no DestinationRule for this "
                   "host");
    expect_diag(f, "t.yaml:20:18: warning: metadata.name: DestinationRule default/mobile-api is "
                   "not exported to namespace \"edge\" (canaryd's --namespace): canaryd does not "
                   "use it");
    /* "~" hides a ServiceEntry from everyone. */
    assert_null(build_as(f, NULL,
                         VS_HEAD V1I "---\napiVersion: networking.istio.io/v1\nkind: "
                                     "ServiceEntry\nmetadata: {name: mobile-api}\nspec:\n"
                                     "  hosts: [mobile-api]\n  exportTo: ['~']\n"
                                     "  ports: [{number: 80, name: http}]\n"
                                     "  resolution: STATIC\n  endpoints: [{address: 127.0.0.1, "
                                     "labels: {version: v1}}]\n"
                                     "---\napiVersion: networking.istio.io/v1\nkind: "
                                     "DestinationRule\nmetadata: {name: mobile-api}\nspec:\n"
                                     "  host: mobile-api\n  subsets: [{name: v1, labels: "
                                     "{version: v1}}]\n"));
    expect_diag(f, "t.yaml:24:13: error: spec.subsets[0]: subset \"v1\": host \"mobile-api\" has "
                   "no ServiceEntry, so the subset selects no endpoint");
}

static void
test_conf_export_to_is_validated(void **state)
{
    struct fx *f = *state;
    expect_error(f, VS_EXPORT("a", "team-a", "['~']", "v1") SEDR,
                 "t.yaml:7:14: error: spec.exportTo[0]: exportTo ~ (none) is only allowed on a "
                 "ServiceEntry");
    expect_error(f, VS_EXPORT("a", "team-a", "['*', team-b]", "v1") SEDR,
                 "t.yaml:7:14: error: spec.exportTo[0]: exportTo \"*\" cannot be combined with "
                 "other entries");
    expect_error(f, VS_EXPORT("a", "team-a", "[., team-a]", "v1") SEDR,
                 "t.yaml:7:17: error: spec.exportTo[1]: exportTo names namespace \"team-a\" "
                 "twice");
    expect_error(f, VS_EXPORT("a", "team-a", "[Team_B]", "v1") SEDR,
                 "t.yaml:7:14: error: spec.exportTo[0]: invalid exportTo entry \"Team_B\": "
                 "expected \".\", \"*\" or a namespace name");
}

/* A delegate VirtualService (no hosts) in namespace default; http is its
 * spec.http list, indented by two spaces. */
#define DELEGATE(name, http)                                                                       \
    "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"                              \
    "metadata: {name: " name "}\nspec:\n  http:\n" http

static void
test_conf_delegate_routes_are_spliced_with_merged_matches(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_HEAD
              "  - name: api\n"
              "    match: [{uri: {prefix: /api}}, {uri: {prefix: /v1/api}}]\n"
              "    delegate: {name: api-routes}\n"
              "    timeout: 3s\n"
              "    headers: {request: {set: {x-root: \"1\"}}}\n"
              "    corsPolicy: {allowOrigins: [{exact: \"https://a.example.com\"}]}\n" V1I DELEGATE(
                  "api-routes",
                  "  - name: beta\n"
                  "    match: [{uri: {prefix: /api/v2}, headers: {x-beta: "
                  "{exact: \"1\"}}}]\n" V1 "  - name: web\n    match: [{uri: {prefix: /web}}]\n" V1
                  "  - name: by-header\n"
                  "    match: [{headers: {x-user: {exact: a}}}]\n"
                  "    timeout: 1s\n" V1 "  - route: [{destination: "
                  "{host: mobile-api, subset: v2}}]\n") SEDR);
    const struct conf_vs *vs = &f->c->vss[0];
    assert_int_equal(f->c->nvss, 1);
    assert_int_equal(vs->nroutes, 4);
    /* beta: within /api only; the delegate's uri, the root's timeout and headers. */
    const struct conf_route *r = &vs->routes[0];
    assert_string_equal(r->name, "api-beta");
    assert_int_equal(r->nmatches, 1);
    assert_string_equal(r->matches[0].uri->str, "/api/v2");
    assert_int_equal(r->matches[0].nheaders, 1);
    assert_int_equal(r->timeout_ms, 3000);
    assert_int_equal(r->headers.request.nset, 1);
    assert_non_null(r->cors);
    assert_null(vs->routes[3].cors);
    /* by-header lies within both root entries: one merged entry each. */
    r = &vs->routes[1];
    assert_string_equal(r->name, "api-by-header");
    assert_int_equal(r->nmatches, 2);
    assert_string_equal(r->matches[0].uri->str, "/api");
    assert_string_equal(r->matches[1].uri->str, "/v1/api");
    assert_string_equal(r->matches[1].headers[0].name, "x-user");
    assert_int_equal(r->timeout_ms, 1000);
    /* The unnamed catch-all of the delegate takes the root's matches and name. */
    r = &vs->routes[2];
    assert_string_equal(r->name, "api");
    assert_int_equal(r->nmatches, 2);
    assert_string_equal(r->dests[0].cluster->subset, "v2");
    assert_string_equal(vs->routes[3].name, "route-3");
    expect_diag(f, "t.yaml:23:5: warning: spec.http[1]: this route's match does not lie within "
                   "the match of spec.http[0] of VirtualService default/vs, which delegates to "
                   "it: left out there, as Istio does");
    assert_non_null(strstr(f->c->summary, " delegated=api-beta<-default/api-routes,"
                                          "api-by-header<-default/api-routes,"
                                          "api<-default/api-routes\n"));
    assert_non_null(strstr(f->c->summary, "VirtualService default/api-routes: delegate "
                                          "routes=4 used-by=default/vs\n"));
}

/* Istio: exact within exact only, prefix or exact within a prefix that they
 * extend; a header the root matches must be matched the same way or tighter. */
static void
test_conf_delegate_match_must_lie_within_root(void **state)
{
    struct fx *f = *state;
    expect_ok(f, VS_HEAD
              "  - match: [{uri: {exact: /a}, headers: {x-v: {prefix: b}}, port: 80}]\n"
              "    delegate: {name: d}\n" DELEGATE(
                  "d",
                  "  - match: [{uri: {prefix: /a}}]\n" V1 "  - match: [{uri: {exact: /b}}]\n" V1
                  "  - match: [{headers: {x-v: {exact: c}}}]\n" V1 "  - match: [{port: 81}]\n" V1
                  "  - match: [{uri: {exact: /a}, headers: {x-v: {exact: bb}}}]\n" V1) SEDR);
    const struct conf_vs *vs = &f->c->vss[0];
    assert_int_equal(vs->nroutes, 1);
    assert_string_equal(vs->routes[0].matches[0].headers[0].m.str, "bb");
    assert_int_equal(vs->routes[0].matches[0].port, 80);
    for (int line = 15; line <= 21; line += 2) {
        char want[512];
        snprintf(want, sizeof(want),
                 "t.yaml:%d:5: warning: spec.http[%d]: this route's match does not lie within the "
                 "match of spec.http[0] of VirtualService default/vs, which delegates to it: left "
                 "out there, as Istio does",
                 line, (line - 15) / 2);
        expect_diag(f, want);
    }
}

static void
test_conf_delegate_cycle_and_nesting_are_refused(void **state)
{
    struct fx *f = *state;
    expect_error(f,
                 VS_HEAD "  - delegate: {name: d1}\n" DELEGATE("d1", "  - delegate: {name: d2}\n")
                     DELEGATE("d2", "  - delegate: {name: d1}\n") SEDR,
                 "t.yaml:14:15: error: spec.http[0].delegate: delegation cycle default/d1 -> "
                 "default/d2 -> default/d1: a delegate cannot delegate again (Istio delegates one "
                 "level only)");
    expect_error(f,
                 VS_HEAD "  - delegate: {name: d1}\n" DELEGATE("d1", "  - delegate: {name: d2}\n")
                     DELEGATE("d2", V1I) SEDR,
                 "t.yaml:14:15: error: spec.http[0].delegate: VirtualService default/d1 has no "
                 "hosts, so it is a delegate, and a delegate cannot delegate again (Istio "
                 "delegates one level only)");
    expect_error(
        f, VS_HEAD "  - delegate: {name: d1}\n" DELEGATE("d1", "  - delegate: {name: d1}\n") SEDR,
        "t.yaml:14:15: error: spec.http[0].delegate: delegation cycle default/d1 -> "
        "default/d1: a delegate cannot delegate again (Istio delegates one level only)");
}

static void
test_conf_delegate_missing_or_with_hosts_is_an_error(void **state)
{
    struct fx *f = *state;
    expect_error(
        f,
        VS_HEAD
        "  - match: [{uri: {prefix: /a}}]\n    delegate: {name: nope, namespace: team}\n" V1I SEDR,
        "t.yaml:8:15: error: spec.http[0].delegate: delegate VirtualService team/nope "
        "is not defined");
    /* A VirtualService with hosts is a root, never a delegate. */
    expect_error(f,
                 VS_HEAD "  - delegate: {name: other}\n"
                         "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                         "metadata: {name: other}\nspec:\n  hosts: [other]\n  http:\n" V1I SEDR,
                 "t.yaml:7:15: error: spec.http[0].delegate: VirtualService default/other has "
                 "hosts, so it is no delegate: only a VirtualService without hosts can be "
                 "delegated to");
    /* A root route that delegates has no action of its own. */
    expect_error(f, VS_HEAD "  - delegate: {name: d}\n" V1 DELEGATE("d", V1I) SEDR,
                 "t.yaml:7:5: error: spec.http[0]: route and delegate are mutually exclusive");
}

static void
test_conf_delegate_checks_follow_istio(void **state)
{
    struct fx *f = *state;
    /* Regex matches cannot take part; a delegate has no gateways. */
    expect_error(f,
                 VS_HEAD "  - match: [{uri: {regex: /a.*}}]\n    delegate: {name: d}\n"
                         "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                         "metadata: {name: d}\nspec:\n  gateways: [mesh]\n  http:\n"
                         "  - match: [{headers: {x: {regex: a+}}}]\n" V1 SEDR,
                 "t.yaml:7:5: error: spec.http[0]: match[0].uri: a regex match cannot take part "
                 "in delegation (Istio); use exact or prefix");
    expect_diag(f, "t.yaml:14:14: error: spec.gateways[0]: a VirtualService without hosts is a "
                   "delegate, and a delegate cannot have gateways: its root's apply");
    expect_diag(f, "t.yaml:16:5: error: spec.http[0]: match[0].headers: a regex match cannot "
                   "take part in delegation (Istio); use exact or prefix");
    /* Unused delegates warn; a delegate must be exported to its root's namespace. */
    expect_ok(f, VS_HEAD V1I DELEGATE("lonely", V1I) SEDR);
    expect_diag(f, "t.yaml:11:18: warning: metadata.name: VirtualService default/lonely has no "
                   "hosts, so it is a delegate, and no VirtualService delegates to it: it is not "
                   "used");
    expect_error(f,
                 VS_HEAD
                 "  - delegate: {name: d, namespace: team}\n"
                 "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                 "metadata: {name: d, namespace: team}\nspec:\n  exportTo: [.]\n  http:\n" V1I SEDR,
                 "t.yaml:7:15: error: spec.http[0].delegate: delegate VirtualService team/d is "
                 "not exported to namespace \"default\" of this VirtualService");
}

/* sourceLabels/sourceNamespace merge: the root's and the delegate's both hold. */
static void
test_conf_delegate_merges_source_matches(void **state)
{
    struct fx *f = *state;
    assert_non_null(build_as(f, NULL,
                             VS_HEAD "  - match: [{sourceLabels: {app: edge}}]\n"
                                     "    delegate: {name: d}\n" DELEGATE(
                                         "d", "  - match: [{sourceLabels: {version: v9}}]\n" V1
                                              "  - match: [{sourceLabels: {app: other}}]\n" V1
                                              "  - match: [{sourceLabels: {version: v3}}]\n" V1)
                                         SEDR));
    const struct conf_vs *vs = &f->c->vss[0];
    assert_int_equal(vs->nroutes, 2);
    assert_true(vs->routes[0].matches[0].never);
    assert_false(vs->routes[1].matches[0].never);
    expect_diag(f, "t.yaml:17:5: warning: spec.http[1]: this route's match does not lie within "
                   "the match of spec.http[0] of VirtualService default/vs, which delegates to "
                   "it: left out there, as Istio does");
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_conf_seed_weights_splits_95_5),
        T(test_conf_seed_cookie_full_match_semantics),
        T(test_conf_cookie_regex_trap_warns_with_fix),
        T(test_conf_yaml_syntax_error_is_located),
        T(test_conf_unknown_kind_suggests_closest),
        T(test_conf_unknown_api_version_is_an_error),
        T(test_conf_unknown_field_suggests_weight),
        T(test_conf_unsupported_fields_are_rejected),
        T(test_conf_wrong_types_are_reported),
        T(test_conf_missing_required_fields_are_reported),
        T(test_conf_duplicate_name_per_kind_is_an_error),
        T(test_conf_same_name_in_other_namespace_is_fine),
        T(test_conf_negative_weight_is_an_error),
        T(test_conf_all_zero_weights_is_an_error),
        T(test_conf_weights_not_100_warn_and_stay_relative),
        T(test_conf_zero_weight_gets_empty_range),
        T(test_conf_undefined_subsets_are_reported),
        T(test_conf_all_errors_in_one_run),
        T(test_conf_non_finite_numbers_are_errors),
        T(test_conf_subset_of_host_without_service_entry_is_reported),
        T(test_conf_subset_selecting_nothing_is_an_error),
        T(test_conf_route_actions_must_be_exactly_one),
        T(test_conf_bad_regex_shows_pcre2_message_and_offset),
        T(test_conf_overlong_regex_is_an_error),
        T(test_conf_direct_response_status_out_of_range),
        T(test_conf_route_after_catch_all_warns),
        T(test_conf_gateway_servers_on_one_address_share_a_listener),
        T(test_conf_gateways_make_listeners),
        T(test_conf_unknown_gateway_is_an_error),
        T(test_conf_host_claimed_twice_on_listener_is_an_error),
        T(test_conf_host_table_has_short_forms_and_sorted_wildcards),
        T(test_conf_listen_addresses_parse),
        T(test_conf_bad_listen_option_is_an_error),
        T(test_conf_durations_parse),
        T(test_conf_route_fields_are_typed),
        T(test_conf_redirect_and_direct_response_are_typed),
        T(test_conf_policy_subset_replaces_host_components),
        T(test_conf_dr_merge_combines_subsets_of_two_rules),
        T(test_conf_dr_merge_first_policy_wins_later_one_warns),
        T(test_conf_dr_merge_duplicate_subset_first_wins_with_warning),
        T(test_conf_dr_merge_duplicate_subset_names_the_rule_that_defines_it),
        T(test_conf_dr_merge_orders_by_creation_time_then_name),
        T(test_conf_dr_merge_bad_creation_time_warns),
        T(test_conf_dr_merge_across_namespaces_is_an_error),
        T(test_conf_dr_merge_undefined_subset_names_the_rules),
        T(test_conf_dr_merge_corpus_example_loads),
        T(test_conf_port_level_settings_replace_host_policy_for_their_port),
        T(test_conf_port_level_settings_follow_istio_precedence),
        T(test_conf_port_level_settings_are_checked),
        T(test_conf_port_level_settings_warn_on_unknown_or_repeated_port),
        T(test_conf_port_level_settings_corpus_example_loads),
        T(test_conf_dr_workload_selector_applies_to_canaryd),
        T(test_conf_static_endpoint_must_be_an_ip),
        T(test_conf_split_key_annotation_parses),
        T(test_conf_configmap_directory_loads_each_file_once),
        T(test_conf_several_paths_and_documents_load_together),
        T(test_conf_summary_has_one_line_per_object),
        T(test_conf_failed_build_leaves_caller_diags_alone),
        T(test_conf_repeated_regex_is_compiled_once),
        T(test_conf_document_errors_follow_yaml_errors),
        T(test_conf_earlier_documents_survive_until_compile),
        T(test_conf_resolution_none_routes_to_endpoints_or_resolves_hosts),
        T(test_conf_target_port_comes_after_the_endpoint_port),
        T(test_conf_service_entry_mesh_fields_are_accepted_and_shown),
        T(test_conf_port_protocols_ignore_case),
        T(test_conf_workload_selector_selects_workload_entries),
        T(test_conf_workload_selector_rules),
        T(test_conf_mesh_kinds_are_warned_or_refused),
        T(test_conf_corpus_examples_load),
        T(test_conf_source_labels_and_namespace_decide_at_load),
        T(test_conf_route_with_only_foreign_sources_is_no_catch_all),
        T(test_conf_source_labels_are_validated),
        T(test_conf_labels_option_parses),
        T(test_conf_export_to_hides_objects_from_other_namespaces),
        T(test_conf_export_to_hidden_rule_is_as_missing),
        T(test_conf_export_to_is_validated),
        T(test_conf_delegate_routes_are_spliced_with_merged_matches),
        T(test_conf_delegate_match_must_lie_within_root),
        T(test_conf_delegate_cycle_and_nesting_are_refused),
        T(test_conf_delegate_missing_or_with_hosts_is_an_error),
        T(test_conf_delegate_checks_follow_istio),
        T(test_conf_delegate_merges_source_matches),
    };
#undef T
    return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
