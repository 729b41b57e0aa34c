/*
 * clock.h: the one clock of canaryd. Three readings, each for one purpose:
 *  - clock_mono_us: durations and deadlines of requests and connections
 *    (CLOCK_MONOTONIC, microseconds, precise);
 *  - clock_mono_ms: coarse monotonic milliseconds for state kept across
 *    requests (outlier detection, slow start, DNS rounds, rate limits), one
 *    vDSO read without a hardware counter (CLOCK_MONOTONIC_COARSE);
 *  - clock_wall_us: wall-clock microseconds since the Unix epoch, for
 *    timestamps that leave the process (logs, /config, metrics).
 * Monotonic readings never go back and say nothing about the date; wall
 * readings follow the system clock. Thread-safe, no allocation.
 */
#ifndef CANARYD_CLOCK_H
#define CANARYD_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_us(void);
uint64_t clock_mono_ms(void);
uint64_t clock_wall_us(void);

#endif /* CANARYD_CLOCK_H */
