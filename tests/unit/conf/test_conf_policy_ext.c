/*
 * test_conf_policy_ext.c: unit tests of the traffic-policy fields handled by
 * conf_policy_ext.c, through conf_build_buffer: loadBalancer.warmup and
 * warmupDurationSecs (precedence, defaults, bounds, a subset's loadBalancer
 * replacing the host's, the RANDOM warning), connectionPool.http.maxRetries,
 * and outlierDetection.consecutiveErrors with Istio's mapping.
 */
#include "canaryd/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/diag.h"

/* A VirtualService splitting v1/v2, the ServiceEntry, then a DestinationRule
 * whose spec continues with the test's text (from line 27). */
#define DOCS                                                                                       \
    "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\n"             \
    "spec:\n  hosts: [mobile-api]\n  http:\n  - route:\n"                                          \
    "    - {destination: {host: mobile-api, subset: v1}, weight: 50}\n"                            \
    "    - {destination: {host: mobile-api, subset: v2}, weight: 50}\n"                            \
    "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\n"          \
    "spec:\n  hosts: [mobile-api]\n  ports: [{number: 80, name: http}]\n"                          \
    "  resolution: STATIC\n  endpoints:\n"                                                         \
    "  - {address: 10.0.0.1, labels: {version: v1}}\n"                                             \
    "  - {address: 10.0.0.2, labels: {version: v2}}\n"                                             \
    "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"                             \
    "metadata: {name: dr}\nspec:\n  host: mobile-api\n"
#define SUBSETS                                                                                    \
    "  subsets:\n  - {name: v1, labels: {version: v1}}\n"                                          \
    "  - {name: v2, labels: {version: v2}}\n"

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
build(struct fx *f, const char *dr_rest)
{
    char yaml[8192];
    snprintf(yaml, sizeof(yaml), "%s%s", DOCS, dr_rest);
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    conf_unref(&f->c);
    diag_list_fini(&f->dl);
    diag_list_init(&f->dl);
    f->c = conf_build_buffer("t.yaml", yaml, strlen(yaml), &opts, &f->dl);
    if (f->c == NULL)
        diag_list_print(&f->dl, stderr);
    return f->c;
}

/* The diagnostics containing want (a fragment). */
static size_t
count_diag(const struct fx *f, const char *want)
{
    char buf[2048];
    size_t n = 0;
    for (size_t i = 0; i < f->dl.n; i++) {
        diag_format(&f->dl.v[i], buf, sizeof(buf));
        n += strstr(buf, want) != NULL;
    }
    return n;
}

static const struct conf_cluster *
cluster(const struct fx *f, size_t dest)
{
    return f->c->vss[0].routes[0].dests[dest].cluster;
}

static void
test_conf_policy_ext_warmup_sets_window_and_defaults(void **state)
{
    struct fx *f = *state;
    assert_non_null(build(f, "  trafficPolicy:\n    loadBalancer:\n      simple: ROUND_ROBIN\n"
                             "      warmup: {duration: 30s}\n" SUBSETS));
    const struct conf_warmup *wu = &cluster(f, 0)->policy.warmup;
    assert_int_equal(wu->window_ms, 30000);
    assert_true(wu->min_weight == 0.1);
    assert_true(wu->aggression == 1.0);
    assert_int_equal(f->dl.n, 0);
    assert_non_null(build(f, "  trafficPolicy:\n    loadBalancer:\n"
                             "      warmup: {duration: 4s, minimumPercent: 25.5, aggression: 3}\n"
                             "      warmupDurationSecs: 60s\n" SUBSETS));
    wu = &cluster(f, 1)->policy.warmup;
    assert_int_equal(wu->window_ms, 4000); /* warmup wins over warmupDurationSecs */
    assert_true(wu->min_weight == 0.255);
    assert_true(wu->aggression == 3.0);
}

static void
test_conf_policy_ext_warmup_duration_secs_alone(void **state)
{
    struct fx *f = *state;
    assert_non_null(build(f,
                          "  trafficPolicy:\n    loadBalancer:\n"
                          "      simple: LEAST_REQUEST\n      warmupDurationSecs: 100s\n" SUBSETS));
    const struct conf_warmup *wu = &cluster(f, 0)->policy.warmup;
    assert_int_equal(wu->window_ms, 100000);
    assert_true(wu->min_weight == 0.1);
    assert_true(wu->aggression == 1.0);
}

static void
test_conf_policy_ext_subset_load_balancer_replaces_the_hosts(void **state)
{
    struct fx *f = *state;
    assert_non_null(build(f, "  trafficPolicy:\n    loadBalancer: {warmup: {duration: 9s}}\n"
                             "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
                             "  - name: v2\n    labels: {version: v2}\n"
                             "    trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}\n"));
    assert_int_equal(cluster(f, 0)->policy.warmup.window_ms, 9000);
    assert_int_equal(cluster(f, 1)->policy.lb, LB_LEAST_REQUEST);
    assert_int_equal(cluster(f, 1)->policy.warmup.window_ms, 0);
}

static void
test_conf_policy_ext_warmup_merges_with_the_load_balancer_component(void **state)
{
    struct fx *f = *state;
    /* A subset that writes only connectionPool keeps the host's loadBalancer and
     * its warmup; a port-level item's loadBalancer brings its own. */
    assert_non_null(build(f, "  trafficPolicy:\n    loadBalancer: {warmup: {duration: 9s}}\n"
                             "  subsets:\n  - name: v1\n    labels: {version: v1}\n"
                             "    trafficPolicy: {connectionPool: {http: {maxRetries: 2}}}\n"
                             "  - name: v2\n    labels: {version: v2}\n    trafficPolicy:\n"
                             "      portLevelSettings:\n      - port: {number: 80}\n"
                             "        loadBalancer: {warmupDurationSecs: 3s}\n"));
    assert_int_equal(cluster(f, 0)->policy.warmup.window_ms, 9000);
    assert_int_equal(cluster(f, 0)->policy.pool.max_retries, 2);
    assert_int_equal(cluster(f, 1)->policy.warmup.window_ms, 3000);
}

static void
test_conf_policy_ext_warmup_rejects_bad_values(void **state)
{
    struct fx *f = *state;
    assert_null(
        build(f, "  trafficPolicy:\n    loadBalancer: {warmup: {minimumPercent: 5}}\n" SUBSETS));
    assert_int_equal(count_diag(f, "t.yaml:28:28: error: spec.trafficPolicy.loadBalancer.warmup."
                                   "duration: missing required field"),
                     1);
    assert_null(
        build(f, "  trafficPolicy:\n    loadBalancer:\n"
                 "      warmup: {duration: 1s, minimumPercent: 120, aggression: 0.5}\n" SUBSETS));
    assert_int_equal(count_diag(f, "minimumPercent must be between 0 and 100 (got 120)"), 1);
    assert_int_equal(count_diag(f, "aggression must be at least 1 (got 0.5)"), 1);
    assert_null(
        build(f, "  trafficPolicy:\n    loadBalancer: {warmupDurationSecs: soon}\n" SUBSETS));
    assert_int_equal(count_diag(f, "invalid duration \"soon\""), 1);
}

static void
test_conf_policy_ext_warmup_with_random_warns_once(void **state)
{
    struct fx *f = *state;
    assert_non_null(build(f, "  trafficPolicy:\n    loadBalancer:\n      simple: RANDOM\n"
                             "      warmupDurationSecs: 10s\n" SUBSETS));
    /* Two clusters use the policy: the warning is given once. */
    assert_int_equal(count_diag(f, "warning: spec.trafficPolicy.loadBalancer: "
                                   "warmup applies to ROUND_ROBIN and LEAST_REQUEST only"),
                     1);
    assert_int_equal(f->dl.n, 1);
}

static void
test_conf_policy_ext_max_retries(void **state)
{
    struct fx *f = *state;
    assert_non_null(build(f, "  trafficPolicy:\n    connectionPool: {http: {maxRetries: 3}}\n"
                             "  subsets:\n  - {name: v1, labels: {version: v1}}\n"
                             "  - name: v2\n    labels: {version: v2}\n"
                             "    trafficPolicy: {connectionPool: {http: {maxRetries: 1}}}\n"));
    assert_int_equal(cluster(f, 0)->policy.pool.max_retries, 3);
    assert_int_equal(cluster(f, 1)->policy.pool.max_retries, 1);
    assert_null(
        build(f, "  trafficPolicy:\n    connectionPool: {http: {maxRetries: -1}}\n" SUBSETS));
}

static void
test_conf_policy_ext_consecutive_errors_maps_to_gateway_errors(void **state)
{
    struct fx *f = *state;
    assert_non_null(
        build(f, "  trafficPolicy:\n    outlierDetection: {consecutiveErrors: 4}\n" SUBSETS));
    const struct conf_outlier *od = &cluster(f, 0)->policy.outlier;
    assert_true(od->enabled);
    assert_int_equal(od->consecutive_gateway, 4);
    assert_int_equal(od->consecutive_5xx, 0);
    assert_int_equal(count_diag(f,
                                "warning: spec.trafficPolicy.outlierDetection.consecutiveErrors: "
                                "consecutiveErrors is deprecated"),
                     1);
}

static void
test_conf_policy_ext_explicit_fields_win_over_consecutive_errors(void **state)
{
    struct fx *f = *state;
    /* Whatever the order, consecutiveGatewayErrors and consecutive5xxErrors win. */
    assert_non_null(build(f, "  trafficPolicy:\n    outlierDetection:\n"
                             "      consecutiveGatewayErrors: 7\n      consecutiveErrors: 4\n"
                             "      consecutive5xxErrors: 9\n" SUBSETS));
    const struct conf_outlier *od = &cluster(f, 0)->policy.outlier;
    assert_int_equal(od->consecutive_gateway, 7);
    assert_int_equal(od->consecutive_5xx, 9);
    assert_non_null(build(f,
                          "  trafficPolicy:\n    outlierDetection:\n"
                          "      consecutive5xxErrors: 2\n      consecutiveErrors: 4\n" SUBSETS));
    od = &cluster(f, 0)->policy.outlier;
    assert_int_equal(od->consecutive_gateway, 4);
    assert_int_equal(od->consecutive_5xx, 2);
    /* consecutiveErrors 0 changes nothing: the default 5 consecutive 5xx stays. */
    assert_non_null(
        build(f, "  trafficPolicy:\n    outlierDetection: {consecutiveErrors: 0}\n" SUBSETS));
    od = &cluster(f, 0)->policy.outlier;
    assert_int_equal(od->consecutive_5xx, 5);
    assert_int_equal(od->consecutive_gateway, 0);
    assert_int_equal(f->dl.n, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_conf_policy_ext_warmup_sets_window_and_defaults),
        T(test_conf_policy_ext_warmup_duration_secs_alone),
        T(test_conf_policy_ext_subset_load_balancer_replaces_the_hosts),
        T(test_conf_policy_ext_warmup_merges_with_the_load_balancer_component),
        T(test_conf_policy_ext_warmup_rejects_bad_values),
        T(test_conf_policy_ext_warmup_with_random_warns_once),
        T(test_conf_policy_ext_max_retries),
        T(test_conf_policy_ext_consecutive_errors_maps_to_gateway_errors),
        T(test_conf_policy_ext_explicit_fields_win_over_consecutive_errors),
    };
    return cmocka_run_group_tests_name("conf_policy_ext", tests, NULL, NULL);
}
