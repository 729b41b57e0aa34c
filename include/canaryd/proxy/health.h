/*
 * health.h: runtime state shared by all workers about endpoints and clusters:
 * outlier detection (consecutive errors, ejection until a time) and
 * connection-pool accounting (open connections, pending requests). Entries
 * are keyed by identity (endpoint address and port; cluster name), created
 * by health_attach() on the main thread before a snapshot is published, and
 * live for the process, so they survive reloads that keep the endpoint.
 * Workers update them with atomics only: no lock on the request path.
 * Endpoint entries also remember when canaryd first saw the endpoint, for slow
 * start (loadBalancer.warmup), and cluster entries count the retries in flight
 * (connectionPool.http.maxRetries).
 */
#ifndef CANARYD_HEALTH_H
#define CANARYD_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct conf;
struct conf_cluster;
struct conf_endpoint;

struct health_ep {
    atomic_uint consecutive_5xx;
    atomic_uint consecutive_gateway;
    atomic_uint nejections;
    _Atomic uint64_t ejected_until_ms; /* monotonic ms; 0 = in service */
};

struct health_cluster {
    atomic_int nconns;    /* upstream connections in use (leased), all workers */
    atomic_int npending;  /* requests waiting for a connection, all workers */
    atomic_uint nretries; /* retries in flight (slots of maxRetries held), all workers */
};

/* Attaches state to every endpoint and cluster of c (main thread, before c
 * is published), and sets each endpoint's warm_since_ms: 0 for the endpoints of
 * the first snapshot attached (present at start-up), else the time canaryd first
 * saw the endpoint, which is now for an endpoint absent from the snapshot attached
 * before (new, or back after a removal) and is kept across reloads that keep it.
 * Returns 0 or -1 (allocation failure). */
int health_attach(struct conf *c);

/* Frees every entry (at exit, workers stopped). */
void health_fini(void);

/* Records the outcome of a request to ep in cluster c: status is the
 * response status, or 0 for a connect failure or reset. May eject ep, obeying
 * maxEjectionPercent (at least one endpoint may always be ejected, as Envoy).
 * Returns true when this call ejected ep. */
bool health_observe(const struct conf_cluster *c, const struct conf_endpoint *ep, unsigned status,
                    uint64_t now_ms);

/* True when ep may be picked now: not ejected, or the cluster is below
 * minHealthPercent (then ejections are ignored, Envoy's panic mode). */
bool health_is_usable(const struct conf_cluster *c, const struct conf_endpoint *ep,
                      uint64_t now_ms);

/* Takes one retry slot of cluster state h, limited to max outstanding retries
 * (connectionPool.http.maxRetries) across workers. Returns true when taken, false
 * when max are in use already (a retry overflow). max 0 means unlimited: returns
 * true and takes nothing. Any thread; lock-free. */
bool health_retry_take(struct health_cluster *h, uint32_t max);

/* Gives back a slot taken by health_retry_take (with max != 0). Any thread. */
void health_retry_put(struct health_cluster *h);

#endif /* CANARYD_HEALTH_H */
