/*
 * test_http.c: unit tests of the protocol-neutral HTTP views (http.c).
 */
#include "canaryd/common.h"
#include "canaryd/core/http.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static struct http_hdr
hdr(const char *name, const char *value)
{
    return (struct http_hdr){(char *)name, (char *)value, (uint32_t)strlen(name),
                             (uint32_t)strlen(value)};
}

static void
test_http_hdr_find_returns_the_first_of_equal_names(void **state)
{
    (void)state;
    struct http_hdr h[] = {hdr("x-a", "1"), hdr("x-b", "2"), hdr("x-a", "3")};
    assert_ptr_equal(http_hdr_find(h, countof(h), "x-a", 3), &h[0]);
    assert_ptr_equal(http_hdr_find(h, countof(h), "x-b", 3), &h[1]);
}

static void
test_http_hdr_find_compares_whole_names(void **state)
{
    (void)state;
    struct http_hdr h[] = {hdr("x-ab", "1"), hdr("x", "2")};
    assert_null(http_hdr_find(h, countof(h), "x-a", 3));
    assert_null(http_hdr_find(h, countof(h), "x-abc", 5));
    assert_ptr_equal(http_hdr_find(h, countof(h), "x", 1), &h[1]);
}

static void
test_http_hdr_find_on_an_empty_list(void **state)
{
    (void)state;
    assert_null(http_hdr_find(NULL, 0, "host", 4));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_hdr_find_returns_the_first_of_equal_names),
        cmocka_unit_test(test_http_hdr_find_compares_whole_names),
        cmocka_unit_test(test_http_hdr_find_on_an_empty_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
