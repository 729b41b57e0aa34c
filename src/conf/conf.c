/*
 * conf.c: the configuration snapshot's public face (see conf.h): build from
 * files or a buffer, reference counting, the -t summary, the host hash and
 * listen-address parsing, plus the small containers the loader uses.
 * Runs at start-up and on reload, off the request path; the data plane only
 * calls conf_ref/conf_unref and reads the snapshot.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>

#include "canaryd/core/arena.h"
#include "canaryd/conf/ast.h"
#include "canaryd/conf/conf_internal.h"
#include "canaryd/core/diag.h"
#include "canaryd/core/match.h"

/* ---- containers ---- */

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

/* ---- addresses ---- */

static int
parse_port(const char *s, uint16_t *port)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static int
fill_v4(const char *host, uint16_t port, struct sockaddr_storage *sa, socklen_t *salen)
{
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    else if (host[0] == '\0')
        host = "0.0.0.0";
    if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
        return -1;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    *salen = sizeof(*in);
    return 0;
}

static int
fill_v6(const char *host, uint16_t port, struct sockaddr_storage *sa, socklen_t *salen)
{
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
        return -1;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    *salen = sizeof(*in6);
    return 0;
}

int
conf_addr_parse(const char *s, struct sockaddr_storage *sa, socklen_t *salen, uint16_t *port)
{
    char host[INET6_ADDRSTRLEN + 16];
    const char *colon = strrchr(s, ':');
    memset(sa, 0, sizeof(*sa));
    if (colon == NULL || parse_port(colon + 1, port) == -1)
        return -1;
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof(host))
        return -1;
    if (s[0] == '[') {
        if (hl < 2 || s[hl - 1] != ']')
            return -1;
        snprintf(host, sizeof(host), "%.*s", (int)(hl - 2), s + 1);
        return fill_v6(host, *port, sa, salen);
    }
    snprintf(host, sizeof(host), "%.*s", (int)hl, s);
    return fill_v4(host, *port, sa, salen);
}

/* ---- snapshots ---- */

static void
conf_free(struct conf *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nregexes; i++)
        match_fini(c->regexes[i]);
    arena_free(c->arena);
    free(c);
}

struct conf *
conf_ref(struct conf *c)
{
    if (c != NULL)
        atomic_fetch_add_explicit(&c->refcnt, 1, memory_order_relaxed);
    return c;
}

void
conf_unref(struct conf **cp)
{
    struct conf *c = *cp;
    *cp = NULL;
    if (c != NULL && atomic_fetch_sub_explicit(&c->refcnt, 1, memory_order_acq_rel) == 1)
        conf_free(c);
}

void
conf_print_summary(const struct conf *c, FILE *out)
{
    if (c->summary != NULL)
        fputs(c->summary, out);
}

/* ---- building ---- */

/* Each document is parsed into its cf_obj as soon as libyaml has delivered
 * it, and its tree is freed right after: the whole AST never exists at once. */
static void
on_doc(void *ctx, const struct ast_doc *doc)
{
    cf_parse_doc(ctx, doc);
}

/* Starts a build: the snapshot, the build context with its scratch arena,
 * and the streaming of set's documents into cf_parse_doc. Returns NULL after
 * a diagnostic. */
static struct cf_ctx *
build_begin(struct ast_set *set, const struct conf_opts *opts, struct diag_list *diags)
{
    struct conf *conf = calloc(1, sizeof(*conf));
    struct cf_ctx *c = calloc(1, sizeof(*c));
    struct arena *tmp = arena_new();
    if (conf == NULL || c == NULL || tmp == NULL || (conf->arena = arena_new()) == NULL) {
        diag_add(diags, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
        arena_free(tmp);
        free(c);
        conf_free(conf);
        return NULL;
    }
    atomic_init(&conf->refcnt, 1);
    *c = (struct cf_ctx){.conf = conf,
                         .a = conf->arena,
                         .tmp = tmp,
                         .diags = &c->parse_diags,
                         .out_diags = diags,
                         .opts = opts,
                         .set = set,
                         .nerrors0 = diags->nerrors};
    diag_list_init(&c->parse_diags);
    set->on_doc = on_doc;
    set->on_doc_ctx = c;
    return c;
}

/* Appends from's diagnostics to to, as if they had been added there. The
 * documents' diagnostics are held apart while streaming so that they still
 * come after every YAML-level one, as when the whole set was loaded first. */
static void
move_diags(struct diag_list *to, const struct diag_list *from)
{
    size_t nerr = 0, nwarn = 0;
    for (size_t i = 0; i < from->n; i++) {
        const struct diag *d = &from->v[i];
        diag_add(to, d->level, d->file, d->line, d->col, d->path, "%s", d->msg);
        nerr += d->level == DIAG_ERROR;
        nwarn += d->level != DIAG_ERROR;
    }
    /* What from could not record, or did not keep, still counts. */
    if (from->oom || from->ndropped > 0) {
        to->oom = to->oom || from->oom;
        to->ndropped += from->ndropped;
        to->nerrors += from->nerrors - nerr;
        to->nwarnings += from->nwarnings - nwarn;
    }
}

/* Hands the compiled regexes to the snapshot for conf_free, or releases
 * them when the build failed; frees the table. */
static void
keep_regexes(struct cf_ctx *c)
{
    struct conf *conf = c->conf;
    struct cf_regexes *t = &c->regexes;
    if (!cf_failed(c)) {
        conf->regexes = arena_alloc_array(c->a, t->n, sizeof(*conf->regexes));
        if (conf->regexes == NULL)
            cf_oom(c);
    }
    for (size_t i = 0; i < t->nslots; i++) {
        if (t->slots[i] == NULL)
            continue;
        if (conf->regexes != NULL)
            conf->regexes[conf->nregexes++] = t->slots[i];
        else
            match_fini(t->slots[i]);
    }
    free(t->slots);
    *t = (struct cf_regexes){0};
}

/* Ends the build begun on set: the cross-object checks, for every object
 * that parsed (so that one run reports everything), then the snapshot when
 * nothing was wrong. Frees the context and the scratch arena. Returns the
 * snapshot, or NULL when any error was recorded. */
static struct conf *
build_end(struct cf_ctx *c, struct ast_set *set)
{
    struct conf *conf = c->conf;
    set->on_doc = NULL;
    set->on_doc_ctx = NULL;
    move_diags(c->out_diags, &c->parse_diags);
    diag_list_fini(&c->parse_diags);
    c->diags = c->out_diags;
    cf_compile(c);
    keep_regexes(c);
    bool failed = cf_failed(c);
    arena_free(c->tmp);
    free(c);
    if (failed) {
        conf_free(conf);
        return NULL;
    }
    conf->mem_bytes = arena_bytes(conf->arena);
    return conf;
}

struct conf *
conf_build(const char *const *paths, size_t npaths, const struct conf_opts *opts,
           struct diag_list *diags)
{
    struct ast_set set;
    if (ast_set_init(&set) == -1) {
        diag_add(diags, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
        return NULL;
    }
    struct cf_ctx *c = build_begin(&set, opts, diags);
    if (c == NULL) {
        ast_set_fini(&set);
        return NULL;
    }
    for (size_t i = 0; i < npaths; i++)
        ast_load_path(&set, paths[i], diags);
    struct conf *conf = build_end(c, &set);
    ast_set_fini(&set);
    return conf;
}

struct conf *
conf_build_buffer(const char *name, const char *buf, size_t len, const struct conf_opts *opts,
                  struct diag_list *diags)
{
    struct ast_set set;
    if (ast_set_init(&set) == -1) {
        diag_add(diags, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory");
        return NULL;
    }
    struct cf_ctx *c = build_begin(&set, opts, diags);
    if (c == NULL) {
        ast_set_fini(&set);
        return NULL;
    }
    ast_load_buffer(&set, name, buf, len, diags);
    struct conf *conf = build_end(c, &set);
    ast_set_fini(&set);
    return conf;
}
