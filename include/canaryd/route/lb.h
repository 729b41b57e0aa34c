/*
 * lb.h: load balancing on the request path, after route_select().
 * Two picks per attempt: which destination (subset) of the route takes the
 * request, by weight, from a random draw or a stable key hash (the
 * canaryd.io/split-key annotation); then which endpoint of that destination's
 * cluster, by the DestinationRule policy (round robin, least request, random,
 * consistent hash). Also the per-worker random generator and the key hash.
 * Pure logic: no allocation, no locks, no I/O, never logs. Every function may
 * run on any worker at once; the mutable state (struct lb_rng, round-robin
 * cursors, active counts) belongs to the caller's worker.
 */
#ifndef CANARYD_LB_H
#define CANARYD_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf_cluster;
struct conf_endpoint;
struct conf_key;
struct conf_route;
struct conf_warmup;
struct route_req;

/* ---- random numbers ---- */

/* xoshiro256** state; one per worker, never shared between threads. */
struct lb_rng {
    uint64_t s[4];
};

/* Seeds rng from a 64-bit seed (expanded with splitmix64, so any seed,
 * 0 included, gives a valid state). Seed each worker differently, e.g. from
 * getrandom() or the time and the worker number. */
void lb_rng_seed(struct lb_rng *rng, uint64_t seed);

/* Returns the next uniform 64-bit draw of rng. */
uint64_t lb_rand(struct lb_rng *rng);

/* ---- destination (subset) pick ---- */

/* Picks the destination of route r (FORWARD) for the 64-bit value u, a uniform
 * draw (lb_rand) or a key hash (lb_key_hash_req). u is mapped onto
 * [0, total_weight) by multiply-shift (u * total_weight) >> 64, which has no
 * modulo bias worth the name (the error is below 2^-32) and is monotone in u;
 * the destination is the one whose [cum_weight[i-1], cum_weight[i]) range
 * holds the result. Destination i thus owns the slice of u proportional to its
 * weight, slices in destination order: a zero-weight destination is never
 * chosen, and when the LAST destination's share grows (95/5 -> 90/10 -> 0/100)
 * every key hash already on it stays on it (the canary is listed last).
 * A lone destination is always chosen. Returns the index into r->dests, or
 * SIZE_MAX when r has no destination or all weights are zero. */
size_t lb_pick_dest(const struct conf_route *r, uint64_t u);

/* ---- hash keys ---- */

/* Stable, well-mixed 64-bit hash of s[0..len) (s may be NULL when len is 0).
 * Fixed seed, byte order independent: identical across processes, restarts,
 * replicas and machines, so a key lands on the same subset and endpoint
 * everywhere. Not a cryptographic hash. */
uint64_t lb_key_hash(const char *s, size_t len);

/* Extracts the value key names from the request in rr:
 *  - CONF_KEY_HEADER: the header (repeated lines joined as route_hdr_get does,
 *    possibly into rr->scratch);
 *  - CONF_KEY_COOKIE: the value of the first cookie named key->name
 *    (case-sensitive) in the Cookie header lines, pairs split on ';', leading
 *    blanks ignored, surrounding double quotes removed (as Envoy);
 *  - CONF_KEY_QUERY: the first value of the query parameter (route_query_get);
 *  - CONF_KEY_SOURCE_IP: the client address bytes rr->req->client_addr.
 * Returns true and sets *val and *len (borrowed from the request, rr->scratch or
 * rr->req->client_addr) when the key is present; false when it is absent, key->src is
 * CONF_KEY_NONE, or a joined header does not fit in the scratch. */
bool lb_key_get(const struct conf_key *key, const struct route_req *rr, const char **val,
                size_t *len);

/* lb_key_get then lb_key_hash. Returns false when the key is absent: the
 * caller then falls back to a random draw (lb_rand). */
bool lb_key_hash_req(const struct conf_key *key, const struct route_req *rr, uint64_t *hash);

/* ---- endpoint pick ---- */

/* Tells whether endpoint ep may take a request now (not ejected, pool not
 * saturated, ...). Called synchronously from lb_pick_endpoint, at most three times
 * per endpoint per pick; must not modify the cluster. */
typedef bool (*lb_usable_fn)(void *ctx, const struct conf_endpoint *ep);

/* Words needed by a skip bitmap for a cluster of n endpoints. */
#define LB_BITMAP_WORDS(n) (((n) + 63) / 64)

/* Everything an endpoint pick reads besides the cluster. Filled by the caller
 * for each pick; nothing is owned. */
struct lb_pick {
    struct lb_rng *rng;     /* borrowed: the worker's generator; required */
    uint64_t *rr_next;      /* borrowed: the worker's round-robin cursor for this cluster
                               (e.g. an array indexed by conf_cluster.index); advanced by
                               one per ROUND_ROBIN pick; NULL = start at a random place */
    const uint32_t *active; /* borrowed: the worker's in-flight requests per endpoint,
                               indexed by conf_endpoint.index (LEAST_REQUEST);
                               NULL = all idle */
    bool has_hash;          /* LB_HASH: hash holds the request's key hash; false = no key,
                               a random draw is used instead */
    uint64_t hash;
    const uint64_t *skip;   /* borrowed: bit i (word i / 64, bit i % 64) set = c->eps[i]
                               must not be picked (already tried); NULL = none */
    size_t skip_words;      /* words in skip: endpoints past skip_words * 64 are not
                               skipped; 0 = LB_BITMAP_WORDS(c->neps) */
    lb_usable_fn is_usable; /* NULL = every endpoint not in skip is usable */
    void *usable_ctx;
    uint64_t now_ms; /* monotonic ms, the clock of conf_endpoint.warm_since_ms,
                        for slow start (policy.warmup); 0 = no slow start */
};

/* Slow start factor of an endpoint first seen at since_ms (0 = at start-up),
 * at now_ms, under wu: 1.0 when wu is off, since_ms is 0 or the window has
 * passed; else max(wu->min_weight, t ^ (1 / wu->aggression)) with
 * t = max(now_ms - since_ms, 1) / wu->window_ms (Envoy's slow start). */
double lb_warmup_factor(const struct conf_warmup *wu, uint64_t since_ms, uint64_t now_ms);

/* Picks one of n equal candidates (the addresses of a DNS endpoint) for the
 * uniform draw u, each weighted by lb_warmup_factor(wu, since_ms[i], now_ms):
 * a uniform pick when none is in its window. n > 0. Returns an index < n. */
size_t lb_pick_warm_index(const struct conf_warmup *wu, const uint64_t *since_ms, size_t n,
                          uint64_t now_ms, uint64_t u);

/* Picks an endpoint of cluster c by c->policy.lb among the usable ones (not in
 * p->skip and accepted by p->is_usable). An endpoint weight of 0 counts as 1
 * (Istio's default).
 *  - LB_ROUND_ROBIN: cursor *p->rr_next modulo the usable endpoints, in order;
 *    with unequal weights, slot (cursor mod total weight) is spread over the
 *    cycle by a fixed stride coprime with the total, so every cycle of
 *    total-weight picks gives each endpoint exactly its weight, interleaved.
 *  - LB_LEAST_REQUEST: power of two choices: two distinct random usable
 *    endpoints, the one with fewer p->active requests per unit of weight wins.
 *  - LB_RANDOM: random, in proportion to the weights.
 *  - Slow start (c->policy.warmup, p->now_ms set): while a usable endpoint is in
 *    its window, ROUND_ROBIN and LEAST_REQUEST weigh every endpoint by
 *    weight * lb_warmup_factor. ROUND_ROBIN then walks the golden-ratio
 *    sequence of the cursor over the scaled weights, so that over any run of
 *    picks each endpoint's share stays within a few picks of its weight's
 *    share even as the weights ramp; LEAST_REQUEST draws at random in
 *    proportion to weight / (active + 1), as Envoy weighs hosts by load.
 *    RANDOM and LB_HASH ignore slow start (as Istio).
 *  - LB_HASH: weighted rendezvous (highest random weight) hashing of p->hash
 *    with each endpoint's identity (address and port, not its index), so the
 *    choice is the same on every replica and across reloads that keep the
 *    endpoint, and skipping an endpoint only moves the keys that were on it.
 * O(number of endpoints) per pick. Returns the index into c->eps, or SIZE_MAX
 * when no endpoint is usable. */
size_t lb_pick_endpoint(const struct conf_cluster *c, const struct lb_pick *p);

#endif /* CANARYD_LB_H */
