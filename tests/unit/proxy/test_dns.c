/*
 * test_dns.c: unit tests of DNS endpoint resolution (dns.c). The resolver
 * boundary, evdns_base_resolve_ipv4/ipv6, is replaced through the linker's
 * --wrap: it answers at once (or later, when the test says so) with the
 * addresses and TTL the test chose, or with an error.
 */
#include "canaryd/common.h"
#include "canaryd/proxy/dns.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "canaryd/conf/conf.h"

struct evdns_request *__wrap_evdns_base_resolve_ipv4(struct evdns_base *base, const char *name,
                                                     int flags, evdns_callback_type cb, void *arg);
struct evdns_request *__wrap_evdns_base_resolve_ipv6(struct evdns_base *base, const char *name,
                                                     int flags, evdns_callback_type cb, void *arg);

/* What one family answers with. */
struct answer {
    const char *addrs[3]; /* numeric addresses; NULL-terminated */
    int ttl;
    int error;     /* DNS_ERR_* instead of addresses */
    bool is_later; /* keep the callback for the test to call */
    int calls;
    evdns_callback_type cb; /* kept when is_later */
    void *arg;
};

static struct answer g_a, g_aaaa;
static int g_fake_request; /* the address handed out as an in-flight request */

static void
deliver(struct answer *an, int af, evdns_callback_type cb, void *arg)
{
    unsigned char raw[3][16];
    int n = 0;
    for (; n < 3 && an->addrs[n] != NULL; n++)
        assert_int_equal(inet_pton(af, an->addrs[n], raw[n]), 1);
    /* evdns hands out a packed array: 4-byte A records, 16-byte AAAA records. */
    unsigned char packed[48];
    size_t sz = af == AF_INET ? 4 : 16;
    for (int i = 0; i < n; i++)
        memcpy(packed + (size_t)i * sz, raw[i], sz);
    if (an->error != DNS_ERR_NONE)
        cb(an->error, 0, 0, 0, NULL, arg);
    else
        cb(DNS_ERR_NONE, af == AF_INET ? DNS_IPv4_A : DNS_IPv6_AAAA, n, an->ttl,
           n > 0 ? packed : NULL, arg);
}

static struct evdns_request *
resolve(struct answer *an, int af, evdns_callback_type cb, void *arg)
{
    an->calls++;
    if (an->is_later) {
        an->cb = cb;
        an->arg = arg;
        return (struct evdns_request *)&g_fake_request;
    }
    deliver(an, af, cb, arg);
    return (struct evdns_request *)&g_fake_request;
}

struct evdns_request *
__wrap_evdns_base_resolve_ipv4(struct evdns_base *base, const char *name, int flags,
                               evdns_callback_type cb, void *arg)
{
    (void)base;
    (void)name;
    assert_int_equal(flags, 0); /* the search list applies (short names) */
    return resolve(&g_a, AF_INET, cb, arg);
}

struct evdns_request *
__wrap_evdns_base_resolve_ipv6(struct evdns_base *base, const char *name, int flags,
                               evdns_callback_type cb, void *arg)
{
    (void)base;
    (void)name;
    (void)flags;
    return resolve(&g_aaaa, AF_INET6, cb, arg);
}

static struct event_base *g_base;
static char g_hosts[64];

static int
setup(void **state)
{
    (void)state;
    memset(&g_a, 0, sizeof(g_a));
    memset(&g_aaaa, 0, sizeof(g_aaaa));
    g_aaaa.error = DNS_ERR_NODATA; /* most services have no AAAA record */
    snprintf(g_hosts, sizeof(g_hosts), "/tmp/canaryd-test-hosts.XXXXXX");
    int fd = mkstemp(g_hosts);
    if (fd == -1)
        return -1;
    static const char hosts[] = "# test hosts file\n"
                                "127.0.0.1 localhost\n"
                                "10.0.0.5\tsvc-hosts svc-alias   # comment\n"
                                "fd00::5 svc-hosts\n";
    if (write(fd, hosts, sizeof(hosts) - 1) != (ssize_t)(sizeof(hosts) - 1)) {
        close(fd);
        return -1;
    }
    close(fd);
    dns_set_hosts_path(g_hosts);
    g_base = event_base_new();
    return g_base != NULL && dns_init(g_base) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    dns_fini();
    event_base_free(g_base);
    unlink(g_hosts);
    return 0;
}

static void
conf_one(struct conf *c, struct conf_endpoint *ep, const char *name, uint16_t port)
{
    memset(c, 0, sizeof(*c));
    memset(ep, 0, sizeof(*ep));
    ep->address = name;
    ep->address_len = strlen(name);
    ep->port = port;
    ep->is_dns = true;
    c->endpoints = ep;
    c->nendpoints = 1;
}

static uint16_t
port_of(const struct sockaddr_storage *sa)
{
    return sa->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)sa)->sin_port)
                                    : ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

static const char *
ip_of(const struct sockaddr_storage *sa, char *out, size_t len)
{
    if (sa->ss_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

static const struct dns_entry *
attach(const char *name, uint16_t port)
{
    static struct conf c;
    static struct conf_endpoint ep;
    conf_one(&c, &ep, name, port);
    assert_int_equal(dns_attach(&c), 0);
    assert_non_null(ep.dns);
    return ep.dns;
}

static void
test_dns_every_a_and_aaaa_record_becomes_an_address(void **state)
{
    (void)state;
    g_a.addrs[0] = "10.1.2.3";
    g_a.addrs[1] = "10.1.2.4";
    g_a.ttl = 30;
    g_aaaa.error = DNS_ERR_NONE;
    g_aaaa.addrs[0] = "fd00::7";
    g_aaaa.ttl = 30;
    const struct dns_addrs *d = dns_addrs_get(attach("mobile-api-v1", 8080));
    assert_non_null(d);
    assert_int_equal(d->n, 3);
    char ip[INET6_ADDRSTRLEN];
    assert_string_equal(ip_of(&d->sa[0], ip, sizeof(ip)), "10.1.2.3");
    assert_string_equal(ip_of(&d->sa[1], ip, sizeof(ip)), "10.1.2.4");
    assert_string_equal(ip_of(&d->sa[2], ip, sizeof(ip)), "fd00::7");
    for (size_t i = 0; i < d->n; i++)
        assert_int_equal(port_of(&d->sa[i]), 8080);
}

static void
test_dns_next_round_follows_the_lowest_ttl_within_bounds(void **state)
{
    (void)state;
    g_a.addrs[0] = "10.1.2.3";
    g_a.ttl = 12;
    g_aaaa.error = DNS_ERR_NONE;
    g_aaaa.addrs[0] = "fd00::7";
    g_aaaa.ttl = 20;
    struct dns_entry *e = (struct dns_entry *)attach("svc", 80);
    assert_int_equal(dns_refresh_s(e), 12);
    g_a.ttl = 1; /* too eager: bounded below */
    dns_refresh(e);
    assert_int_equal(dns_refresh_s(e), DNS_TTL_MIN_S);
    g_a.ttl = 86400; /* too lazy: bounded above */
    g_aaaa.ttl = 86400;
    dns_refresh(e);
    assert_int_equal(dns_refresh_s(e), DNS_TTL_MAX_S);
    assert_int_equal(g_a.calls, 3);
}

static void
test_dns_a_new_answer_replaces_the_addresses(void **state)
{
    (void)state;
    g_a.addrs[0] = "10.0.0.1";
    g_a.ttl = 5;
    struct dns_entry *e = (struct dns_entry *)attach("reviews", 9080);
    const struct dns_addrs *before = dns_addrs_get(e);
    assert_non_null(before);
    g_a.addrs[0] = "10.0.0.2";
    dns_refresh(e);
    const struct dns_addrs *after = dns_addrs_get(e);
    assert_ptr_not_equal(before, after);
    assert_int_equal(after->n, 1);
    char ip[INET6_ADDRSTRLEN];
    assert_string_equal(ip_of(&after->sa[0], ip, sizeof(ip)), "10.0.0.2");
    /* The replaced list stays readable for a worker that loaded it. */
    assert_string_equal(ip_of(&before->sa[0], ip, sizeof(ip)), "10.0.0.1");
}

static void
test_dns_an_address_new_in_a_later_answer_records_when_it_appeared(void **state)
{
    (void)state;
    g_a.addrs[0] = "10.0.0.1";
    g_a.ttl = 5;
    struct dns_entry *e = (struct dns_entry *)attach("ratings", 9080);
    const struct dns_addrs *d = dns_addrs_get(e);
    assert_int_equal(d->seen_ms[0], 0); /* the first answer: nothing to warm */
    g_a.addrs[1] = "10.0.0.2";
    dns_refresh(e);
    d = dns_addrs_get(e);
    assert_int_equal(d->n, 2);
    assert_int_equal(d->seen_ms[0], 0); /* kept */
    uint64_t seen = d->seen_ms[1];
    assert_true(seen != 0); /* new: its slow start window starts now */
    dns_refresh(e);
    d = dns_addrs_get(e);
    assert_int_equal(d->seen_ms[1], seen); /* a later answer keeps its origin */
}

static void
test_dns_failure_keeps_the_last_addresses_and_retries_soon(void **state)
{
    (void)state;
    g_a.addrs[0] = "10.0.0.1";
    g_a.ttl = 60;
    struct dns_entry *e = (struct dns_entry *)attach("ratings", 80);
    assert_int_equal(dns_refresh_s(e), 60);
    g_a.error = DNS_ERR_SERVERFAILED;
    g_aaaa.error = DNS_ERR_TIMEOUT;
    dns_refresh(e);
    const struct dns_addrs *d = dns_addrs_get(e);
    assert_non_null(d);
    assert_int_equal(d->n, 1);
    assert_int_equal(dns_refresh_s(e), DNS_TTL_MIN_S);
}

static void
test_dns_failure_before_any_answer_leaves_no_address(void **state)
{
    (void)state;
    g_a.error = DNS_ERR_NOTEXIST;
    g_aaaa.error = DNS_ERR_NOTEXIST;
    const struct dns_entry *e = attach("nonexistent.invalid", 80);
    assert_null(dns_addrs_get(e));
    assert_int_equal(dns_refresh_s(e), DNS_TTL_MIN_S);
}

static void
test_dns_answers_arriving_later_are_merged(void **state)
{
    (void)state;
    g_a.addrs[0] = "10.3.3.3";
    g_a.ttl = 40;
    g_aaaa.error = DNS_ERR_NONE;
    g_aaaa.addrs[0] = "fd00::3";
    g_aaaa.ttl = 15;
    g_aaaa.is_later = true;
    struct dns_entry *e = (struct dns_entry *)attach("details", 80);
    assert_null(dns_addrs_get(e)); /* nothing published with one answer out */
    dns_refresh(e);                /* a round in progress is not restarted */
    assert_int_equal(g_a.calls, 1);
    deliver(&g_aaaa, AF_INET6, g_aaaa.cb, g_aaaa.arg);
    const struct dns_addrs *d = dns_addrs_get(e);
    assert_non_null(d);
    assert_int_equal(d->n, 2);
    assert_int_equal(dns_refresh_s(e), 15);
}

static void
test_dns_hosts_file_names_and_literals_skip_the_resolver(void **state)
{
    (void)state;
    const struct dns_entry *e = attach("SVC-hosts", 8000); /* names are case-insensitive */
    const struct dns_addrs *d = dns_addrs_get(e);
    assert_non_null(d);
    assert_int_equal(d->n, 2);
    char ip[INET6_ADDRSTRLEN];
    assert_string_equal(ip_of(&d->sa[0], ip, sizeof(ip)), "10.0.0.5");
    assert_string_equal(ip_of(&d->sa[1], ip, sizeof(ip)), "fd00::5");
    assert_int_equal(port_of(&d->sa[1]), 8000);
    assert_int_equal(dns_refresh_s(e), DNS_REFRESH_S);
    d = dns_addrs_get(attach("svc-alias", 8000));
    assert_non_null(d);
    assert_int_equal(d->n, 1);
    d = dns_addrs_get(attach("::1", 8000));
    assert_non_null(d);
    assert_int_equal(d->sa[0].ss_family, AF_INET6);
    assert_int_equal(g_a.calls + g_aaaa.calls, 0);
}

static void
test_dns_same_name_and_port_share_one_entry_across_snapshots(void **state)
{
    (void)state;
    g_a.addrs[0] = "10.9.9.9";
    g_a.ttl = 30;
    struct conf a, b, p;
    struct conf_endpoint ea, eb, ep;
    conf_one(&a, &ea, "svc", 80);
    conf_one(&b, &eb, "svc", 80);
    conf_one(&p, &ep, "svc", 81);
    assert_int_equal(dns_attach(&a), 0);
    assert_int_equal(dns_attach(&b), 0);
    assert_int_equal(dns_attach(&p), 0);
    assert_ptr_equal(ea.dns, eb.dns); /* a reload keeps the resolved addresses */
    assert_ptr_not_equal(ea.dns, ep.dns);
    assert_int_equal(g_a.calls, 2);
}

static void
test_dns_static_endpoints_are_left_alone(void **state)
{
    (void)state;
    struct conf c;
    struct conf_endpoint ep;
    conf_one(&c, &ep, "127.0.0.1", 80);
    ep.is_dns = false;
    assert_int_equal(dns_attach(&c), 0);
    assert_null(ep.dns);
    assert_int_equal(g_a.calls, 0);
    assert_null(dns_addrs_get(NULL));
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_dns_every_a_and_aaaa_record_becomes_an_address),
        T(test_dns_next_round_follows_the_lowest_ttl_within_bounds),
        T(test_dns_a_new_answer_replaces_the_addresses),
        T(test_dns_an_address_new_in_a_later_answer_records_when_it_appeared),
        T(test_dns_failure_keeps_the_last_addresses_and_retries_soon),
        T(test_dns_failure_before_any_answer_leaves_no_address),
        T(test_dns_answers_arriving_later_are_merged),
        T(test_dns_hosts_file_names_and_literals_skip_the_resolver),
        T(test_dns_same_name_and_port_share_one_entry_across_snapshots),
        T(test_dns_static_endpoints_are_left_alone),
    };
#undef T
    return cmocka_run_group_tests_name("dns", tests, NULL, NULL);
}
