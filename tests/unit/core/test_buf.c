/*
 * test_buf.c: unit tests of the I/O buffers (buf.c).
 */
#include "canaryd/common.h"
#include "canaryd/core/buf.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static void
test_buf_append_grows_and_keeps_bytes(void **state)
{
    (void)state;
    struct buf_cache bc = {.max = 4};
    struct buf b = {0};
    char chunk[1000];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (char)i;
    for (int i = 0; i < 20; i++)
        assert_int_equal(buf_append(&b, &bc, chunk, sizeof(chunk), 1u << 20), 0);
    assert_int_equal(b.len, 20000);
    assert_true(b.cap >= 20000);
    for (int i = 0; i < 20; i++)
        assert_memory_equal(buf_head(&b) + i * 1000, chunk, sizeof(chunk));
    buf_release(&b, &bc);
    assert_null(b.data);
    buf_cache_fini(&bc);
}

static void
test_buf_append_refuses_past_max(void **state)
{
    (void)state;
    struct buf b = {0};
    char x[100] = {0};
    assert_int_equal(buf_append(&b, NULL, x, sizeof(x), 150), 0);
    assert_int_equal(buf_append(&b, NULL, x, sizeof(x), 150), -1);
    assert_int_equal(b.len, 100);
    buf_release(&b, NULL);
}

static void
test_buf_consume_then_reserve_compacts(void **state)
{
    (void)state;
    struct buf b = {0};
    char x[BUF_SMALL];
    memset(x, 'a', sizeof(x));
    assert_int_equal(buf_append(&b, NULL, x, sizeof(x), BUF_SMALL), 0);
    buf_consume(&b, 100);
    assert_int_equal(b.len, BUF_SMALL - 100);
    /* Room for 100 more exists only after compaction, without growing. */
    assert_true(buf_reserve(&b, NULL, 100, BUF_SMALL) >= 100);
    assert_int_equal(b.cap, BUF_SMALL);
    assert_int_equal(b.off, 0);
    buf_release(&b, NULL);
}

static void
test_buf_cache_recycles_small_blocks(void **state)
{
    (void)state;
    struct buf_cache bc = {.max = 2};
    struct buf b = {0};
    assert_int_equal(buf_append(&b, &bc, "x", 1, BUF_SMALL), 0);
    char *first = b.data;
    buf_release(&b, &bc);
    assert_int_equal(bc.ntiny, 1);
    assert_int_equal(buf_append(&b, &bc, "y", 1, BUF_SMALL), 0);
    assert_ptr_equal(b.data, first);
    assert_int_equal(bc.ntiny, 0);
    buf_release(&b, &bc);
    buf_cache_fini(&bc);
}

static void
test_buf_small_messages_take_tiny_blocks_and_grow_into_cached_ones(void **state)
{
    (void)state;
    struct buf_cache bc = {.max = 2};
    struct buf b = {0};
    char x[BUF_TINY + 1];
    memset(x, 'h', sizeof(x));
    assert_int_equal(buf_append(&b, &bc, x, 200, 1u << 20), 0); /* a request head */
    assert_int_equal(b.cap, BUF_TINY);
    char *tiny = b.data;
    assert_int_equal(buf_append(&b, &bc, x, BUF_TINY, 1u << 20), 0); /* outgrows it */
    assert_int_equal(b.cap, BUF_SMALL);
    assert_int_equal(b.len, 200 + BUF_TINY);
    assert_memory_equal(buf_head(&b), x, 200);
    assert_int_equal(bc.ntiny, 1); /* the tiny block went back to the cache */
    buf_release(&b, &bc);
    assert_int_equal(bc.n, 1);
    /* A fresh buffer asked for a head reuses the cached tiny block. */
    assert_int_equal(buf_append(&b, &bc, x, 10, 1u << 20), 0);
    assert_ptr_equal(b.data, tiny);
    buf_release(&b, &bc);
    /* A fresh buffer asked for BUF_SMALL takes the cached 4 KiB block. */
    assert_true(buf_reserve(&b, &bc, BUF_SMALL, 1u << 20) >= (ssize_t)BUF_SMALL);
    assert_int_equal(bc.n, 0);
    buf_release(&b, &bc);
    buf_cache_fini(&bc);
    assert_null(bc.tiny);
}

static void
test_buf_read_write_fd_roundtrip(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct buf out = {0}, in = {0};
    assert_int_equal(buf_append(&out, NULL, "hello", 5, 1024), 0);
    assert_int_equal(buf_write_fd(&out, sv[0]), 5);
    assert_int_equal(out.len, 0);
    assert_int_equal(buf_read_fd(&in, NULL, sv[1], 64, 1024), 5);
    assert_memory_equal(buf_head(&in), "hello", 5);
    assert_int_equal(buf_read_fd(&in, NULL, sv[1], 64, 1024), -1);
    assert_int_equal(errno, EAGAIN);
    close(sv[0]);
    assert_int_equal(buf_read_fd(&in, NULL, sv[1], 64, 1024), 0); /* EOF */
    close(sv[1]);
    buf_release(&in, NULL);
    buf_release(&out, NULL);
}

static void
test_buf_read_fd_reports_full_buffer(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    struct buf in = {0};
    char x[64] = {0};
    assert_int_equal(buf_append(&in, NULL, x, sizeof(x), 64), 0);
    assert_int_equal(write(sv[0], "z", 1), 1);
    assert_int_equal(buf_read_fd(&in, NULL, sv[1], 16, 64), -1);
    assert_int_equal(errno, ENOBUFS);
    close(sv[0]);
    close(sv[1]);
    buf_release(&in, NULL);
}

static void
test_buf_out_writes_text_numbers_and_printf(void **state)
{
    (void)state;
    struct buf_cache bc = {.max = 4};
    struct buf b = {0};
    struct buf_out o = buf_out_to(&b, &bc, 4096);
    buf_out_str(&o, "n=");
    buf_out_u64(&o, 18446744073709551615ull);
    buf_out_str(&o, " i=");
    buf_out_i64(&o, INT64_MIN);
    buf_out_str(&o, " 0=");
    buf_out_i64(&o, 0);
    buf_out_str(&o, " x=");
    buf_out_hex(&o, 0xbeef);
    buf_out_str(&o, " x0=");
    buf_out_hex(&o, 0);
    buf_out_printf(&o, " %s/%d", "p", 42);
    buf_out_mem(&o, "", 0);
    assert_false(o.failed);
    const char *want = "n=18446744073709551615 i=-9223372036854775808 0=0 x=beef x0=0 p/42";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(buf_head(&b), want, b.len);
    buf_release(&b, &bc);
    buf_cache_fini(&bc);
}

static void
test_buf_out_failure_is_sticky_at_max(void **state)
{
    (void)state;
    struct buf b = {0};
    struct buf_out o = buf_out_to(&b, NULL, 8);
    buf_out_str(&o, "12345678");
    assert_false(o.failed);
    buf_out_str(&o, "9");
    assert_true(o.failed);
    /* Nothing is appended after the first failure, even what would fit. */
    buf_consume(&b, 8);
    buf_out_str(&o, "a");
    buf_out_printf(&o, "%d", 1);
    assert_int_equal(b.len, 0);
    buf_release(&b, NULL);

    /* printf past max fails without writing. */
    struct buf c = {0};
    struct buf_out p = buf_out_to(&c, NULL, 16);
    buf_out_printf(&p, "%s", "0123456789abcdefXYZ");
    assert_true(p.failed);
    assert_int_equal(c.len, 0);
    buf_release(&c, NULL);
}

static void
test_buf_out_printf_grows_past_a_block(void **state)
{
    (void)state;
    struct buf b = {0};
    struct buf_out o = buf_out_to(&b, NULL, 1u << 20);
    char big[10000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_out_str(&o, "<");
    buf_out_printf(&o, "%s>", big);
    assert_false(o.failed);
    assert_int_equal(b.len, sizeof(big) + 1);
    assert_int_equal(buf_head(&b)[0], '<');
    assert_int_equal(buf_head(&b)[b.len - 1], '>');
    buf_release(&b, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_grows_and_keeps_bytes),
        cmocka_unit_test(test_buf_append_refuses_past_max),
        cmocka_unit_test(test_buf_consume_then_reserve_compacts),
        cmocka_unit_test(test_buf_cache_recycles_small_blocks),
        cmocka_unit_test(test_buf_small_messages_take_tiny_blocks_and_grow_into_cached_ones),
        cmocka_unit_test(test_buf_read_write_fd_roundtrip),
        cmocka_unit_test(test_buf_read_fd_reports_full_buffer),
        cmocka_unit_test(test_buf_out_writes_text_numbers_and_printf),
        cmocka_unit_test(test_buf_out_failure_is_sticky_at_max),
        cmocka_unit_test(test_buf_out_printf_grows_past_a_block),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
