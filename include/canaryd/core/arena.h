/*
 * arena.h: bump allocator for configuration-time objects.
 * A conf snapshot (and the AST it is built from) allocates everything from one
 * arena and frees it all at once, so a failed build leaves nothing behind.
 * Not thread-safe; never used on the request path.
 */
#ifndef CANARYD_ARENA_H
#define CANARYD_ARENA_H

#include <stddef.h>

struct arena;

/* Returns a new empty arena, or NULL on allocation failure. */
struct arena *arena_new(void);

/* Frees the arena and every block allocated from it. NULL is a no-op. */
void arena_free(struct arena *a);

/* Forgets everything allocated from a (every pointer it returned becomes
 * invalid) but keeps one block for the next allocations, so an arena refilled
 * with similar contents over and over (one document at a time) does not go
 * back to malloc. */
void arena_reset(struct arena *a);

/* Returns size bytes aligned for any type, zero-filled, or NULL on allocation
 * failure. size may be 0 (the result is then a valid, non-NULL pointer to no
 * bytes). The memory lives until arena_free() or arena_reset(). */
void *arena_alloc(struct arena *a, size_t size);

/* Same as arena_alloc for an array of n elements of size bytes each; NULL also
 * when n * size overflows. */
void *arena_alloc_array(struct arena *a, size_t n, size_t size);

/* Returns a copy of p[0..size) aligned for any type, or NULL on allocation
 * failure. p may be NULL when size is 0. */
void *arena_memdup(struct arena *a, const void *p, size_t size);

/* Returns a NUL-terminated copy of s[0..len) (s may hold NULs; len may be 0),
 * or NULL on allocation failure. Strings are packed (no alignment). */
char *arena_strndup(struct arena *a, const char *s, size_t len);

/* Same as arena_strndup(a, s, strlen(s)). */
char *arena_strdup(struct arena *a, const char *s);

/* Total bytes currently obtained from malloc by this arena (for the
 * benchmarks). */
size_t arena_bytes(const struct arena *a);

#endif /* CANARYD_ARENA_H */
