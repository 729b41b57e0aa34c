/*
 * test_cors.c: unit tests for the CORS decisions (cors.c) on policies
 * compiled from corsPolicy YAML (conf_cors.c): which requests are preflights,
 * which origins are allowed (exact, prefix, full-match regex, "*"), which
 * headers each answer carries, and the diagnostics of a bad policy.
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
#include "canaryd/route/cors.h"
#include "canaryd/core/diag.h"

#define SEDR                                                                                       \
    "---\n"                                                                                        \
    "apiVersion: networking.istio.io/v1\n"                                                         \
    "kind: ServiceEntry\n"                                                                         \
    "metadata: {name: api}\n"                                                                      \
    "spec:\n"                                                                                      \
    "  hosts: [api]\n"                                                                             \
    "  ports: [{number: 80, name: http, protocol: HTTP}]\n"                                        \
    "  resolution: STATIC\n"                                                                       \
    "  endpoints: [{address: 127.0.0.1, ports: {http: 9001}}]\n"

/* A VirtualService whose one route starts at line 7 with its corsPolicy. */
#define VS_CORS                                                                                    \
    "apiVersion: networking.istio.io/v1\n"                                                         \
    "kind: VirtualService\n"                                                                       \
    "metadata: {name: vs}\n"                                                                       \
    "spec:\n"                                                                                      \
    "  hosts: [api]\n"                                                                             \
    "  http:\n"                                                                                    \
    "  - route: [{destination: {host: api}}]\n"                                                    \
    "    corsPolicy:\n"

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

/* Builds VS_CORS + policy (lines indented by 6) and returns the route's policy. */
static const struct conf_cors *
policy(struct fx *f, const char *yaml_policy)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml), "%s%s%s", VS_CORS, yaml_policy, SEDR);
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    conf_unref(&f->c);
    f->c = conf_build_buffer("t.yaml", yaml, strlen(yaml), &opts, &f->dl);
    if (f->c == NULL) {
        diag_list_print(&f->dl, stderr);
        fail_msg("corsPolicy did not compile");
    }
    assert_int_equal(f->c->nvss, 1);
    assert_non_null(f->c->vss[0].routes[0].cors);
    return f->c->vss[0].routes[0].cors;
}

static void
expect_error(struct fx *f, const char *yaml_policy, const char *want)
{
    char yaml[4096], buf[2048];
    snprintf(yaml, sizeof(yaml), "%s%s%s", VS_CORS, yaml_policy, SEDR);
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    conf_unref(&f->c);
    f->c = conf_build_buffer("t.yaml", yaml, strlen(yaml), &opts, &f->dl);
    assert_null(f->c);
    for (size_t i = 0; i < f->dl.n; i++) {
        diag_format(&f->dl.v[i], buf, sizeof(buf));
        if (strncmp(buf, want, strlen(want)) == 0)
            return;
    }
    diag_list_print(&f->dl, stderr);
    fail_msg("missing diagnostic: %s", want);
}

static enum cors_verdict
decide(const struct conf_cors *p, const char *method, const char *origin, const char *acrm)
{
    return cors_decide(p, method, strlen(method), origin, origin ? strlen(origin) : 0,
                       acrm ? strlen(acrm) : 0);
}

static bool
allowed(const struct conf_cors *p, const char *origin)
{
    return cors_origin_is_allowed(p, origin, strlen(origin));
}

/* The value of header name in h[0..n), or NULL. */
static const char *
hval(const struct cors_hdr *h, size_t n, const char *name)
{
    static char buf[256];
    for (size_t i = 0; i < n; i++) {
        if (strlen(name) == h[i].name_len && memcmp(h[i].name, name, h[i].name_len) == 0) {
            snprintf(buf, sizeof(buf), "%.*s", (int)h[i].value_len, h[i].value);
            return buf;
        }
    }
    return NULL;
}

#define ORIGINS3                                                                                   \
    "      allowOrigins:\n"                                                                        \
    "      - exact: https://shop.example\n"                                                        \
    "      - prefix: https://preview-\n"                                                           \
    "      - regex: 'https://[a-z]+\\.partners\\.example'\n"

static void
test_cors_origins_exact_prefix_and_full_regex(void **state)
{
    const struct conf_cors *p = policy(*state, ORIGINS3);
    assert_true(allowed(p, "https://shop.example"));
    assert_false(allowed(p, "https://shop.example.evil"));
    assert_false(allowed(p, "HTTPS://SHOP.EXAMPLE")); /* exact is case-sensitive, as Envoy */
    assert_true(allowed(p, "https://preview-7.shop.example"));
    assert_false(allowed(p, "http://preview-7.shop.example"));
    assert_true(allowed(p, "https://acme.partners.example"));
    /* A regex must match the whole origin. */
    assert_false(allowed(p, "https://acme.partners.example.evil"));
    assert_false(allowed(p, "xhttps://acme.partners.example"));
    assert_false(p->is_any_origin);
}

static void
test_cors_star_origin_allows_everything(void **state)
{
    struct fx *f = *state;
    const struct conf_cors *p = policy(f, "      allowOrigin: [\"*\"]\n");
    assert_true(p->is_any_origin);
    assert_true(allowed(p, "https://anything.test"));
    /* Envoy also tests each entry against "*": a regex matching it allows all. */
    p = policy(f, "      allowOrigins: [{regex: '.*'}]\n");
    assert_true(p->is_any_origin);
    p = policy(f, "      allowOrigins: [{exact: \"*\"}]\n");
    assert_true(allowed(p, "null"));
    p = policy(f, "      allowOrigin: [https://a.example]\n");
    assert_false(p->is_any_origin);
    assert_true(allowed(p, "https://a.example"));
    assert_false(allowed(p, "https://b.example"));
}

static void
test_cors_decide_classifies_preflights(void **state)
{
    const struct conf_cors *p = policy(*state, ORIGINS3);
    const char *ok = "https://shop.example", *bad = "https://evil.test";
    assert_int_equal(decide(p, "OPTIONS", ok, "PUT"), CORS_PREFLIGHT);
    assert_int_equal(decide(p, "GET", ok, NULL), CORS_ALLOWED);
    assert_int_equal(decide(p, "GET", ok, "PUT"), CORS_ALLOWED);    /* not OPTIONS */
    assert_int_equal(decide(p, "OPTIONS", ok, NULL), CORS_ALLOWED); /* no request method */
    assert_int_equal(decide(p, "OPTIONS", ok, ""), CORS_ALLOWED);
    assert_int_equal(decide(p, "options", ok, "PUT"), CORS_ALLOWED); /* methods are exact */
    assert_int_equal(decide(p, "GET", bad, NULL), CORS_DENIED);
    assert_int_equal(decide(p, "GET", NULL, NULL), CORS_NONE);
    assert_int_equal(decide(p, "OPTIONS", "", "PUT"), CORS_NONE);
    /* FORWARD is the default: a denied preflight goes upstream. */
    assert_true(p->forward_unmatched);
    assert_int_equal(decide(p, "OPTIONS", bad, "PUT"), CORS_DENIED);
}

static void
test_cors_unmatched_preflights_ignore_answers_locally(void **state)
{
    struct fx *f = *state;
    const struct conf_cors *p = policy(f, ORIGINS3 "      unmatchedPreflights: IGNORE\n"
                                                   "      allowMethods: [GET]\n");
    assert_false(p->forward_unmatched);
    assert_int_equal(decide(p, "OPTIONS", "https://evil.test", "PUT"), CORS_PREFLIGHT_DENIED);
    assert_int_equal(decide(p, "GET", "https://evil.test", NULL), CORS_DENIED);
    struct cors_hdr h[CORS_HDRS_MAX];
    size_t n =
        cors_preflight_headers(p, CORS_PREFLIGHT_DENIED, "https://evil.test", 17, NULL, 0, h);
    assert_null(hval(h, n, "access-control-allow-origin"));
    assert_string_equal(hval(h, n, "access-control-allow-methods"), "GET"); /* as Envoy */
    p = policy(f, ORIGINS3 "      unmatchedPreflights: FORWARD\n");
    assert_true(p->forward_unmatched);
    p = policy(f, ORIGINS3 "      unmatchedPreflights: UNSPECIFIED\n");
    assert_true(p->forward_unmatched);
}

static void
test_cors_preflight_headers_are_joined_and_echo_the_origin(void **state)
{
    const struct conf_cors *p = policy(*state, ORIGINS3 "      allowMethods: [GET, POST]\n"
                                                        "      allowHeaders: [a-b, content-type]\n"
                                                        "      exposeHeaders: [x-id]\n"
                                                        "      maxAge: 1h30m\n"
                                                        "      allowCredentials: true\n");
    struct cors_hdr h[CORS_HDRS_MAX];
    const char *o = "https://preview-1.example";
    size_t n = cors_preflight_headers(p, CORS_PREFLIGHT, o, strlen(o), "x-ignored", 9, h);
    assert_int_equal(n, 5);
    assert_string_equal(hval(h, n, "access-control-allow-origin"), o);
    assert_string_equal(hval(h, n, "access-control-allow-methods"), "GET,POST");
    assert_string_equal(hval(h, n, "access-control-allow-headers"), "a-b,content-type");
    assert_string_equal(hval(h, n, "access-control-max-age"), "5400");
    assert_string_equal(hval(h, n, "access-control-allow-credentials"), "true");
    assert_null(hval(h, n, "access-control-expose-headers")); /* not on a preflight */
    assert_null(hval(h, n, "vary"));
}

static void
test_cors_response_headers_for_allowed_origins(void **state)
{
    struct fx *f = *state;
    const struct conf_cors *p = policy(f, ORIGINS3 "      exposeHeaders: [x-id, x-version]\n"
                                                   "      allowMethods: [GET]\n"
                                                   "      maxAge: 10s\n"
                                                   "      allowCredentials: true\n");
    struct cors_hdr h[CORS_HDRS_MAX];
    size_t n = cors_response_headers(p, "https://shop.example", 20, h);
    assert_int_equal(n, 3);
    assert_string_equal(hval(h, n, "access-control-allow-origin"), "https://shop.example");
    assert_string_equal(hval(h, n, "access-control-expose-headers"), "x-id,x-version");
    assert_string_equal(hval(h, n, "access-control-allow-credentials"), "true");
    assert_true(cors_hdrs_has(h, n, "access-control-expose-headers", 29));
    assert_false(cors_hdrs_has(h, n, "access-control-allow-methods", 28));
    /* allowCredentials false and no exposeHeaders: the origin only. */
    p = policy(f, ORIGINS3 "      allowCredentials: false\n");
    n = cors_response_headers(p, "https://shop.example", 20, h);
    assert_int_equal(n, 1);
}

static void
test_cors_star_headers_echo_the_request_headers(void **state)
{
    const struct conf_cors *p = policy(*state, "      allowOrigin: [\"*\"]\n"
                                               "      allowHeaders: [\"*\"]\n");
    struct cors_hdr h[CORS_HDRS_MAX];
    size_t n =
        cors_preflight_headers(p, CORS_PREFLIGHT, "https://x", 9, "authorization, x-a", 18, h);
    assert_string_equal(hval(h, n, "access-control-allow-headers"), "authorization, x-a");
    assert_string_equal(hval(h, n, "access-control-allow-origin"), "https://x");
    n = cors_preflight_headers(p, CORS_PREFLIGHT, "https://x", 9, NULL, 0, h);
    assert_null(hval(h, n, "access-control-allow-headers"));
    assert_null(hval(h, n, "access-control-max-age"));
    assert_null(hval(h, n, "access-control-allow-credentials"));
}

static void
test_cors_bad_policies_are_located(void **state)
{
    struct fx *f = *state;
    expect_error(f, "      allowOrigins: [{regex: 'https://(x'}]\n",
                 "t.yaml:9:30: error: spec.http[0].corsPolicy.allowOrigins[0].regex: invalid "
                 "regex: missing closing parenthesis");
    expect_error(
        f, "      allowOrigins: [{regex: '*'}]\n",
        "t.yaml:9:30: error: spec.http[0].corsPolicy.allowOrigins[0].regex: invalid regex");
    expect_error(f, "      allowOrigins: [{exact: \"\"}]\n",
                 "t.yaml:9:22: error: spec.http[0].corsPolicy.allowOrigins[0]: an allowed origin "
                 "needs a non-empty exact, prefix or regex");
    expect_error(f, "      allowMethods: [GET, FETCH]\n",
                 "t.yaml:9:27: error: spec.http[0].corsPolicy.allowMethods[1]: \"FETCH\" is not a "
                 "supported HTTP method");
    expect_error(f, "      maxAge: 1500ms\n",
                 "t.yaml:9:15: error: spec.http[0].corsPolicy.maxAge: maxAge must be a whole "
                 "number of seconds");
    expect_error(f, "      unmatchedPreflights: DROP\n",
                 "t.yaml:9:28: error: spec.http[0].corsPolicy.unmatchedPreflights: unknown value");
    expect_error(f, "      allowHeaders: [\"\"]\n",
                 "t.yaml:9:22: error: spec.http[0].corsPolicy.allowHeaders[0]: header name cannot "
                 "be empty");
    expect_error(f, "      allowOrigns: []\n",
                 "t.yaml:9:7: error: spec.http[0].corsPolicy.allowOrigns: unknown field");
}

static void
test_cors_allow_origins_take_precedence_with_a_warning(void **state)
{
    struct fx *f = *state;
    const struct conf_cors *p = policy(f, "      allowOrigins: [{exact: https://a.example}]\n"
                                          "      allowOrigin: [https://b.example]\n");
    assert_int_equal(p->norigins, 1);
    assert_true(allowed(p, "https://a.example"));
    assert_false(allowed(p, "https://b.example"));
    char buf[1024];
    bool warned = false;
    for (size_t i = 0; i < f->dl.n; i++) {
        diag_format(&f->dl.v[i], buf, sizeof(buf));
        warned |=
            strstr(buf, "10:20: warning: spec.http[0].corsPolicy.allowOrigin: ignored") != NULL;
    }
    assert_true(warned);
}

static void
test_cors_routes_without_policy_have_none(void **state)
{
    struct fx *f = *state;
    const char *yaml = "apiVersion: networking.istio.io/v1\n"
                       "kind: VirtualService\n"
                       "metadata: {name: vs}\n"
                       "spec:\n"
                       "  hosts: [api]\n"
                       "  http:\n"
                       "  - route: [{destination: {host: api}}]\n" SEDR;
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    f->c = conf_build_buffer("t.yaml", yaml, strlen(yaml), &opts, &f->dl);
    assert_non_null(f->c);
    assert_null(f->c->vss[0].routes[0].cors);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_cors_origins_exact_prefix_and_full_regex),
        T(test_cors_star_origin_allows_everything),
        T(test_cors_decide_classifies_preflights),
        T(test_cors_unmatched_preflights_ignore_answers_locally),
        T(test_cors_preflight_headers_are_joined_and_echo_the_origin),
        T(test_cors_response_headers_for_allowed_origins),
        T(test_cors_star_headers_echo_the_request_headers),
        T(test_cors_bad_policies_are_located),
        T(test_cors_allow_origins_take_precedence_with_a_warning),
        T(test_cors_routes_without_policy_have_none),
    };
#undef T
    return cmocka_run_group_tests_name("cors", tests, NULL, NULL);
}
