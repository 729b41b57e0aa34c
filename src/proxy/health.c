/*
 * health.c: outlier detection and connection accounting shared by workers
 * (see health.h). Entries live in two process-lifetime lists owned by the
 * main thread; workers only touch the atomics inside them.
 */
#include "canaryd/common.h"
#include "canaryd/core/clock.h"
#include "canaryd/proxy/health.h"

#include <string.h>
#include <time.h>

#include "canaryd/conf/conf.h"

#define EJECTION_MAX_MS (300u * 1000u) /* cap of baseEjectionTime x ejections */

struct ep_entry {
    char *key; /* owned: "address|port" */
    struct health_ep st;
    uint64_t first_seen_ms; /* slow start origin; 0 = present at start-up */
    uint64_t attach_gen;    /* last health_attach() whose snapshot had it */
    struct ep_entry *next;  /* owned */
};

struct cluster_entry {
    char *key; /* owned: cluster name */
    struct health_cluster st;
    struct cluster_entry *next; /* owned */
};

static struct ep_entry *g_eps;
static struct cluster_entry *g_clusters;
static uint64_t g_attach_gen; /* health_attach() calls so far */

static struct ep_entry *
ep_get(const struct conf_endpoint *ep)
{
    char key[512];
    snprintf(key, sizeof(key), "%s|%u", ep->address, ep->port);
    for (struct ep_entry *e = g_eps; e != NULL; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    struct ep_entry *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->key = strdup(key)) == NULL) {
        free(e);
        return NULL;
    }
    e->next = g_eps;
    g_eps = e;
    return e;
}

/* Slow start origin of e in the snapshot of attach generation gen: an endpoint
 * that was not in the previous snapshot starts its window now, unless this is
 * the start-up snapshot. */
static uint64_t
ep_warm_since(struct ep_entry *e, uint64_t gen, uint64_t now_ms)
{
    if (e->attach_gen != gen && e->attach_gen + 1 != gen)
        e->first_seen_ms = gen == 1 ? 0 : now_ms;
    e->attach_gen = gen;
    return e->first_seen_ms;
}

static struct health_cluster *
cluster_get(const struct conf_cluster *c)
{
    for (struct cluster_entry *e = g_clusters; e != NULL; e = e->next)
        if (strcmp(e->key, c->name) == 0)
            return &e->st;
    struct cluster_entry *e = calloc(1, sizeof(*e));
    if (e == NULL || (e->key = strdup(c->name)) == NULL) {
        free(e);
        return NULL;
    }
    e->next = g_clusters;
    g_clusters = e;
    return &e->st;
}

int
health_attach(struct conf *c)
{
    uint64_t gen = ++g_attach_gen, now_ms = clock_mono_ms();
    for (size_t i = 0; i < c->nendpoints; i++) {
        struct ep_entry *e = ep_get(&c->endpoints[i]);
        if (e == NULL)
            return -1;
        c->endpoints[i].health = &e->st;
        c->endpoints[i].warm_since_ms = ep_warm_since(e, gen, now_ms);
    }
    for (size_t i = 0; i < c->nclusters; i++) {
        c->clusters[i].rt = cluster_get(&c->clusters[i]);
        if (c->clusters[i].rt == NULL)
            return -1;
    }
    return 0;
}

void
health_fini(void)
{
    while (g_eps != NULL) {
        struct ep_entry *e = g_eps;
        g_eps = e->next;
        free(e->key);
        free(e);
    }
    while (g_clusters != NULL) {
        struct cluster_entry *e = g_clusters;
        g_clusters = e->next;
        free(e->key);
        free(e);
    }
    g_attach_gen = 0;
}

bool
health_retry_take(struct health_cluster *h, uint32_t max)
{
    if (max == 0)
        return true;
    unsigned v = atomic_load_explicit(&h->nretries, memory_order_relaxed);
    while (v < max) {
        if (atomic_compare_exchange_weak_explicit(&h->nretries, &v, v + 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

void
health_retry_put(struct health_cluster *h)
{
    atomic_fetch_sub_explicit(&h->nretries, 1, memory_order_relaxed);
}

static bool
is_ejected(const struct conf_endpoint *ep, uint64_t now_ms)
{
    return ep->health != NULL &&
           atomic_load_explicit(&ep->health->ejected_until_ms, memory_order_relaxed) > now_ms;
}

static size_t
count_ejected(const struct conf_cluster *c, uint64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < c->neps; i++)
        n += is_ejected(c->eps[i], now_ms);
    return n;
}

static bool
eject(const struct conf_cluster *c, const struct conf_endpoint *ep, uint64_t now_ms)
{
    const struct conf_outlier *od = &c->policy.outlier;
    size_t ejected = count_ejected(c, now_ms);
    if (ejected > 0 && (ejected + 1) * 100 > (size_t)od->max_ejection_percent * c->neps)
        return false;
    struct health_ep *h = ep->health;
    unsigned n = atomic_fetch_add_explicit(&h->nejections, 1, memory_order_relaxed) + 1;
    uint64_t ms = (uint64_t)od->base_ejection_ms * n;
    if (ms > EJECTION_MAX_MS)
        ms = MAX(EJECTION_MAX_MS, od->base_ejection_ms);
    atomic_store_explicit(&h->ejected_until_ms, now_ms + ms, memory_order_relaxed);
    atomic_store_explicit(&h->consecutive_5xx, 0, memory_order_relaxed);
    atomic_store_explicit(&h->consecutive_gateway, 0, memory_order_relaxed);
    return true;
}

bool
health_observe(const struct conf_cluster *c, const struct conf_endpoint *ep, unsigned status,
               uint64_t now_ms)
{
    const struct conf_outlier *od = &c->policy.outlier;
    struct health_ep *h = ep->health;
    if (!od->enabled || h == NULL)
        return false;
    bool is_5xx = status == 0 || status >= 500;
    bool is_gw = status == 0 || (status >= 502 && status <= 504);
    if (!is_5xx) {
        /* Only write when needed: a shared line stays clean on success. */
        if (atomic_load_explicit(&h->consecutive_5xx, memory_order_relaxed) != 0)
            atomic_store_explicit(&h->consecutive_5xx, 0, memory_order_relaxed);
        if (atomic_load_explicit(&h->consecutive_gateway, memory_order_relaxed) != 0)
            atomic_store_explicit(&h->consecutive_gateway, 0, memory_order_relaxed);
        return false;
    }
    unsigned n5 = atomic_fetch_add_explicit(&h->consecutive_5xx, 1, memory_order_relaxed) + 1;
    unsigned ng = 0;
    if (is_gw)
        ng = atomic_fetch_add_explicit(&h->consecutive_gateway, 1, memory_order_relaxed) + 1;
    else
        atomic_store_explicit(&h->consecutive_gateway, 0, memory_order_relaxed);
    bool trip = (od->consecutive_5xx != 0 && n5 >= od->consecutive_5xx) ||
                (od->consecutive_gateway != 0 && ng >= od->consecutive_gateway);
    if (!trip || is_ejected(ep, now_ms))
        return false;
    return eject(c, ep, now_ms);
}

bool
health_is_usable(const struct conf_cluster *c, const struct conf_endpoint *ep, uint64_t now_ms)
{
    if (!c->policy.outlier.enabled || !is_ejected(ep, now_ms))
        return true;
    /* Panic mode: too few healthy endpoints left, ejections are ignored. */
    size_t healthy = c->neps - count_ejected(c, now_ms);
    return healthy * 100 < (size_t)c->policy.outlier.min_health_percent * c->neps;
}
