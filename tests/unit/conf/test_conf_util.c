/*
 * test_conf_util.c: unit tests of the loader's containers (conf_util.c):
 * vectors, string maps through their growth, the regex table, arena printf
 * and the host hash.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/arena.h"
#include "canaryd/core/match.h"

static void
test_conf_util_vector_grows_and_keeps_order(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    assert_non_null(a);
    struct cf_vec v = {0};
    static int items[100];
    for (int i = 0; i < 100; i++)
        assert_int_equal(cf_vec_push(a, &v, &items[i]), 0);
    assert_int_equal(v.n, 100);
    assert_true(v.cap >= 100);
    for (int i = 0; i < 100; i++)
        assert_ptr_equal(v.v[i], &items[i]);
    arena_free(a);
}

static void
test_conf_util_map_put_get_through_growth(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    struct cf_map m = {0};
    assert_null(cf_map_get(&m, "x", 1)); /* empty: no slots yet */
    static char keys[500][16];
    static int vals[500];
    for (int i = 0; i < 500; i++) {
        snprintf(keys[i], sizeof(keys[i]), "key-%d", i);
        void *old = NULL;
        assert_int_equal(cf_map_put(a, &m, keys[i], strlen(keys[i]), &vals[i], &old), 0);
    }
    assert_int_equal(m.n, 500);
    assert_true(m.nslots >= 1000); /* at most half full */
    assert_int_equal(m.nslots & (m.nslots - 1), 0);
    for (int i = 0; i < 500; i++)
        assert_ptr_equal(cf_map_get(&m, keys[i], strlen(keys[i])), &vals[i]);
    /* A key given twice keeps the first value and hands it back. */
    void *old = NULL;
    int other = 0;
    assert_int_equal(cf_map_put(a, &m, "key-7", 5, &other, &old), 1);
    assert_ptr_equal(old, &vals[7]);
    assert_ptr_equal(cf_map_get(&m, "key-7", 5), &vals[7]);
    /* Keys compare by length and bytes: a prefix is another key. */
    assert_null(cf_map_get(&m, "key-", 4));
    assert_null(cf_map_get(&m, "KEY-7", 5));
    arena_free(a);
}

static void
test_conf_util_regex_table_finds_by_source(void **state)
{
    (void)state;
    struct cf_regexes t = {0};
    static const char *srcs[] = {"^v1$", "a+b",   "(?i)chrome", "x{2,}", "[0-9]+",
                                 "end$", "^/api", "q?r",        "s|t"};
    struct match m[9];
    char err[128];
    size_t eoff;
    for (size_t i = 0; i < 9; i++) {
        assert_int_equal(match_init_regex(&m[i], srcs[i], strlen(srcs[i]), err, sizeof(err), &eoff),
                         0);
        assert_null(cf_regexes_get(&t, srcs[i], strlen(srcs[i])));
        assert_int_equal(cf_regexes_add(&t, &m[i]), 0);
    }
    assert_int_equal(t.n, 9);
    for (size_t i = 0; i < 9; i++)
        assert_ptr_equal(cf_regexes_get(&t, srcs[i], strlen(srcs[i])), &m[i]);
    assert_null(cf_regexes_get(&t, "^v2$", 4));
    for (size_t i = 0; i < 9; i++)
        match_fini(&m[i]);
    free(t.slots);
}

static void
test_conf_util_printf_and_host_hash(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    char *s = cf_printf(a, "%s/%u", "gw", 8080u);
    assert_string_equal(s, "gw/8080");
    char big[3000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    s = cf_printf(a, "<%s>", big);
    assert_int_equal(strlen(s), sizeof(big) + 1);
    /* Hosts hash the same whatever their case. */
    assert_int_equal(conf_host_hash("Reviews.Default", 15), conf_host_hash("reviews.default", 15));
    assert_int_not_equal(conf_host_hash("reviews", 7), conf_host_hash("ratings", 7));
    arena_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_util_vector_grows_and_keeps_order),
        cmocka_unit_test(test_conf_util_map_put_get_through_growth),
        cmocka_unit_test(test_conf_util_regex_table_finds_by_source),
        cmocka_unit_test(test_conf_util_printf_and_host_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
