/*
 * dns.h: asynchronous resolution of DNS endpoints (ServiceEntry resolution:
 * DNS, or a destination host without a ServiceEntry, e.g. a Kubernetes
 * Service name), with libevent's evdns on the main thread. Every A/AAAA
 * address becomes an address of the endpoint; names are re-resolved
 * periodically; a failed resolution keeps the last good addresses.
 * Resolver state is keyed by (name, port) and lives for the process, so it
 * survives reloads. Workers read the current address list lock-free.
 */
#ifndef CANARYD_DNS_H
#define CANARYD_DNS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct conf;
struct dns_entry;
struct event_base;

struct dns_addrs {
    size_t n;
    struct sockaddr_storage sa[]; /* n addresses */
};

/* Starts the resolver on base (main thread). Returns 0 or -1. */
int dns_init(struct event_base *base);

/* For every is_dns endpoint of c, finds or creates the resolver entry for its
 * (name, port), starts resolving it when new, and stores it in the endpoint.
 * Main thread, before c is published. Returns 0 or -1 (allocation failure). */
int dns_attach(struct conf *c);

/* Returns the current addresses of e (NULL when none resolved yet). The
 * list stays valid for at least DNS_GRACE_S seconds after it is replaced, far
 * longer than a pick takes. Any thread. */
const struct dns_addrs *dns_addrs_get(const struct dns_entry *e);

/* Stops resolving and frees every entry (at exit, workers stopped). */
void dns_fini(void);

#define DNS_REFRESH_S 30
#define DNS_GRACE_S 60

#endif /* CANARYD_DNS_H */
