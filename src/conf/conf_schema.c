/*
 * conf_schema.c: the schema-table walker and the generic field handlers.
 * conf_kinds.c describes each Istio kind as tables of (key, type, required,
 * handler, offset, bounds); cf_walk applies a table to one YAML map, reporting
 * unknown fields (with a "did you mean"), unsupported Istio fields, wrong
 * types and missing required fields, each located and with its object path.
 * Runs at load time only.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "canaryd/core/arena.h"
#include "canaryd/core/diag.h"
#include "canaryd/core/match.h"

/* ---- paths and diagnostics ---- */

/* Appends s[0..len) to the path, truncated to what fits; called for every
 * key walked, so no printf. */
static void
path_add(struct cf_ctx *c, const char *s, size_t len)
{
    size_t n = MIN(len, sizeof(c->path) - 1 - c->plen);
    memcpy(c->path + c->plen, s, n);
    c->plen += n;
    c->path[c->plen] = '\0';
}

size_t
cf_path_key(struct cf_ctx *c, const char *key)
{
    size_t mark = c->plen;
    if (c->plen > 0)
        path_add(c, ".", 1);
    path_add(c, key, strlen(key));
    return mark;
}

size_t
cf_path_idx(struct cf_ctx *c, size_t i)
{
    char buf[24];
    size_t at = sizeof(buf);
    buf[--at] = ']';
    do {
        buf[--at] = (char)('0' + i % 10);
        i /= 10;
    } while (i > 0);
    buf[--at] = '[';
    size_t mark = c->plen;
    path_add(c, buf + at, sizeof(buf) - at);
    return mark;
}

void
cf_path_pop(struct cf_ctx *c, size_t mark)
{
    c->plen = mark;
    c->path[mark] = '\0';
}

/* Paths repeat from object to object ("spec.http[0].route[0].destination"),
 * so each distinct one is stored once. */
struct cf_where
cf_where_here(struct cf_ctx *c, const struct ast_node *n)
{
    struct cf_where w = {.loc = n->loc, .path = cf_map_get(&c->paths, c->path, c->plen)};
    if (w.path != NULL)
        return w;
    char *p = arena_strndup(c->tmp, c->path, c->plen);
    if (p == NULL) {
        cf_oom(c);
        w.path = "";
        return w;
    }
    if (cf_map_put(c->tmp, &c->paths, p, c->plen, p, NULL) == -1)
        cf_oom(c);
    w.path = p;
    return w;
}

static void
vreport(struct cf_ctx *c, enum diag_level lvl, const struct ast_loc *loc, const char *path,
        const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    diag_add(c->diags, lvl, loc->file, loc->line, loc->col, path, "%s", msg);
}

void
cf_err(struct cf_ctx *c, const struct ast_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, DIAG_ERROR, &n->loc, c->path, fmt, ap);
    va_end(ap);
}

void
cf_warn(struct cf_ctx *c, const struct ast_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, DIAG_WARN, &n->loc, c->path, fmt, ap);
    va_end(ap);
}

void
cf_err_at(struct cf_ctx *c, const struct cf_where *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, DIAG_ERROR, &w->loc, w->path, fmt, ap);
    va_end(ap);
}

void
cf_warn_at(struct cf_ctx *c, const struct cf_where *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(c, DIAG_WARN, &w->loc, w->path, fmt, ap);
    va_end(ap);
}

int
cf_oom(struct cf_ctx *c)
{
    diag_add(c->diags, DIAG_ERROR, NULL, 0, 0, NULL,
             "out of memory while compiling the configuration");
    return -1;
}

bool
cf_failed(const struct cf_ctx *c)
{
    return c->diags->nerrors > c->nerrors0;
}

/* ---- suggestions ---- */

/* Optimal string alignment distance (a transposition costs 1, so "weigth" is
 * one edit from "weight"). Keys are short; longer inputs are not compared. */
static size_t
edit_distance(const char *a, const char *b)
{
    enum { MAXL = 48 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXL || lb >= MAXL)
        return SIZE_MAX;
    size_t d[MAXL + 1][MAXL + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            size_t v = MIN(d[i - 1][j] + 1, d[i][j - 1] + 1);
            v = MIN(v, d[i - 1][j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                v = MIN(v, d[i - 2][j - 2] + 1);
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

const char *
cf_suggest(const char *s, const char *const *keys, size_t nkeys)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX;
    for (size_t i = 0; i < nkeys; i++) {
        size_t d = edit_distance(s, keys[i]);
        if (d < bestd) {
            bestd = d;
            best = keys[i];
        }
    }
    size_t limit = MAX((size_t)1, strlen(s) / 3);
    return bestd <= limit ? best : NULL;
}

/* ---- the walker ---- */

static const char *const type_names[] = {
    [CF_T_STR] = "a string",   [CF_T_INT] = "an integer", [CF_T_NUM] = "a number",
    [CF_T_BOOL] = "a boolean", [CF_T_MAP] = "a map",      [CF_T_SEQ] = "a list",
    [CF_T_ANY] = "anything",
};

static bool
type_ok(enum cf_type t, const struct ast_node *n)
{
    enum ast_scalar_kind k = ast_scalar_kind(n);
    switch (t) {
    case CF_T_STR:
        return n->type == AST_SCALAR && k == AST_S_STR;
    case CF_T_INT:
        return k == AST_S_INT;
    case CF_T_NUM:
        return k == AST_S_INT || k == AST_S_FLOAT;
    case CF_T_BOOL:
        return k == AST_S_BOOL;
    case CF_T_MAP:
        return n->type == AST_MAP;
    case CF_T_SEQ:
        return n->type == AST_SEQ;
    case CF_T_ANY:
        return true;
    }
    return false;
}

static void
report_unknown(struct cf_ctx *c, const struct ast_node *key, const struct cf_table *tab)
{
    const char *keys[64];
    size_t n = 0;
    for (const struct cf_field *f = tab->fields; f->key != NULL && n < countof(keys); f++)
        keys[n++] = f->key;
    const char *s = cf_suggest(key->str, keys, n);
    if (s != NULL)
        cf_err(c, key, "unknown field (did you mean \"%s\"?)", s);
    else
        cf_err(c, key, "unknown field");
}

static const struct cf_field *
find_field(const struct cf_table *tab, const struct ast_node *key)
{
    for (const struct cf_field *f = tab->fields; f->key != NULL; f++)
        if (strlen(f->key) == key->len && memcmp(f->key, key->str, key->len) == 0)
            return f;
    return NULL;
}

static void
report_type(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *v)
{
    if (f->type == CF_T_STR && v->type == AST_SCALAR)
        cf_err(c, v, "expected a string, got %s (quote it: \"%s\")", ast_type_name(v), v->str);
    else
        cf_err(c, v, "expected %s, got %s", type_names[f->type], ast_type_name(v));
}

/* A slot must lie inside the object: the entry macros take offset and size
 * from the member itself, and this check keeps a hand-written entry honest. */
static bool
slot_ok(struct cf_ctx *c, const struct ast_node *n, const struct cf_table *tab,
        const struct cf_field *f)
{
    if (f->size > 0 && f->off <= tab->size && f->size <= tab->size - f->off &&
        (f->sub == NULL || f->fn.put != cf_h_map || f->sub->size == f->size))
        return true;
    cf_err(c, n, "internal error: schema entry \"%s\" does not fit %s", f->key, tab->name);
    return false;
}

static int
dispatch(struct cf_ctx *c, const struct ast_pair *p, const struct cf_table *tab,
         const struct cf_field *f, void *obj)
{
    switch (f->store) {
    case CF_ST_SLOT:
        if (!slot_ok(c, p->key, tab, f))
            return -1;
        return f->fn.put(c, f, p->val, (char *)obj + f->off);
    case CF_ST_OBJ:
        return f->fn.put(c, f, p->val, obj);
    case CF_ST_CHECK:
        return f->fn.check != NULL ? f->fn.check(c, f, p->val) : 0;
    case CF_ST_ACCEPT:
        return 0;
    case CF_ST_WARN:
        cf_warn(c, p->key, "%s", f->why);
        return 0;
    case CF_ST_REFUSE:
        break;
    }
    return -1;
}

/* One key/value pair: returns 0 or -1; sets the field's bit in *seen. */
static int
walk_pair(struct cf_ctx *c, const struct ast_pair *p, const struct cf_table *tab, void *obj,
          uint64_t *seen)
{
    const struct cf_field *f = find_field(tab, p->key);
    if (f == NULL) {
        report_unknown(c, p->key, tab);
        return -1;
    }
    *seen |= 1ull << (f - tab->fields);
    if (f->store == CF_ST_REFUSE) {
        cf_err(c, p->key, "%s", f->why);
        return -1;
    }
    if (!type_ok(f->type, p->val)) {
        report_type(c, f, p->val);
        return -1;
    }
    return dispatch(c, p, tab, f, obj);
}

int
cf_walk(struct cf_ctx *c, const struct ast_node *n, const struct cf_table *tab, void *obj)
{
    int rc = 0;
    uint64_t seen = 0;
    for (size_t i = 0; i < n->npairs; i++) {
        size_t mark = cf_path_key(c, n->pairs[i].key->str);
        if (walk_pair(c, &n->pairs[i], tab, obj, &seen) == -1)
            rc = -1;
        cf_path_pop(c, mark);
    }
    for (const struct cf_field *f = tab->fields; f->key != NULL; f++) {
        if (!f->required || (seen & (1ull << (f - tab->fields))) != 0)
            continue;
        size_t mark = cf_path_key(c, f->key);
        cf_err(c, n, "missing required field");
        cf_path_pop(c, mark);
        rc = -1;
    }
    return rc;
}

int
cf_walk_sized(struct cf_ctx *c, const struct ast_node *n, const struct cf_table *tab, void *obj,
              size_t size)
{
    if (size != tab->size) {
        cf_err(c, n, "internal error: a %zu-byte object walked as %s", size, tab->name);
        return -1;
    }
    return cf_walk(c, n, tab, obj);
}

/* ---- scalar handlers ---- */

char *
cf_lower_dup(struct arena *a, const char *s, size_t len)
{
    char *p = arena_strndup(a, s, len);
    if (p == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        p[i] = (char)tolower((unsigned char)p[i]);
    return p;
}

static int
put_str(struct cf_ctx *c, char *s, void *p)
{
    if (s == NULL)
        return cf_oom(c);
    *(const char **)p = s;
    return 0;
}

int
cf_h_str(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    return put_str(c, arena_strndup(c->a, n->str, n->len), p);
}

int
cf_h_lstr(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    return put_str(c, cf_lower_dup(c->a, n->str, n->len), p);
}

int
cf_h_tstr(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    return put_str(c, arena_strndup(c->tmp, n->str, n->len), p);
}

int
cf_h_tlstr(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    return put_str(c, cf_lower_dup(c->tmp, n->str, n->len), p);
}

int
cf_parse_strlen(struct cf_ctx *c, const struct ast_node *n, const char **s, size_t *len)
{
    char *d = arena_strndup(c->a, n->str, n->len);
    if (d == NULL)
        return cf_oom(c);
    *s = d;
    *len = n->len;
    return 0;
}

static int
int_value(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(n->str, &end, 10);
    if (errno != 0 || x < f->min || x > f->max) {
        if (f->min == 0 && n->str[0] == '-')
            cf_err(c, n, "must not be negative (got %s)", n->str);
        else
            cf_err(c, n, "must be between %lld and %lld (got %s)", (long long)f->min,
                   (long long)f->max, n->str);
        return -1;
    }
    *v = x;
    return 0;
}

int
cf_h_u16(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    int64_t v;
    if (int_value(c, f, n, &v) == -1)
        return -1;
    *(uint16_t *)p = (uint16_t)v;
    return 0;
}

int
cf_h_u32(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    int64_t v;
    if (int_value(c, f, n, &v) == -1)
        return -1;
    *(uint32_t *)p = (uint32_t)v;
    return 0;
}

int
cf_h_bool(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)c;
    (void)f;
    *(bool *)p = n->str[0] == 't' || n->str[0] == 'T';
    return 0;
}

int
cf_h_dur(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    const char *why = NULL;
    uint32_t ms;
    if (cf_parse_duration(n->str, n->len, &ms, &why) == -1) {
        cf_err(c, n, "invalid duration \"%s\": %s", n->str, why);
        return -1;
    }
    *(uint32_t *)p = ms;
    return 0;
}

int
cf_parse_number(struct cf_ctx *c, const struct ast_node *n, double *v)
{
    char *end = NULL;
    errno = 0;
    *v = strtod(n->str, &end);
    if (end == n->str || *end != '\0' || errno != 0 || !isfinite(*v)) {
        cf_err(c, n, "expected a finite decimal number, got \"%s\"", n->str);
        return -1;
    }
    return 0;
}

static int
h_pct_value(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    double v;
    if (cf_parse_number(c, n, &v) == -1)
        return -1;
    if (!(v >= 0.0 && v <= 100.0)) {
        cf_err(c, n, "a percentage must be between 0 and 100 (got %s)", n->str);
        return -1;
    }
    *(uint32_t *)p = (uint32_t)lround(v * 10000.0);
    return 0;
}

/* A percentage map walks into the uint32_t it sets. */
static const struct cf_field pct_fields[] = {
    {.key = "value",
     .type = CF_T_NUM,
     .store = CF_ST_SLOT,
     .required = true,
     .fn.put = h_pct_value,
     .off = 0,
     .size = sizeof(uint32_t),
     .sample = "12.5"},
    CF_END,
};
const struct cf_table cf_pct_tab = {
    .name = "uint32_t", .size = sizeof(uint32_t), .fields = pct_fields};

int
cf_h_ppm(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    return cf_walk(c, n, &cf_pct_tab, p);
}

int
cf_parse_enum(struct cf_ctx *c, const struct cf_enum *e, const struct ast_node *n, int *v)
{
    const char *names[32];
    size_t nnames = 0;
    for (; e->name != NULL; e++) {
        if (strcmp(e->name, n->str) == 0)
            break;
        if (nnames < countof(names))
            names[nnames++] = e->name;
    }
    if (e->name == NULL) {
        const char *s = cf_suggest(n->str, names, nnames);
        cf_err(c, n, "unknown value \"%s\"%s%s%s", n->str, s ? " (did you mean \"" : "", s ? s : "",
               s ? "\"?)" : "");
        return -1;
    }
    if (e->refused != NULL) {
        cf_err(c, n, "%s: %s", e->name, e->refused);
        return -1;
    }
    *v = e->val;
    return 0;
}

int
cf_h_enum(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    int v = 0;
    if (cf_parse_enum(c, f->enums, n, &v) == -1)
        return -1;
    switch (f->size) {
    case sizeof(int8_t):
        *(int8_t *)p = (int8_t)v;
        return 0;
    case sizeof(int16_t):
        *(int16_t *)p = (int16_t)v;
        return 0;
    case sizeof(int32_t):
        *(int32_t *)p = (int32_t)v;
        return 0;
    }
    cf_err(c, n, "internal error: enum field of %zu bytes", f->size);
    return -1;
}

int
cf_check_enum(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    int v;
    return cf_parse_enum(c, f->enums, n, &v);
}

int
cf_h_map(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    return cf_walk(c, n, f->sub, p);
}

/* ---- lists and free-form maps ---- */

/* Every walk of a list of maps: allocates nitems elements of tab->size in the
 * scratch arena and walks each item with tab. */
void *
cf_walk_list(struct cf_ctx *c, const struct ast_node *n, const struct cf_table *tab,
             void (*init)(void *), int *rc)
{
    char *v = arena_alloc_array(c->tmp, n->nitems, tab->size);
    if (v == NULL) {
        *rc = cf_oom(c);
        return NULL;
    }
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        size_t mark = cf_path_idx(c, i);
        if (init != NULL)
            init(v + i * tab->size);
        if (it->type != AST_MAP) {
            cf_err(c, it, "expected a map, got %s", ast_type_name(it));
            *rc = -1;
        } else if (cf_walk(c, it, tab, v + i * tab->size) == -1) {
            *rc = -1;
        }
        cf_path_pop(c, mark);
    }
    return v;
}

int
cf_parse_strs(struct cf_ctx *c, const struct ast_node *n, bool lower, struct cf_str **out,
              size_t *nout)
{
    struct cf_str *v = arena_alloc_array(c->tmp, n->nitems, sizeof(*v));
    if (v == NULL)
        return cf_oom(c);
    int rc = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        size_t mark = cf_path_idx(c, i);
        if (!type_ok(CF_T_STR, it)) {
            cf_err(c, it, "expected a string, got %s", ast_type_name(it));
            rc = -1;
        } else {
            v[i].s = lower ? cf_lower_dup(c->a, it->str, it->len) : arena_strdup(c->a, it->str);
            v[i].len = it->len;
            v[i].where = cf_where_here(c, it);
            if (v[i].s == NULL)
                rc = cf_oom(c);
        }
        cf_path_pop(c, mark);
    }
    *out = v;
    *nout = rc == 0 ? n->nitems : 0;
    return rc;
}

int
cf_check_strs(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    (void)f;
    int rc = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        if (type_ok(CF_T_STR, n->items[i]))
            continue;
        size_t mark = cf_path_idx(c, i);
        cf_err(c, n->items[i], "expected a string, got %s", ast_type_name(n->items[i]));
        cf_path_pop(c, mark);
        rc = -1;
    }
    return rc;
}

/* A map whose values must all be strings (annotations, selectors). */
int
cf_check_strmap(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    (void)f;
    int rc = 0;
    for (size_t i = 0; i < n->npairs; i++) {
        const struct ast_node *v = n->pairs[i].val;
        if (type_ok(CF_T_STR, v))
            continue;
        size_t mark = cf_path_key(c, n->pairs[i].key->str);
        cf_err(c, v, "expected a string, got %s", ast_type_name(v));
        cf_path_pop(c, mark);
        rc = -1;
    }
    return rc;
}

int
cf_h_labels(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    if (cf_check_strmap(c, f, n) == -1)
        return -1;
    struct cf_labels *l = p;
    l->v = arena_alloc_array(c->tmp, n->npairs, sizeof(*l->v));
    if (l->v == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < n->npairs; i++) {
        const struct ast_pair *pr = &n->pairs[i];
        l->v[i].key = arena_strndup(c->tmp, pr->key->str, pr->key->len);
        l->v[i].val = arena_strndup(c->tmp, pr->val->str, pr->val->len);
        if (l->v[i].key == NULL || l->v[i].val == NULL)
            return cf_oom(c);
    }
    l->n = n->npairs;
    return 0;
}

/* ---- StringMatch ---- */

struct sm_raw {
    const struct ast_node *exact;
    const struct ast_node *prefix;
    const struct ast_node *regex;
};

static int
h_node(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)c;
    (void)f;
    *(const struct ast_node **)p = n;
    return 0;
}

#define SM_NODE(k, mem, smp)                                                                       \
    {                                                                                              \
        .key = k, .type = CF_T_STR, .store = CF_ST_SLOT, .fn.put = h_node,                         \
        CF__SLOT(struct sm_raw, mem, const struct ast_node *), .sample = smp                       \
    }

static const struct cf_field sm_fields[] = {
    SM_NODE("exact", exact, "v1"),
    SM_NODE("prefix", prefix, "/api"),
    SM_NODE("regex", regex, "\"^(.*?;\\\\s*)?(user=v2)(;.*)?$\""),
    CF_END,
};
/* A StringMatch (exact, prefix or regex); exported for the schema tests. */
const struct cf_table cf_string_match_tab = CF_TABLE(struct sm_raw, sm_fields);

/* The first construct of pattern s that RE2, which Istio validates regexes
 * with, does not have (lookaround, atomic group, backreference); NULL = none. */
static const char *
non_re2_construct(const char *s, size_t len)
{
    static const struct {
        const char *seq;
        const char *what;
    } groups[] = {
        {"(?=", "a lookahead"},     {"(?!", "a negative lookahead"},
        {"(?<=", "a lookbehind"},   {"(?<!", "a negative lookbehind"},
        {"(?>", "an atomic group"},
    };
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            char n = s[++i];
            if ((n >= '1' && n <= '9') || n == 'k' || n == 'g')
                return "a backreference";
            continue;
        }
        for (size_t g = 0; g < countof(groups); g++) {
            size_t gl = strlen(groups[g].seq);
            if (len - i >= gl && memcmp(s + i, groups[g].seq, gl) == 0)
                return groups[g].what;
        }
    }
    return NULL;
}

/* Compiles regex n into m. A pattern already compiled in this build is not
 * compiled again: m shares the first one's code (matching is thread-safe on
 * shared code), and only the first is listed for conf_free. Configurations
 * often repeat a regex (the same cookie test in every VirtualService). */
static int
compile_regex(struct cf_ctx *c, struct match *m, const struct ast_node *n)
{
    const struct match *same = cf_regexes_get(&c->regexes, n->str, n->len);
    if (same != NULL) {
        *m = *same;
        return 0;
    }
    char err[256];
    size_t off = 0;
    size_t mark = cf_path_key(c, "regex");
    const char *pat = arena_strndup(c->a, n->str, n->len);
    if (pat == NULL) {
        cf_path_pop(c, mark);
        return cf_oom(c);
    }
    int rc = match_init_regex(m, pat, n->len, err, sizeof(err), &off);
    if (rc == -1 && n->len <= 64)
        cf_err(c, n, "invalid regex: %s at offset %zu of \"%s\"", err, off, n->str);
    else if (rc == -1)
        cf_err(c, n, "invalid regex: %s (at offset %zu)", err, off);
    cf_path_pop(c, mark);
    if (rc == -1)
        return -1;
    const char *what = non_re2_construct(n->str, n->len);
    if (what != NULL) {
        mark = cf_path_key(c, "regex");
        cf_warn(c, n,
                "this regex uses %s, which RE2 does not support: Istio refuses it; canaryd (PCRE2) "
                "matches it",
                what);
        cf_path_pop(c, mark);
    }
    if (cf_regexes_add(&c->regexes, m) == -1) {
        match_fini(m);
        return cf_oom(c);
    }
    return 0;
}

static int
fill_match(struct cf_ctx *c, struct match *m, const struct sm_raw *r, const struct ast_node *n)
{
    int nset = (r->exact != NULL) + (r->prefix != NULL) + (r->regex != NULL);
    if (nset > 1) {
        cf_err(c, n, "only one of exact, prefix or regex may be set");
        return -1;
    }
    const struct ast_node *s = r->exact != NULL ? r->exact : r->prefix;
    if (s != NULL) {
        m->kind = r->exact != NULL ? MATCH_EXACT : MATCH_PREFIX;
        m->str = arena_strndup(c->a, s->str, s->len);
        m->len = s->len;
        return m->str != NULL ? 0 : cf_oom(c);
    }
    /* {} and regex "*" mean "present", as Istio translates them. */
    if (r->regex == NULL || (r->regex->len == 1 && r->regex->str[0] == '*')) {
        m->kind = MATCH_PRESENT;
        m->str = "";
        return 0;
    }
    return compile_regex(c, m, r->regex);
}

/* Parses StringMatch n into *m (where it will stay: a compiled regex is
 * released through that address); -1 after a diagnostic. */
static int
parse_match(struct cf_ctx *c, const struct ast_node *n, struct match *m)
{
    struct sm_raw raw = {0};
    if (CF_WALK(c, n, &cf_string_match_tab, &raw) == -1)
        return -1;
    return fill_match(c, m, &raw, n);
}

int
cf_h_match(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    struct sm_raw raw = {0};
    struct match *m = NULL;
    *(struct match **)p = NULL;
    if (CF_WALK(c, n, &cf_string_match_tab, &raw) == -1)
        return -1;
    if ((m = arena_alloc(c->a, sizeof(*m))) == NULL)
        return cf_oom(c);
    if (fill_match(c, m, &raw, n) == -1)
        return -1;
    *(struct match **)p = m;
    return 0;
}

/* The seed's cookie idiom "^(.*?;)?(NAME=...)(;.*)?$" misses NAME when a
 * browser sends it after "; ". */
static void
check_cookie_regex(struct cf_ctx *c, const struct ast_node *n, const struct match *m)
{
    static const char *const traps[] = {"^(.*?;)?(", "(.*?;)?("};
    if (m->kind != MATCH_REGEX)
        return;
    for (size_t i = 0; i < countof(traps); i++) {
        size_t tl = strlen(traps[i]);
        if (m->len < tl || memcmp(m->str, traps[i], tl) != 0)
            continue;
        const struct ast_node *rx = ast_map_get(n, "regex");
        size_t mark = cf_path_key(c, "regex");
        cf_warn(c, rx != NULL ? rx : n,
                "this cookie regex misses the cookie when it is not the first one, because "
                "browsers separate cookies with \"; \": use \"^(.*?;\\s*)?(%s\"",
                m->str + tl);
        cf_path_pop(c, mark);
        return;
    }
}

static bool
is_token(const char *s, size_t len)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && (s[i] == '\0' || strchr(extra, s[i]) == NULL))
            return false;
    return true;
}

static int
header_name(struct cf_ctx *c, const struct ast_node *k, const char **name)
{
    if (k->len > 0 && k->str[0] == '@') {
        cf_err(c, k,
               "matching on \"%s\" needs JWT authentication (RequestAuthentication), which "
               "canaryd does not do; authenticate in front of canaryd and match on a header it "
               "sets",
               k->str);
        return -1;
    }
    if (!is_token(k->str, k->len)) {
        cf_err(c, k, "invalid header name \"%s\"", k->str);
        return -1;
    }
    *name = cf_lower_dup(c->a, k->str, k->len);
    return *name != NULL ? 0 : cf_oom(c);
}

/* One name -> StringMatch entry of headers / withoutHeaders / queryParams. */
static int
header_entry(struct cf_ctx *c, enum cf_hdr_kind kind, const struct ast_pair *p,
             struct conf_hdr_match *h)
{
    bool is_query = kind == CF_HDR_QUERY;
    if (p->val->type != AST_MAP) {
        cf_err(c, p->val, "expected a map, got %s", ast_type_name(p->val));
        return -1;
    }
    if (is_query) {
        h->name = arena_strdup(c->a, p->key->str);
        if (h->name == NULL)
            return cf_oom(c);
    } else if (header_name(c, p->key, &h->name) == -1) {
        return -1;
    }
    if (parse_match(c, p->val, &h->m) == -1)
        return -1;
    h->name_len = p->key->len;
    h->invert = kind == CF_HDR_WITHOUT;
    if (!is_query && strcmp(h->name, "cookie") == 0)
        check_cookie_regex(c, p->val, &h->m);
    return 0;
}

int
cf_parse_hdr_matches(struct cf_ctx *c, const struct ast_node *n, enum cf_hdr_kind kind,
                     struct conf_hdr_match **vp, size_t *np)
{
    /* Appending (withoutHeaders after headers) copies the entries: the old
     * array stays in the arena, and a regex compiled there is released
     * through it (the copies share its code). */
    struct conf_hdr_match *v = arena_alloc_array(c->a, *np + n->npairs, sizeof(*v));
    if (v == NULL)
        return cf_oom(c);
    if (*np > 0)
        memcpy(v, *vp, *np * sizeof(*v));
    int rc = 0;
    for (size_t i = 0; i < n->npairs; i++) {
        size_t mark = cf_path_key(c, n->pairs[i].key->str);
        if (header_entry(c, kind, &n->pairs[i], &v[*np]) == 0)
            (*np)++;
        else
            rc = -1;
        cf_path_pop(c, mark);
    }
    *vp = v;
    return rc;
}

/* ---- durations ---- */

/* Longer units first, so "ms" is not read as "m" followed by "s". */
static const struct {
    const char *unit;
    double ms;
} dur_units[] = {
    {"ms", 1.0},   {"us", 1e-3},   {"\xc2\xb5s", 1e-3}, {"ns", 1e-6},
    {"s", 1000.0}, {"m", 60000.0}, {"h", 3600000.0},
};

static size_t
dur_unit(const char *s, size_t len, double *scale)
{
    for (size_t i = 0; i < countof(dur_units); i++) {
        size_t ul = strlen(dur_units[i].unit);
        if (ul <= len && memcmp(s, dur_units[i].unit, ul) == 0) {
            *scale = dur_units[i].ms;
            return ul;
        }
    }
    return 0;
}

int
cf_parse_duration(const char *s, size_t len, uint32_t *ms, const char **why)
{
    double total = 0.0;
    size_t i = 0;
    if (len == 0) {
        *why = "empty";
        return -1;
    }
    while (i < len) {
        size_t start = i;
        while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
            i++;
        double scale = 0.0;
        size_t ul = dur_unit(s + i, len - i, &scale);
        if (i == start || (i - start == 1 && s[start] == '.')) {
            *why = s[start] == '-' ? "must not be negative" : "expected a number, e.g. 1.5s";
            return -1;
        }
        if (ul == 0) {
            *why = "expected a unit (h, m, s, ms, us or ns) after the number";
            return -1;
        }
        char num[64];
        snprintf(num, sizeof(num), "%.*s", (int)MIN(i - start, sizeof(num) - 1), s + start);
        total += strtod(num, NULL) * scale;
        i += ul;
    }
    if (total > (double)UINT32_MAX) {
        *why = "too large";
        return -1;
    }
    *ms = total > 0.0 && total < 1.0 ? 1u : (uint32_t)llround(total);
    return 0;
}
