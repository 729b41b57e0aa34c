/*
 * test_dns.c: unit tests of DNS endpoint resolution (dns.c). The resolver
 * boundary, evdns_getaddrinfo, is replaced through the linker's --wrap: it
 * answers at once with the addresses the test chose, or with an error.
 */
#include "canaryd/common.h"
#include "canaryd/dns.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "canaryd/conf.h"

struct evdns_getaddrinfo_request *
__wrap_evdns_getaddrinfo(struct evdns_base *base, const char *nodename, const char *servname,
                         const struct evutil_addrinfo *hints, evdns_getaddrinfo_cb cb, void *arg);

static int g_calls;
static const char *g_answer[3]; /* numeric addresses to answer with; NULL-terminated */
static int g_error;             /* answer with this error instead */

/* Answers synchronously, as evdns does for cached names and the hosts file. */
struct evdns_getaddrinfo_request *
__wrap_evdns_getaddrinfo(struct evdns_base *base, const char *nodename, const char *servname,
                         const struct evutil_addrinfo *hints, evdns_getaddrinfo_cb cb, void *arg)
{
    (void)base;
    (void)nodename;
    (void)servname;
    g_calls++;
    if (g_error != 0) {
        cb(g_error, NULL, arg);
        return NULL;
    }
    struct evutil_addrinfo *head = NULL, **tail = &head;
    struct evutil_addrinfo numeric = *hints;
    numeric.ai_flags = EVUTIL_AI_NUMERICHOST;
    for (int i = 0; g_answer[i] != NULL; i++) {
        struct evutil_addrinfo *ai = NULL;
        assert_int_equal(evutil_getaddrinfo(g_answer[i], NULL, &numeric, &ai), 0);
        *tail = ai;
        while (*tail != NULL)
            tail = &(*tail)->ai_next;
    }
    cb(0, head, arg);
    return NULL;
}

static struct event_base *g_base;

static int
setup(void **state)
{
    (void)state;
    g_calls = 0;
    g_error = 0;
    memset(g_answer, 0, sizeof(g_answer));
    g_base = event_base_new();
    return g_base != NULL && dns_init(g_base) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    (void)state;
    dns_fini();
    event_base_free(g_base);
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

static void
test_dns_every_address_becomes_an_endpoint_address(void **state)
{
    (void)state;
    g_answer[0] = "10.1.2.3";
    g_answer[1] = "fd00::7";
    struct conf c;
    struct conf_endpoint ep;
    conf_one(&c, &ep, "mobile-api-v1", 8080);
    assert_int_equal(dns_attach(&c), 0);
    const struct dns_addrs *d = dns_addrs_get(ep.dns);
    assert_non_null(d);
    assert_int_equal(d->n, 2);
    assert_int_equal(d->sa[0].ss_family, AF_INET);
    assert_int_equal(d->sa[1].ss_family, AF_INET6);
    assert_int_equal(port_of(&d->sa[0]), 8080);
    assert_int_equal(port_of(&d->sa[1]), 8080);
}

static void
test_dns_failure_before_any_answer_leaves_no_address(void **state)
{
    (void)state;
    g_error = EVUTIL_EAI_NONAME;
    struct conf c;
    struct conf_endpoint ep;
    conf_one(&c, &ep, "nonexistent.invalid", 80);
    assert_int_equal(dns_attach(&c), 0);
    assert_non_null(ep.dns);
    assert_null(dns_addrs_get(ep.dns));
}

static void
test_dns_same_name_and_port_share_one_entry_across_snapshots(void **state)
{
    (void)state;
    g_answer[0] = "10.9.9.9";
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
    assert_int_equal(g_calls, 2);
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
    assert_int_equal(g_calls, 0);
    assert_null(dns_addrs_get(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dns_every_address_becomes_an_endpoint_address, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dns_failure_before_any_answer_leaves_no_address, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_dns_same_name_and_port_share_one_entry_across_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dns_static_endpoints_are_left_alone, setup, teardown),
    };
    return cmocka_run_group_tests_name("dns", tests, NULL, NULL);
}
