/*
 * conf_util.c: the small containers every part of the loader uses (see
 * conf_internal.h): growable pointer vectors, string-keyed hash maps, the
 * table of compiled regexes shared across a snapshot, arena printf, and the
 * host hash the snapshot's lookup tables and the router agree on.
 * Start-up and reload only, off the request path.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/arena.h"
#include "canaryd/core/match.h"

int
cf_vec_push(struct arena *a, struct cf_vec *v, void *p)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 8;
        void **nv = arena_alloc(a, ncap * sizeof(*nv));
        if (nv == NULL)
            return -1;
        if (v->n > 0)
            memcpy(nv, v->v, v->n * sizeof(*nv));
        v->v = nv;
        v->cap = ncap;
    }
    v->v[v->n++] = p;
    return 0;
}

static uint32_t
fnv1a(const char *s, size_t len, bool fold)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (fold && ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch | 0x20);
        h = (h ^ ch) * 16777619u;
    }
    return h;
}

uint32_t
conf_host_hash(const char *s, size_t len)
{
    return fnv1a(s, len, true);
}

static struct cf_map_slot *
map_find(const struct cf_map *m, const char *key, size_t len, uint32_t h)
{
    size_t mask = m->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct cf_map_slot *s = &m->slots[i];
        if (s->key == NULL || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

void *
cf_map_get(const struct cf_map *m, const char *key, size_t len)
{
    if (m->nslots == 0)
        return NULL;
    struct cf_map_slot *s = map_find(m, key, len, fnv1a(key, len, false));
    return s->key != NULL ? s->val : NULL;
}

static int
map_grow(struct arena *a, struct cf_map *m)
{
    size_t nslots = m->nslots ? m->nslots * 2 : 16;
    struct cf_map nm = {.slots = arena_alloc(a, nslots * sizeof(*nm.slots)), .nslots = nslots};
    if (nm.slots == NULL)
        return -1;
    for (size_t i = 0; i < m->nslots; i++) {
        struct cf_map_slot *s = &m->slots[i];
        if (s->key != NULL)
            *map_find(&nm, s->key, s->len, s->hash) = *s;
    }
    nm.n = m->n;
    *m = nm;
    return 0;
}

int
cf_map_put(struct arena *a, struct cf_map *m, const char *key, size_t len, void *val, void **old)
{
    if ((m->n + 1) * 2 > m->nslots && map_grow(a, m) == -1)
        return -1;
    uint32_t h = fnv1a(key, len, false);
    struct cf_map_slot *s = map_find(m, key, len, h);
    if (s->key != NULL) {
        if (old != NULL)
            *old = s->val;
        return 1;
    }
    *s = (struct cf_map_slot){.key = key, .len = len, .hash = h, .val = val};
    m->n++;
    return 0;
}

static struct match **
regex_slot(struct match **slots, size_t nslots, const char *s, size_t len)
{
    size_t mask = nslots - 1;
    for (size_t i = fnv1a(s, len, false) & mask;; i = (i + 1) & mask) {
        struct match *m = slots[i];
        if (m == NULL || (m->len == len && memcmp(m->str, s, len) == 0))
            return &slots[i];
    }
}

struct match *
cf_regexes_get(const struct cf_regexes *t, const char *s, size_t len)
{
    return t->nslots != 0 ? *regex_slot(t->slots, t->nslots, s, len) : NULL;
}

int
cf_regexes_add(struct cf_regexes *t, struct match *m)
{
    if ((t->n + 1) * 2 > t->nslots) {
        size_t nslots = t->nslots ? t->nslots * 2 : 64;
        struct match **v = calloc(nslots, sizeof(*v));
        if (v == NULL)
            return -1;
        for (size_t i = 0; i < t->nslots; i++)
            if (t->slots[i] != NULL)
                *regex_slot(v, nslots, t->slots[i]->str, t->slots[i]->len) = t->slots[i];
        free(t->slots);
        t->slots = v;
        t->nslots = nslots;
    }
    *regex_slot(t->slots, t->nslots, m->str, m->len) = m;
    t->n++;
    return 0;
}

char *
cf_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = arena_alloc(a, (size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}
