/*
 * diag.c: located configuration diagnostics (see diag.h).
 * Used by the loader and compiler at start-up, by -t and by reloads; never on
 * the request path.
 */
#include "canaryd/common.h"
#include "canaryd/diag.h"

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
    memset(dl, 0, sizeof(*dl));
}

static bool
is_duplicate(const struct diag_list *dl, const struct diag *d)
{
    for (size_t i = 0; i < dl->n; i++) {
        const struct diag *o = &dl->v[i];
        if (o->level == d->level && o->line == d->line && o->col == d->col &&
            strcmp(o->file, d->file) == 0 && strcmp(o->path, d->path) == 0 &&
            strcmp(o->msg, d->msg) == 0)
            return true;
    }
    return false;
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
    if (d.msg == NULL || d.file == NULL || d.path == NULL)
        goto oom;
    if (is_duplicate(dl, &d)) {
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
    if (dl->oom)
        fprintf(out, "canaryd: out of memory while recording diagnostics\n");
}

bool
diag_has_errors(const struct diag_list *dl)
{
    return dl->nerrors > 0;
}
