/*
 * metrics.h: per-worker counters and histograms, summed at scrape time.
 *
 * Each worker owns one struct metric_shard and is its only writer: the request path
 * takes no lock and does no atomic read-modify-write (relaxed load + relaxed store of
 * 64-bit counters). The admin thread renders the Prometheus text exposition from all
 * registered shards with relaxed loads (metric_render). Series are keyed by label
 * values (copied), never by pointers into a config snapshot, so they survive reloads.
 * Process-wide values (reloads, generation) are plain atomics set by the reload code.
 *
 * Families (text format 0.0.4):
 *   canaryd_build_info{version} gauge 1
 *   canaryd_config_generation, canaryd_config_last_reload_success_timestamp_seconds
 *   canaryd_config_reloads_total{result="success"|"failure"}
 *   canaryd_downstream_connections_active
 *   canaryd_errors_total{reason}                   (reasons: enum metric_err)
 *   canaryd_request_duration_seconds{virtual_service,route,destination,subset} histogram
 *   canaryd_requests_total{virtual_service,route,destination,subset,code}
 *   canaryd_retry_overflow_total{destination,subset}
 *   canaryd_upstream_connect_failures_total{destination,subset}
 *   canaryd_access_log_dropped_lines_total
 *   process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
 *   process_open_fds, process_max_fds, process_start_time_seconds
 */
#ifndef CANARYD_METRICS_H
#define CANARYD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most label sets (request + connect-failure series) one shard tracks; beyond it,
 * observations go to one series whose label values are all "overflow". */
#define METRIC_SERIES_MAX 10000u

/* Label values of one request series. NULL values are recorded as "". */
struct metric_labels {
    const char *virtual_service; /* borrowed: for the duration of the call */
    const char *route;           /* borrowed: for the duration of the call */
    const char *destination;     /* borrowed: for the duration of the call */
    const char *subset;          /* borrowed: for the duration of the call */
    uint64_t hash;               /* 0: computed per call; else metric_labels_hash() */
};

/* Reasons of canaryd_errors_total; the label value is metric_err_name(). Every reason
 * is exported (0 until it happens). */
enum metric_err {
    METRIC_ERR_BAD_REQUEST = 0, /* "bad_request": malformed or ambiguous head (400) */
    METRIC_ERR_HEAD_TOO_LARGE,  /* "header_too_large" (431) */
    METRIC_ERR_URI_TOO_LONG,    /* "uri_too_long" (414) */
    METRIC_ERR_HEAD_TIMEOUT,    /* "header_timeout" (408) */
    METRIC_ERR_NO_ROUTE,        /* "no_route": no VirtualService or route (404) */
    METRIC_ERR_NO_ENDPOINT,     /* "no_healthy_endpoint" (503) */
    METRIC_ERR_UP_CONNECT,      /* "upstream_connect": connect failed (502) */
    METRIC_ERR_UP_RESET,        /* "upstream_reset": closed before a response (502) */
    METRIC_ERR_UP_TIMEOUT,      /* "upstream_timeout" (504) */
    METRIC_ERR_UP_BAD_RESPONSE, /* "upstream_bad_response": unparsable response (502) */
    METRIC_ERR_DOWN_CLOSED,     /* "downstream_closed": client left mid-stream */
    METRIC_ERR_NOMEM,           /* "out_of_memory": a runtime allocation failed */
    METRIC_ERR_REGEX_LIMIT,     /* "regex_limit": a PCRE2 match/depth limit was hit */
    METRIC_ERR_ACCEPT,          /* "accept": accept(2) failed */
    METRIC_ERR_MIRROR_DROPPED,  /* "mirror_dropped": a mirror copy was not sent (queue full,
                                   body too big, no endpoint) */
    METRIC_ERR_OVERFLOW,        /* "overflow": pool and pending queue full (503) */
    METRIC_ERR__COUNT,
};

struct metric_shard;

/* ---- per-worker shard (one writer thread) --------------------------------------- */

/* Returns a new empty shard registered for scraping, or NULL on allocation failure.
 * Thread-safe (takes the registry lock); call it before the worker starts. */
struct metric_shard *metric_shard_new(void);

/* Unregisters s and frees it. Its counts leave the exposition, so call it only at exit,
 * after the writer thread stopped. NULL is a no-op. */
void metric_shard_free(struct metric_shard *s);

/* Returns the hash of l's four values, for callers that precompute it (at config build
 * time) into metric_labels.hash. Never returns 0. */
uint64_t metric_labels_hash(const struct metric_labels *l);

/* Counts one finished stream: canaryd_requests_total{l..., code} += 1 and observes
 * duration_us in canaryd_request_duration_seconds{l...}. l's strings are copied the
 * first time the label set is seen. Writer thread of s only; no lock; never fails
 * (a label set that cannot be stored is counted in the overflow series). */
void metric_request(struct metric_shard *s, const struct metric_labels *l, unsigned code,
                    uint64_t duration_us);

/* canaryd_retry_overflow_total{destination, subset} += 1: a retry not made because
 * the cluster's connectionPool.http.maxRetries were all in flight. NULL values are
 * empty strings. */
void metric_retry_overflow(struct metric_shard *s, const char *destination, const char *subset);

/* canaryd_upstream_connect_failures_total{destination, subset} += 1. NULL values are
 * recorded as "". Writer thread of s only. */
void metric_connect_failure(struct metric_shard *s, const char *destination, const char *subset);

/* Adds delta (+1 on accept, -1 on close) to canaryd_downstream_connections_active.
 * Writer thread of s only. */
void metric_conn_delta(struct metric_shard *s, int delta);

/* canaryd_errors_total{reason} += 1. Writer thread of s only. */
void metric_error(struct metric_shard *s, enum metric_err reason);

/* Returns the label value of reason ("bad_request", ...), or "unknown". */
const char *metric_err_name(enum metric_err reason);

/* ---- process-wide (any thread, rare) -------------------------------------------- */

/* canaryd_config_reloads_total{result="success"|"failure"} += 1. */
void metric_reload(bool is_ok);

/* Sets canaryd_config_generation. */
void metric_config_generation_set(uint64_t generation);

/* Sets canaryd_config_last_reload_success_timestamp_seconds (Unix time). */
void metric_config_last_success_set(double unix_seconds);

/* ---- exposition ------------------------------------------------------------------ */

/* Content-Type of metric_render's text. */
#define METRIC_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Renders every family in Prometheus text format 0.0.4: # HELP and # TYPE before each
 * family's samples, series sorted by label values (codes numerically), values summed
 * over all registered shards; process_* values are read from /proc/self now.
 * On success stores a new malloc'd NUL-terminated text in *textp (the caller frees it)
 * and its length in *lenp, and returns 0; returns -1 on allocation failure. Any
 * thread; takes the registry lock (never taken on the request path). */
int metric_render(char **textp, size_t *lenp);

#endif /* CANARYD_METRICS_H */
