/*
 * ast.c: YAML files and directories -> generic node tree (see ast.h).
 * First step of configuration loading, at start-up and on every reload: it
 * reads files (size-capped), fingerprints them, and turns libyaml's event
 * stream into scalars, lists and maps with file:line:col, rejecting what a
 * config never needs and an attacker could abuse (aliases, deep nesting,
 * duplicate keys). It knows nothing of Istio; conf.c gives the tree meaning.
 */
#include "canaryd/common.h"
#include "canaryd/conf/ast.h"

#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "canaryd/core/arena.h"
#include "canaryd/core/diag.h"
#include "canaryd/core/sha256.h"

/* Maps with more pairs than this are checked for duplicate keys by sorting. */
#define DUP_SORT_MIN 16
#define KIDS_MIN_CAP 64

struct frame {
    struct ast_node *node; /* borrowed: arena */
    size_t base;           /* where node's children start in builder.kids */
    struct ast_node *key;  /* borrowed: arena; map key waiting for its value */
    bool bad_key;          /* the waiting key was not a scalar */
};

struct builder {
    struct ast_set *set;     /* borrowed: caller */
    struct diag_list *diags; /* borrowed: caller */
    struct arena *na;        /* borrowed: the set's; where nodes go */
    const char *file;        /* borrowed: set arena */
    struct frame stack[AST_MAX_DEPTH];
    int depth;
    /* Children of every open collection, innermost last (a list item has key
     * NULL). A collection's children are copied once, at their exact count,
     * into the arena when it closes. */
    struct ast_pair *kids; /* owned */
    size_t nkids;
    size_t kids_cap;
    struct ast_node *root; /* borrowed: arena; current document's root */
    struct ast_loc doc_loc;
    bool failed; /* an error was recorded */
    bool fatal;  /* stop parsing this file */
};

typedef void event_fn(struct builder *b, const yaml_event_t *ev);

static struct ast_loc
mark_loc(const struct builder *b, yaml_mark_t m)
{
    return (struct ast_loc){.file = b->file, .line = (int)m.line + 1, .col = (int)m.column + 1};
}

static void
berr(struct builder *b, struct ast_loc loc, const char *msg, const char *arg)
{
    diag_add(b->diags, DIAG_ERROR, loc.file, loc.line, loc.col, NULL, msg, arg);
    b->failed = true;
}

static void
boom(struct builder *b)
{
    diag_add(b->diags, DIAG_ERROR, b->file, 0, 0, NULL, "out of memory while loading");
    b->failed = true;
    b->fatal = true;
}

/* Grows an arena array of elem-sized entries so that one more fits. */
static bool
grow(struct arena *a, void **arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *nv = arena_alloc_array(a, ncap, elem);
    if (nv == NULL)
        return false;
    if (n > 0)
        memcpy(nv, *arr, n * elem);
    *arr = nv;
    *cap = ncap;
    return true;
}

static struct ast_node *
node_new(struct builder *b, enum ast_type type, yaml_mark_t m)
{
    struct ast_node *n = arena_alloc(b->na, sizeof(*n));
    if (n == NULL) {
        boom(b);
        return NULL;
    }
    n->type = (uint8_t)type;
    n->loc = mark_loc(b, m);
    return n;
}

/* Core-schema tags only: anything else would change meaning in ways canaryd
 * cannot honour. */
static const char *const core_tags[] = {
    "!",           YAML_STR_TAG,  YAML_INT_TAG, YAML_FLOAT_TAG,
    YAML_BOOL_TAG, YAML_NULL_TAG, YAML_SEQ_TAG, YAML_MAP_TAG,
};

static bool
check_props(struct builder *b, const yaml_char_t *anchor, const yaml_char_t *tag,
            struct ast_loc loc)
{
    bool ok = true;
    if (anchor != NULL) {
        berr(b, loc, "YAML anchors (&%s) are not supported: write the value out",
             (const char *)anchor);
        ok = false;
    }
    if (tag == NULL)
        return ok;
    for (size_t i = 0; i < countof(core_tags); i++)
        if (strcmp((const char *)tag, core_tags[i]) == 0)
            return ok;
    berr(b, loc, "YAML tag \"%s\" is not supported", (const char *)tag);
    return false;
}

static void
push_kid(struct builder *b, struct ast_node *key, struct ast_node *val)
{
    if (b->nkids == b->kids_cap) {
        size_t ncap = b->kids_cap ? b->kids_cap * 2 : KIDS_MIN_CAP;
        struct ast_pair *nv = realloc(b->kids, ncap * sizeof(*nv));
        if (nv == NULL) {
            boom(b);
            return;
        }
        b->kids = nv;
        b->kids_cap = ncap;
    }
    b->kids[b->nkids++] = (struct ast_pair){.key = key, .val = val};
}

static void
attach_pair(struct builder *b, struct frame *f, struct ast_node *n)
{
    if (f->key == NULL) {
        f->key = n;
        f->bad_key = n->type != AST_SCALAR;
        if (f->bad_key)
            berr(b, n->loc, "mapping keys must be %s", "scalars");
        return;
    }
    struct ast_node *key = f->key;
    f->key = NULL;
    if (!f->bad_key)
        push_kid(b, key, n);
}

/* Hangs n under the innermost open collection, or makes it the root. */
static void
attach(struct builder *b, struct ast_node *n)
{
    if (b->depth == 0) {
        b->root = n;
        return;
    }
    struct frame *f = &b->stack[b->depth - 1];
    if (f->node->type == AST_MAP)
        attach_pair(b, f, n);
    else
        push_kid(b, NULL, n);
}

static void
on_scalar(struct builder *b, const yaml_event_t *ev)
{
    struct ast_node *n = node_new(b, AST_SCALAR, ev->start_mark);
    if (n == NULL)
        return;
    const char *tag = (const char *)ev->data.scalar.tag;
    n->str = arena_strndup(b->na, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    if (n->str == NULL) {
        boom(b);
        return;
    }
    /* A scalar is shorter than its file, at most AST_MAX_FILE_BYTES. */
    n->len = (uint32_t)ev->data.scalar.length;
    n->is_plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (tag != NULL && strcmp(tag, YAML_STR_TAG) == 0)
        n->is_plain = false;
    check_props(b, ev->data.scalar.anchor, ev->data.scalar.tag, n->loc);
    attach(b, n);
}

static void
on_alias(struct builder *b, const yaml_event_t *ev)
{
    struct ast_loc loc = mark_loc(b, ev->start_mark);
    berr(b, loc, "YAML aliases (*%s) are not supported: write the value out",
         (const char *)ev->data.alias.anchor);
    /* A null placeholder keeps the map/list shape consistent. */
    struct ast_node *n = node_new(b, AST_SCALAR, ev->start_mark);
    if (n == NULL)
        return;
    n->str = "";
    n->is_plain = true;
    attach(b, n);
}

static void
open_collection(struct builder *b, const yaml_event_t *ev, enum ast_type type,
                const yaml_char_t *anchor, const yaml_char_t *tag)
{
    struct ast_node *n = node_new(b, type, ev->start_mark);
    if (n == NULL)
        return;
    check_props(b, anchor, tag, n->loc);
    if (b->depth == AST_MAX_DEPTH) {
        berr(b, n->loc, "nesting is deeper than %s levels", "64");
        b->fatal = true;
        return;
    }
    attach(b, n);
    b->stack[b->depth++] = (struct frame){.node = n, .base = b->nkids};
}

static void
on_seq_start(struct builder *b, const yaml_event_t *ev)
{
    open_collection(b, ev, AST_SEQ, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
}

static void
on_map_start(struct builder *b, const yaml_event_t *ev)
{
    open_collection(b, ev, AST_MAP, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
}

static int
key_cmp(const struct ast_node *a, const struct ast_node *b)
{
    size_t n = MIN(a->len, b->len);
    int c = memcmp(a->str, b->str, n);
    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static void
report_dup(struct builder *b, const struct ast_node *first, const struct ast_node *dup)
{
    diag_add(b->diags, DIAG_ERROR, dup->loc.file, dup->loc.line, dup->loc.col, NULL,
             "duplicate key \"%s\" (first at line %d, column %d)", dup->str, first->loc.line,
             first->loc.col);
    b->failed = true;
}

/* Small maps: compare every pair; returns the number of pairs kept. */
static size_t
dedup_small(struct builder *b, struct ast_pair *p, size_t n)
{
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < kept && key_cmp(p[j].key, p[i].key) != 0)
            j++;
        if (j < kept)
            report_dup(b, p[j].key, p[i].key);
        else
            p[kept++] = p[i];
    }
    return kept;
}

static int
pair_ptr_cmp(const void *x, const void *y)
{
    const struct ast_pair *a = *(const struct ast_pair *const *)x;
    const struct ast_pair *b = *(const struct ast_pair *const *)y;
    int c = key_cmp(a->key, b->key);
    if (c != 0)
        return c;
    return a < b ? -1 : a > b; /* earlier pair first */
}

/* Large maps (a hostile file may hold millions of keys): sort, then compare
 * neighbours, so the check stays O(n log n). */
static size_t
dedup_sorted(struct builder *b, struct ast_pair *p, size_t n)
{
    struct ast_pair **v = malloc(n * sizeof(*v));
    if (v == NULL) {
        boom(b);
        return n;
    }
    for (size_t i = 0; i < n; i++)
        v[i] = &p[i];
    qsort(v, n, sizeof(*v), pair_ptr_cmp);
    bool any = false;
    for (size_t i = 1, first = 0; i < n; i++) {
        if (key_cmp(v[first]->key, v[i]->key) != 0) {
            first = i;
            continue;
        }
        report_dup(b, v[first]->key, v[i]->key);
        v[i]->key = NULL; /* dropped below */
        any = true;
    }
    free(v);
    if (!any)
        return n;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i].key != NULL)
            p[kept++] = p[i];
    return kept;
}

/* Copies the cnt children at kids (NULL when cnt is 0) into n's exactly
 * sized array. */
static void
set_children(struct builder *b, struct ast_node *n, struct ast_pair *kids, size_t cnt)
{
    if (n->type == AST_SEQ) {
        n->items = arena_alloc_array(b->na, cnt, sizeof(*n->items));
        if (n->items == NULL) {
            boom(b);
            return;
        }
        for (size_t i = 0; i < cnt; i++)
            n->items[i] = kids[i].val;
        n->nitems = (uint32_t)cnt;
        return;
    }
    size_t kept = cnt <= DUP_SORT_MIN ? dedup_small(b, kids, cnt) : dedup_sorted(b, kids, cnt);
    n->pairs = arena_memdup(b->na, kids, kept * sizeof(*kids));
    if (n->pairs == NULL) {
        boom(b);
        return;
    }
    n->npairs = (uint32_t)kept;
}

static void
close_collection(struct builder *b, const yaml_event_t *ev)
{
    (void)ev;
    if (b->depth == 0)
        return;
    struct frame *f = &b->stack[--b->depth];
    size_t cnt = b->nkids - f->base;
    /* kids is still NULL when no collection had children yet. */
    set_children(b, f->node, cnt > 0 ? b->kids + f->base : NULL, cnt);
    b->nkids = f->base;
}

static void
on_doc_start(struct builder *b, const yaml_event_t *ev)
{
    b->root = NULL;
    b->depth = 0;
    b->nkids = 0;
    b->doc_loc = mark_loc(b, ev->start_mark);
}

static void
on_doc_end(struct builder *b, const yaml_event_t *ev)
{
    (void)ev;
    struct ast_set *s = b->set;
    struct ast_doc doc = {.root = b->root, .loc = b->doc_loc};
    b->root = NULL;
    if (s->on_doc != NULL) {
        s->on_doc(s->on_doc_ctx, &doc);
        arena_reset(b->na);
        return;
    }
    if (!grow(s->arena, (void **)&s->docs, s->ndocs, &s->docs_cap, sizeof(*s->docs))) {
        boom(b);
        return;
    }
    s->docs[s->ndocs++] = doc;
}

static void
on_ignore(struct builder *b, const yaml_event_t *ev)
{
    (void)b;
    (void)ev;
}

static event_fn *const event_handlers[] = {
    [YAML_NO_EVENT] = on_ignore,
    [YAML_STREAM_START_EVENT] = on_ignore,
    [YAML_STREAM_END_EVENT] = on_ignore,
    [YAML_DOCUMENT_START_EVENT] = on_doc_start,
    [YAML_DOCUMENT_END_EVENT] = on_doc_end,
    [YAML_ALIAS_EVENT] = on_alias,
    [YAML_SCALAR_EVENT] = on_scalar,
    [YAML_SEQUENCE_START_EVENT] = on_seq_start,
    [YAML_SEQUENCE_END_EVENT] = close_collection,
    [YAML_MAPPING_START_EVENT] = on_map_start,
    [YAML_MAPPING_END_EVENT] = close_collection,
};

static void
report_syntax(struct builder *b, const yaml_parser_t *p)
{
    struct ast_loc loc = mark_loc(b, p->problem_mark);
    const char *problem = p->problem != NULL ? p->problem : "invalid YAML";
    if (p->error == YAML_MEMORY_ERROR) {
        boom(b);
        return;
    }
    if (p->context != NULL)
        diag_add(b->diags, DIAG_ERROR, loc.file, loc.line, loc.col, NULL,
                 "YAML syntax error: %s (%s at line %d, column %d)", problem, p->context,
                 (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
    else
        diag_add(b->diags, DIAG_ERROR, loc.file, loc.line, loc.col, NULL, "YAML syntax error: %s",
                 problem);
    b->failed = true;
}

static void
parse_events(struct builder *b, yaml_parser_t *p)
{
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) {
            report_syntax(b, p);
            return;
        }
        yaml_event_type_t t = ev.type;
        if ((size_t)t < countof(event_handlers) && event_handlers[t] != NULL)
            event_handlers[t](b, &ev);
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT || b->fatal)
            return;
    }
}

static void
oom_at(struct diag_list *diags, const char *path)
{
    diag_add(diags, DIAG_ERROR, path, 0, 0, NULL, "out of memory while loading");
}

static int
add_file(struct ast_set *s, const char *path, const char *buf, size_t len)
{
    if (!grow(s->arena, (void **)&s->files, s->nfiles, &s->files_cap, sizeof(*s->files)))
        return -1;
    struct ast_file *f = &s->files[s->nfiles];
    f->path = arena_strdup(s->arena, path);
    if (f->path == NULL)
        return -1;
    f->size = len;
    sha256_digest(buf, len, f->sha256);
    s->nfiles++;
    return 0;
}

/* Where the nodes of this load go: the set's arena, or when streaming the
 * per-document arena that is reset after each document. */
static struct arena *
node_arena(struct ast_set *set)
{
    if (set->on_doc == NULL)
        return set->arena;
    if (set->doc_arena == NULL)
        set->doc_arena = arena_new();
    return set->doc_arena;
}

int
ast_load_buffer(struct ast_set *set, const char *name, const char *buf, size_t len,
                struct diag_list *diags)
{
    struct builder b = {.set = set, .diags = diags, .na = node_arena(set)};
    if (b.na == NULL || add_file(set, name, buf, len) == -1) {
        oom_at(diags, name);
        return -1;
    }
    b.file = set->files[set->nfiles - 1].path;
    if (len > AST_MAX_FILE_BYTES) {
        diag_add(diags, DIAG_ERROR, name, 1, 1, NULL, "file is larger than %u bytes",
                 AST_MAX_FILE_BYTES);
        return -1;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        oom_at(diags, name);
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    parse_events(&b, &p);
    yaml_parser_delete(&p);
    free(b.kids);
    /* A document cut short by an error was never handed over. */
    if (set->on_doc != NULL)
        arena_reset(b.na);
    return b.failed ? -1 : 0;
}

/* Reads fd to the end, or until more than AST_MAX_FILE_BYTES were read (so
 * that ast_load_buffer notices the file is too large). */
static int
read_all(int fd, char **bufp, size_t *lenp)
{
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL && len <= AST_MAX_FILE_BYTES) {
        if (len == cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0) {
            *bufp = buf;
            *lenp = len;
            return r == 0 ? 0 : -1;
        }
        len += (size_t)r;
    }
    *bufp = buf;
    *lenp = len;
    return buf != NULL && len > AST_MAX_FILE_BYTES ? 0 : -1;
}

static int
load_file(struct ast_set *set, const char *path, struct diag_list *diags)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        diag_add(diags, DIAG_ERROR, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0;
    errno = ENOMEM;
    int rc = read_all(fd, &buf, &len);
    int saved = errno;
    close(fd);
    if (rc == -1) {
        diag_add(diags, DIAG_ERROR, path, 0, 0, NULL, "cannot read: %s", strerror(saved));
        free(buf);
        return -1;
    }
    rc = ast_load_buffer(set, path, buf, len, diags);
    free(buf);
    return rc;
}

static bool
is_yaml_name(const char *name)
{
    static const char *const exts[] = {".yaml", ".yml"};
    size_t n = strlen(name);
    if (name[0] == '.')
        return false;
    for (size_t i = 0; i < countof(exts); i++) {
        size_t e = strlen(exts[i]);
        if (n > e && strcmp(name + n - e, exts[i]) == 0)
            return true;
    }
    return false;
}

static int
str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collects the visible *.yaml / *.yml names of dir, sorted, into the arena. */
static int
list_dir(struct ast_set *set, const char *dir, const char ***namesp, size_t *np,
         struct diag_list *diags)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        diag_add(diags, DIAG_ERROR, dir, 0, 0, NULL, "cannot open directory: %s", strerror(errno));
        return -1;
    }
    const char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_yaml_name(de->d_name))
            continue;
        if (!grow(set->arena, (void **)&names, n, &cap, sizeof(*names)) ||
            (names[n] = arena_strdup(set->arena, de->d_name)) == NULL) {
            closedir(d);
            oom_at(diags, dir);
            return -1;
        }
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), str_ptr_cmp);
    *namesp = names;
    *np = n;
    return 0;
}

static int
load_dir(struct ast_set *set, const char *dir, struct diag_list *diags)
{
    size_t n = 0;
    const char **names = NULL;
    if (list_dir(set, dir, &names, &n, diags) == -1)
        return -1;
    int rc = 0;
    size_t dlen = strlen(dir);
    const char *sep = dlen > 0 && dir[dlen - 1] == '/' ? "" : "/";
    for (size_t i = 0; i < n; i++) {
        char *full = NULL;
        if (asprintf(&full, "%s%s%s", dir, sep, names[i]) == -1) {
            oom_at(diags, dir);
            return -1;
        }
        struct stat st;
        /* stat, not lstat: ConfigMap entries are symlinks into ..data/. */
        if (stat(full, &st) == -1) {
            diag_add(diags, DIAG_ERROR, full, 0, 0, NULL, "cannot open: %s", strerror(errno));
            rc = -1;
        } else if (S_ISREG(st.st_mode) && load_file(set, full, diags) == -1) {
            rc = -1;
        }
        free(full);
    }
    return rc;
}

int
ast_load_path(struct ast_set *set, const char *path, struct diag_list *diags)
{
    struct stat st;
    if (stat(path, &st) == -1) {
        diag_add(diags, DIAG_ERROR, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode))
        return load_dir(set, path, diags);
    return load_file(set, path, diags);
}

int
ast_set_init(struct ast_set *set)
{
    memset(set, 0, sizeof(*set));
    set->arena = arena_new();
    return set->arena != NULL ? 0 : -1;
}

void
ast_set_fini(struct ast_set *set)
{
    arena_free(set->doc_arena);
    arena_free(set->arena);
    memset(set, 0, sizeof(*set));
}

/* Deep-copies n's children into c (a copy of n). */
static bool
clone_children(struct arena *a, struct ast_node *c, const struct ast_node *n)
{
    if (n->type == AST_SEQ) {
        c->items = arena_alloc_array(a, n->nitems, sizeof(*c->items));
        if (c->items == NULL)
            return false;
        for (size_t i = 0; i < n->nitems; i++)
            if ((c->items[i] = ast_node_clone(a, n->items[i])) == NULL)
                return false;
        return true;
    }
    c->pairs = arena_alloc_array(a, n->npairs, sizeof(*c->pairs));
    if (c->pairs == NULL)
        return false;
    for (size_t i = 0; i < n->npairs; i++) {
        c->pairs[i].key = ast_node_clone(a, n->pairs[i].key);
        c->pairs[i].val = ast_node_clone(a, n->pairs[i].val);
        if (c->pairs[i].key == NULL || c->pairs[i].val == NULL)
            return false;
    }
    return true;
}

struct ast_node *
ast_node_clone(struct arena *a, const struct ast_node *n)
{
    struct ast_node *c = arena_memdup(a, n, sizeof(*n));
    if (c == NULL)
        return NULL;
    if (n->type == AST_SCALAR) {
        c->str = arena_strndup(a, n->str, n->len);
        return c->str != NULL ? c : NULL;
    }
    return clone_children(a, c, n) ? c : NULL;
}

struct ast_node *
ast_map_get(const struct ast_node *m, const char *key)
{
    if (m == NULL || m->type != AST_MAP)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < m->npairs; i++) {
        const struct ast_node *k = m->pairs[i].key;
        if (k->len == klen && memcmp(k->str, key, klen) == 0)
            return m->pairs[i].val;
    }
    return NULL;
}

/* A scalar equal to one of words (NULL-terminated list). */
static bool
is_one_of(const struct ast_node *n, const char *const *words)
{
    for (; *words != NULL; words++)
        if (strlen(*words) == n->len && memcmp(n->str, *words, n->len) == 0)
            return true;
    return false;
}

bool
ast_is_null(const struct ast_node *n)
{
    return n != NULL && ast_scalar_kind(n) == AST_S_NULL;
}

static size_t
skip_digits(const char *s, size_t i, size_t len)
{
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

static bool
is_int_text(const char *s, size_t len)
{
    size_t i = len > 0 && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    return i < len && skip_digits(s, i, len) == len;
}

static bool
is_float_text(const char *s, size_t len)
{
    static const char *const special[] = {".inf",  ".Inf", ".INF", "-.inf", "-.Inf", "-.INF",
                                          "+.inf", ".nan", ".NaN", ".NAN",  NULL};
    for (const char *const *w = special; *w != NULL; w++)
        if (strlen(*w) == len && memcmp(s, *w, len) == 0)
            return true;
    size_t i = len > 0 && (s[0] == '-' || s[0] == '+') ? 1 : 0;
    size_t start = i;
    i = skip_digits(s, i, len);
    size_t ndig = i - start;
    if (i < len && s[i] == '.') {
        size_t f = i + 1;
        i = skip_digits(s, f, len);
        ndig += i - f;
    }
    if (ndig == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t e = i;
        i = skip_digits(s, i, len);
        if (i == e)
            return false;
    }
    return i == len;
}

enum ast_scalar_kind
ast_scalar_kind(const struct ast_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    if (n->type != AST_SCALAR || !n->is_plain)
        return AST_S_STR;
    if (is_one_of(n, nulls))
        return AST_S_NULL;
    if (is_one_of(n, bools))
        return AST_S_BOOL;
    if (is_int_text(n->str, n->len))
        return AST_S_INT;
    if (is_float_text(n->str, n->len))
        return AST_S_FLOAT;
    return AST_S_STR;
}

const char *
ast_type_name(const struct ast_node *n)
{
    static const char *const scalar_names[] = {
        [AST_S_STR] = "a string",   [AST_S_NULL] = "null",      [AST_S_BOOL] = "a boolean",
        [AST_S_INT] = "an integer", [AST_S_FLOAT] = "a number",
    };
    if (n->type == AST_MAP)
        return "a map";
    if (n->type == AST_SEQ)
        return "a list";
    return scalar_names[ast_scalar_kind(n)];
}
