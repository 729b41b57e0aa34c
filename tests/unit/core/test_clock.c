/*
 * test_clock.c: unit tests of the clock readings (clock.c).
 */
#include "canaryd/common.h"
#include "canaryd/core/clock.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

static void
test_clock_monotonic_readings_never_go_back(void **state)
{
    (void)state;
    uint64_t us = clock_mono_us(), ms = clock_mono_ms();
    for (int i = 0; i < 1000; i++) {
        uint64_t us2 = clock_mono_us(), ms2 = clock_mono_ms();
        assert_true(us2 >= us);
        assert_true(ms2 >= ms);
        us = us2;
        ms = ms2;
    }
}

/* Both monotonic readings count from the same origin, in their own unit (the
 * coarse one lags by at most a scheduler tick; a second is a loose bound). */
static void
test_clock_mono_units_agree(void **state)
{
    (void)state;
    uint64_t ms = clock_mono_ms();
    uint64_t us = clock_mono_us();
    assert_true(us / 1000u + 1u >= ms);
    assert_true(us / 1000u <= ms + 1000u);
}

static void
test_clock_wall_is_the_unix_time(void **state)
{
    (void)state;
    time_t before = time(NULL);
    uint64_t s = clock_wall_us() / 1000000u;
    time_t after = time(NULL);
    assert_true(s + 1u >= (uint64_t)before);
    assert_true(s <= (uint64_t)after + 1u);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_monotonic_readings_never_go_back),
        cmocka_unit_test(test_clock_mono_units_agree),
        cmocka_unit_test(test_clock_wall_is_the_unix_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
