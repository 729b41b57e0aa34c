/*
 * arena.c: bump allocator for configuration-time objects (see arena.h).
 * Blocks are chained; large requests get a block of their own. Objects are
 * aligned for any type; strings are packed byte by byte between them, since
 * most configuration strings are a few bytes long.
 *
 * Block size: a block's unused tail is lost, up to the size of the request
 * that did not fit (at most ARENA_BIG). Blocks double from 64 KiB to 1 MiB as
 * an arena grows, so a small arena stays small while a large one (a 10,000
 * route snapshot, ~7 MiB) has a dozen tails instead of a hundred; blocks from
 * 128 KiB up are mmap'd by malloc, so their untouched pages cost nothing.
 */
#include "canaryd/common.h"
#include "canaryd/core/arena.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define ARENA_BLOCK_MIN (64u * 1024u)
#define ARENA_BLOCK_MAX (1024u * 1024u)
#define ARENA_BIG (16u * 1024u) /* larger requests get a block of their own */
#define ARENA_ALIGN 16u

struct arena_block {
    struct arena_block *next; /* owned */
    size_t used;
    size_t cap;
    bool is_big; /* holds one big request */
    _Alignas(16) unsigned char data[];
};

struct arena {
    struct arena_block *head; /* owned: block being filled, chain of older ones */
    size_t total_bytes;
};

struct arena *
arena_new(void)
{
    return calloc(1, sizeof(struct arena));
}

static void
free_chain(struct arena_block *b)
{
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
}

void
arena_free(struct arena *a)
{
    if (a == NULL)
        return;
    free_chain(a->head);
    free(a);
}

void
arena_reset(struct arena *a)
{
    struct arena_block *keep = NULL, **pp = &a->head;
    /* Keep the newest (largest) shared block; big blocks fit one object only. */
    while (*pp != NULL && keep == NULL) {
        if (!(*pp)->is_big) {
            keep = *pp;
            *pp = keep->next;
        } else {
            pp = &(*pp)->next;
        }
    }
    free_chain(a->head);
    a->head = keep;
    a->total_bytes = 0;
    if (keep != NULL) {
        keep->next = NULL;
        keep->used = 0;
        a->total_bytes = sizeof(*keep) + keep->cap;
    }
}

static struct arena_block *
block_new(struct arena *a, size_t cap, bool is_big)
{
    struct arena_block *b = malloc(sizeof(*b) + cap);
    if (b == NULL)
        return NULL;
    b->used = 0;
    b->cap = cap;
    b->is_big = is_big;
    a->total_bytes += sizeof(*b) + cap;
    return b;
}

/* A big object gets its own block, behind the current one, so the current
 * block's free space is not wasted. */
static void *
alloc_big(struct arena *a, size_t size)
{
    struct arena_block *big = block_new(a, size, true);
    if (big == NULL)
        return NULL;
    big->used = size;
    if (a->head == NULL) {
        big->next = NULL;
        a->head = big;
    } else {
        big->next = a->head->next;
        a->head->next = big;
    }
    return big->data;
}

/* size bytes at a multiple of align (a power of two, at most ARENA_ALIGN);
 * not zero-filled. */
static void *
alloc_raw(struct arena *a, size_t size, size_t align)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    struct arena_block *b = a->head;
    size_t off = b != NULL ? (b->used + align - 1) & ~(align - 1) : 0;
    if (b == NULL || off > b->cap || b->cap - off < size) {
        if (size > ARENA_BIG)
            return alloc_big(a, size);
        /* The head is the newest shared block unless the first request was big. */
        size_t cap = b != NULL && !b->is_big ? MIN(b->cap * 2, ARENA_BLOCK_MAX) : ARENA_BLOCK_MIN;
        b = block_new(a, cap, false);
        if (b == NULL)
            return NULL;
        b->next = a->head;
        a->head = b;
        off = 0;
    }
    b->used = off + size;
    return b->data + off;
}

void *
arena_alloc(struct arena *a, size_t size)
{
    void *p = alloc_raw(a, size, ARENA_ALIGN);
    if (p != NULL && size > 0)
        memset(p, 0, size);
    return p;
}

void *
arena_alloc_array(struct arena *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / 2 / size)
        return NULL;
    return arena_alloc(a, n * size);
}

void *
arena_memdup(struct arena *a, const void *p, size_t size)
{
    void *q = alloc_raw(a, size, ARENA_ALIGN);
    if (q != NULL && size > 0)
        memcpy(q, p, size);
    return q;
}

char *
arena_strndup(struct arena *a, const char *s, size_t len)
{
    if (len >= SIZE_MAX / 2)
        return NULL;
    char *p = alloc_raw(a, len + 1, 1);
    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

size_t
arena_bytes(const struct arena *a)
{
    return a->total_bytes;
}
