/*
 * buf.c: growable byte buffers for connection I/O (see buf.h).
 * Sits under session.c and stream.c: every byte canaryd relays passes through
 * one of these, so the common case (a small block from the worker's cache,
 * one read, one write) costs no malloc.
 */
#include "canaryd/common.h"
#include "canaryd/core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *
block_get(struct buf_cache *bc, size_t size)
{
    if (bc != NULL && size == BUF_SMALL && bc->n > 0)
        return bc->blocks[--bc->n];
    if (bc != NULL && size == BUF_TINY && bc->ntiny > 0)
        return bc->tiny[--bc->ntiny];
    return malloc(size);
}

static void
block_put(struct buf_cache *bc, void *p, size_t size)
{
    if (bc != NULL && (size == BUF_SMALL || size == BUF_TINY)) {
        void ***arr = size == BUF_SMALL ? &bc->blocks : &bc->tiny;
        size_t *n = size == BUF_SMALL ? &bc->n : &bc->ntiny;
        if (*arr == NULL && bc->max > 0)
            *arr = calloc(bc->max, sizeof(void *));
        if (*arr != NULL && *n < bc->max) {
            (*arr)[(*n)++] = p;
            return;
        }
    }
    free(p);
}

/* The capacity of a fresh block for n bytes: a cached class when n fits. */
static size_t
block_size(size_t n)
{
    return n <= BUF_TINY ? BUF_TINY : n <= BUF_SMALL ? BUF_SMALL : n;
}

ssize_t
buf_reserve(struct buf *b, struct buf_cache *bc, size_t n, size_t max)
{
    if (b->data == NULL) {
        size_t size = block_size(n);
        if (size > max)
            size = max;
        if (size < n)
            return -1;
        b->data = block_get(bc, size);
        if (b->data == NULL)
            return -1;
        b->cap = size;
        b->off = 0;
        b->len = 0;
        return (ssize_t)size;
    }
    if (b->cap - b->off - b->len >= n)
        return (ssize_t)(b->cap - b->off - b->len);
    if (b->off > 0) {
        memmove(b->data, b->data + b->off, b->len);
        b->off = 0;
        if (b->cap - b->len >= n)
            return (ssize_t)(b->cap - b->len);
    }
    if (b->len + n > max)
        return -1;
    size_t ncap = b->cap * 2;
    while (ncap < b->len + n)
        ncap *= 2;
    if (b->cap == BUF_TINY && ncap < BUF_SMALL)
        ncap = BUF_SMALL; /* tiny grows into the other cached class */
    if (ncap > max)
        ncap = max;
    char *nd = block_get(bc, ncap);
    if (nd == NULL)
        return -1;
    memcpy(nd, b->data, b->len);
    block_put(bc, b->data, b->cap);
    b->data = nd;
    b->cap = ncap;
    return (ssize_t)(ncap - b->len);
}

int
buf_append(struct buf *b, struct buf_cache *bc, const void *p, size_t len, size_t max)
{
    if (len == 0)
        return 0;
    if (buf_reserve(b, bc, len, max) == -1)
        return -1;
    memcpy(b->data + b->off + b->len, p, len);
    b->len += len;
    return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
    BUG_ON(n > b->len);
    b->off += n;
    b->len -= n;
    if (b->len == 0)
        b->off = 0;
}

void
buf_release(struct buf *b, struct buf_cache *bc)
{
    if (b->data != NULL)
        block_put(bc, b->data, b->cap);
    b->data = NULL;
    b->cap = b->off = b->len = 0;
}

void
buf_shrink_if_empty(struct buf *b, struct buf_cache *bc)
{
    if (b->len == 0)
        buf_release(b, bc);
}

void
buf_cache_fini(struct buf_cache *bc)
{
    for (size_t i = 0; i < bc->n; i++)
        free(bc->blocks[i]);
    for (size_t i = 0; i < bc->ntiny; i++)
        free(bc->tiny[i]);
    free(bc->blocks);
    free(bc->tiny);
    bc->blocks = bc->tiny = NULL;
    bc->n = bc->ntiny = 0;
}

ssize_t
buf_read_fd(struct buf *b, struct buf_cache *bc, int fd, size_t want, size_t max)
{
    ssize_t room = buf_reserve(b, bc, b->data == NULL ? MIN(want, max) : 1, max);
    if (room <= 0) {
        errno = ENOBUFS;
        return -1;
    }
    /* Grow opportunistically toward want so a body read is not 1 byte. */
    if ((size_t)room < want && b->len + want <= max) {
        ssize_t r2 = buf_reserve(b, bc, want, max);
        if (r2 > 0)
            room = r2;
    }
    ssize_t n;
    do {
        n = read(fd, b->data + b->off + b->len, (size_t)room);
    } while (n == -1 && errno == EINTR);
    if (n > 0)
        b->len += (size_t)n;
    return n;
}

ssize_t
buf_write_fd(struct buf *b, int fd)
{
    size_t total = 0;
    while (b->len > 0) {
        ssize_t n = send(fd, b->data + b->off, b->len, MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -1;
        }
        buf_consume(b, (size_t)n);
        total += (size_t)n;
    }
    if (b->len > 0 && total == 0)
        errno = EAGAIN;
    return (ssize_t)total;
}

void
buf_out_printf(struct buf_out *o, const char *fmt, ...)
{
    if (o->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    /* Room for the text and vsnprintf's NUL, which is not kept. */
    if (n < 0 || buf_reserve(o->b, o->bc, (size_t)n + 1, o->max) == -1) {
        o->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(o->b->data + o->b->off + o->b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->b->len += (size_t)n;
}
