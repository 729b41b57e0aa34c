/*
 * test_batch.c: unit tests of batched sends (batch.c), through io_uring where
 * the kernel allows it and through plain send() always, on real sockets.
 */
#include "canaryd/common.h"
#include "canaryd/engine/batch.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define NPAIRS 8

struct rec {
    void *cookie[64];
    int res[64];
    int n;
    struct batch *again; /* when set, the first callback queues one more send */
    int again_fd;
};

static void
on_done(void *cookie, int res, void *arg)
{
    struct rec *r = arg;
    r->cookie[r->n] = cookie;
    r->res[r->n] = res;
    r->n++;
    if (r->again != NULL) {
        struct batch *b = r->again;
        r->again = NULL;
        assert_true(batch_send(b, r->again_fd, "again", 5, (void *)99));
    }
}

static void
pairs_open(int sv[NPAIRS][2])
{
    for (int i = 0; i < NPAIRS; i++)
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]), 0);
}

static void
pairs_close(int sv[NPAIRS][2])
{
    for (int i = 0; i < NPAIRS; i++) {
        close(sv[i][0]);
        close(sv[i][1]);
    }
}

/* Sends a different message on each pair; all arrive, each reports its length. */
static void
many_sends_arrive(bool use_ring)
{
    struct batch *b = malloc(sizeof(*b));
    assert_non_null(b);
    assert_int_equal(batch_init(b, use_ring), 0);
    if (use_ring && !batch_is_ring(b)) {
        batch_fini(b);
        free(b);
        skip(); /* the kernel refuses io_uring here; the plain test covers the rest */
    }
    int sv[NPAIRS][2];
    pairs_open(sv);
    char msg[NPAIRS][32];
    for (int i = 0; i < NPAIRS; i++) {
        int len = snprintf(msg[i], sizeof(msg[i]), "message %d", i);
        assert_true(batch_send(b, sv[i][0], msg[i], (size_t)len, (void *)(uintptr_t)(i + 1)));
    }
    struct rec r = {0};
    batch_run(b, on_done, &r);
    assert_int_equal(r.n, NPAIRS);
    /* One system call for the whole batch through the ring; one each without. */
    assert_int_equal(b->syscalls, use_ring ? 1 : NPAIRS);
    for (int i = 0; i < NPAIRS; i++) {
        assert_ptr_equal(r.cookie[i], (void *)(uintptr_t)(i + 1)); /* in queue order */
        assert_int_equal(r.res[i], (int)strlen(msg[i]));
        char got[32] = {0};
        assert_int_equal(read(sv[i][1], got, sizeof(got)), (ssize_t)strlen(msg[i]));
        assert_string_equal(got, msg[i]);
    }
    pairs_close(sv);
    batch_fini(b);
    free(b);
}

static void
test_batch_ring_sends_many_with_one_call(void **state)
{
    (void)state;
    many_sends_arrive(true);
}

static void
test_batch_plain_sends_the_same(void **state)
{
    (void)state;
    many_sends_arrive(false);
}

/* A full socket answers -EAGAIN at once (never parks); a closed peer -EPIPE
 * without a SIGPIPE; a bad descriptor -EBADF; the others are not disturbed. */
static void
errors_stay_in_their_slot(bool use_ring)
{
    struct batch *b = malloc(sizeof(*b));
    assert_non_null(b);
    assert_int_equal(batch_init(b, use_ring), 0);
    int full[2], closed[2], ok[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, full), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, closed), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, ok), 0);
    static char junk[65536];
    while (send(full[0], junk, sizeof(junk), MSG_DONTWAIT) > 0)
        ;
    close(closed[1]);
    int badfd = open("/dev/null", O_RDONLY);
    close(badfd); /* now a number that names nothing */
    assert_true(batch_send(b, full[0], "x", 1, (void *)1));
    assert_true(batch_send(b, closed[0], "x", 1, (void *)2));
    assert_true(batch_send(b, badfd, "x", 1, (void *)3));
    assert_true(batch_send(b, ok[0], "fine", 4, (void *)4));
    struct rec r = {0};
    batch_run(b, on_done, &r);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.res[0], -EAGAIN);
    assert_int_equal(r.res[1], -EPIPE);
    assert_int_equal(r.res[2], -EBADF);
    assert_int_equal(r.res[3], 4);
    char got[8] = {0};
    assert_int_equal(read(ok[1], got, sizeof(got)), 4);
    close(full[0]);
    close(full[1]);
    close(closed[0]);
    close(ok[0]);
    close(ok[1]);
    batch_fini(b);
    free(b);
}

static void
test_batch_ring_errors_stay_in_their_slot(void **state)
{
    (void)state;
    errors_stay_in_their_slot(true);
}

static void
test_batch_plain_errors_stay_in_their_slot(void **state)
{
    (void)state;
    errors_stay_in_their_slot(false);
}

static void
test_batch_sends_queued_by_a_callback_go_out_before_run_returns(void **state)
{
    (void)state;
    struct batch *b = malloc(sizeof(*b));
    assert_non_null(b);
    assert_int_equal(batch_init(b, true), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_true(batch_send(b, sv[0], "first ", 6, (void *)1));
    struct rec r = {.again = b, .again_fd = sv[0]};
    batch_run(b, on_done, &r);
    assert_int_equal(r.n, 2);
    assert_ptr_equal(r.cookie[1], (void *)99);
    assert_int_equal(r.res[1], 5);
    char got[16] = {0};
    assert_int_equal(read(sv[1], got, sizeof(got)), 11);
    assert_string_equal(got, "first again");
    assert_int_equal(b->n, 0);
    close(sv[0]);
    close(sv[1]);
    batch_fini(b);
    free(b);
}

static void
test_batch_refuses_past_its_size(void **state)
{
    (void)state;
    struct batch *b = malloc(sizeof(*b));
    assert_non_null(b);
    assert_int_equal(batch_init(b, false), 0);
    for (unsigned i = 0; i < BATCH_MAX; i++)
        assert_true(batch_send(b, -1, "x", 1, NULL));
    assert_false(batch_send(b, -1, "x", 1, NULL));
    struct rec r = {0};
    b->n = 0; /* dropped unsent: nothing was promised */
    batch_run(b, on_done, &r);
    assert_int_equal(r.n, 0);
    batch_fini(b);
    free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_ring_sends_many_with_one_call),
        cmocka_unit_test(test_batch_plain_sends_the_same),
        cmocka_unit_test(test_batch_ring_errors_stay_in_their_slot),
        cmocka_unit_test(test_batch_plain_errors_stay_in_their_slot),
        cmocka_unit_test(test_batch_sends_queued_by_a_callback_go_out_before_run_returns),
        cmocka_unit_test(test_batch_refuses_past_its_size),
    };
    return cmocka_run_group_tests_name("batch", tests, NULL, NULL);
}
