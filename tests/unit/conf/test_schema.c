/*
 * test_schema.c: walks every schema table reachable from the Istio kinds and
 * gives every field a valid value, in two key orders, through the real
 * loader and compiler (conf_build_buffer), so that each handler runs against
 * a complete configuration under ASan. Each entry is also checked on its own:
 * a slot lies inside its table's object and a sub-table fits its member; a
 * refused field is refused with its reason; a warned field warns.
 */
#include "canaryd/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "canaryd/conf/conf.h"
#include "canaryd/conf/conf_internal.h"
#include "canaryd/core/diag.h"
#include "schema_gen.h"

/* Calls fn for every field reachable from every kind, with the chain of
 * fields that leads to it. */
struct walk {
    const struct cf_kind_schema *ks;
    const struct cf_field *path[16];
    size_t npath;
    size_t nfields;
    size_t nfailed;
    void (*fn)(struct walk *w);
};

static void
walk_table(struct walk *w, const struct cf_table *t)
{
    if (w->npath >= countof(w->path))
        return;
    for (const struct cf_field *f = t->fields; f->key != NULL; f++) {
        w->path[w->npath++] = f;
        w->nfields++;
        w->fn(w);
        if (f->sub != NULL)
            walk_table(w, f->sub);
        w->npath--;
    }
}

static void
walk_all(struct walk *w)
{
    for (size_t i = 0; i < cf_nkind_schemas; i++) {
        w->ks = &cf_kind_schemas[i];
        if (w->ks->spec != NULL)
            walk_table(w, w->ks->spec);
    }
}

static void
print_path(const struct walk *w, char *buf, size_t cap)
{
    size_t at = (size_t)snprintf(buf, cap, "%s: spec", w->ks->kind);
    for (size_t i = 0; i < w->npath && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, ".%s", w->path[i]->key);
}

/* The table a path's last field belongs to. */
static const struct cf_table *
owner(const struct walk *w)
{
    return w->npath >= 2 ? w->path[w->npath - 2]->sub : w->ks->spec;
}

static void
check_entry(struct walk *w)
{
    const struct cf_field *f = w->path[w->npath - 1];
    const struct cf_table *t = owner(w);
    char where[256];
    print_path(w, where, sizeof(where));
    bool ok = true;
    if (f->store == CF_ST_SLOT)
        ok = f->size > 0 && f->off + f->size <= t->size && f->fn.put != NULL;
    if (ok && f->store == CF_ST_SLOT && f->fn.put == cf_h_map)
        ok = f->sub != NULL && f->sub->size == f->size;
    if (ok && (f->store == CF_ST_OBJ))
        ok = f->fn.put != NULL;
    if (ok && (f->store == CF_ST_WARN || f->store == CF_ST_REFUSE))
        ok = f->why != NULL && strlen(f->why) > 20 && strstr(f->why, "not supported") == NULL;
    if (!ok) {
        fprintf(stderr, "bad schema entry %s (store %d, off %zu, size %zu, table %s %zu)\n", where,
                (int)f->store, f->off, f->size, t->name, t->size);
        w->nfailed++;
    }
}

static void
test_schema_entries_fit_their_tables(void **state)
{
    (void)state;
    struct walk w = {.fn = check_entry};
    walk_all(&w);
    assert_true(w.nfields > 150);
    assert_int_equal(w.nfailed, 0);
}

/* ---- every field with a valid value, through the real loader ---- */

static bool
has_diag(const struct diag_list *dl, enum diag_level lvl, const char *text)
{
    char line[2048];
    for (size_t i = 0; i < dl->n; i++) {
        if (dl->v[i].level != lvl)
            continue;
        diag_format(&dl->v[i], line, sizeof(line));
        if (strstr(line, text) != NULL)
            return true;
    }
    return false;
}

static void
dump(const char *what, const char *where, const char *yaml, const struct diag_list *dl)
{
    char line[2048];
    fprintf(stderr, "%s: %s\n%s", what, where, yaml);
    for (size_t i = 0; i < dl->n; i++) {
        diag_format(&dl->v[i], line, sizeof(line));
        fprintf(stderr, "  %s\n", line);
    }
}

/* A field whose every value is refused (Gateway tls.mode) is refused. */
static bool
enum_all_refused(const struct cf_field *f)
{
    if (f->enums == NULL || f->enums[0].name == NULL)
        return false;
    for (const struct cf_enum *e = f->enums; e->name != NULL; e++)
        if (e->refused == NULL)
            return false;
    return true;
}

/* Builds the base objects plus one document of the path's kind that carries
 * the field (and what it needs), with keys in the order order_bytes picks. */
static bool
try_field(struct walk *w, const uint8_t *order_bytes, size_t norder)
{
    const struct cf_field *f = w->path[w->npath - 1];
    struct sg_out o = {0};
    struct sg_src s = {.p = order_bytes, .n = norder};
    memcpy(s.path, w->path, w->npath * sizeof(w->path[0]));
    s.npath = w->npath;
    sg_base(&o, w->ks->kind);
    sg_doc(&o, &s, w->ks, "under-test", false);
    assert_false(o.oom);
    struct diag_list dl;
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    diag_list_init(&dl);
    struct conf *c = conf_build_buffer("schema.yaml", o.buf, o.len, &opts, &dl);
    char where[256];
    print_path(w, where, sizeof(where));
    bool ok;
    if (f->store == CF_ST_REFUSE)
        ok = c == NULL && has_diag(&dl, DIAG_ERROR, f->why);
    else if (enum_all_refused(f))
        ok = c == NULL && has_diag(&dl, DIAG_ERROR, f->enums[0].refused);
    else if (f->store == CF_ST_WARN || (f->store == CF_ST_CHECK && f->why != NULL))
        ok = c != NULL && has_diag(&dl, DIAG_WARN, f->why);
    else
        ok = c != NULL;
    if (!ok)
        dump("field not accepted as expected", where, o.buf, &dl);
    conf_unref(&c);
    diag_list_fini(&dl);
    free(o.buf);
    return ok;
}

static void
run_field(struct walk *w)
{
    static const uint8_t reverse[64] = {0};
    bool ok = try_field(w, NULL, 0);
    ok = try_field(w, reverse, sizeof(reverse)) && ok;
    if (!ok)
        w->nfailed++;
}

static void
test_schema_every_field_accepts_a_valid_value(void **state)
{
    (void)state;
    struct walk w = {.fn = run_field};
    walk_all(&w);
    assert_int_equal(w.nfailed, 0);
}

/* The ServiceEntry location crash: location after hosts, then compiled. */
static void
test_schema_service_entry_location_after_hosts_compiles(void **state)
{
    (void)state;
    static const char yaml[] = "apiVersion: networking.istio.io/v1\n"
                               "kind: ServiceEntry\n"
                               "metadata: {name: ext}\n"
                               "spec:\n"
                               "  hosts: [api.example.com]\n"
                               "  location: MESH_EXTERNAL\n"
                               "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
                               "  resolution: STATIC\n"
                               "  endpoints: [{address: 127.0.0.1}]\n";
    struct diag_list dl;
    diag_list_init(&dl);
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    struct conf *c = conf_build_buffer("se.yaml", yaml, strlen(yaml), &opts, &dl);
    assert_non_null(c);
    conf_unref(&c);
    diag_list_fini(&dl);
}

/* ---- the README's Istio compatibility table, generated from the tables ---- */

struct seen_tabs {
    const struct cf_table *v[256];
    const char *at[256]; /* where each was first listed */
    size_t n;
};

static const char *
seen_at(const struct seen_tabs *st, const struct cf_table *t)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->v[i] == t)
            return st->at[i];
    return NULL;
}

static void
md_escape(struct sg_out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            sg_puts(o, "\\|");
        else
            sg_put(o, s, 1);
    }
}

static bool
enum_some_refused(const struct cf_field *f)
{
    for (const struct cf_enum *e = f->enums; e->name != NULL; e++)
        if (e->refused != NULL)
            return true;
    return false;
}

/* "refused: A, B: why; C: other why" for the refused values of f. */
static void
enum_reasons(struct sg_out *o, const struct cf_field *f)
{
    sg_puts(o, "refused: ");
    bool first_reason = true;
    for (const struct cf_enum *e = f->enums; e->name != NULL; e++) {
        if (e->refused == NULL)
            continue;
        bool seen = false;
        for (const struct cf_enum *p = f->enums; p != e; p++)
            seen = seen || (p->refused != NULL && strcmp(p->refused, e->refused) == 0);
        if (seen)
            continue;
        sg_puts(o, first_reason ? "" : "; ");
        bool first_name = true;
        for (const struct cf_enum *q = e; q->name != NULL; q++) {
            if (q->refused == NULL || strcmp(q->refused, e->refused) != 0)
                continue;
            sg_printf(o, "%s`%s`", first_name ? "" : ", ", q->name);
            first_name = false;
        }
        sg_puts(o, ": ");
        md_escape(o, e->refused);
        first_reason = false;
    }
}

static void
table_rows(struct sg_out *o, struct seen_tabs *st, const struct cf_table *t, const char *prefix)
{
    for (const struct cf_field *f = t->fields; f->key != NULL; f++) {
        char path[512];
        snprintf(path, sizeof(path), "%s.%s", prefix, f->key);
        sg_printf(o, "| `%s` | ", path);
        const char *same = f->sub != NULL ? seen_at(st, f->sub) : NULL;
        /* A check that warns once the value is valid reads as a warned field. */
        bool warns = f->store == CF_ST_CHECK && f->why != NULL;
        switch (warns ? CF_ST_WARN : f->store) {
        case CF_ST_WARN:
            sg_puts(o, "accepted with a warning: ");
            md_escape(o, f->why);
            break;
        case CF_ST_REFUSE:
            sg_puts(o, "refused: ");
            md_escape(o, f->why);
            break;
        case CF_ST_ACCEPT:
            sg_puts(o, "accepted (read elsewhere, or written by the API server)");
            break;

        default:
            if (enum_all_refused(f)) {
                enum_reasons(o, f);
                break;
            }
            sg_puts(o, "acted on");
            if ((f->store == CF_ST_SLOT || f->store == CF_ST_OBJ) && f->why != NULL) {
                sg_puts(o, " (");
                md_escape(o, f->why);
                sg_puts(o, ")");
            }
            if (same != NULL)
                sg_printf(o, "; its fields as `%s`", same);
            if (f->enums != NULL && f->enums[0].name != NULL && enum_some_refused(f)) {
                sg_puts(o, "; ");
                enum_reasons(o, f);
            }
            break;
        }
        sg_puts(o, " |\n");
        if (f->sub != NULL && same == NULL && st->n < countof(st->v)) {
            char *at = strdup(path);
            assert_non_null(at);
            st->v[st->n] = f->sub;
            st->at[st->n++] = at;
            table_rows(o, st, f->sub, path);
        }
    }
}

/* The Markdown table of every Istio field canaryd reads, with what it does. */
static void
compat_table(struct sg_out *o)
{
    struct seen_tabs st = {.n = 0};
    sg_puts(o, "| Field | canaryd |\n|---|---|\n");
    sg_puts(o, "| **metadata** (every kind) | read; every field below |\n");
    table_rows(o, &st, &cf_meta_tab, "metadata");
    for (size_t i = 0; i < cf_nkind_schemas; i++) {
        const struct cf_kind_schema *ks = &cf_kind_schemas[i];
        if (ks->spec == NULL) {
            sg_printf(o, "| **%s** | %s", ks->kind,
                      ks->refused ? "refused: " : "accepted with a warning: ");
            md_escape(o, ks->why != NULL ? ks->why : "");
            sg_puts(o, " |\n");
            continue;
        }
        sg_printf(o, "| **%s** | %s |\n", ks->kind,
                  ks->why != NULL ? ks->why : "read; every field below");
        table_rows(o, &st, ks->spec, ks->kind);
    }
    for (size_t i = 0; i < st.n; i++)
        free((char *)st.at[i]);
}

#define COMPAT_BEGIN "<!-- compat-table:begin (make compat-table) -->\n"
#define COMPAT_END "<!-- compat-table:end -->"

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, r;
    do {
        if (n + 65536 > cap) {
            char *nb = realloc(buf, cap = cap * 2 + 65536);
            assert_non_null(nb);
            buf = nb;
        }
        r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
    } while (r > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* README.md's table is the generated one. With CANARYD_COMPAT_WRITE=1 the
 * test rewrites it instead (make compat-table). */
static void
test_schema_readme_compat_table_is_current(void **state)
{
    (void)state;
    const char *root = getenv("CANARYD_ROOT");
    char path[1024];
    snprintf(path, sizeof(path), "%s/README.md", root != NULL ? root : ".");
    size_t len = 0;
    char *readme = slurp(path, &len);
    assert_non_null(readme);
    char *b = strstr(readme, COMPAT_BEGIN);
    char *e = b != NULL ? strstr(b, COMPAT_END) : NULL;
    if (b == NULL || e == NULL)
        fail_msg("%s has no %s ... %s section", path, COMPAT_BEGIN, COMPAT_END);
    b += strlen(COMPAT_BEGIN);
    struct sg_out t = {0};
    compat_table(&t);
    assert_false(t.oom);
    bool same = (size_t)(e - b) == t.len && memcmp(b, t.buf, t.len) == 0;
    const char *w = getenv("CANARYD_COMPAT_WRITE");
    if (!same && w != NULL && strcmp(w, "1") == 0) {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        fwrite(readme, 1, (size_t)(b - readme), f);
        fwrite(t.buf, 1, t.len, f);
        fwrite(e, 1, len - (size_t)(e - readme), f);
        assert_int_equal(fclose(f), 0);
        same = true;
    }
    if (!same)
        fail_msg("README.md's Istio compatibility table is out of date: run make compat-table");
    free(t.buf);
    free(readme);
}

/* ---- the libFuzzer dictionary of the loader ---- */

static void
dict_table(FILE *f, struct seen_tabs *st, const struct cf_table *t)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->v[i] == t)
            return;
    if (st->n < countof(st->v))
        st->v[st->n++] = t;
    for (const struct cf_field *fl = t->fields; fl->key != NULL; fl++) {
        fprintf(f, "\"%s:\"\n", fl->key);
        for (const struct cf_enum *e = fl->enums; e != NULL && e->name != NULL; e++)
            fprintf(f, "\"%s\"\n", e->name);
        if (fl->sub != NULL)
            dict_table(f, st, fl->sub);
    }
}

/* With CANARYD_DICT_WRITE=PATH, writes every field name and enum value of
 * the schema tables as a libFuzzer dictionary (tests/fuzz/fuzz_conf.dict). */
static void
test_schema_fuzz_dictionary(void **state)
{
    (void)state;
    const char *path = getenv("CANARYD_DICT_WRITE");
    if (path == NULL)
        skip();
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    struct seen_tabs st = {.n = 0};
    fprintf(f, "# Generated from the schema tables: make fuzz-dict\n");
    for (size_t i = 0; i < cf_nkind_schemas; i++) {
        fprintf(f, "\"%s\"\n", cf_kind_schemas[i].kind);
        if (cf_kind_schemas[i].spec != NULL)
            dict_table(f, &st, cf_kind_schemas[i].spec);
    }
    dict_table(f, &st, &cf_doc_tab);
    dict_table(f, &st, &cf_meta_tab);
    assert_int_equal(fclose(f), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_entries_fit_their_tables),
        cmocka_unit_test(test_schema_every_field_accepts_a_valid_value),
        cmocka_unit_test(test_schema_service_entry_location_after_hosts_compiles),
        cmocka_unit_test(test_schema_readme_compat_table_is_current),
        cmocka_unit_test(test_schema_fuzz_dictionary),
    };
    return cmocka_run_group_tests_name("schema", tests, NULL, NULL);
}
