/*
 * test_health.c: unit tests of outlier detection and connection accounting
 * (health.c), on hand-built clusters.
 */
#include "canaryd/common.h"
#include "canaryd/health.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/conf.h"

#define NEPS 4

struct fixture {
    struct conf conf;
    struct conf_endpoint eps[NEPS];
    struct conf_endpoint *ep_ptrs[NEPS];
    struct conf_cluster cluster;
    char names[NEPS][32];
};

static struct fixture fx;

static int
setup(void **state)
{
    (void)state;
    memset(&fx, 0, sizeof(fx));
    for (int i = 0; i < NEPS; i++) {
        snprintf(fx.names[i], sizeof(fx.names[i]), "10.0.0.%d", i + 1);
        fx.eps[i].address = fx.names[i];
        fx.eps[i].port = (uint16_t)(8000 + i);
        fx.eps[i].index = (uint32_t)i;
        fx.ep_ptrs[i] = &fx.eps[i];
    }
    fx.cluster.name = "outbound|80|v1|test";
    fx.cluster.eps = fx.ep_ptrs;
    fx.cluster.neps = NEPS;
    struct conf_outlier *od = &fx.cluster.policy.outlier;
    od->enabled = true;
    od->consecutive_5xx = 3;
    od->base_ejection_ms = 1000;
    od->max_ejection_percent = 50;
    fx.conf.endpoints = fx.eps;
    fx.conf.nendpoints = NEPS;
    fx.conf.clusters = &fx.cluster;
    fx.conf.nclusters = 1;
    return health_attach(&fx.conf);
}

static int
teardown(void **state)
{
    (void)state;
    health_fini();
    return 0;
}

static void
fail_n(int ep, int n, unsigned status, uint64_t now)
{
    for (int i = 0; i < n; i++)
        health_observe(&fx.cluster, &fx.eps[ep], status, now);
}

static void
test_health_consecutive_5xx_ejects_then_readmits(void **state)
{
    (void)state;
    fail_n(0, 2, 500, 1000);
    assert_true(health_is_usable(&fx.cluster, &fx.eps[0], 1000));
    assert_true(health_observe(&fx.cluster, &fx.eps[0], 503, 1000));
    assert_false(health_is_usable(&fx.cluster, &fx.eps[0], 1500));
    assert_true(health_is_usable(&fx.cluster, &fx.eps[1], 1500));
    /* Back after baseEjectionTime x 1. */
    assert_true(health_is_usable(&fx.cluster, &fx.eps[0], 2001));
}

static void
test_health_success_resets_the_count(void **state)
{
    (void)state;
    fail_n(1, 2, 500, 10);
    health_observe(&fx.cluster, &fx.eps[1], 200, 10);
    fail_n(1, 2, 500, 10);
    assert_true(health_is_usable(&fx.cluster, &fx.eps[1], 10));
}

static void
test_health_ejection_time_grows_with_each_ejection(void **state)
{
    (void)state;
    fail_n(2, 3, 0, 0); /* connect failures count as errors */
    assert_false(health_is_usable(&fx.cluster, &fx.eps[2], 999));
    assert_true(health_is_usable(&fx.cluster, &fx.eps[2], 1000));
    fail_n(2, 3, 502, 1000);
    assert_false(health_is_usable(&fx.cluster, &fx.eps[2], 2999));
    assert_true(health_is_usable(&fx.cluster, &fx.eps[2], 3000));
}

static void
test_health_max_ejection_percent_caps_ejections(void **state)
{
    (void)state;
    /* 50% of 4 endpoints: two may be out at once, not three. */
    fail_n(0, 3, 500, 0);
    fail_n(1, 3, 500, 0);
    fail_n(2, 3, 500, 0);
    assert_false(health_is_usable(&fx.cluster, &fx.eps[0], 1));
    assert_false(health_is_usable(&fx.cluster, &fx.eps[1], 1));
    assert_true(health_is_usable(&fx.cluster, &fx.eps[2], 1));
}

static void
test_health_one_ejection_is_always_allowed(void **state)
{
    (void)state;
    fx.cluster.policy.outlier.max_ejection_percent = 10; /* 10% of 4 < 1 endpoint */
    fail_n(3, 3, 500, 0);
    assert_false(health_is_usable(&fx.cluster, &fx.eps[3], 1));
    fail_n(0, 3, 500, 0);
    assert_true(health_is_usable(&fx.cluster, &fx.eps[0], 1));
}

static void
test_health_below_min_health_ejections_are_ignored(void **state)
{
    (void)state;
    fx.cluster.policy.outlier.min_health_percent = 80; /* 3 of 4 healthy is 75% */
    fail_n(0, 3, 500, 0);
    assert_true(health_is_usable(&fx.cluster, &fx.eps[0], 1));
}

static void
test_health_disabled_never_ejects(void **state)
{
    (void)state;
    fx.cluster.policy.outlier.enabled = false;
    fail_n(0, 10, 500, 0);
    assert_true(health_is_usable(&fx.cluster, &fx.eps[0], 1));
}

static void
test_health_gateway_errors_count_separately(void **state)
{
    (void)state;
    fx.cluster.policy.outlier.consecutive_5xx = 0;
    fx.cluster.policy.outlier.consecutive_gateway = 2;
    fail_n(0, 3, 500, 0); /* 500 is not a gateway error */
    assert_true(health_is_usable(&fx.cluster, &fx.eps[0], 1));
    fail_n(0, 2, 504, 0);
    assert_false(health_is_usable(&fx.cluster, &fx.eps[0], 1));
}

static void
test_health_attach_keeps_state_for_the_same_endpoint(void **state)
{
    (void)state;
    struct health_ep *before = fx.eps[0].health;
    fx.eps[0].health = NULL;
    assert_int_equal(health_attach(&fx.conf), 0);
    assert_ptr_equal(fx.eps[0].health, before); /* a reload keeps the endpoint's state */
    assert_ptr_not_equal(fx.eps[1].health, before);
    assert_non_null(fx.cluster.rt);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_health_consecutive_5xx_ejects_then_readmits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_success_resets_the_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_ejection_time_grows_with_each_ejection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_max_ejection_percent_caps_ejections, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_one_ejection_is_always_allowed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_below_min_health_ejections_are_ignored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_disabled_never_ejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_gateway_errors_count_separately, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_attach_keeps_state_for_the_same_endpoint, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
