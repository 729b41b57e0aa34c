/*
 * batch.h: sends gathered during one pass of a worker's event loop and written
 * with one system call (io_uring), instead of one send() each.
 *
 * On loopback and in virtual machines the cost of a proxied request is mostly
 * system calls; a pass that answers twenty requests makes forty sends. A batch
 * queues them (batch_send), then batch_run submits them all with one
 * io_uring_enter and reports each result. Every send is non-blocking
 * (MSG_DONTWAIT): a full socket answers -EAGAIN at once, exactly as send()
 * would, so callers keep their usual write-interest logic.
 *
 * Where io_uring is missing or forbidden (old kernels, seccomp profiles that
 * block it, kernel.io_uring_disabled, CANARYD_IO_URING=off), batch_init still
 * succeeds and batch_run makes one send() per entry: same results, more calls.
 * One batch per worker thread; not thread-safe.
 */
#ifndef CANARYD_BATCH_H
#define CANARYD_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BATCH_MAX 256u /* sends per system call */

struct batch_ent {
    int fd;
    uint32_t len;
    const void *p; /* borrowed: must stay valid and unchanged until batch_run */
    void *cookie;  /* the caller's: handed back with the result */
};

struct batch {
    int ring_fd; /* -1: plain send() */
    void *sq_ring, *cq_ring, *sqes;
    size_t sq_ring_sz, cq_ring_sz, sqes_sz;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    void *cqes;
    uint32_t n;
    struct batch_ent ent[BATCH_MAX];
    int res[BATCH_MAX];
    uint64_t syscalls; /* system calls made by batch_run (for tests) */
};

/* Prepares b; uses io_uring unless use_ring is false or the kernel refuses.
 * Returns 0, or -1 only when memory is short (b is then unusable). */
int batch_init(struct batch *b, bool use_ring);

/* True when b writes through io_uring. */
bool batch_is_ring(const struct batch *b);

/* Queues a send of len bytes at p on fd. Returns false when the batch is full
 * (run it first). */
bool batch_send(struct batch *b, int fd, const void *p, size_t len, void *cookie);

/* Writes every queued send, then calls done(cookie, result, arg) for each in
 * the order queued: result is the number of bytes sent (possibly fewer than
 * asked) or a negative errno (-EAGAIN when the socket was full). done may
 * queue new sends: they go out in a further round before batch_run returns. */
void batch_run(struct batch *b, void (*done)(void *cookie, int res, void *arg), void *arg);

/* Releases the ring. */
void batch_fini(struct batch *b);

#endif /* CANARYD_BATCH_H */
