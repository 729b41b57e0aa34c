/*
 * test_ast.c: unit tests for ast.c (YAML -> node tree with locations, loaded
 * whole or streamed one document at a time), the SHA-256 fingerprints it
 * records per file, and arena.c, the allocator the tree lives in.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "canaryd/common.h"

#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "canaryd/core/arena.h"
#include "canaryd/conf/ast.h"
#include "canaryd/core/diag.h"
#include "canaryd/core/sha256.h"

struct fx {
    struct ast_set set;
    struct diag_list dl;
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(ast_set_init(&f->set), 0);
    diag_list_init(&f->dl);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    ast_set_fini(&f->set);
    diag_list_fini(&f->dl);
    free(f);
    return 0;
}

static int
load(struct fx *f, const char *text)
{
    return ast_load_buffer(&f->set, "t.yaml", text, strlen(text), &f->dl);
}

/* Asserts that diagnostic i formats exactly as want. */
static void
assert_diag(const struct diag_list *dl, size_t i, const char *want)
{
    char buf[1024];
    if (i >= dl->n) {
        diag_list_print(dl, stderr);
        fail_msg("no diagnostic %zu (want %s)", i, want);
    }
    diag_format(&dl->v[i], buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void
test_ast_tree_has_locations(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "a: 1\nb:\n  - x\n  - 'y'\nc: {d: e}\n"), 0);
    assert_int_equal(f->set.ndocs, 1);
    const struct ast_node *root = f->set.docs[0].root;
    assert_int_equal(root->type, AST_MAP);
    assert_int_equal(root->npairs, 3);
    const struct ast_node *b = ast_map_get(root, "b");
    assert_int_equal(b->type, AST_SEQ);
    assert_int_equal(b->nitems, 2);
    assert_int_equal(b->items[1]->loc.line, 4);
    assert_int_equal(b->items[1]->loc.col, 5);
    assert_true(b->items[0]->is_plain);
    assert_false(b->items[1]->is_plain);
    const struct ast_node *d = ast_map_get(ast_map_get(root, "c"), "d");
    assert_string_equal(d->str, "e");
    assert_int_equal(d->loc.line, 5);
    assert_int_equal(d->loc.col, 8);
    assert_string_equal(d->loc.file, "t.yaml");
    assert_null(ast_map_get(root, "zz"));
    assert_null(ast_map_get(b, "x"));
}

static void
test_ast_multi_document_stream_loads_every_document(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "a: 1\n---\nb: 2\n---\n---\nc: 3\n"), 0);
    assert_int_equal(f->set.ndocs, 4);
    assert_non_null(ast_map_get(f->set.docs[1].root, "b"));
    assert_true(ast_is_null(f->set.docs[2].root)); /* libyaml: an empty plain scalar */
    assert_int_equal(f->set.docs[3].root->loc.line, 6);
}

static void
test_ast_syntax_error_reports_problem_and_mark(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "a: [1, 2\nb: 3\n"), -1);
    assert_diag(&f->dl, 0,
                "t.yaml:2:2: error: YAML syntax error: did not find expected ',' or ']' "
                "(while parsing a flow sequence at line 1, column 4)");
}

static void
test_ast_duplicate_key_is_an_error(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "a: 1\nb: 2\na: 3\n"), -1);
    assert_diag(&f->dl, 0, "t.yaml:3:1: error: duplicate key \"a\" (first at line 1, column 1)");
    assert_int_equal(f->set.docs[0].root->npairs, 2);
}

static void
test_ast_duplicate_key_in_large_map_is_found(void **state)
{
    struct fx *f = *state;
    char buf[4096] = "";
    for (int i = 0; i < 40; i++)
        snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "k%d: %d\n", i, i);
    strcat(buf, "k7: again\n");
    assert_int_equal(load(f, buf), -1);
    assert_diag(&f->dl, 0, "t.yaml:41:1: error: duplicate key \"k7\" (first at line 8, column 1)");
    assert_int_equal(f->set.docs[0].root->npairs, 40);
}

static void
test_ast_anchor_and_alias_are_rejected(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "a: &x [1, 2]\nb: *x\n"), -1);
    assert_diag(&f->dl, 0,
                "t.yaml:1:4: error: YAML anchors (&x) are not supported: write the value out");
    assert_diag(&f->dl, 1,
                "t.yaml:2:4: error: YAML aliases (*x) are not supported: write the value out");
}

static void
test_ast_unknown_tag_is_rejected(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "a: !!binary aGk=\nb: !!str 80\n"), -1);
    assert_diag(&f->dl, 0,
                "t.yaml:1:4: error: YAML tag \"tag:yaml.org,2002:binary\" is not supported");
    assert_int_equal(ast_scalar_kind(ast_map_get(f->set.docs[0].root, "b")), AST_S_STR);
}

static void
test_ast_deep_nesting_is_capped(void **state)
{
    struct fx *f = *state;
    char buf[512];
    memset(buf, '[', 200);
    buf[200] = '\0';
    assert_int_equal(load(f, buf), -1);
    assert_diag(&f->dl, 0, "t.yaml:1:65: error: nesting is deeper than 64 levels");
}

static void
test_ast_oversized_buffer_is_rejected(void **state)
{
    struct fx *f = *state;
    size_t len = AST_MAX_FILE_BYTES + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, '#', len);
    assert_int_equal(ast_load_buffer(&f->set, "big.yaml", big, len, &f->dl), -1);
    free(big);
    assert_diag(&f->dl, 0, "big.yaml:1:1: error: file is larger than 16777216 bytes");
}

static void
test_ast_scalar_kinds_follow_core_schema(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[x, '1', 1, -2, 1.5, 1e3, .inf, true, False, ~, null, 0x1]\n"), 0);
    static const enum ast_scalar_kind want[] = {
        AST_S_STR,   AST_S_STR,  AST_S_INT,  AST_S_INT,  AST_S_FLOAT, AST_S_FLOAT,
        AST_S_FLOAT, AST_S_BOOL, AST_S_BOOL, AST_S_NULL, AST_S_NULL,  AST_S_STR,
    };
    const struct ast_node *seq = f->set.docs[0].root;
    assert_int_equal(seq->nitems, countof(want));
    for (size_t i = 0; i < seq->nitems; i++)
        assert_int_equal(ast_scalar_kind(seq->items[i]), want[i]);
    assert_string_equal(ast_type_name(seq), "a list");
    assert_string_equal(ast_type_name(seq->items[1]), "a string");
    assert_string_equal(ast_type_name(seq->items[2]), "an integer");
    assert_true(ast_is_null(seq->items[9]));
}

static void
test_ast_file_sha256_matches_fips_vectors(void **state)
{
    struct fx *f = *state;
    char hex[SHA256_HEX_BYTES];
    assert_int_equal(ast_load_buffer(&f->set, "abc.yaml", "abc", 3, &f->dl), 0);
    sha256_hex(f->set.files[0].sha256, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unsigned char d[SHA256_DIGEST_BYTES];
    sha256_digest("", 0, d);
    sha256_hex(d, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_digest(two, strlen(two), d);
    sha256_hex(d, hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    struct sha256_ctx ctx;
    char as[1000];
    memset(as, 'a', sizeof(as));
    sha256_init(&ctx);
    for (int i = 0; i < 1000; i++)
        sha256_update(&ctx, as, sizeof(as));
    sha256_final(&ctx, d);
    sha256_hex(d, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Writes text to dir/name. */
static void
write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void
test_ast_directory_loads_sorted_yaml_only(void **state)
{
    struct fx *f = *state;
    char dir[] = "/tmp/canaryd-ast-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "b.yaml", "n: b\n");
    write_file(dir, "a.yml", "n: a\n");
    write_file(dir, ".hidden.yaml", "n: hidden\n");
    write_file(dir, "notes.txt", "n: txt\n");
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/sub.yaml", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(ast_load_path(&f->set, dir, &f->dl), 0);
    assert_int_equal(f->set.ndocs, 2);
    assert_string_equal(ast_map_get(f->set.docs[0].root, "n")->str, "a");
    assert_string_equal(ast_map_get(f->set.docs[1].root, "n")->str, "b");
    assert_int_equal(f->set.nfiles, 2);
    char want[600];
    snprintf(want, sizeof(want), "%s/b.yaml", dir);
    assert_string_equal(f->set.files[1].path, want);
    assert_int_equal(f->set.files[1].size, 5);
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void
test_ast_missing_path_is_an_error(void **state)
{
    struct fx *f = *state;
    assert_int_equal(ast_load_path(&f->set, "/nonexistent/canaryd.yaml", &f->dl), -1);
    assert_diag(&f->dl, 0,
                "/nonexistent/canaryd.yaml:0:0: error: cannot open: No such file or directory");
}

static void
test_ast_non_scalar_key_is_an_error(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "? [a]\n: 1\nb: 2\n"), -1);
    assert_diag(&f->dl, 0, "t.yaml:1:3: error: mapping keys must be scalars");
    assert_int_equal(f->set.docs[0].root->npairs, 1);
}

static void
test_ast_empty_collections_have_no_children(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load(f, "[]\n---\n{}\n---\na: []\nb: {}\n"), 0);
    assert_int_equal(f->set.ndocs, 3);
    assert_int_equal(f->set.docs[0].root->type, AST_SEQ);
    assert_int_equal(f->set.docs[0].root->nitems, 0);
    assert_int_equal(f->set.docs[1].root->type, AST_MAP);
    assert_int_equal(f->set.docs[1].root->npairs, 0);
    assert_int_equal(ast_map_get(f->set.docs[2].root, "a")->nitems, 0);
    assert_int_equal(ast_map_get(f->set.docs[2].root, "b")->npairs, 0);
    assert_null(ast_map_get(f->set.docs[2].root, "c"));
}

/* What the streaming callback saw: a copy of the first documents, and the
 * most the per-document arena ever held. */
struct seen {
    struct ast_set *set;
    struct arena *keep; /* owned: the copies */
    const struct ast_node *roots[4];
    size_t n;
    size_t max_doc_bytes;
};

static void
on_doc(void *ctx, const struct ast_doc *doc)
{
    struct seen *s = ctx;
    size_t bytes = arena_bytes(s->set->doc_arena);
    if (s->n < countof(s->roots))
        s->roots[s->n] = ast_node_clone(s->keep, doc->root);
    s->n++;
    s->max_doc_bytes = MAX(s->max_doc_bytes, bytes);
}

static void
stream(struct fx *f, struct seen *s)
{
    s->set = &f->set;
    s->keep = arena_new();
    assert_non_null(s->keep);
    f->set.on_doc = on_doc;
    f->set.on_doc_ctx = s;
}

static void
test_ast_stream_hands_over_each_document_then_frees_it(void **state)
{
    struct fx *f = *state;
    struct seen s = {0};
    enum { NDOCS = 2000 };
    size_t cap = NDOCS * 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < NDOCS; i++)
        len += (size_t)snprintf(text + len, cap - len, "n: %d\nl: [a, 'b', {k: v}]\n---\n", i);
    stream(f, &s);
    assert_int_equal(ast_load_buffer(&f->set, "t.yaml", text, len, &f->dl), 0);
    free(text);
    assert_int_equal(s.n, NDOCS + 1); /* the stream ends with an empty document */
    assert_int_equal(f->set.ndocs, 0);
    /* One document at a time: the whole stream would take several blocks. */
    assert_true(s.max_doc_bytes <= 80 * 1024);
    /* The copies outlive their documents, locations included. */
    assert_string_equal(ast_map_get(s.roots[1], "n")->str, "1");
    const struct ast_node *l = ast_map_get(s.roots[1], "l");
    assert_int_equal(l->type, AST_SEQ);
    assert_int_equal(l->nitems, 3);
    assert_false(l->items[1]->is_plain);
    assert_string_equal(ast_map_get(l->items[2], "k")->str, "v");
    assert_int_equal(l->items[2]->loc.line, 5);
    assert_int_equal(l->items[2]->loc.col, 13);
    assert_string_equal(l->items[2]->loc.file, "t.yaml");
    arena_free(s.keep);
}

static void
test_ast_stream_skips_document_cut_short(void **state)
{
    struct fx *f = *state;
    struct seen s = {0};
    stream(f, &s);
    assert_int_equal(load(f, "a: 1\n---\nb: [1, 2\n"), -1);
    assert_int_equal(s.n, 1);
    assert_string_equal(ast_map_get(s.roots[0], "a")->str, "1");
    assert_true(f->dl.nerrors > 0);
    arena_free(s.keep);
}

static void
test_arena_packs_strings_and_aligns_objects(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    assert_non_null(a);
    char *s1 = arena_strndup(a, "ab", 2);
    char *s2 = arena_strdup(a, "cd");
    assert_ptr_equal(s2, s1 + 3);
    assert_string_equal(s1, "ab");
    unsigned char *p = arena_alloc(a, 24);
    assert_int_equal((uintptr_t)p % 16, 0);
    for (size_t i = 0; i < 24; i++)
        assert_int_equal(p[i], 0);
    assert_non_null(arena_alloc(a, 0));
    assert_null(arena_alloc_array(a, SIZE_MAX / 4, 8));
    unsigned char *big = arena_alloc_array(a, 100000, 1);
    assert_non_null(big);
    assert_int_equal(big[99999], 0);
    char *q = arena_memdup(a, "xyz", 4);
    assert_int_equal((uintptr_t)q % 16, 0);
    assert_string_equal(q, "xyz");
    arena_free(a);
}

static void
test_arena_reset_keeps_one_block(void **state)
{
    (void)state;
    struct arena *a = arena_new();
    assert_non_null(a);
    for (int i = 0; i < 10000; i++)
        assert_non_null(arena_alloc(a, 100));
    assert_non_null(arena_alloc(a, 1 << 20));
    size_t before = arena_bytes(a);
    assert_true(before > (2u << 20));
    arena_reset(a);
    /* One shared block (they grow to 1 MiB), not the 1 MiB request's own. */
    size_t kept = arena_bytes(a);
    assert_true(kept > 0 && kept < before - (1u << 20) && kept <= (1u << 20) + 64);
    assert_string_equal(arena_strdup(a, "again"), "again");
    assert_int_equal(arena_bytes(a), kept);
    arena_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ast_tree_has_locations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_multi_document_stream_loads_every_document, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ast_syntax_error_reports_problem_and_mark, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ast_duplicate_key_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_duplicate_key_in_large_map_is_found, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ast_anchor_and_alias_are_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_unknown_tag_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_deep_nesting_is_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_oversized_buffer_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_scalar_kinds_follow_core_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_file_sha256_matches_fips_vectors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_directory_loads_sorted_yaml_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_missing_path_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_non_scalar_key_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_empty_collections_have_no_children, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ast_stream_hands_over_each_document_then_frees_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_ast_stream_skips_document_cut_short, setup, teardown),
        cmocka_unit_test(test_arena_packs_strings_and_aligns_objects),
        cmocka_unit_test(test_arena_reset_keeps_one_block),
    };
    return cmocka_run_group_tests_name("ast", tests, NULL, NULL);
}
