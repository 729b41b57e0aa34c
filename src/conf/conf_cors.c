/*
 * conf_cors.c: VirtualService http[].corsPolicy -> struct conf_cors, with
 * Istio's validation and translation: allowOrigins (StringMatch; a regex must
 * match the whole origin) or the deprecated allowOrigin (exact strings; used
 * only when allowOrigins is not written), allowMethods (standard methods),
 * allowHeaders / exposeHeaders (joined with ","), maxAge (whole seconds),
 * allowCredentials, unmatchedPreflights. The request path reads the result
 * through cors.c. Load time only.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <string.h>

#include "canaryd/core/arena.h"
#include "canaryd/core/match.h"

/* Parse-time form: the policy, and the two origin lists, kept as nodes until
 * it is known which one applies. */
struct cors_raw {
    struct conf_cors p;
    const struct ast_node *origins; /* borrowed: the document's tree */
    const struct ast_node *origin;  /* borrowed: the document's tree */
};

/* Slot handler: keeps the node (valid while its document is parsed). */
static int
h_node(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)c;
    (void)f;
    *(const struct ast_node **)p = n;
    return 0;
}

static bool
is_str(const struct ast_node *n)
{
    return n->type == AST_SCALAR && ast_scalar_kind(n) == AST_S_STR;
}

typedef int item_check_fn(struct cf_ctx *c, const struct ast_node *it);

/* Istio accepts the methods Go's net/http names. */
static int
check_method(struct cf_ctx *c, const struct ast_node *it)
{
    static const char *const methods[] = {"GET",    "HEAD",    "POST",  "PUT",    "PATCH",
                                          "DELETE", "OPTIONS", "TRACE", "CONNECT"};
    for (size_t i = 0; i < countof(methods); i++)
        if (strcmp(it->str, methods[i]) == 0)
            return 0;
    const char *s = cf_suggest(it->str, methods, countof(methods));
    cf_err(c, it, "\"%s\" is not a supported HTTP method%s%s%s", it->str,
           s != NULL ? " (did you mean \"" : "", s != NULL ? s : "", s != NULL ? "\"?)" : "");
    return -1;
}

/* A header list goes out as a response header value: no control bytes. */
static int
check_header(struct cf_ctx *c, const struct ast_node *it)
{
    if (it->len == 0) {
        cf_err(c, it, "header name cannot be empty");
        return -1;
    }
    for (size_t i = 0; i < it->len; i++) {
        unsigned char ch = (unsigned char)it->str[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
            cf_err(c, it, "control character in header name");
            return -1;
        }
    }
    return 0;
}

/* Checks every item of list n and joins them with "," into the snapshot. */
static int
join_list(struct cf_ctx *c, const struct ast_node *n, item_check_fn *check, const char **out,
          size_t *out_len)
{
    size_t total = 0;
    int rc = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        size_t mark = cf_path_idx(c, i);
        if (!is_str(it)) {
            cf_err(c, it, "expected a string, got %s", ast_type_name(it));
            rc = -1;
        } else if (check(c, it) == -1) {
            rc = -1;
        }
        cf_path_pop(c, mark);
        total += it->len + 1;
    }
    if (rc == -1 || n->nitems == 0)
        return rc; /* an empty list is "not set", as Istio's empty join */
    char *s = arena_alloc(c->a, total);
    if (s == NULL)
        return cf_oom(c);
    size_t at = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        if (i > 0)
            s[at++] = ',';
        memcpy(s + at, n->items[i]->str, n->items[i]->len);
        at += n->items[i]->len;
    }
    s[at] = '\0';
    *out = s;
    *out_len = at;
    return 0;
}

static int
h_methods(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_cors *p = &((struct cors_raw *)obj)->p;
    return join_list(c, n, check_method, &p->allow_methods, &p->allow_methods_len);
}

static int
h_allow_headers(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_cors *p = &((struct cors_raw *)obj)->p;
    return join_list(c, n, check_header, &p->allow_headers, &p->allow_headers_len);
}

static int
h_expose_headers(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_cors *p = &((struct cors_raw *)obj)->p;
    return join_list(c, n, check_header, &p->expose_headers, &p->expose_headers_len);
}

/* Envoy's Access-Control-Max-Age is whole seconds; Istio refuses a fraction. */
static int
h_max_age(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_cors *p = &((struct cors_raw *)obj)->p;
    const char *why = NULL;
    uint32_t ms;
    if (cf_parse_duration(n->str, n->len, &ms, &why) == -1) {
        cf_err(c, n, "invalid duration \"%s\": %s", n->str, why);
        return -1;
    }
    if (ms < 1000 || ms % 1000 != 0) {
        cf_err(c, n, "maxAge must be a whole number of seconds, at least 1s (got \"%s\")", n->str);
        return -1;
    }
    char *s = cf_printf(c->a, "%u", ms / 1000);
    if (s == NULL)
        return cf_oom(c);
    p->max_age = s;
    p->max_age_len = strlen(s);
    return 0;
}

static const struct cf_enum unmatched_enum[] = {
    {"UNSPECIFIED", 1, NULL},
    {"FORWARD", 1, NULL},
    {"IGNORE", 0, NULL},
    {NULL, 0, NULL},
};

static int
h_unmatched(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    int v = 1;
    if (cf_parse_enum(c, f->enums, n, &v) == -1)
        return -1;
    ((struct cors_raw *)obj)->p.forward_unmatched = v == 1;
    return 0;
}

/* The origin lists are kept as nodes (slots); the other lists are joined by
 * object handlers, which name the policy members they write. */
#define CORS_NODE(k, mem, sub_, sample_)                                                           \
    {                                                                                              \
        .key = k, .type = CF_T_SEQ, .store = CF_ST_SLOT, .fn.put = h_node,                         \
        CF__SLOT(struct cors_raw, mem, const struct ast_node *), .sub = sub_, .sample = sample_    \
    }
#define CORS_OBJ(k, t, put_, sample_)                                                              \
    {                                                                                              \
        .key = k, .type = t, .store = CF_ST_OBJ, .fn.put = put_, .sample = sample_                 \
    }

static const struct cf_field cors_fields[] = {
    CORS_NODE("allowOrigins", origins, &cf_string_match_tab, "[{exact: \"https://a.example\"}]"),
    CORS_NODE("allowOrigin", origin, NULL, "[\"https://a.example\"]"),
    CORS_OBJ("allowMethods", CF_T_SEQ, h_methods, "[GET, POST]"),
    CORS_OBJ("allowHeaders", CF_T_SEQ, h_allow_headers, "[authorization, content-type]"),
    CORS_OBJ("exposeHeaders", CF_T_SEQ, h_expose_headers, "[x-request-id]"),
    CORS_OBJ("maxAge", CF_T_STR, h_max_age, "24h"),
    CF_BOOL("allowCredentials", false, struct cors_raw, p.allow_credentials),
    {.key = "unmatchedPreflights",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_unmatched,
     .enums = unmatched_enum},
    CF_END,
};

const struct cf_table cf_cors_tab = CF_TABLE(struct cors_raw, cors_fields);

/* One allowOrigins entry. Istio refuses an empty one, and a regex "*" (not a
 * valid regex; elsewhere canaryd reads it as "present"). */
static int
origin_match(struct cf_ctx *c, const struct ast_node *it, struct match **out)
{
    static const struct cf_field mf = {
        .key = "", .type = CF_T_MAP, .fn.put = cf_h_match, .sub = &cf_string_match_tab};
    if (it->type != AST_MAP) {
        cf_err(c, it, "expected a map, got %s", ast_type_name(it));
        return -1;
    }
    const struct ast_node *rx = ast_map_get(it, "regex");
    if (rx != NULL && rx->type == AST_SCALAR && rx->len == 1 && rx->str[0] == '*') {
        size_t mark = cf_path_key(c, "regex");
        cf_err(c, rx, "invalid regex: \"*\" repeats nothing (use \".*\" or exact: \"*\")");
        cf_path_pop(c, mark);
        return -1;
    }
    if (cf_h_match(c, &mf, it, out) == -1)
        return -1;
    if ((*out)->kind == MATCH_PRESENT || (*out)->len == 0) {
        cf_err(c, it, "an allowed origin needs a non-empty exact, prefix or regex");
        return -1;
    }
    return 0;
}

static int
exact_origin(struct cf_ctx *c, const struct ast_node *it, struct match **out)
{
    if (!is_str(it)) {
        cf_err(c, it, "expected a string, got %s", ast_type_name(it));
        return -1;
    }
    struct match *m = arena_alloc(c->a, sizeof(*m));
    if (m == NULL || (m->str = arena_strndup(c->a, it->str, it->len)) == NULL)
        return cf_oom(c);
    m->kind = MATCH_EXACT;
    m->len = it->len;
    *out = m;
    return 0;
}

/* Compiles the origin list n (allowOrigins when is_matches, else allowOrigin)
 * under key. */
static int
build_origins(struct cf_ctx *c, struct conf_cors *p, const struct ast_node *n, const char *key,
              bool is_matches)
{
    size_t kmark = cf_path_key(c, key);
    p->origins = arena_alloc_array(c->a, n->nitems, sizeof(*p->origins));
    int rc = p->origins != NULL ? 0 : cf_oom(c);
    for (size_t i = 0; p->origins != NULL && i < n->nitems; i++) {
        struct match *m = NULL;
        size_t mark = cf_path_idx(c, i);
        int r = is_matches ? origin_match(c, n->items[i], &m) : exact_origin(c, n->items[i], &m);
        cf_path_pop(c, mark);
        if (r == -1) {
            rc = -1;
            continue;
        }
        p->origins[p->norigins++] = m;
        /* Envoy also tests each entry against "*" itself. */
        if (match_test(m, "*", 1))
            p->is_any_origin = true;
    }
    cf_path_pop(c, kmark);
    return rc;
}

int
cf_h_cors(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *slot)
{
    (void)f;
    struct cors_raw raw = {.p = {.forward_unmatched = true}};
    int rc = CF_WALK(c, n, &cf_cors_tab, &raw);
    if (raw.origins != NULL && raw.origin != NULL) {
        size_t mark = cf_path_key(c, "allowOrigin");
        cf_warn(c, raw.origin, "ignored: allowOrigins is set and takes precedence (as in Istio)");
        cf_path_pop(c, mark);
    }
    if (raw.origins != NULL && build_origins(c, &raw.p, raw.origins, "allowOrigins", true) == -1)
        rc = -1;
    else if (raw.origins == NULL && raw.origin != NULL &&
             build_origins(c, &raw.p, raw.origin, "allowOrigin", false) == -1)
        rc = -1;
    struct conf_cors *p = arena_memdup(c->a, &raw.p, sizeof(raw.p));
    if (p == NULL)
        return cf_oom(c);
    *(struct conf_cors **)slot = p;
    return rc;
}
