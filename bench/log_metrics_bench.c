/*
 * log_metrics_bench.c: micro-benchmark of the two per-stream calls stream_end makes,
 * metric_request (metrics.h) and log_access (log.h), in ns/call.
 * metric_request is measured three ways: the same label pointers every call (a config
 * snapshot's strings: the pointer cache hits), fresh pointers every call with the hash
 * computed per call (the worst case), and fresh pointers with a precomputed hash.
 * log_access formats a typical ~430-byte line and writes batches to /dev/null.
 * Times are thread CPU time, best of 5 runs, so a busy shared machine does not inflate
 * them. Never gates CI.
 *
 * Build and run (links the library, not the sources):
 *   make build/libcanaryd.a
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -o build/log_metrics_bench \
 *       bench/log_metrics_bench.c build/libcanaryd.a \
 *       $(pkg-config --libs libevent yaml-0.1 libpcre2-8) -pthread -lm
 *   build/log_metrics_bench
 */
#include "canaryd/common.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "canaryd/core/log.h"
#include "canaryd/core/metrics.h"

#define NSETS 8     /* label sets (subsets) cycled through */
#define NCOPIES 256 /* copies with distinct pointers: more than the pointer cache holds */

static struct metric_shard *shard;
static struct metric_labels fixed[NSETS];
static struct metric_labels moving[NCOPIES][NSETS];
static char copies[NCOPIES][NSETS][4][48];
static struct log_buf *lbuf;
static struct log_access_rec rec;

static double
cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
run_fixed(long n)
{
    for (long i = 0; i < n; i++)
        metric_request(shard, &fixed[i % NSETS], i % 50 ? 200 : 503, (uint64_t)(i % 5000));
}

static void
run_moving(long n)
{
    for (long i = 0; i < n; i++)
        metric_request(shard, &moving[(i / NSETS) % NCOPIES][i % NSETS], i % 50 ? 200 : 503,
                       (uint64_t)(i % 5000));
}

static void
run_access(long n)
{
    for (long i = 0; i < n; i++) {
        rec.time_us = 1700000000000000ull + (uint64_t)i * 10;
        log_access(lbuf, &rec);
    }
    log_buf_flush(lbuf);
}

static double
best_ns(void (*fn)(long), long n)
{
    double best = 1e30;
    for (int k = 0; k < 5; k++) {
        double t0 = cpu_now();
        fn(n);
        best = MIN(best, (cpu_now() - t0) / (double)n * 1e9);
    }
    return best;
}

static void
setup_labels(void)
{
    static char subset[NSETS][8];
    for (int i = 0; i < NSETS; i++) {
        snprintf(subset[i], sizeof(subset[i]), "v%d", i);
        fixed[i] = (struct metric_labels){"reviews", "canary-split",
                                          "reviews.default.svc.cluster.local", subset[i], 0};
    }
    for (int c = 0; c < NCOPIES; c++) {
        for (int i = 0; i < NSETS; i++) {
            const char *v[4] = {fixed[i].virtual_service, fixed[i].route, fixed[i].destination,
                                fixed[i].subset};
            for (int k = 0; k < 4; k++)
                snprintf(copies[c][i][k], sizeof(copies[c][i][k]), "%s", v[k]);
            moving[c][i] = (struct metric_labels){copies[c][i][0], copies[c][i][1], copies[c][i][2],
                                                  copies[c][i][3], 0};
        }
    }
}

static void
setup_rec(void)
{
    rec = (struct log_access_rec){
        .request_id = log_str_c("3f2a9c1e-7d4b-4c1e-9a7f-0123456789ab"),
        .client = log_str_c("10.1.2.3:51234"),
        .method = log_str_c("GET"),
        .authority = log_str_c("reviews.example.com"),
        .path = log_str_c("/api/v1/reviews/12345?lang=en"),
        .protocol = log_str_c("HTTP/1.1"),
        .status = 200,
        .bytes_in = 312,
        .bytes_out = 4711,
        .duration_us = 1234,
        .upstream_us = 987,
        .virtual_service = log_str_c("reviews"),
        .route = log_str_c("canary-split"),
        .destination = log_str_c("reviews.default.svc.cluster.local"),
        .subset = log_str_c("v2"),
        .upstream = log_str_c("10.0.0.5:8080"),
        .flags = log_str_c(""),
    };
}

int
main(void)
{
    int devnull = open("/dev/null", O_WRONLY);
    int saved = dup(STDOUT_FILENO);
    dup2(devnull, STDOUT_FILENO);
    shard = metric_shard_new();
    lbuf = log_buf_new();
    if (shard == NULL || lbuf == NULL)
        return 1;
    setup_labels();
    setup_rec();
    double fixed_ns = best_ns(run_fixed, 5000000);
    double hash_ns = best_ns(run_moving, 5000000);
    for (int c = 0; c < NCOPIES; c++)
        for (int i = 0; i < NSETS; i++)
            moving[c][i].hash = metric_labels_hash(&moving[c][i]);
    double prehash_ns = best_ns(run_moving, 5000000);
    double access_ns = best_ns(run_access, 1000000);
    log_buf_free(lbuf);
    metric_shard_free(shard);
    dup2(saved, STDOUT_FILENO);
    printf("metric_request, same label pointers:          %6.1f ns/call\n", fixed_ns);
    printf("metric_request, fresh pointers, hash per call: %6.1f ns/call\n", hash_ns);
    printf("metric_request, fresh pointers, precomputed:   %6.1f ns/call\n", prehash_ns);
    printf("log_access, ~430-byte line to /dev/null:       %6.1f ns/call\n", access_ns);
    return 0;
}
