/*
 * diag.c: located configuration diagnostics (see diag.h).
 * Used by the loader and compiler at start-up, by -t and by reloads; never on
 * the request path.
 */
#include "canaryd/common.h"
#include "canaryd/core/diag.h"

#include <stdarg.h>
#include <string.h>

void
diag_list_init(struct diag_list *dl)
{
    memset(dl, 0, sizeof(*dl));
}

void
diag_list_fini(struct diag_list *dl)
{
    for (size_t i = 0; i < dl->n; i++) {
        free(dl->v[i].file);
        free(dl->v[i].path);
        free(dl->v[i].msg);
    }
    free(dl->v);
    free(dl->slots);
    memset(dl, 0, sizeof(*dl));
}

static uint32_t
fnv_str(uint32_t h, const char *s)
{
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return (h ^ 0xffu) * 16777619u;
}

static uint32_t
diag_hash(const struct diag *d)
{
    uint32_t h = 2166136261u ^ (uint32_t)d->level;
    h = (h ^ (uint32_t)d->line) * 16777619u;
    h = (h ^ (uint32_t)d->col) * 16777619u;
    return fnv_str(fnv_str(fnv_str(h, d->file), d->path), d->msg);
}

static bool
same_diag(const struct diag *o, const struct diag *d)
{
    return o->level == d->level && o->line == d->line && o->col == d->col &&
           strcmp(o->file, d->file) == 0 && strcmp(o->path, d->path) == 0 &&
           strcmp(o->msg, d->msg) == 0;
}

/* The slot of d in the table: its duplicate's, or the empty one it would
 * take. nslots must be non-zero. */
static uint32_t *
slot_of(const struct diag_list *dl, const struct diag *d)
{
    size_t mask = dl->nslots - 1;
    for (size_t i = diag_hash(d) & mask;; i = (i + 1) & mask)
        if (dl->slots[i] == 0 || same_diag(&dl->v[dl->slots[i] - 1], d))
            return &dl->slots[i];
}

/* Keeps the table at most half full; -1 on allocation failure. */
static int
slots_grow(struct diag_list *dl)
{
    if (dl->nslots > 2 * (dl->n + 1))
        return 0;
    size_t nslots = dl->nslots ? dl->nslots * 2 : 64;
    uint32_t *ns = calloc(nslots, sizeof(*ns));
    if (ns == NULL)
        return -1;
    free(dl->slots);
    dl->slots = ns;
    dl->nslots = nslots;
    for (size_t i = 0; i < dl->n; i++)
        *slot_of(dl, &dl->v[i]) = (uint32_t)(i + 1);
    return 0;
}

static void
count(struct diag_list *dl, enum diag_level level)
{
    if (level == DIAG_ERROR)
        dl->nerrors++;
    else
        dl->nwarnings++;
}

int
diag_add(struct diag_list *dl, enum diag_level level, const char *file, int line, int col,
         const char *path, const char *fmt, ...)
{
    struct diag d = {.level = level, .line = line, .col = col};
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&msg, fmt, ap);
    va_end(ap);
    d.msg = rc == -1 ? NULL : msg;
    d.file = strdup(file != NULL ? file : "");
    d.path = strdup(path != NULL ? path : "");
    if (d.msg == NULL || d.file == NULL || d.path == NULL || slots_grow(dl) == -1)
        goto oom;
    uint32_t *slot = slot_of(dl, &d);
    if (*slot != 0 || dl->n >= DIAG_MAX_KEPT) {
        dl->ndropped += *slot == 0;
        if (*slot == 0)
            count(dl, level);
        free(d.msg);
        free(d.file);
        free(d.path);
        return 0;
    }
    if (dl->n == dl->cap) {
        size_t ncap = dl->cap ? dl->cap * 2 : 16;
        struct diag *nv = realloc(dl->v, ncap * sizeof(*nv));
        if (nv == NULL)
            goto oom;
        dl->v = nv;
        dl->cap = ncap;
    }
    dl->v[dl->n++] = d;
    *slot = (uint32_t)dl->n;
    count(dl, level);
    return 0;
oom:
    free(d.msg);
    free(d.file);
    free(d.path);
    dl->oom = true;
    count(dl, level);
    return -1;
}

int
diag_format(const struct diag *d, char *buf, size_t len)
{
    const char *lvl = d->level == DIAG_ERROR ? "error" : "warning";
    if (d->path[0] != '\0')
        return snprintf(buf, len, "%s:%d:%d: %s: %s: %s", d->file, d->line, d->col, lvl, d->path,
                        d->msg);
    return snprintf(buf, len, "%s:%d:%d: %s: %s", d->file, d->line, d->col, lvl, d->msg);
}

void
diag_list_print(const struct diag_list *dl, FILE *out)
{
    char line[2048];
    for (size_t i = 0; i < dl->n; i++) {
        diag_format(&dl->v[i], line, sizeof(line));
        fprintf(out, "%s\n", line);
    }
    if (dl->ndropped > 0)
        fprintf(out, "canaryd: %zu more diagnostics not shown (the first %d are)\n", dl->ndropped,
                DIAG_MAX_KEPT);
    if (dl->oom)
        fprintf(out, "canaryd: out of memory while recording diagnostics\n");
}

bool
diag_has_errors(const struct diag_list *dl)
{
    return dl->nerrors > 0;
}
