/*
 * batch.c: many sends, one system call (see batch.h).
 * The ring is driven with the raw io_uring system calls and the kernel's
 * uapi header: it only ever carries IORING_OP_SEND, submitted and reaped in
 * the same call, so the whole protocol fits here without a library.
 */
#include "canaryd/common.h"
#include "canaryd/engine/batch.h"

#include <errno.h>
#include <linux/io_uring.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int
uring_setup(unsigned entries, struct io_uring_params *p)
{
    return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int
uring_enter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags)
{
    return (int)syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, NULL, 0);
}

/* True when the kernel knows IORING_OP_SEND (5.6 and later, as the probe). */
static bool
send_supported(int fd)
{
    size_t sz = sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op);
    struct io_uring_probe *probe = calloc(1, sz);
    if (probe == NULL)
        return false;
    bool ok = syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, probe, 256) == 0 &&
              probe->last_op >= IORING_OP_SEND &&
              (probe->ops[IORING_OP_SEND].flags & IO_URING_OP_SUPPORTED);
    free(probe);
    return ok;
}

static void
ring_unmap(struct batch *b)
{
    if (b->sqes != NULL && b->sqes != MAP_FAILED)
        munmap(b->sqes, b->sqes_sz);
    if (b->cq_ring != NULL && b->cq_ring != MAP_FAILED && b->cq_ring != b->sq_ring)
        munmap(b->cq_ring, b->cq_ring_sz);
    if (b->sq_ring != NULL && b->sq_ring != MAP_FAILED)
        munmap(b->sq_ring, b->sq_ring_sz);
    b->sqes = b->cq_ring = b->sq_ring = NULL;
    if (b->ring_fd != -1)
        close(b->ring_fd);
    b->ring_fd = -1;
}

static int
ring_open(struct batch *b)
{
    struct io_uring_params p;
    /* Newest flags first (one issuer, completions run in our own calls);
     * older kernels refuse them with EINVAL. */
    static const unsigned flag_sets[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int fd = -1;
    for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]) && fd == -1; i++) {
        memset(&p, 0, sizeof(p));
        p.flags = flag_sets[i];
        fd = uring_setup(BATCH_MAX, &p);
        if (fd == -1 && errno != EINVAL)
            return -1; /* ENOSYS, EPERM (seccomp, io_uring_disabled), ENOMEM */
    }
    if (fd == -1)
        return -1;
    b->ring_fd = fd;
    if (!(p.features & IORING_FEAT_NODROP) || p.sq_entries < BATCH_MAX ||
        p.cq_entries < BATCH_MAX || !send_supported(fd)) {
        ring_unmap(b);
        errno = ENOTSUP;
        return -1;
    }
    b->sq_ring_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    b->cq_ring_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    bool single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single)
        b->sq_ring_sz = b->cq_ring_sz = MAX(b->sq_ring_sz, b->cq_ring_sz);
    b->sq_ring = mmap(NULL, b->sq_ring_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                      IORING_OFF_SQ_RING);
    if (b->sq_ring == MAP_FAILED) {
        ring_unmap(b);
        return -1;
    }
    b->cq_ring = single ? b->sq_ring
                        : mmap(NULL, b->cq_ring_sz, PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
    b->sqes_sz = p.sq_entries * sizeof(struct io_uring_sqe);
    b->sqes = b->cq_ring == MAP_FAILED ? MAP_FAILED
                                       : mmap(NULL, b->sqes_sz, PROT_READ | PROT_WRITE,
                                              MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (b->cq_ring == MAP_FAILED || b->sqes == MAP_FAILED) {
        ring_unmap(b);
        return -1;
    }
    char *sq = b->sq_ring, *cq = b->cq_ring;
    b->sq_head = (unsigned *)(sq + p.sq_off.head);
    b->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    b->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    b->sq_array = (unsigned *)(sq + p.sq_off.array);
    b->cq_head = (unsigned *)(cq + p.cq_off.head);
    b->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    b->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    b->cqes = cq + p.cq_off.cqes;
    return 0;
}

int
batch_init(struct batch *b, bool use_ring)
{
    memset(b, 0, sizeof(*b));
    b->ring_fd = -1;
    if (use_ring && ring_open(b) == -1)
        b->ring_fd = -1; /* plain send() from here on */
    return 0;
}

bool
batch_is_ring(const struct batch *b)
{
    return b->ring_fd != -1;
}

bool
batch_send(struct batch *b, int fd, const void *p, size_t len, void *cookie)
{
    if (b->n == BATCH_MAX)
        return false;
    b->ent[b->n++] = (struct batch_ent){fd, (uint32_t)MIN(len, (size_t)UINT32_MAX), p, cookie};
    return true;
}

static void
run_plain(struct batch *b)
{
    for (uint32_t i = 0; i < b->n; i++) {
        ssize_t r;
        do {
            r = send(b->ent[i].fd, b->ent[i].p, b->ent[i].len, MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (r == -1 && errno == EINTR);
        b->res[i] = r >= 0 ? (int)r : -errno;
        b->syscalls++;
    }
}

/* Takes every completion the kernel has posted. */
static unsigned
reap(struct batch *b)
{
    unsigned head = atomic_load_explicit((_Atomic unsigned *)b->cq_head, memory_order_relaxed);
    unsigned tail = atomic_load_explicit((_Atomic unsigned *)b->cq_tail, memory_order_acquire);
    unsigned mask = *b->cq_mask, got = 0;
    for (; head != tail; head++) {
        const struct io_uring_cqe *cqe = (const struct io_uring_cqe *)b->cqes + (head & mask);
        if (cqe->user_data < b->n) {
            b->res[cqe->user_data] = cqe->res;
            got++;
        }
    }
    atomic_store_explicit((_Atomic unsigned *)b->cq_head, head, memory_order_release);
    return got;
}

/* Submits b->n sends and waits for their n completions (they cannot park:
 * MSG_DONTWAIT). Returns 0, or -1 when the kernel took none of them (the
 * caller may then send them another way). A ring that fails half-way is
 * closed, and the sends whose fate is unknown report -EIO: bytes are never
 * sent twice. */
static int
run_ring(struct batch *b)
{
    unsigned tail = atomic_load_explicit((_Atomic unsigned *)b->sq_tail, memory_order_relaxed);
    unsigned mask = *b->sq_mask;
    for (uint32_t i = 0; i < b->n; i++) {
        unsigned idx = (tail + i) & mask;
        struct io_uring_sqe *sqe = (struct io_uring_sqe *)b->sqes + idx;
        memset(sqe, 0, sizeof(*sqe));
        sqe->opcode = IORING_OP_SEND;
        sqe->fd = b->ent[i].fd;
        sqe->addr = (uint64_t)(uintptr_t)b->ent[i].p;
        sqe->len = b->ent[i].len;
        sqe->msg_flags = MSG_NOSIGNAL | MSG_DONTWAIT;
        sqe->user_data = i;
        b->sq_array[idx] = idx;
        b->res[i] = INT32_MIN; /* not reaped yet */
    }
    atomic_store_explicit((_Atomic unsigned *)b->sq_tail, tail + b->n, memory_order_release);
    unsigned submitted = 0, reaped = 0, tries = 0;
    while (reaped < b->n) {
        int r = uring_enter(b->ring_fd, b->n - submitted, b->n - reaped, IORING_ENTER_GETEVENTS);
        b->syscalls++;
        bool broken = false;
        if (r >= 0)
            submitted += (unsigned)r;
        else if (errno != EINTR && errno != EAGAIN && errno != EBUSY)
            broken = true;
        if (broken && submitted == 0 && reaped == 0)
            return -1;
        reaped += reap(b);
        if (reaped < b->n && (broken || ++tries > 1000)) {
            for (uint32_t i = 0; i < b->n; i++)
                if (b->res[i] == INT32_MIN)
                    b->res[i] = -EIO;
            ring_unmap(b);
            return 0;
        }
    }
    return 0;
}

void
batch_run(struct batch *b, void (*done)(void *cookie, int res, void *arg), void *arg)
{
    while (b->n > 0) {
        if (b->ring_fd == -1 || run_ring(b) == -1) {
            if (b->ring_fd != -1)
                ring_unmap(b); /* a ring the kernel refuses is not tried again */
            run_plain(b);
        }
        /* Callbacks may queue more: hand them a fresh batch. */
        uint32_t n = b->n;
        void *cookie[BATCH_MAX];
        int res[BATCH_MAX];
        for (uint32_t i = 0; i < n; i++) {
            cookie[i] = b->ent[i].cookie;
            res[i] = b->res[i];
        }
        b->n = 0;
        for (uint32_t i = 0; i < n; i++)
            done(cookie[i], res[i], arg);
    }
}

void
batch_fini(struct batch *b)
{
    ring_unmap(b);
}
