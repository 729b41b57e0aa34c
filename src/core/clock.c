/*
 * clock.c: monotonic and wall-clock readings (clock.h).
 */
#include "canaryd/common.h"
#include "canaryd/core/clock.h"

#include <time.h>

/* clock_gettime cannot fail for these clock ids and a valid pointer. */
static struct timespec
clock_read(clockid_t id)
{
    struct timespec ts;
    (void)clock_gettime(id, &ts);
    return ts;
}

uint64_t
clock_mono_us(void)
{
    struct timespec ts = clock_read(CLOCK_MONOTONIC);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
clock_mono_ms(void)
{
    struct timespec ts = clock_read(CLOCK_MONOTONIC_COARSE);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
clock_wall_us(void)
{
    struct timespec ts = clock_read(CLOCK_REALTIME);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
