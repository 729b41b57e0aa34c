/*
 * conn.c: the transport under every connection (see conn.h): the plain TCP
 * ops table and the per-worker send queue that batches queued writes into one
 * system call per loop pass (batch.c).
 */
#include "canaryd/common.h"
#include "canaryd/engine/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "canaryd/core/buf.h"
#include "canaryd/engine/batch.h"

/* ---- plain TCP ---- */

static ssize_t
tcp_read(struct conn *c, struct buf *b, struct buf_cache *bc, size_t want, size_t max)
{
    return buf_read_fd(b, bc, c->fd, want, max);
}

static ssize_t
tcp_recv(struct conn *c, void *p, size_t len)
{
    return recv(c->fd, p, len, 0);
}

static ssize_t
tcp_write(struct conn *c, struct buf *b)
{
    return buf_write_fd(b, c->fd);
}

static void
tcp_queued_bytes(struct conn *c, const void **p, size_t *len)
{
    *p = buf_head(c->qbuf);
    *len = c->qbuf->len;
}

static int
tcp_queued_sent(struct conn *c, int res)
{
    if (res > 0)
        buf_consume(c->qbuf, (size_t)res);
    return res;
}

static int
tcp_shutdown(struct conn *c, enum conn_shut how)
{
    return shutdown(c->fd, how == CONN_SHUT_WR ? SHUT_WR : SHUT_RDWR);
}

static bool
tcp_has_input(const struct conn *c)
{
    int n = 0;
    return ioctl(c->fd, FIONREAD, &n) == 0 && n > 0;
}

static int
tcp_connect_error(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        return errno;
    return err;
}

static void
tcp_close(struct conn *c, bool reset)
{
    if (reset) {
        struct linger lg = {1, 0};
        (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(c->fd);
    c->fd = -1;
}

const struct xprt_ops xprt_tcp = {
    .name = "tcp",
    .read = tcp_read,
    .recv = tcp_recv,
    .write = tcp_write,
    .queued_bytes = tcp_queued_bytes,
    .queued_sent = tcp_queued_sent,
    .shutdown = tcp_shutdown,
    .has_input = tcp_has_input,
    .connect_error = tcp_connect_error,
    .close = tcp_close,
};

static void
conn_setup(struct conn *c, int fd, enum conn_side side)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->ops = &xprt_tcp;
    c->side = side;
}

void
conn_tcp_accepted(struct conn *c, int fd, enum conn_side side)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    conn_setup(c, fd, side);
}

void
conn_tcp_drop(int fd)
{
    close(fd);
}

int
conn_tcp_connect(struct conn *c, const struct sockaddr *sa, socklen_t salen, enum conn_side side,
                 bool *is_connecting)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc;
    rc = connect(fd, sa, salen);
    /* Interrupted, a non-blocking connect goes on in the background (a
     * second call would only say EALREADY): both are "in progress". */
    if (rc == -1 && errno != EINPROGRESS && errno != EINTR) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    conn_setup(c, fd, side);
    *is_connecting = rc == -1;
    return 0;
}

/* ---- the send queue ---- */

int
conn_sendq_init(struct conn_sendq *q, bool use_ring)
{
    memset(q, 0, sizeof(*q));
    q->batch = malloc(sizeof(*q->batch));
    if (q->batch == NULL || batch_init(q->batch, use_ring) == -1) {
        free(q->batch);
        q->batch = NULL;
        return -1;
    }
    return 0;
}

bool
conn_sendq_is_on(const struct conn_sendq *q)
{
    return q->batch != NULL;
}

bool
conn_sendq_is_ring(const struct conn_sendq *q)
{
    return q->batch != NULL && batch_is_ring(q->batch);
}

void
conn_queue(struct conn_sendq *q, struct conn *c, struct buf *b)
{
    BUG_ON(c->is_queued || q->batch == NULL);
    struct conn **head = &q->head[c->side];
    c->is_queued = true;
    c->qbuf = b;
    c->sq = q;
    c->sq_prev = NULL;
    c->sq_next = *head;
    if (c->sq_next != NULL)
        c->sq_next->sq_prev = c;
    *head = c;
}

void
conn_unqueue(struct conn *c)
{
    if (!c->is_queued)
        return;
    struct conn_sendq *q = c->sq;
    if (c->sq_prev != NULL)
        c->sq_prev->sq_next = c->sq_next;
    else
        q->head[c->side] = c->sq_next;
    if (c->sq_next != NULL)
        c->sq_next->sq_prev = c->sq_prev;
    c->sq_prev = c->sq_next = NULL;
    c->sq = NULL;
    c->is_queued = false;
}

static void
on_sent(void *cookie, int res, void *arg)
{
    (void)arg;
    struct conn *c = cookie;
    if (c->fd == -1)
        return; /* closed after it was sent: nobody takes the result */
    res = c->ops->queued_sent(c, res);
    if (c->sent != NULL)
        c->sent(c, res);
}

void
conn_sendq_flush(struct conn_sendq *q)
{
    struct batch *b = q->batch;
    if (b == NULL)
        return;
    while (q->head[CONN_UP] != NULL || q->head[CONN_DOWN] != NULL) {
        for (int side = CONN_UP; side < CONN_NSIDES; side++) {
            while (q->head[side] != NULL && b->n < BATCH_MAX) {
                struct conn *c = q->head[side];
                conn_unqueue(c);
                /* Even empty (written meanwhile), its result is taken after
                 * the run, when nothing in the batch points at a buffer any
                 * more. */
                const void *p;
                size_t len;
                c->ops->queued_bytes(c, &p, &len);
                (void)batch_send(b, c->fd, p, len, c);
            }
        }
        batch_run(b, on_sent, NULL);
    }
}

void
conn_sendq_fini(struct conn_sendq *q)
{
    if (q->batch != NULL) {
        batch_fini(q->batch);
        free(q->batch);
        q->batch = NULL;
    }
}
