/*
 * conn.h: the transport under every connection (a downstream session, an
 * upstream connection, a mirror copy). It is the only code that touches a
 * connection's socket: reads into a struct buf, writes from one now or queues
 * the write for the end of the loop pass, half-closes, closes, and answers the
 * few socket questions the proxy asks (unread input, the result of a connect).
 *
 * A transport is an ops table (struct xprt_ops) behind an embedded struct
 * conn; callers go through the conn_* calls below, one indirect call each.
 * Plain TCP (xprt_tcp) is the one transport so far; its queued writes are the
 * worker's send batch (batch.h): everything queued in one pass goes out with
 * one system call at its end (conn_sendq_flush). A transport that encrypts
 * adds a second ops table and leaves its callers as they are.
 * One send queue per worker thread; nothing here is thread-safe.
 */
#ifndef CANARYD_CONN_H
#define CANARYD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct batch;
struct buf;
struct buf_cache;
struct conn;
struct conn_sendq;

/* Which queue a connection's queued writes wait on. The upstream ones are
 * written (and their results taken) first: a downstream result may close its
 * session and with it the upstream connection, an upstream result frees
 * nothing. */
enum conn_side {
    CONN_UP = 0,
    CONN_DOWN,
    CONN_NSIDES,
};

enum conn_shut {
    CONN_SHUT_WR = 0, /* no more output; input is still read */
    CONN_SHUT_RDWR,   /* both ways: reads see the end */
};

/* The result of a queued write of c: res is the number of bytes sent (already
 * consumed from the buffer) or a negative errno (-EAGAIN: the socket was full). */
typedef void (*conn_sent_fn)(struct conn *c, int res);

struct xprt_ops {
    const char *name;
    /* Reads once into b (buf_read_fd's contract). */
    ssize_t (*read)(struct conn *c, struct buf *b, struct buf_cache *bc, size_t want, size_t max);
    /* Reads once into p: bytes read, 0 at EOF, -1 with errno (EINTR too). */
    ssize_t (*recv)(struct conn *c, void *p, size_t len);
    /* Writes what the socket takes from b now (buf_write_fd's contract). */
    ssize_t (*write)(struct conn *c, struct buf *b);
    /* A queued write: the bytes to hand to the send batch for c's queued
     * buffer (plain TCP: the buffer itself; an encrypting transport: its
     * records). */
    void (*queued_bytes)(struct conn *c, const void **p, size_t *len);
    /* The batch sent res bytes of those (or failed with -errno): consumes
     * what that leaves delivered from the queued buffer and returns the
     * owner's result (bytes of the buffer consumed, or -errno). */
    int (*queued_sent)(struct conn *c, int res);
    int (*shutdown)(struct conn *c, enum conn_shut how);
    /* True when received bytes wait unread. */
    bool (*has_input)(const struct conn *c);
    /* 0 once a connect succeeded, or the errno it failed with. */
    int (*connect_error)(struct conn *c);
    /* Closes the socket; with reset, the peer sees a reset, not a clean end. */
    void (*close)(struct conn *c, bool reset);
};

struct conn {
    int fd;
    const struct xprt_ops *ops; /* borrowed: a static table */
    enum conn_side side;
    bool is_queued;        /* waits on sq for the end of the pass */
    conn_sent_fn sent;     /* the owner's: result of a queued write, or NULL */
    struct buf *qbuf;      /* borrowed: the owner's buffer a queued write sends from */
    struct conn_sendq *sq; /* borrowed: the worker's, while is_queued */
    struct conn *sq_prev, *sq_next;
};

/* A worker's queued writes: one list per side and the batch that writes them. */
struct conn_sendq {
    struct batch *batch; /* owned, or NULL: no queueing (writes go out at once) */
    struct conn *head[CONN_NSIDES];
};

/* Plain TCP: reads, writes and the send batch on the socket itself. */
extern const struct xprt_ops xprt_tcp;

/* Makes c a plain TCP connection over the accepted socket fd (sets TCP_NODELAY)
 * and takes ownership of fd; queued writes wait on side's list. */
void conn_tcp_accepted(struct conn *c, int fd, enum conn_side side);

/* Closes an accepted socket that gets no connection (no memory for one). */
void conn_tcp_drop(int fd);

/* Opens a non-blocking TCP connection to sa into c. Returns 0 with
 * *is_connecting true while the connect is in progress (false: already
 * connected; conn_connect_error tells the outcome once writable), or -1 with
 * errno (nothing to close then). */
int conn_tcp_connect(struct conn *c, const struct sockaddr *sa, socklen_t salen,
                     enum conn_side side, bool *is_connecting);

/* Prepares q; batches through io_uring unless use_ring is false or the kernel
 * refuses. Returns 0, or -1 when memory is short (q then writes at once). */
int conn_sendq_init(struct conn_sendq *q, bool use_ring);

/* True when q queues writes; false: callers write at once. */
bool conn_sendq_is_on(const struct conn_sendq *q);

/* True when q's batch writes through io_uring. */
bool conn_sendq_is_ring(const struct conn_sendq *q);

/* Writes every queued connection's buffer (upstream side first) and calls
 * each one's sent callback in turn; writes queued by those callbacks go out
 * in a further round before it returns. */
void conn_sendq_flush(struct conn_sendq *q);

/* Releases q's batch (nothing may be queued). */
void conn_sendq_fini(struct conn_sendq *q);

/* Takes c off its send queue (nothing when it is not queued). */
void conn_unqueue(struct conn *c);

/* Reads once from c into b (up to want bytes, growing to max). Returns bytes
 * read, 0 on EOF, -1 with errno (EAGAIN: nothing to read; ENOBUFS: b is full
 * at max). */
static inline ssize_t
conn_read(struct conn *c, struct buf *b, struct buf_cache *bc, size_t want, size_t max)
{
    return c->ops->read(c, b, bc, want, max);
}

/* Reads once from c into p (bytes to be dropped). Returns bytes read, 0 on
 * EOF, -1 with errno (EAGAIN, EINTR: try again). */
static inline ssize_t
conn_recv(struct conn *c, void *p, size_t len)
{
    return c->ops->recv(c, p, len);
}

/* Writes as much of b as c takes now and consumes it. Returns bytes written
 * (0 with errno EAGAIN when nothing went), or -1 with errno. */
static inline ssize_t
conn_write(struct conn *c, struct buf *b)
{
    return c->ops->write(c, b);
}

/* Queues b's bytes on c for conn_sendq_flush (q must be on, c not queued);
 * c->sent gets the result. b must stay valid until c's sent callback has run
 * or c was taken off the queue (conn_unqueue, conn_close). */
void conn_queue(struct conn_sendq *q, struct conn *c, struct buf *b);

/* Half-closes (CONN_SHUT_WR) or shuts down both ways. Returns 0 or -1 (errno). */
static inline int
conn_shutdown(struct conn *c, enum conn_shut how)
{
    return c->ops->shutdown(c, how);
}

/* True when the peer sent bytes not read yet. */
static inline bool
conn_has_input(const struct conn *c)
{
    return c->ops->has_input(c);
}

/* After a non-blocking connect turned writable: 0 when it succeeded, or the
 * errno it failed with. */
static inline int
conn_connect_error(struct conn *c)
{
    return c->ops->connect_error(c);
}

/* Takes c off its send queue and closes it; with reset the peer sees a reset
 * rather than a clean end. */
static inline void
conn_close(struct conn *c, bool reset)
{
    conn_unqueue(c);
    c->ops->close(c, reset);
}

#endif /* CANARYD_CONN_H */
