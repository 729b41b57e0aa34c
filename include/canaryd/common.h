/*
 * common.h: cross-cutting macros shared by every canaryd module.
 * Header-only; every .c includes it first. Nothing here knows about HTTP,
 * configuration or the event loop.
 */
#ifndef CANARYD_COMMON_H
#define CANARYD_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define CANARYD_VERSION "0.1.0"

#define countof(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define ATTR_UNUSED __attribute__((unused))
#define ATTR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define ATTR_NORETURN __attribute__((noreturn))

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Writes v in decimal at the end of buf[0..20) (no NUL) and returns a pointer
 * to its first digit; the digits run to buf + 20. */
static inline char *
u64_to_dec(char buf[20], unsigned long long v)
{
    char *p = buf + 20;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

/* Always compiled in: checks an invariant, never validates input. */
#define BUG_ON(cond)                                                                               \
    do {                                                                                           \
        if (unlikely(cond)) {                                                                      \
            fprintf(stderr, "BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif /* CANARYD_COMMON_H */
