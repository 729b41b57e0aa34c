/*
 * lb.c: destination and endpoint picks, key hashing, per-worker PRNG (lb.h).
 * Runs on the request path after route_select(): lb_pick_dest() chooses the
 * subset from a draw or a split-key hash, lb_pick_endpoint() chooses the
 * endpoint of the subset's cluster. Everything is a pure function of the
 * snapshot and the caller's per-worker state; nothing allocates or locks.
 */
#include "canaryd/common.h"
#include "canaryd/route/lb.h"

#include <math.h>
#include <string.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/http.h"
#include "canaryd/route/route.h"

/* Odd 64-bit constants (golden ratio, and two with well-spread bits). */
#define K_GOLDEN 0x9e3779b97f4a7c15ull
#define K_MUL 0xc2b2ae3d27d4eb4full
#define K_ADD 0x165667b19e3779f9ull
/* lb_key_hash's fixed seed, "canaryd!" in ASCII: never change it, or every
 * sticky user moves. */
#define KEY_HASH_SEED 0x63616e6172796421ull

static inline uint64_t
rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

/* splitmix64's output function: a bijective avalanche of all 64 bits. */
static inline uint64_t
avalanche(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* (a * b) >> 64: maps a uniform a onto [0, b) monotonically. */
static inline uint64_t
mulhi(uint64_t a, uint64_t b)
{
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
}

void
lb_rng_seed(struct lb_rng *rng, uint64_t seed)
{
    for (size_t i = 0; i < countof(rng->s); i++) {
        seed += K_GOLDEN;
        rng->s[i] = avalanche(seed);
    }
}

uint64_t
lb_rand(struct lb_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

size_t
lb_pick_dest(const struct conf_route *r, uint64_t u)
{
    if (r->ndests == 0)
        return SIZE_MAX;
    if (r->ndests == 1)
        return 0;
    if (r->total_weight == 0)
        return SIZE_MAX;
    uint32_t x = (uint32_t)mulhi(u, r->total_weight);
    const uint32_t *cum = r->cum_weight;
    size_t n = r->ndests;
    if (n <= 4) {
        for (size_t i = 0; i < n; i++) {
            if (x < cum[i])
                return i;
        }
        return SIZE_MAX;
    }
    /* First i with cum[i] > x; empty (zero-weight) ranges are never first. */
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return cum[lo] > x ? lo : SIZE_MAX;
}

/* ---- key hash ---- */

static inline uint64_t
load_le64(const unsigned char *p, size_t n)
{
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)p[i] << (8 * i);
    return w;
}

/* One step per 64-bit word: xor, rotate, multiply by an odd constant and add
 * are each bijective in the state, so no input word can collapse it. */
static inline uint64_t
key_round(uint64_t h, uint64_t w)
{
    return rotl64(h ^ (w * K_MUL), 29) * K_GOLDEN + K_ADD;
}

uint64_t
lb_key_hash(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t h = KEY_HASH_SEED ^ ((uint64_t)len * K_GOLDEN);
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        h = key_round(h, load_le64(p + i, 8));
    /* The tail (0 to 7 bytes) is always mixed in; the length is in the seed. */
    h = key_round(h, len > i ? load_le64(p + i, len - i) : 0);
    return avalanche(h);
}

/* Finds cookie name in one Cookie header value: "a=1; b=2". */
static bool
cookie_find(const char *v, size_t vlen, const char *name, size_t name_len, const char **val,
            size_t *len)
{
    size_t start = 0;
    while (start < vlen) {
        const char *semi = memchr(v + start, ';', vlen - start);
        size_t end = semi != NULL ? (size_t)(semi - v) : vlen;
        size_t k = start;
        while (k < end && (v[k] == ' ' || v[k] == '\t'))
            k++;
        const char *eq = memchr(v + k, '=', end - k);
        if (eq != NULL && (size_t)(eq - (v + k)) == name_len &&
            memcmp(v + k, name, name_len) == 0) {
            const char *b = eq + 1;
            size_t n = (size_t)(v + end - b);
            if (n >= 2 && b[0] == '"' && b[n - 1] == '"') {
                b++;
                n -= 2;
            }
            *val = b;
            *len = n;
            return true;
        }
        start = end + 1;
    }
    return false;
}

static bool
cookie_get(const struct http_req *req, const char *name, size_t name_len, const char **val,
           size_t *len)
{
    for (uint32_t i = 0; i < req->nhdrs; i++) {
        const struct http_hdr *h = &req->hdrs[i];
        if (h->name_len != 6 || memcmp(h->name, "cookie", 6) != 0)
            continue;
        if (cookie_find(h->value, h->value_len, name, name_len, val, len))
            return true;
    }
    return false;
}

bool
lb_key_get(const struct conf_key *key, const struct route_req *rr, const char **val, size_t *len)
{
    const struct http_req *req = rr->req;
    switch (key->src) {
    case CONF_KEY_NONE:
        return false;
    case CONF_KEY_HEADER:
        return route_hdr_get(rr, key->name, key->name_len, val, len) == 1;
    case CONF_KEY_COOKIE:
        return cookie_get(req, key->name, key->name_len, val, len);
    case CONF_KEY_QUERY:
        return route_query_get(req->query.p, req->query.len, key->name, key->name_len, val, len);
    case CONF_KEY_SOURCE_IP:
        if (req->client_addr == NULL || req->client_addr_len == 0)
            return false;
        *val = req->client_addr;
        *len = req->client_addr_len;
        return true;
    }
    return false;
}

bool
lb_key_hash_req(const struct conf_key *key, const struct route_req *rr, uint64_t *hash)
{
    const char *v = NULL;
    size_t len = 0;
    if (!lb_key_get(key, rr, &v, &len))
        return false;
    *hash = lb_key_hash(v, len);
    return true;
}

/* ---- endpoint pick ---- */

static inline uint64_t
ep_weight(const struct conf_endpoint *ep)
{
    return ep->weight != 0 ? ep->weight : 1;
}

static bool
ep_usable(const struct conf_cluster *c, const struct lb_pick *p, size_t i)
{
    if (p->skip != NULL && (p->skip_words == 0 || i / 64 < p->skip_words) &&
        ((p->skip[i / 64] >> (i % 64)) & 1u) != 0)
        return false;
    return p->is_usable == NULL || p->is_usable(p->usable_ctx, c->eps[i]);
}

/* Usable endpoints: how many, their total weight, whether weights differ. */
struct usable_sum {
    size_t n;
    uint64_t weight;
    bool is_weighted;
};

static struct usable_sum
usable_sum(const struct conf_cluster *c, const struct lb_pick *p)
{
    struct usable_sum us = {0, 0, false};
    uint64_t first = 0;
    for (size_t i = 0; i < c->neps; i++) {
        if (!ep_usable(c, p, i))
            continue;
        uint64_t w = ep_weight(c->eps[i]);
        if (us.n == 0)
            first = w;
        else if (w != first)
            us.is_weighted = true;
        us.n++;
        us.weight += w;
    }
    return us;
}

/* The usable endpoint owning slot x, where usable endpoint k owns a range of
 * its weight (is_weighted) or of 1, in order. SIZE_MAX when x is out of range
 * (only if usability changed between the two passes). */
static size_t
usable_at(const struct conf_cluster *c, const struct lb_pick *p, uint64_t x, bool is_weighted)
{
    for (size_t i = 0; i < c->neps; i++) {
        if (!ep_usable(c, p, i))
            continue;
        uint64_t w = is_weighted ? ep_weight(c->eps[i]) : 1;
        if (x < w)
            return i;
        x -= w;
    }
    return SIZE_MAX;
}

static uint64_t
gcd64(uint64_t a, uint64_t b)
{
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Spreads slot s of a cycle of total slots: s * stride mod total, with the
 * stride near total / golden ratio and coprime with total, is a permutation
 * that interleaves heavy and light endpoints. */
static uint64_t
rr_spread(uint64_t s, uint64_t total)
{
    uint64_t stride = mulhi(total, 0x9e3779b97f4a7c15ull) | 1u;
    while (gcd64(stride, total) != 1)
        stride++;
    return (uint64_t)(((unsigned __int128)s * stride) % total);
}

/* ---- slow start ---- */

/* Fixed point of the scaled weights: 2^20 per unit of weight x factor. */
#define WARM_ONE 1048576.0

double
lb_warmup_factor(const struct conf_warmup *wu, uint64_t since_ms, uint64_t now_ms)
{
    if (wu->window_ms == 0 || since_ms == 0 || now_ms >= since_ms + wu->window_ms)
        return 1.0;
    uint64_t age = now_ms > since_ms ? now_ms - since_ms : 0;
    double t = (double)(age > 0 ? age : 1) / (double)wu->window_ms;
    double f = wu->aggression == 1.0 ? t : pow(t, 1.0 / wu->aggression);
    return f > wu->min_weight ? f : wu->min_weight;
}

size_t
lb_pick_warm_index(const struct conf_warmup *wu, const uint64_t *since_ms, size_t n,
                   uint64_t now_ms, uint64_t u)
{
    bool is_warming = false;
    for (size_t i = 0; i < n && !is_warming; i++)
        is_warming = lb_warmup_factor(wu, since_ms[i], now_ms) < 1.0;
    if (!is_warming)
        return (size_t)mulhi(u, n);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (uint64_t)(lb_warmup_factor(wu, since_ms[i], now_ms) * WARM_ONE) + 1u;
    uint64_t x = mulhi(u, total);
    for (size_t i = 0; i < n; i++) {
        uint64_t w = (uint64_t)(lb_warmup_factor(wu, since_ms[i], now_ms) * WARM_ONE) + 1u;
        if (x < w)
            return i;
        x -= w;
    }
    return n - 1;
}

static double
warm_factor(const struct conf_cluster *c, const struct lb_pick *p, const struct conf_endpoint *ep)
{
    return lb_warmup_factor(&c->policy.warmup, ep->warm_since_ms, p->now_ms);
}

/* True when slow start is on and some usable endpoint is inside its window. */
static bool
is_warming(const struct conf_cluster *c, const struct lb_pick *p)
{
    const struct conf_warmup *wu = &c->policy.warmup;
    if (wu->window_ms == 0 || p->now_ms == 0)
        return false;
    for (size_t i = 0; i < c->neps; i++) {
        uint64_t since = c->eps[i]->warm_since_ms;
        if (since != 0 && p->now_ms < since + wu->window_ms && ep_usable(c, p, i))
            return true;
    }
    return false;
}

/* Scaled weight of c->eps[i] during slow start, at least 1. LEAST_REQUEST
 * divides by the worker's in-flight requests to it plus one. */
static uint64_t
warm_weight(const struct conf_cluster *c, const struct lb_pick *p, size_t i, bool by_load)
{
    const struct conf_endpoint *ep = c->eps[i];
    double w = (double)ep_weight(ep) * warm_factor(c, p, ep) * WARM_ONE;
    if (by_load && p->active != NULL)
        w /= (double)p->active[ep->index] + 1.0;
    return w >= 1.0 ? (uint64_t)w : 1u;
}

/* The usable endpoint owning the draw u of the scaled weights (two passes of
 * the same pure computation: no per-pick allocation). */
static size_t
pick_warm(const struct conf_cluster *c, const struct lb_pick *p, uint64_t u, bool by_load)
{
    uint64_t total = 0;
    for (size_t i = 0; i < c->neps; i++)
        if (ep_usable(c, p, i))
            total += warm_weight(c, p, i, by_load);
    if (total == 0)
        return SIZE_MAX;
    uint64_t x = mulhi(u, total);
    size_t last = SIZE_MAX;
    for (size_t i = 0; i < c->neps; i++) {
        if (!ep_usable(c, p, i))
            continue;
        uint64_t w = warm_weight(c, p, i, by_load);
        if (x < w)
            return i;
        x -= w;
        last = i;
    }
    return last; /* usability changed between the passes */
}

static size_t
pick_round_robin(const struct conf_cluster *c, const struct lb_pick *p)
{
    if (is_warming(c, p)) {
        /* The golden-ratio (Weyl) sequence of the cursor is equidistributed:
         * shares follow the ramping weights with no drift. */
        uint64_t seq = p->rr_next != NULL ? (*p->rr_next)++ : lb_rand(p->rng);
        return pick_warm(c, p, seq * K_GOLDEN, false);
    }
    struct usable_sum us = usable_sum(c, p);
    if (us.n == 0)
        return SIZE_MAX;
    uint64_t seq = p->rr_next != NULL ? (*p->rr_next)++ : lb_rand(p->rng);
    if (!us.is_weighted)
        return usable_at(c, p, seq % us.n, false);
    return usable_at(c, p, rr_spread(seq % us.weight, us.weight), true);
}

static size_t
pick_random(const struct conf_cluster *c, const struct lb_pick *p)
{
    struct usable_sum us = usable_sum(c, p);
    if (us.n == 0)
        return SIZE_MAX;
    if (!us.is_weighted)
        return usable_at(c, p, mulhi(lb_rand(p->rng), us.n), false);
    return usable_at(c, p, mulhi(lb_rand(p->rng), us.weight), true);
}

static size_t
pick_least_request(const struct conf_cluster *c, const struct lb_pick *p)
{
    if (is_warming(c, p))
        return pick_warm(c, p, lb_rand(p->rng), true);
    struct usable_sum us = usable_sum(c, p);
    if (us.n <= 1)
        return us.n == 0 ? SIZE_MAX : usable_at(c, p, 0, false);
    uint64_t ka = mulhi(lb_rand(p->rng), us.n);
    uint64_t kb = mulhi(lb_rand(p->rng), us.n - 1);
    if (kb >= ka)
        kb++;
    size_t a = usable_at(c, p, ka, false);
    size_t b = usable_at(c, p, kb, false);
    if (a == SIZE_MAX || b == SIZE_MAX || p->active == NULL)
        return a != SIZE_MAX ? a : b;
    const struct conf_endpoint *ea = c->eps[a], *eb = c->eps[b];
    /* Compare (active + 1) / weight without division. */
    uint64_t load_a = ((uint64_t)p->active[ea->index] + 1) * ep_weight(eb);
    uint64_t load_b = ((uint64_t)p->active[eb->index] + 1) * ep_weight(ea);
    return load_b < load_a ? b : a;
}

/* Stable identity of an endpoint for rendezvous hashing: address and port. */
static uint64_t
ep_identity(const struct conf_endpoint *ep)
{
    return avalanche(lb_key_hash(ep->address, ep->address_len) ^ ((uint64_t)ep->port << 1));
}

/* Weighted rendezvous score: -w / ln(U), U uniform in (0, 1) from the hash. */
static double
hrw_weighted(uint64_t h, uint64_t w)
{
    double u = ((double)(h >> 11) + 0.5) * 0x1.0p-53;
    return -(double)w / log(u);
}

static size_t
pick_hash(const struct conf_cluster *c, const struct lb_pick *p)
{
    struct usable_sum us = usable_sum(c, p);
    if (us.n == 0)
        return SIZE_MAX;
    uint64_t key = p->has_hash ? p->hash : lb_rand(p->rng);
    size_t best = SIZE_MAX;
    uint64_t best_h = 0;
    double best_w = 0.0;
    for (size_t i = 0; i < c->neps; i++) {
        if (!ep_usable(c, p, i))
            continue;
        uint64_t h = avalanche(key ^ ep_identity(c->eps[i]));
        double w = us.is_weighted ? hrw_weighted(h, ep_weight(c->eps[i])) : 0.0;
        bool is_better = us.is_weighted ? w > best_w : h > best_h;
        if (best == SIZE_MAX || is_better) {
            best = i;
            best_h = h;
            best_w = w;
        }
    }
    return best;
}

size_t
lb_pick_endpoint(const struct conf_cluster *c, const struct lb_pick *p)
{
    if (c->neps == 0)
        return SIZE_MAX;
    switch (c->policy.lb) {
    case LB_ROUND_ROBIN:
        return pick_round_robin(c, p);
    case LB_LEAST_REQUEST:
        return pick_least_request(c, p);
    case LB_RANDOM:
        return pick_random(c, p);
    case LB_HASH:
        return pick_hash(c, p);
    }
    return pick_round_robin(c, p);
}
