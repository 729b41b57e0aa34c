/*
 * dns.c: asynchronous resolution of DNS endpoints (see dns.h).
 * Main thread. Each (name, port) is resolved in rounds: an address literal
 * stands for itself; a name in the hosts file takes its addresses from there;
 * any other name is asked for A and AAAA records in parallel (evdns, with the
 * resolver's search list), and the next round comes after the records' lowest
 * TTL, bounded to [DNS_TTL_MIN_S, DNS_TTL_MAX_S]. The result is published as
 * an immutable dns_addrs through an atomic pointer; the list it replaces is
 * freed DNS_GRACE_S later, so a worker that loaded the old pointer keeps a
 * valid list for its pick. A failed round keeps the last good list.
 */
#include "canaryd/common.h"
#include "canaryd/core/clock.h"
#include "canaryd/proxy/dns.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/log.h"

struct dns_retired {
    struct dns_addrs *addrs;  /* owned */
    uint64_t free_at_ms;      /* clock_mono_ms */
    struct dns_retired *next; /* owned */
};

struct dns_entry {
    char *name; /* owned */
    uint16_t port;
    _Atomic(struct dns_addrs *) addrs; /* owned: current list */
    struct event *ev_refresh;          /* owned */
    struct evdns_request *q4, *q6;     /* in flight (owned by evdns), or NULL */
    uint8_t pending;                   /* answers still awaited this round */
    bool is_done4, is_done6;           /* this round's answers seen */
    bool has_warned;
    int last_err;       /* DNS_ERR_* of the round's failure */
    uint32_t ttl_min;   /* lowest TTL of this round's records */
    uint32_t refresh_s; /* interval chosen at the last answer */
    size_t npend;
    struct sockaddr_storage pend[DNS_MAX_ADDRS]; /* this round's addresses */
    struct dns_entry *next;                      /* owned list */
};

static struct event_base *g_base;     /* borrowed */
static struct evdns_base *g_dns;      /* owned */
static struct dns_entry *g_entries;   /* owned */
static struct dns_retired *g_retired; /* owned */
static const char *g_hosts_path = "/etc/hosts";

static void dns_resolve(struct dns_entry *e);

int
dns_init(struct event_base *base)
{
    g_base = base;
    g_dns =
        evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (g_dns == NULL) {
        /* No resolv.conf: names in the hosts file and literals still work. */
        g_dns = evdns_base_new(base, 0);
        if (g_dns == NULL)
            return -1;
    }
    return 0;
}

void
dns_set_hosts_path(const char *path)
{
    g_hosts_path = path;
}

static void
retire(struct dns_addrs *old)
{
    uint64_t now = clock_mono_ms();
    while (g_retired != NULL && g_retired->free_at_ms <= now) {
        struct dns_retired *r = g_retired;
        g_retired = r->next;
        free(r->addrs);
        free(r);
    }
    if (old == NULL)
        return;
    struct dns_retired *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return; /* leak one small list rather than free it under a reader */
    r->addrs = old;
    r->free_at_ms = now + DNS_GRACE_S * 1000u;
    struct dns_retired **pp = &g_retired;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = r;
}

/* Adds one address of family af (4 or 16 bytes at raw) to this round's list. */
static void
pend_add(struct dns_entry *e, int af, const void *raw)
{
    if (e->npend == DNS_MAX_ADDRS)
        return;
    struct sockaddr_storage *sa = &e->pend[e->npend];
    memset(sa, 0, sizeof(*sa));
    if (af == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)sa;
        in->sin_family = AF_INET;
        in->sin_port = htons(e->port);
        memcpy(&in->sin_addr, raw, 4);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(e->port);
        memcpy(&in6->sin6_addr, raw, 16);
    }
    for (size_t i = 0; i < e->npend; i++)
        if (memcmp(&e->pend[i], sa, sizeof(*sa)) == 0)
            return; /* listed twice (hosts file) */
    e->npend++;
}

/* When sa first appeared: kept from the list it replaces, now when it is new
 * to a name that had answered before, 0 in the name's first answer. */
static void
fill_seen(uint64_t *seen, const struct sockaddr_storage *sa, size_t n, const struct dns_addrs *old)
{
    uint64_t now = clock_mono_ms();
    for (size_t i = 0; i < n; i++) {
        seen[i] = old != NULL ? now : 0;
        for (size_t j = 0; old != NULL && j < old->n; j++)
            if (memcmp(&old->sa[j], &sa[i], sizeof(sa[i])) == 0)
                seen[i] = old->seen_ms[j];
    }
}

static void
round_end(struct dns_entry *e, uint32_t ttl)
{
    uint32_t next = DNS_TTL_MIN_S;
    if (e->npend > 0) {
        struct dns_addrs *d =
            malloc(sizeof(*d) + e->npend * (sizeof(d->sa[0]) + sizeof(d->seen_ms[0])));
        if (d != NULL) {
            d->n = e->npend;
            memcpy(d->sa, e->pend, e->npend * sizeof(d->sa[0]));
            uint64_t *seen = (uint64_t *)(void *)(d->sa + d->n);
            fill_seen(seen, d->sa, d->n, atomic_load_explicit(&e->addrs, memory_order_acquire));
            d->seen_ms = seen;
            retire(atomic_exchange_explicit(&e->addrs, d, memory_order_acq_rel));
            e->has_warned = false;
            next = MIN(MAX(ttl, (uint32_t)DNS_TTL_MIN_S), (uint32_t)DNS_TTL_MAX_S);
        }
    } else if (!e->has_warned) {
        e->has_warned = true;
        log_warn("dns: endpoint %s:%u: resolution failed: %s%s", e->name, e->port,
                 evdns_err_to_string(e->last_err),
                 atomic_load(&e->addrs) != NULL ? "; keeping the last addresses" : "");
    }
    e->refresh_s = next;
    struct timeval tv = {next, 0};
    event_add(e->ev_refresh, &tv);
}

static void
on_answer(struct dns_entry *e, int af, int result, int count, int ttl, const void *addrs)
{
    if (result == DNS_ERR_CANCEL || result == DNS_ERR_SHUTDOWN)
        return; /* dns_fini: the entry is going away */
    if (af == AF_INET) {
        e->q4 = NULL;
        e->is_done4 = true;
    } else {
        e->q6 = NULL;
        e->is_done6 = true;
    }
    if (result == DNS_ERR_NONE && count > 0 && addrs != NULL) {
        for (int i = 0; i < count; i++)
            pend_add(e, af, (const char *)addrs + (size_t)i * (af == AF_INET ? 4 : 16));
        if (ttl >= 0 && (uint32_t)ttl < e->ttl_min)
            e->ttl_min = (uint32_t)ttl;
    } else if (result != DNS_ERR_NONE && result != DNS_ERR_NODATA &&
               (e->last_err == DNS_ERR_NONE || e->last_err == DNS_ERR_NOTEXIST)) {
        e->last_err = result; /* keep the most telling error of the two */
    }
    if (--e->pending == 0)
        round_end(e, e->ttl_min);
}

static void
on_a(int result, char type, int count, int ttl, void *addrs, void *arg)
{
    (void)type;
    on_answer(arg, AF_INET, result, count, ttl, addrs);
}

static void
on_aaaa(int result, char type, int count, int ttl, void *addrs, void *arg)
{
    (void)type;
    on_answer(arg, AF_INET6, result, count, ttl, addrs);
}

static void
on_dns_refresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dns_resolve(arg);
}

/* Looks name up in the hosts file (re-read each round, as the C library does).
 * Returns the number of addresses added to this round's list. */
static size_t
hosts_lookup(struct dns_entry *e)
{
    FILE *f = fopen(g_hosts_path, "re");
    if (f == NULL)
        return 0;
    char line[1024];
    while (fgets(line, sizeof(line), f) != NULL) {
        char *save = NULL;
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        char *addr = strtok_r(line, " \t\r\n", &save);
        if (addr == NULL)
            continue;
        for (char *n = strtok_r(NULL, " \t\r\n", &save); n != NULL;
             n = strtok_r(NULL, " \t\r\n", &save)) {
            if (strcasecmp(n, e->name) != 0)
                continue;
            unsigned char raw[16];
            if (inet_pton(AF_INET, addr, raw) == 1)
                pend_add(e, AF_INET, raw);
            else if (inet_pton(AF_INET6, addr, raw) == 1)
                pend_add(e, AF_INET6, raw);
            break;
        }
    }
    fclose(f);
    return e->npend;
}

static void
dns_resolve(struct dns_entry *e)
{
    if (e->pending != 0)
        return; /* a round is in progress */
    e->npend = 0;
    e->ttl_min = UINT32_MAX;
    e->last_err = DNS_ERR_NONE;
    unsigned char raw[16];
    if (inet_pton(AF_INET, e->name, raw) == 1 || inet_pton(AF_INET6, e->name, raw) == 1) {
        pend_add(e, strchr(e->name, ':') != NULL ? AF_INET6 : AF_INET, raw);
        round_end(e, DNS_TTL_MAX_S);
        return;
    }
    if (hosts_lookup(e) > 0) {
        round_end(e, DNS_REFRESH_S);
        return;
    }
    /* A and AAAA in parallel, with the resolver's search list (Kubernetes
     * short names); either may answer before its call returns. */
    e->pending = 2;
    e->is_done4 = e->is_done6 = false;
    struct evdns_request *r4 = evdns_base_resolve_ipv4(g_dns, e->name, 0, on_a, e);
    if (!e->is_done4) {
        if (r4 != NULL)
            e->q4 = r4;
        else
            on_answer(e, AF_INET, DNS_ERR_UNKNOWN, 0, 0, NULL);
    }
    struct evdns_request *r6 = evdns_base_resolve_ipv6(g_dns, e->name, 0, on_aaaa, e);
    if (!e->is_done6) {
        if (r6 != NULL)
            e->q6 = r6;
        else
            on_answer(e, AF_INET6, DNS_ERR_UNKNOWN, 0, 0, NULL);
    }
}

static struct dns_entry *
entry_get(const char *name, uint16_t port)
{
    for (struct dns_entry *e = g_entries; e != NULL; e = e->next)
        if (e->port == port && strcmp(e->name, name) == 0)
            return e;
    struct dns_entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->name = strdup(name);
    e->port = port;
    e->ev_refresh = event_new(g_base, -1, 0, on_dns_refresh, e);
    if (e->name == NULL || e->ev_refresh == NULL) {
        free(e->name);
        if (e->ev_refresh != NULL)
            event_free(e->ev_refresh);
        free(e);
        return NULL;
    }
    e->next = g_entries;
    g_entries = e;
    dns_resolve(e);
    return e;
}

int
dns_attach(struct conf *c)
{
    if (g_dns == NULL)
        return 0;
    for (size_t i = 0; i < c->nendpoints; i++) {
        struct conf_endpoint *ep = &c->endpoints[i];
        if (!ep->is_dns)
            continue;
        ep->dns = entry_get(ep->address, ep->port);
        if (ep->dns == NULL)
            return -1;
    }
    return 0;
}

const struct dns_addrs *
dns_addrs_get(const struct dns_entry *e)
{
    return e != NULL ? atomic_load_explicit(&((struct dns_entry *)e)->addrs, memory_order_acquire)
                     : NULL;
}

void
dns_refresh(struct dns_entry *e)
{
    if (e == NULL || e->pending != 0)
        return;
    event_del(e->ev_refresh);
    dns_resolve(e);
}

uint32_t
dns_refresh_s(const struct dns_entry *e)
{
    return e != NULL ? e->refresh_s : 0;
}

void
dns_fini(void)
{
    /* Freeing the resolver first drops the queries in flight without calling
     * back (their callbacks point at the entries freed below). */
    if (g_dns != NULL)
        evdns_base_free(g_dns, 0);
    g_dns = NULL;
    while (g_entries != NULL) {
        struct dns_entry *e = g_entries;
        g_entries = e->next;
        event_free(e->ev_refresh);
        free(atomic_load(&e->addrs));
        free(e->name);
        free(e);
    }
    while (g_retired != NULL) {
        struct dns_retired *r = g_retired;
        g_retired = r->next;
        free(r->addrs);
        free(r);
    }
}
