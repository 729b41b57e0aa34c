/*
 * conf.c: the configuration snapshot's public face (see conf.h): build from
 * files or a buffer, reference counting, the -t summary and listen-address
 * parsing. The loader's containers are in conf_util.c.
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
