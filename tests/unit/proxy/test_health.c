/*
 * test_health.c: unit tests of outlier detection and connection accounting
 * (health.c), on hand-built clusters: ejections, the slow start origin of
 * endpoints across reloads, and the maxRetries budget (also across threads).
 */
#include "canaryd/common.h"
#include "canaryd/core/clock.h"
#include "canaryd/proxy/health.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/conf/conf.h"

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

/* ---- slow start origin ---- */

static void
test_health_attach_warm_since_marks_only_endpoints_new_after_start_up(void **state)
{
    (void)state;
    for (int i = 0; i < NEPS; i++)
        assert_int_equal(fx.eps[i].warm_since_ms, 0); /* the start-up snapshot */
    /* A reload replaces the last endpoint with a new address. */
    snprintf(fx.names[3], sizeof(fx.names[3]), "10.0.9.9");
    assert_int_equal(health_attach(&fx.conf), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(fx.eps[i].warm_since_ms, 0);
    uint64_t since = fx.eps[3].warm_since_ms;
    assert_true(since != 0 && since <= clock_mono_ms());
    /* A reload that keeps it keeps its origin: the ramp goes on. */
    fx.eps[3].warm_since_ms = 0;
    assert_int_equal(health_attach(&fx.conf), 0);
    assert_int_equal(fx.eps[3].warm_since_ms, since);
    /* Removed in one snapshot, back in the next: new again. */
    fx.conf.nendpoints = 3;
    assert_int_equal(health_attach(&fx.conf), 0);
    fx.conf.nendpoints = NEPS;
    assert_int_equal(health_attach(&fx.conf), 0);
    assert_true(fx.eps[3].warm_since_ms >= since);
    assert_int_equal(fx.eps[0].warm_since_ms, 0);
}

/* ---- retry budget (maxRetries) ---- */

static void
test_health_retry_slots_cap_retries_in_flight(void **state)
{
    (void)state;
    struct health_cluster *h = fx.cluster.rt;
    assert_true(health_retry_take(h, 2));
    assert_true(health_retry_take(h, 2));
    assert_false(health_retry_take(h, 2)); /* overflow */
    health_retry_put(h);
    assert_true(health_retry_take(h, 2));
    assert_false(health_retry_take(h, 2));
    health_retry_put(h);
    health_retry_put(h);
    assert_int_equal(atomic_load(&h->nretries), 0);
    /* 0 is unlimited: nothing is counted. */
    for (int i = 0; i < 1000; i++)
        assert_true(health_retry_take(h, 0));
    assert_int_equal(atomic_load(&h->nretries), 0);
}

#define RETRY_THREADS 4
#define RETRY_ROUNDS 200000
#define RETRY_MAX 3u

struct retry_run {
    struct health_cluster *h;
    atomic_uint *inflight;
    atomic_uint *peak;
    unsigned taken;
};

static void *
retry_worker(void *arg)
{
    struct retry_run *r = arg;
    for (int i = 0; i < RETRY_ROUNDS; i++) {
        if (!health_retry_take(r->h, RETRY_MAX))
            continue;
        r->taken++;
        unsigned now = atomic_fetch_add(r->inflight, 1) + 1;
        unsigned peak = atomic_load(r->peak);
        while (now > peak && !atomic_compare_exchange_weak(r->peak, &peak, now))
            ;
        atomic_fetch_sub(r->inflight, 1);
        health_retry_put(r->h);
    }
    return NULL;
}

static void
test_health_retry_slots_hold_across_threads(void **state)
{
    (void)state;
    atomic_uint inflight = 0, peak = 0;
    struct retry_run runs[RETRY_THREADS];
    pthread_t th[RETRY_THREADS];
    for (int i = 0; i < RETRY_THREADS; i++) {
        runs[i] = (struct retry_run){fx.cluster.rt, &inflight, &peak, 0};
        assert_int_equal(pthread_create(&th[i], NULL, retry_worker, &runs[i]), 0);
    }
    unsigned taken = 0;
    for (int i = 0; i < RETRY_THREADS; i++) {
        pthread_join(th[i], NULL);
        taken += runs[i].taken;
    }
    assert_true(peak <= RETRY_MAX); /* never more than maxRetries in flight */
    assert_true(taken > 0);
    assert_int_equal(atomic_load(&fx.cluster.rt->nretries), 0); /* every slot came back */
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
        cmocka_unit_test_setup_teardown(
            test_health_attach_warm_since_marks_only_endpoints_new_after_start_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_retry_slots_cap_retries_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_retry_slots_hold_across_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_health_attach_keeps_state_for_the_same_endpoint, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("health", tests, NULL, NULL);
}
