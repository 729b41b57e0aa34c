/*
 * test_vectors.c: canaryd's Istio routing vectors (routing.yaml), end to end
 * through conf_build_buffer() (each case's VirtualServices plus a ServiceEntry
 * and a DestinationRule for mobile-api), h1_parse_request() (raw HTTP/1.1
 * bytes), route_vhost() + route_select() (the expected route, or 404) and
 * lb_pick_dest() (expect_subsets over 100,000 draws, +-0.5 points).
 * File: <root>/tests/data/routing.yaml, the copy kept in the repository (nothing
 * outside the repository is read); <root> is $CANARYD_ROOT or found (find_root).
 * tests/test_all.sh warns when a ../shared/vectors/routing.yaml beside the
 * repository differs from this copy.
 */
#include "canaryd/common.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "canaryd/conf/ast.h"
#include "canaryd/conf/conf.h"
#include "canaryd/core/diag.h"
#include "canaryd/http1/h1.h"
#include "canaryd/route/lb.h"
#include "canaryd/route/route.h"

#define NDRAWS 100000
#define SUBSET_TOLERANCE_POINTS 0.5
#define MAX_CASES 256

/* ---- finding the vectors ---- */

static bool
is_root(const char *dir)
{
    char p[PATH_MAX];
    if ((size_t)snprintf(p, sizeof(p), "%s/tests/unit/route/test_vectors.c", dir) >= sizeof(p))
        return false;
    return access(p, R_OK) == 0;
}

/* Walks up from dir (modified) to a repository root. */
static bool
walk_up(char *dir, char *out, size_t cap)
{
    for (;;) {
        if (is_root(dir))
            return (size_t)snprintf(out, cap, "%s", dir) < cap;
        char *slash = strrchr(dir, '/');
        if (slash == NULL || slash == dir)
            return false;
        *slash = '\0';
    }
}

/* The repository root: $CANARYD_ROOT when set, else from __FILE__ when it is
 * absolute, else walking up from the executable, then from the working
 * directory, to the directory that holds tests/unit/route/test_vectors.c. */
static bool
find_root(char *out, size_t cap)
{
    const char *env = getenv("CANARYD_ROOT");
    if (env != NULL && env[0] != '\0')
        return (size_t)snprintf(out, cap, "%s", env) < cap;
    char dir[PATH_MAX];
    const char *file = __FILE__, *tail = "/tests/unit/route/test_vectors.c";
    size_t flen = strlen(file), tlen = strlen(tail);
    if (file[0] == '/' && flen > tlen && strcmp(file + flen - tlen, tail) == 0 &&
        flen - tlen < sizeof(dir)) {
        memcpy(dir, file, flen - tlen);
        dir[flen - tlen] = '\0';
        if (is_root(dir))
            return (size_t)snprintf(out, cap, "%s", dir) < cap;
    }
    ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
    if (n > 0) {
        dir[n] = '\0';
        if (walk_up(dir, out, cap))
            return true;
    }
    return getcwd(dir, sizeof(dir)) != NULL && walk_up(dir, out, cap);
}

static bool
find_vectors(char *out, size_t cap)
{
    char root[PATH_MAX];
    if (!find_root(root, sizeof(root)))
        return false;
    return (size_t)snprintf(out, cap, "%s/tests/data/routing.yaml", root) < cap &&
           access(out, R_OK) == 0;
}

/* ---- YAML text for a case ---- */

struct text {
    char *p; /* owned */
    size_t len;
    size_t cap;
};

static void
text_add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        size_t cap = MAX(t->cap * 2, t->len + n + 1024);
        char *p = realloc(t->p, cap);
        BUG_ON(p == NULL);
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void
text_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

/* Plain scalars that must stay typed (weights, ports, ignoreUriCase). */
static bool
is_typed_literal(const struct ast_node *n)
{
    if (!n->is_plain || n->len == 0)
        return false;
    if (strcmp(n->str, "true") == 0 || strcmp(n->str, "false") == 0)
        return true;
    for (size_t i = 0; i < n->len; i++) {
        if (n->str[i] < '0' || n->str[i] > '9')
            return false;
    }
    return true;
}

static void
emit_quoted(struct text *t, const char *s, size_t len)
{
    text_str(t, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            text_add(t, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", c);
            text_str(t, esc);
        } else {
            text_add(t, (const char *)&s[i], 1);
        }
    }
    text_str(t, "\"");
}

/* Flow-style YAML for node n; scalars quoted unless typed literals. */
static void
emit_node(struct text *t, const struct ast_node *n)
{
    switch (n->type) {
    case AST_SCALAR:
        if (is_typed_literal(n))
            text_add(t, n->str, n->len);
        else
            emit_quoted(t, n->str, n->len);
        return;
    case AST_SEQ:
        text_str(t, "[");
        for (size_t i = 0; i < n->nitems; i++) {
            text_str(t, i > 0 ? ", " : "");
            emit_node(t, n->items[i]);
        }
        text_str(t, "]");
        return;
    case AST_MAP:
        text_str(t, "{");
        for (size_t i = 0; i < n->npairs; i++) {
            text_str(t, i > 0 ? ", " : "");
            emit_quoted(t, n->pairs[i].key->str, n->pairs[i].key->len);
            text_str(t, ": ");
            emit_node(t, n->pairs[i].val);
        }
        text_str(t, "}");
        return;
    }
}

static const char SERVICE_YAML[] = "apiVersion: networking.istio.io/v1\n"
                                   "kind: ServiceEntry\n"
                                   "metadata: {name: mobile-api}\n"
                                   "spec:\n"
                                   "  hosts: [mobile-api]\n"
                                   "  ports: [{number: 80, name: http, protocol: HTTP}]\n"
                                   "  resolution: STATIC\n"
                                   "  endpoints:\n"
                                   "  - address: 127.0.0.1\n"
                                   "    ports: {http: 9001}\n"
                                   "    labels: {version: v1}\n"
                                   "  - address: 127.0.0.1\n"
                                   "    ports: {http: 9002}\n"
                                   "    labels: {version: v2}\n"
                                   "---\n"
                                   "apiVersion: networking.istio.io/v1\n"
                                   "kind: DestinationRule\n"
                                   "metadata: {name: mobile-api}\n"
                                   "spec:\n"
                                   "  host: mobile-api\n"
                                   "  subsets:\n"
                                   "  - {name: v1, labels: {version: v1}}\n"
                                   "  - {name: v2, labels: {version: v2}}\n";

static void
case_yaml(struct text *t, const struct ast_node *vss)
{
    text_str(t, SERVICE_YAML);
    for (size_t i = 0; vss != NULL && i < vss->nitems; i++) {
        char head[160];
        snprintf(head, sizeof(head),
                 "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                 "metadata: {name: vs-%zu}\nspec: ",
                 i);
        text_str(t, head);
        emit_node(t, vss->items[i]);
        text_str(t, "\n");
    }
}

/* ---- requests ---- */

static const char *
scalar_or(const struct ast_node *map, const char *key, const char *dflt)
{
    const struct ast_node *n = ast_map_get(map, key);
    return n != NULL && n->type == AST_SCALAR ? n->str : dflt;
}

/* Raw HTTP/1.1 head for request rq into t. */
static void
request_bytes(struct text *t, const struct ast_node *rq)
{
    text_str(t, scalar_or(rq, "method", "GET"));
    text_str(t, " ");
    text_str(t, scalar_or(rq, "path", "/"));
    text_str(t, " HTTP/1.1\r\nHost: ");
    text_str(t, scalar_or(rq, "host", "mobile-api"));
    text_str(t, "\r\n");
    const struct ast_node *hdrs = ast_map_get(rq, "headers");
    for (size_t i = 0; hdrs != NULL && hdrs->type == AST_SEQ && i < hdrs->nitems; i++) {
        const struct ast_node *kv = hdrs->items[i];
        BUG_ON(kv->type != AST_SEQ || kv->nitems != 2);
        text_add(t, kv->items[0]->str, kv->items[0]->len);
        text_str(t, ": ");
        text_add(t, kv->items[1]->str, kv->items[1]->len);
        text_str(t, "\r\n");
    }
    text_str(t, "\r\n");
}

/* Percentage of NDRAWS draws per subset against want (subset -> percent). */
static int
check_subsets(const struct conf_route *r, const struct ast_node *want, const char *where)
{
    unsigned count[64] = {0};
    struct lb_rng rng;
    int failures = 0;
    BUG_ON(r->ndests > countof(count));
    lb_rng_seed(&rng, 20240601);
    for (int i = 0; i < NDRAWS; i++) {
        size_t d = lb_pick_dest(r, lb_rand(&rng));
        BUG_ON(d >= r->ndests);
        count[d]++;
    }
    unsigned listed = 0;
    for (size_t k = 0; k < want->npairs; k++) {
        const char *subset = want->pairs[k].key->str;
        double pct_want = strtod(want->pairs[k].val->str, NULL);
        unsigned n = 0;
        for (size_t d = 0; d < r->ndests; d++) {
            const char *s = r->dests[d].cluster->subset;
            if (s != NULL && strcmp(s, subset) == 0)
                n += count[d];
        }
        listed += n;
        double pct = 100.0 * n / NDRAWS;
        if (pct < pct_want - SUBSET_TOLERANCE_POINTS || pct > pct_want + SUBSET_TOLERANCE_POINTS) {
            print_error("%s: subset %s got %.2f%%, want %.2f%%\n", where, subset, pct, pct_want);
            failures++;
        }
    }
    if (listed != NDRAWS) {
        print_error("%s: %u draws went to subsets not in expect_subsets\n", where, NDRAWS - listed);
        failures++;
    }
    return failures;
}

/* Routes request rq on conf c; returns the number of mismatches. */
static int
check_request(const struct conf *c, const struct ast_node *rq, const char *where)
{
    struct text raw = {0};
    request_bytes(&raw, rq);
    struct h1_msg msg;
    memset(&msg, 0, sizeof(msg));
    ssize_t rc = h1_parse_request(raw.p, raw.len, &msg);
    if (rc <= 0) {
        print_error("%s: h1_parse_request returned %zd (%s)\n", where, rc,
                    msg.err != NULL ? msg.err : "incomplete");
        free(raw.p);
        return 1;
    }
    static char scratch[H1_MAX_HEAD];
    const struct conf_listener *l = &c->listeners[0];
    struct http_req hr;
    h1_req_view(&msg, &hr);
    hr.scheme = (struct http_str){"http", 4};
    struct route_req rr = {
        .req = &hr,
        .port = l->port,
        .scratch = scratch,
        .scratch_cap = sizeof(scratch),
    };
    const struct conf_vhost *vh = route_vhost(&l->vhosts, msg.host, msg.host_len);
    const struct conf_vs *vs = vh != NULL ? vh->vs : NULL;
    rr.gateways = vh != NULL ? vh->gateways : NULL;
    rr.gw_words = c->gw_words;
    const struct conf_route *r = vs != NULL ? route_select(vs, &rr) : NULL;
    const char *got = r != NULL ? r->name : "404";
    const char *want = scalar_or(rq, "expect", "?");
    int failures = 0;
    if (strcmp(got, want) != 0) {
        print_error("%s: routed to %s, want %s\n", where, got, want);
        failures++;
    }
    const struct ast_node *subsets = ast_map_get(rq, "expect_subsets");
    if (r != NULL && subsets != NULL && failures == 0)
        failures += check_subsets(r, subsets, where);
    free(raw.p);
    return failures;
}

/* ---- tests ---- */

static void
test_vectors_case_routes_as_expected(void **state)
{
    const struct ast_node *tc = *state;
    const char *name = scalar_or(tc, "name", "?");
    struct text yaml = {0};
    case_yaml(&yaml, ast_map_get(tc, "virtualServices"));
    struct diag_list dl;
    diag_list_init(&dl);
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    struct conf *c = conf_build_buffer(name, yaml.p, yaml.len, &opts, &dl);
    if (c == NULL) {
        diag_list_print(&dl, stderr);
        fprintf(stderr, "--- generated YAML ---\n%s\n", yaml.p);
    }
    diag_list_fini(&dl);
    free(yaml.p);
    assert_non_null(c);
    assert_int_equal(c->nlisteners, 1);
    const struct ast_node *rqs = ast_map_get(tc, "requests");
    assert_non_null(rqs);
    int failures = 0;
    for (size_t i = 0; i < rqs->nitems; i++) {
        char where[256];
        snprintf(where, sizeof(where), "%s: request %zu (line %d)", name, i,
                 rqs->items[i]->loc.line);
        failures += check_request(c, rqs->items[i], where);
    }
    conf_unref(&c);
    assert_int_equal(failures, 0);
}

static void
test_vectors_file_is_found_and_loads(void **state)
{
    const struct ast_set *set = *state;
    assert_non_null(set);
    assert_int_equal(set->ndocs, 1);
}

int
main(void)
{
    static struct ast_set set;
    static struct CMUnitTest tests[MAX_CASES + 1];
    char path[PATH_MAX];
    struct diag_list dl;
    size_t n = 0;
    diag_list_init(&dl);
    bool ok = find_vectors(path, sizeof(path)) && ast_set_init(&set) == 0 &&
              ast_load_path(&set, path, &dl) == 0 && set.ndocs == 1;
    diag_list_print(&dl, stderr);
    diag_list_fini(&dl);
    tests[n++] = (struct CMUnitTest){
        .name = "test_vectors_file_is_found_and_loads",
        .test_func = test_vectors_file_is_found_and_loads,
        .initial_state = ok ? &set : NULL,
    };
    const struct ast_node *cases = ok ? ast_map_get(set.docs[0].root, "cases") : NULL;
    if (ok)
        fprintf(stderr, "vectors: %s\n", path);
    for (size_t i = 0; cases != NULL && i < cases->nitems && n < countof(tests); i++) {
        tests[n++] = (struct CMUnitTest){
            .name = scalar_or(cases->items[i], "name", "?"),
            .test_func = test_vectors_case_routes_as_expected,
            .initial_state = (void *)cases->items[i],
        };
    }
    int rc = _cmocka_run_group_tests("vectors", tests, n, NULL, NULL);
    ast_set_fini(&set);
    return rc;
}
