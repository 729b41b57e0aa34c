/*
 * dns.h: asynchronous resolution of DNS endpoints (ServiceEntry resolution:
 * DNS, or a destination host without a ServiceEntry, e.g. a Kubernetes
 * Service name), with libevent's evdns on the main thread. Every A/AAAA
 * address becomes an address of the endpoint; names are re-resolved on their
 * records' TTL (bounded to 5..60 s); a failed resolution keeps the last good
 * addresses. Names in the hosts file (/etc/hosts) are taken from there.
 * Each address remembers when it first appeared in an answer, for slow start
 * (loadBalancer.warmup) of the addresses a name gains.
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
    const uint64_t *seen_ms;      /* n entries, in the same allocation: the monotonic ms
                                     (CLOCK_MONOTONIC_COARSE, as clock_mono_ms) of the
                                     answer that first had sa[i]; 0 = in the name's
                                     first answer */
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

/* Starts a new round for e now, unless one is in progress. Main thread. */
void dns_refresh(struct dns_entry *e);

/* Seconds until e is resolved again, as chosen at its last answer (0 before
 * any). Main thread. */
uint32_t dns_refresh_s(const struct dns_entry *e);

/* Reads names from path instead of /etc/hosts (tests). Main thread. */
void dns_set_hosts_path(const char *path);

/* Stops resolving and frees every entry (at exit, workers stopped). */
void dns_fini(void);

#define DNS_TTL_MIN_S 5  /* re-resolve no more often than this, */
#define DNS_TTL_MAX_S 60 /* nor less often than this, whatever the TTL */
#define DNS_REFRESH_S 30 /* hosts-file names and literals have no TTL */
#define DNS_GRACE_S 90   /* a replaced list stays readable this long */
#define DNS_MAX_ADDRS 64 /* addresses kept per name */

#endif /* CANARYD_DNS_H */
