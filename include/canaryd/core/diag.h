/*
 * diag.h: located configuration diagnostics (errors and warnings).
 * The loader and the compiler append to a diag_list instead of stopping at the
 * first problem; the caller prints them all at once, each exactly once, as
 *   FILE:LINE:COL: error: PATH: message
 * Library modules never log; they fill a diag_list or an error buffer.
 */
#ifndef CANARYD_DIAG_H
#define CANARYD_DIAG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>

enum diag_level {
    DIAG_WARN = 0,
    DIAG_ERROR,
};

struct diag {
    enum diag_level level;
    char *file; /* owned; may be "" for diagnostics without a file */
    int line;   /* 1-based; 0 when unknown */
    int col;    /* 1-based; 0 when unknown */
    char *path; /* owned: object path, e.g. spec.http[0].route[1].weight; may be "" */
    char *msg;  /* owned */
};

/* At most this many diagnostics are kept; later ones are only counted. */
#define DIAG_MAX_KEPT 10000

struct diag_list {
    struct diag *v; /* owned array */
    size_t n;
    size_t cap;
    size_t nerrors;
    size_t nwarnings;
    size_t ndropped; /* counted but not kept (past DIAG_MAX_KEPT) */
    uint32_t *slots; /* owned: duplicate detection, index + 1 into v, 0 = empty */
    size_t nslots;   /* a power of two, or 0 */
    bool oom;        /* a diagnostic could not be recorded (allocation failure) */
};

/* Initialises an empty list. */
void diag_list_init(struct diag_list *dl);

/* Frees every diagnostic; the list is empty and reusable afterwards. */
void diag_list_fini(struct diag_list *dl);

/* Appends a diagnostic. file and path may be NULL (recorded as ""). A diagnostic
 * identical to one already recorded (same level, location, path and message) is
 * dropped, so each problem is reported once. Returns 0, or -1 on allocation
 * failure (then dl->oom is set and, for an error, nerrors still counts it). */
int diag_add(struct diag_list *dl, enum diag_level level, const char *file, int line, int col,
             const char *path, const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* Formats diagnostic d as "FILE:LINE:COL: error: PATH: message" (no newline)
 * into buf; returns what snprintf returns. */
int diag_format(const struct diag *d, char *buf, size_t len);

/* Prints every diagnostic, one per line, in the order recorded. */
void diag_list_print(const struct diag_list *dl, FILE *out);

/* True when at least one error (not warning) was recorded. */
bool diag_has_errors(const struct diag_list *dl);

#endif /* CANARYD_DIAG_H */
