/*
 * test_conn.c: unit tests of the transport (conn.c) over real loopback TCP
 * sockets: reads and writes through the ops table, half-close, unread input,
 * a refused connect, a reset close, and the send queue's order, results and
 * unlinking, with io_uring and without.
 */
#include "canaryd/common.h"
#include "canaryd/engine/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "canaryd/core/buf.h"

/* A connected pair: c (the transport under test) and peer (a plain socket). */
struct pair {
    int lfd;
    int peer;
    struct conn c;
};

static int
listener_open(struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
    socklen_t len = sizeof(*sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &len), 0);
    assert_int_equal(listen(fd, 8), 0);
    return fd;
}

static void
wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    assert_int_equal(poll(&p, 1, 5000), 1);
}

/* Connects c to a fresh loopback listener; the accepted end is peer. */
static void
pair_connect(struct pair *p, enum conn_side side)
{
    struct sockaddr_in sa;
    p->lfd = listener_open(&sa);
    bool connecting = true;
    assert_int_equal(conn_tcp_connect(&p->c, (struct sockaddr *)&sa, sizeof(sa), side, &connecting),
                     0);
    assert_ptr_equal(p->c.ops, &xprt_tcp);
    p->peer = accept(p->lfd, NULL, NULL);
    assert_true(p->peer >= 0);
    wait_fd(p->c.fd, POLLOUT);
    assert_int_equal(conn_connect_error(&p->c), 0);
}

/* Accepts on c: the connecting end is peer. */
static void
pair_accept(struct pair *p, enum conn_side side)
{
    struct sockaddr_in sa;
    p->lfd = listener_open(&sa);
    p->peer = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(p->peer, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(fd >= 0);
    conn_tcp_accepted(&p->c, fd, side);
    assert_int_equal(p->c.fd, fd);
}

static void
pair_close(struct pair *p)
{
    if (p->c.fd != -1)
        conn_close(&p->c, false);
    close(p->peer);
    close(p->lfd);
}

static void
peer_expect(int fd, const char *want)
{
    size_t len = strlen(want), got = 0;
    char buf[256];
    assert_true(len <= sizeof(buf));
    while (got < len) {
        wait_fd(fd, POLLIN);
        ssize_t n = recv(fd, buf + got, len - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, want, len);
}

static void
test_conn_reads_and_writes_through_the_socket(void **state)
{
    (void)state;
    struct buf_cache bc = {0};
    struct pair p;
    pair_connect(&p, CONN_UP);
    struct buf b = {0};
    assert_int_equal(buf_append(&b, &bc, "ping", 4, 64), 0);
    assert_int_equal(conn_write(&p.c, &b), 4);
    assert_int_equal(b.len, 0);
    peer_expect(p.peer, "ping");

    assert_false(conn_has_input(&p.c));
    assert_int_equal(send(p.peer, "pong!", 5, 0), 5);
    wait_fd(p.c.fd, POLLIN);
    assert_true(conn_has_input(&p.c));
    assert_int_equal(conn_read(&p.c, &b, &bc, 64, 64), 5);
    assert_memory_equal(buf_head(&b), "pong!", 5);
    errno = 0;
    assert_int_equal(conn_read(&p.c, &b, &bc, 64, 64), -1);
    assert_int_equal(errno, EAGAIN);

    char sink[8];
    assert_int_equal(send(p.peer, "xy", 2, 0), 2);
    wait_fd(p.c.fd, POLLIN);
    assert_int_equal(conn_recv(&p.c, sink, sizeof(sink)), 2);
    buf_release(&b, &bc);
    pair_close(&p);
    buf_cache_fini(&bc);
}

static void
test_conn_half_close_lets_the_peer_see_the_end(void **state)
{
    (void)state;
    struct pair p;
    pair_accept(&p, CONN_DOWN);
    assert_int_equal(conn_shutdown(&p.c, CONN_SHUT_WR), 0);
    char c;
    wait_fd(p.peer, POLLIN);
    assert_int_equal(recv(p.peer, &c, 1, 0), 0);
    /* The other way still works. */
    assert_int_equal(send(p.peer, "z", 1, 0), 1);
    wait_fd(p.c.fd, POLLIN);
    assert_int_equal(conn_recv(&p.c, &c, 1), 1);
    assert_int_equal(c, 'z');
    pair_close(&p);
}

static void
test_conn_reset_close_is_seen_as_a_reset(void **state)
{
    (void)state;
    struct pair p;
    pair_accept(&p, CONN_DOWN);
    conn_close(&p.c, true);
    assert_int_equal(p.c.fd, -1);
    char c;
    wait_fd(p.peer, POLLIN);
    errno = 0;
    assert_int_equal(recv(p.peer, &c, 1, 0), -1);
    assert_int_equal(errno, ECONNRESET);
    pair_close(&p);
}

static void
test_conn_refused_connect_reports_its_errno(void **state)
{
    (void)state;
    struct sockaddr_in sa;
    int lfd = listener_open(&sa);
    close(lfd); /* nobody listens on that port now */
    struct conn c;
    bool connecting = false;
    if (conn_tcp_connect(&c, (struct sockaddr *)&sa, sizeof(sa), CONN_UP, &connecting) == -1) {
        assert_int_equal(errno, ECONNREFUSED); /* refused at once */
        return;
    }
    wait_fd(c.fd, POLLOUT);
    assert_int_equal(conn_connect_error(&c), ECONNREFUSED);
    conn_close(&c, false);
}

struct sent_rec {
    struct conn *order[8];
    int res[8];
    int n;
    struct conn_sendq *q; /* when set, the first result queues again on requeue */
    struct conn *requeue;
    struct buf *requeue_buf;
    struct conn *close_on_first; /* when set, the first result closes this one */
};

static struct sent_rec g_rec;
static struct buf_cache g_bc;

static void
on_sent(struct conn *c, int res)
{
    g_rec.order[g_rec.n] = c;
    g_rec.res[g_rec.n] = res;
    g_rec.n++;
    if (g_rec.close_on_first != NULL) {
        conn_close(g_rec.close_on_first, false);
        g_rec.close_on_first = NULL;
    }
    if (g_rec.q != NULL) {
        struct conn_sendq *q = g_rec.q;
        g_rec.q = NULL;
        assert_int_equal(buf_append(g_rec.requeue_buf, &g_bc, "+1", 2, 64), 0);
        conn_queue(q, g_rec.requeue, g_rec.requeue_buf);
    }
}

static void
sendq_order_and_results(bool use_ring)
{
    struct buf_cache bc = {0};
    struct conn_sendq q;
    assert_int_equal(conn_sendq_init(&q, use_ring), 0);
    assert_true(conn_sendq_is_on(&q));
    if (!use_ring)
        assert_false(conn_sendq_is_ring(&q));
    struct pair down, up, gone;
    pair_accept(&down, CONN_DOWN);
    pair_connect(&up, CONN_UP);
    pair_connect(&gone, CONN_UP);
    struct buf bd = {0}, bu = {0}, bg = {0};
    assert_int_equal(buf_append(&bd, &bc, "down", 4, 64), 0);
    assert_int_equal(buf_append(&bu, &bc, "up", 2, 64), 0);
    assert_int_equal(buf_append(&bg, &bc, "gone", 4, 64), 0);
    memset(&g_rec, 0, sizeof(g_rec));
    down.c.sent = up.c.sent = gone.c.sent = on_sent;

    /* Queued down first, written and reported up first. */
    conn_queue(&q, &down.c, &bd);
    conn_queue(&q, &up.c, &bu);
    conn_queue(&q, &gone.c, &bg);
    assert_true(down.c.is_queued && up.c.is_queued && gone.c.is_queued);
    conn_unqueue(&gone.c); /* as when it closes before the end of the pass */
    assert_false(gone.c.is_queued);
    conn_unqueue(&gone.c); /* twice is harmless */
    g_rec.q = &q;
    g_rec.requeue = &up.c;
    g_rec.requeue_buf = &bu;
    conn_sendq_flush(&q);

    assert_int_equal(g_rec.n, 3);
    assert_ptr_equal(g_rec.order[0], &up.c);
    assert_int_equal(g_rec.res[0], 2);
    assert_ptr_equal(g_rec.order[1], &down.c);
    assert_int_equal(g_rec.res[1], 4);
    /* Queued by a result: written in a further round before flush returns. */
    assert_ptr_equal(g_rec.order[2], &up.c);
    assert_int_equal(g_rec.res[2], 2);
    assert_false(down.c.is_queued || up.c.is_queued);
    assert_int_equal(bd.len, 0); /* the bytes sent are consumed */
    assert_int_equal(bu.len, 0);
    assert_int_equal(bg.len, 4); /* unqueued: untouched */
    peer_expect(down.peer, "down");
    peer_expect(up.peer, "up+1");

    buf_release(&bd, &bc);
    buf_release(&bu, &bc);
    buf_release(&bg, &bc);
    pair_close(&down);
    pair_close(&up);
    pair_close(&gone);
    conn_sendq_fini(&q);
    assert_false(conn_sendq_is_on(&q));
    buf_cache_fini(&bc);
}

static void
test_conn_sendq_plain(void **state)
{
    (void)state;
    sendq_order_and_results(false);
}

static void
test_conn_sendq_ring(void **state)
{
    (void)state;
    sendq_order_and_results(true);
}

static void
test_conn_close_takes_it_off_the_queue(void **state)
{
    (void)state;
    struct conn_sendq q;
    assert_int_equal(conn_sendq_init(&q, false), 0);
    struct pair a, b;
    pair_accept(&a, CONN_DOWN);
    pair_accept(&b, CONN_DOWN);
    struct buf ba = {0}, bb = {0};
    assert_int_equal(buf_append(&ba, &g_bc, "a", 1, 64), 0);
    assert_int_equal(buf_append(&bb, &g_bc, "b", 1, 64), 0);
    memset(&g_rec, 0, sizeof(g_rec));
    a.c.sent = b.c.sent = on_sent;
    conn_queue(&q, &a.c, &ba);
    conn_queue(&q, &b.c, &bb);
    conn_close(&a.c, false);
    assert_false(a.c.is_queued);
    conn_sendq_flush(&q);
    assert_int_equal(g_rec.n, 1);
    assert_ptr_equal(g_rec.order[0], &b.c);
    peer_expect(b.peer, "b");
    buf_release(&ba, &g_bc);
    buf_release(&bb, &g_bc);
    pair_close(&a);
    pair_close(&b);
    conn_sendq_fini(&q);
    buf_cache_fini(&g_bc);
}

/* A connection closed by another's result in the same batch: its own result
 * has nobody to go to and its buffer is not touched. */
static void
test_conn_closed_while_in_flight_gets_no_result(void **state)
{
    (void)state;
    struct conn_sendq q;
    assert_int_equal(conn_sendq_init(&q, false), 0);
    struct pair a, b;
    pair_accept(&a, CONN_DOWN);
    pair_accept(&b, CONN_DOWN);
    struct buf ba = {0}, bb = {0};
    assert_int_equal(buf_append(&ba, &g_bc, "aa", 2, 64), 0);
    assert_int_equal(buf_append(&bb, &g_bc, "bb", 2, 64), 0);
    memset(&g_rec, 0, sizeof(g_rec));
    a.c.sent = b.c.sent = on_sent;
    conn_queue(&q, &a.c, &ba);
    conn_queue(&q, &b.c, &bb); /* written first: the list is last in, first out */
    g_rec.close_on_first = &a.c;
    conn_sendq_flush(&q);
    assert_int_equal(g_rec.n, 1);
    assert_ptr_equal(g_rec.order[0], &b.c);
    assert_int_equal(ba.len, 2); /* a's bytes were sent, but nobody consumed them */
    buf_release(&ba, &g_bc);
    buf_release(&bb, &g_bc);
    pair_close(&a);
    pair_close(&b);
    conn_sendq_fini(&q);
    buf_cache_fini(&g_bc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conn_reads_and_writes_through_the_socket),
        cmocka_unit_test(test_conn_half_close_lets_the_peer_see_the_end),
        cmocka_unit_test(test_conn_reset_close_is_seen_as_a_reset),
        cmocka_unit_test(test_conn_refused_connect_reports_its_errno),
        cmocka_unit_test(test_conn_sendq_plain),
        cmocka_unit_test(test_conn_sendq_ring),
        cmocka_unit_test(test_conn_close_takes_it_off_the_queue),
        cmocka_unit_test(test_conn_closed_while_in_flight_gets_no_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
