/*
 * buf.h: growable byte buffers for connection I/O.
 * Each side of a proxied exchange has an input and an output buffer; bytes
 * are read into one and written out of another. Valid bytes are
 * data[off .. off+len). Buffers are recycled through a per-worker free list
 * so an idle keep-alive connection holds no buffer memory.
 */
#ifndef CANARYD_BUF_H
#define CANARYD_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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

#endif /* CANARYD_BUF_H */
