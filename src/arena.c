/*
 * arena.c: bump allocator for configuration-time objects (see arena.h).
 * Blocks are chained; large requests get a block of their own.
 */
#include "canaryd/common.h"
#include "canaryd/arena.h"

#include <stdint.h>
#include <string.h>

#define ARENA_BLOCK_BYTES (64u * 1024u)
#define ARENA_ALIGN 16u

struct arena_block {
    struct arena_block *next; /* owned */
    size_t used;
    size_t cap;
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

void
arena_free(struct arena *a)
{
    if (a == NULL)
        return;
    struct arena_block *b = a->head;
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

static struct arena_block *
block_new(struct arena *a, size_t cap)
{
    struct arena_block *b = malloc(sizeof(*b) + cap);
    if (b == NULL)
        return NULL;
    b->used = 0;
    b->cap = cap;
    a->total_bytes += sizeof(*b) + cap;
    return b;
}

void *
arena_alloc(struct arena *a, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (size == 0)
        size = ARENA_ALIGN;
    struct arena_block *b = a->head;
    if (b == NULL || b->cap - b->used < size) {
        if (size > ARENA_BLOCK_BYTES / 4) {
            /* A big object gets its own block, behind the current one, so the
             * current block's free space is not wasted. */
            struct arena_block *big = block_new(a, size);
            if (big == NULL)
                return NULL;
            big->used = size;
            if (b == NULL) {
                big->next = NULL;
                a->head = big;
            } else {
                big->next = b->next;
                b->next = big;
            }
            memset(big->data, 0, size);
            return big->data;
        }
        b = block_new(a, ARENA_BLOCK_BYTES);
        if (b == NULL)
            return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += size;
    memset(p, 0, size);
    return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
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
