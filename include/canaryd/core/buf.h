/*
 * buf.h: growable byte buffers for connection I/O.
 * Each side of a proxied exchange has an input and an output buffer; bytes
 * are read into one and written out of another. Valid bytes are
 * data[off .. off+len). Buffers are recycled through a per-worker free list
 * so an idle keep-alive connection holds no buffer memory.
 */
#ifndef CANARYD_BUF_H
#define CANARYD_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "canaryd/common.h"

#define BUF_TINY 1024u  /* a request or response head, a small message */
#define BUF_SMALL 4096u /* a read of a head; the larger cached class */

struct buf {
    char *data; /* owned: NULL until first use */
    size_t cap;
    size_t off;
    size_t len;
};

/* A per-worker cache of free BUF_TINY and BUF_SMALL blocks, up to max of each
 * (not thread-safe: one per worker). A buffer starts in the smallest class
 * that holds what it is first asked for, so a connection waiting on a small
 * request holds 1 KiB, not 4. */
struct buf_cache {
    void **blocks; /* owned array of owned BUF_SMALL blocks */
    size_t n;
    void **tiny; /* owned array of owned BUF_TINY blocks */
    size_t ntiny;
    size_t max;
};

/* Makes room for at least n more bytes after the valid ones (compacting, then
 * growing up to max total bytes). Returns the free space after the valid
 * bytes, or -1 when max would be exceeded or allocation failed. */
ssize_t buf_reserve(struct buf *b, struct buf_cache *bc, size_t n, size_t max);

/* Appends len bytes; returns 0 or -1 (allocation failure or over max). */
int buf_append(struct buf *b, struct buf_cache *bc, const void *p, size_t len, size_t max);

/* Drops n bytes from the front. */
void buf_consume(struct buf *b, size_t n);

/* Releases the memory (to the cache when it is a small block). */
void buf_release(struct buf *b, struct buf_cache *bc);

/* Releases the memory if the buffer is empty. */
void buf_shrink_if_empty(struct buf *b, struct buf_cache *bc);

/* Frees every cached block. */
void buf_cache_fini(struct buf_cache *bc);

/* Reads once from fd into b (up to want bytes, growing to max; an empty buffer
 * gets a block of the class that fits want). Returns bytes
 * read, 0 on EOF, -1 on error with errno (EAGAIN when nothing to read, ENOBUFS
 * when the buffer is full at max). */
ssize_t buf_read_fd(struct buf *b, struct buf_cache *bc, int fd, size_t want, size_t max);

/* Writes as much of b as the socket takes and consumes it. Returns bytes
 * written (may be 0 with errno EAGAIN), or -1 on error with errno. */
ssize_t buf_write_fd(struct buf *b, int fd);

static inline char *
buf_head(const struct buf *b)
{
    return b->data + b->off;
}

/* The byte appender, the one way canaryd writes output into a buffer (heads,
 * metrics text, JSON): appends grow b up to max total bytes. The first
 * failure (memory, or max reached) sets failed and makes every later append
 * a no-op, so a writer checks once, at the end. */
struct buf_out {
    struct buf *b;        /* borrowed: the buffer written to */
    struct buf_cache *bc; /* borrowed: the block cache, or NULL (plain malloc) */
    size_t max;           /* b never grows past this many bytes */
    bool failed;
};

static inline struct buf_out
buf_out_to(struct buf *b, struct buf_cache *bc, size_t max)
{
    return (struct buf_out){b, bc, max, false};
}

static inline void
buf_out_mem(struct buf_out *o, const void *p, size_t len)
{
    if (!o->failed && buf_append(o->b, o->bc, p, len, o->max) == -1)
        o->failed = true;
}

static inline void
buf_out_str(struct buf_out *o, const char *s)
{
    buf_out_mem(o, s, strlen(s));
}

/* Appends v in decimal. */
static inline void
buf_out_u64(struct buf_out *o, uint64_t v)
{
    char tmp[20];
    const char *p = u64_to_dec(tmp, v);
    buf_out_mem(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Appends v in decimal, with a minus sign when negative. */
static inline void
buf_out_i64(struct buf_out *o, int64_t v)
{
    if (v < 0) {
        buf_out_mem(o, "-", 1);
        buf_out_u64(o, -(uint64_t)v);
        return;
    }
    buf_out_u64(o, (uint64_t)v);
}

/* Appends v in lower-case hexadecimal, without leading zeros. */
static inline void
buf_out_hex(struct buf_out *o, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    char *p = tmp + sizeof(tmp);
    do
        *--p = digits[v & 0xf];
    while ((v >>= 4) != 0);
    buf_out_mem(o, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Appends printf-formatted text. */
void buf_out_printf(struct buf_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* CANARYD_BUF_H */
