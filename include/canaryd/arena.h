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

/* Returns size bytes aligned for any type, zero-filled, or NULL on allocation
 * failure. The memory lives until arena_free(). */
void *arena_alloc(struct arena *a, size_t size);

/* Returns a NUL-terminated copy of s[0..len) (s may hold NULs; len may be 0),
 * or NULL on allocation failure. */
char *arena_strndup(struct arena *a, const char *s, size_t len);

/* Same as arena_strndup(a, s, strlen(s)). */
char *arena_strdup(struct arena *a, const char *s);

/* Total bytes obtained from malloc by this arena (for the benchmarks). */
size_t arena_bytes(const struct arena *a);

#endif /* CANARYD_ARENA_H */
