/*
 * test_addr.c: unit tests of socket addresses as text (addr.c).
 */
#include "canaryd/common.h"
#include "canaryd/core/addr.h"

#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/un.h>

#include <cmocka.h>

static struct sockaddr_storage
v4(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage
v6(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    return ss;
}

static void
test_addr_ipv4_and_ipv6_with_their_ports(void **state)
{
    (void)state;
    char buf[ADDR_STR_MAX];
    struct sockaddr_storage a = v4("10.0.0.1", 8080);
    assert_int_equal(addr_format((struct sockaddr *)&a, buf, sizeof(buf)), strlen("10.0.0.1:8080"));
    assert_string_equal(buf, "10.0.0.1:8080");
    assert_int_equal(addr_port((struct sockaddr *)&a), 8080);
    assert_int_equal(addr_format_ip((struct sockaddr *)&a, buf, sizeof(buf)), 8);
    assert_string_equal(buf, "10.0.0.1");

    struct sockaddr_storage b = v6("::1", 443);
    (void)addr_format((struct sockaddr *)&b, buf, sizeof(buf));
    assert_string_equal(buf, "[::1]:443");
    (void)addr_format_ip((struct sockaddr *)&b, buf, sizeof(buf));
    assert_string_equal(buf, "::1");
}

static void
test_addr_longest_ipv6_fits(void **state)
{
    (void)state;
    char buf[ADDR_STR_MAX];
    struct sockaddr_storage a = v6("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535);
    size_t n = addr_format((struct sockaddr *)&a, buf, sizeof(buf));
    assert_int_equal(n, strlen(buf));
    assert_string_equal(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

static void
test_addr_other_families_and_short_buffers(void **state)
{
    (void)state;
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    char buf[ADDR_STR_MAX];
    (void)addr_format((struct sockaddr *)&un, buf, sizeof(buf));
    assert_string_equal(buf, "?");
    assert_int_equal(addr_format_ip((struct sockaddr *)&un, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(addr_port((struct sockaddr *)&un), 0);

    struct sockaddr_storage a = v4("192.168.100.200", 1);
    char small[6];
    assert_int_equal(addr_format((struct sockaddr *)&a, small, sizeof(small)), 5);
    assert_string_equal(small, "192.1");
    assert_int_equal(addr_format_ip((struct sockaddr *)&a, small, sizeof(small)), 0);
    assert_string_equal(small, "");
    assert_int_equal(addr_join(small, 0, AF_INET, "x", 1), 0);
}

static void
test_addr_join_brackets_ipv6_only(void **state)
{
    (void)state;
    char buf[ADDR_STR_MAX];
    assert_int_equal(addr_join(buf, sizeof(buf), AF_INET6, "fe80::1", 80), 12);
    assert_string_equal(buf, "[fe80::1]:80");
    (void)addr_join(buf, sizeof(buf), AF_INET, "127.0.0.1", 9);
    assert_string_equal(buf, "127.0.0.1:9");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_ipv4_and_ipv6_with_their_ports),
        cmocka_unit_test(test_addr_longest_ipv6_fits),
        cmocka_unit_test(test_addr_other_families_and_short_buffers),
        cmocka_unit_test(test_addr_join_brackets_ipv6_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
