/*
 * dns.c: asynchronous resolution of DNS endpoints (see dns.h).
 * Main thread: evdns_getaddrinfo for each (name, port), every DNS_REFRESH_S
 * seconds. The result is published as an immutable dns_addrs through an
 * atomic pointer; the list it replaces is freed DNS_GRACE_S later, so a
 * worker that loaded the old pointer keeps a valid list for its pick.
 */
#include "canaryd/common.h"
#include "canaryd/dns.h"

#include <netdb.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "canaryd/conf.h"
#include "canaryd/log.h"

struct dns_retired {
    struct dns_addrs *addrs; /* owned */
    time_t free_at;
    struct dns_retired *next; /* owned */
};

struct dns_entry {
    char *name; /* owned */
    uint16_t port;
    _Atomic(struct dns_addrs *) addrs;     /* owned: current list */
    struct event *ev_refresh;              /* owned */
    struct evdns_getaddrinfo_request *req; /* in flight, or NULL */
    bool has_warned;
    struct dns_entry *next; /* owned list */
};

static struct event_base *g_base;     /* borrowed */
static struct evdns_base *g_dns;      /* owned */
static struct dns_entry *g_entries;   /* owned */
static struct dns_retired *g_retired; /* owned */

static void dns_resolve(struct dns_entry *e);

int
dns_init(struct event_base *base)
{
    g_base = base;
    g_dns =
        evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (g_dns == NULL) {
        /* No resolv.conf: still resolve /etc/hosts names and literals. */
        g_dns = evdns_base_new(base, 0);
        if (g_dns == NULL)
            return -1;
    }
    (void)evdns_base_load_hosts(g_dns, NULL);
    return 0;
}

static void
retire(struct dns_addrs *old)
{
    time_t now = time(NULL);
    while (g_retired != NULL && g_retired->free_at <= now) {
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
    r->free_at = now + DNS_GRACE_S;
    struct dns_retired **pp = &g_retired;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = r;
}

static struct dns_addrs *
addrs_from(const struct evutil_addrinfo *ai, uint16_t port)
{
    size_t n = 0;
    for (const struct evutil_addrinfo *a = ai; a != NULL; a = a->ai_next)
        if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
            n++;
    struct dns_addrs *d = calloc(1, sizeof(*d) + n * sizeof(d->sa[0]));
    if (d == NULL)
        return NULL;
    for (const struct evutil_addrinfo *a = ai; a != NULL; a = a->ai_next) {
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
            continue;
        struct sockaddr_storage *sa = &d->sa[d->n++];
        memcpy(sa, a->ai_addr, a->ai_addrlen);
        if (a->ai_family == AF_INET)
            ((struct sockaddr_in *)sa)->sin_port = htons(port);
        else
            ((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
    }
    return d;
}

static void
on_dns_result(int err, struct evutil_addrinfo *ai, void *arg)
{
    struct dns_entry *e = arg;
    e->req = NULL;
    if (err == 0 && ai != NULL) {
        struct dns_addrs *d = addrs_from(ai, e->port);
        if (d != NULL && d->n > 0) {
            retire(atomic_exchange(&e->addrs, d));
            e->has_warned = false;
        } else {
            free(d);
        }
    } else if (err != EVUTIL_EAI_CANCEL && !e->has_warned) {
        e->has_warned = true;
        log_warn("dns: endpoint %s:%u: resolution failed: %s%s", e->name, e->port,
                 evutil_gai_strerror(err),
                 atomic_load(&e->addrs) != NULL ? "; keeping the last addresses" : "");
    }
    if (ai != NULL)
        evutil_freeaddrinfo(ai);
    if (err == EVUTIL_EAI_CANCEL)
        return;
    /* Retry sooner while nothing is known. */
    struct timeval tv = {atomic_load(&e->addrs) != NULL ? DNS_REFRESH_S : 5, 0};
    event_add(e->ev_refresh, &tv);
}

static void
on_dns_refresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dns_resolve(arg);
}

static void
dns_resolve(struct dns_entry *e)
{
    if (e->req != NULL)
        return;
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    /* The callback may run before this returns (cached, literal, hosts file):
     * e->req is then already cleared and must stay so. */
    struct evdns_getaddrinfo_request *r =
        evdns_getaddrinfo(g_dns, e->name, NULL, &hints, on_dns_result, e);
    if (r != NULL && event_pending(e->ev_refresh, EV_TIMEOUT, NULL) == 0)
        e->req = r;
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
dns_fini(void)
{
    while (g_entries != NULL) {
        struct dns_entry *e = g_entries;
        g_entries = e->next;
        if (e->req != NULL)
            evdns_getaddrinfo_cancel(e->req);
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
    if (g_dns != NULL)
        evdns_base_free(g_dns, 0);
    g_dns = NULL;
}
