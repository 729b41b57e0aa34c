/*
 * conf_vs.c: the VirtualService kind as schema tables: routes, matches,
 * destinations, header operations, rewrite, redirect, directResponse,
 * retries, faults and mirrors. A route is walked into the snapshot's struct
 * conf_route in place; its parse-time parts go to cf_ctx.route. Cross-object
 * checks are conf_compile.c's. Load time only.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/core/arena.h"
#include "canaryd/core/diag.h"

/* ---- VirtualService: destinations ---- */

static int
h_portsel_number(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_destref *r = obj;
    r->port_where = cf_where_here(c, n);
    return cf_h_u16(c, f, n, &r->port);
}

static const struct cf_field portsel_fields[] = {
    {.key = "number",
     .type = CF_T_INT,
     .store = CF_ST_OBJ,
     .required = true,
     .fn.put = h_portsel_number,
     .min = 1,
     .max = 65535,
     .sample = "80"},
    CF_END,
};
static const struct cf_table portsel_tab = CF_TABLE(struct cf_destref, portsel_fields);

static int
h_subset_ref(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_destref *r = obj;
    r->subset_where = cf_where_here(c, n);
    return cf_h_tstr(c, f, n, &r->subset);
}

static const struct cf_field destination_fields[] = {
    CF_STR("host", true, cf_h_tlstr, struct cf_destref, host),
    {.key = "subset", .type = CF_T_STR, .store = CF_ST_OBJ, .fn.put = h_subset_ref, .sample = "v1"},
    CF_OBJ("port", CF_T_MAP, false, cf_h_map, &portsel_tab),
    CF_END,
};
static const struct cf_table destination_tab = CF_TABLE(struct cf_destref, destination_fields);

/* A destination: its where, then its fields. p is a struct cf_destref. */
static int
h_destref(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    struct cf_destref *r = p;
    r->where = cf_where_here(c, n);
    return CF_WALK(c, n, &destination_tab, r);
}

static int
h_weight(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct cf_dest *d = obj;
    if (cf_h_u32(c, f, n, &d->weight) == -1)
        return -1;
    d->has_weight = true;
    return 0;
}

/* set/add: header name -> value. */
static int
parse_hdr_kvs(struct cf_ctx *c, const struct ast_node *n, struct conf_hdr_kv **out, size_t *nout)
{
    if (cf_check_strmap(c, NULL, n) == -1)
        return -1;
    struct conf_hdr_kv *v = arena_alloc_array(c->a, n->npairs, sizeof(*v));
    if (v == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < n->npairs; i++) {
        const struct ast_pair *p = &n->pairs[i];
        v[i].name = cf_lower_dup(c->a, p->key->str, p->key->len);
        v[i].name_len = p->key->len;
        v[i].value = arena_strndup(c->a, p->val->str, p->val->len);
        v[i].value_len = p->val->len;
        if (v[i].name == NULL || v[i].value == NULL)
            return cf_oom(c);
    }
    *out = v;
    *nout = n->npairs;
    return 0;
}

static int
h_hdr_set(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_hdr_ops *ops = obj;
    return parse_hdr_kvs(c, n, &ops->set, &ops->nset);
}

static int
h_hdr_add(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_hdr_ops *ops = obj;
    return parse_hdr_kvs(c, n, &ops->add, &ops->nadd);
}

static int
h_hdr_remove(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_hdr_ops *ops = obj;
    struct cf_str *names = NULL;
    size_t nnames = 0;
    if (cf_parse_strs(c, n, true, &names, &nnames) == -1)
        return -1;
    struct conf_hdr_kv *v = arena_alloc_array(c->a, nnames, sizeof(*v));
    if (v == NULL)
        return cf_oom(c);
    for (size_t i = 0; i < nnames; i++)
        v[i] = (struct conf_hdr_kv){.name = names[i].s, .name_len = names[i].len, .value = ""};
    ops->remove = v;
    ops->nremove = nnames;
    return 0;
}

static const struct cf_field hdr_ops_fields[] = {
    {.key = "set",
     .type = CF_T_MAP,
     .store = CF_ST_OBJ,
     .fn.put = h_hdr_set,
     .sample = "{x-canary: \"yes\"}"},
    {.key = "add",
     .type = CF_T_MAP,
     .store = CF_ST_OBJ,
     .fn.put = h_hdr_add,
     .sample = "{x-added: one}"},
    {.key = "remove",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = h_hdr_remove,
     .sample = "[x-internal]"},
    CF_END,
};
static const struct cf_table hdr_ops_tab = CF_TABLE(struct conf_hdr_ops, hdr_ops_fields);

static const struct cf_field headers_fields[] = {
    CF_SUB("request", false, struct conf_headers, request, struct conf_hdr_ops, hdr_ops_tab),
    CF_SUB("response", false, struct conf_headers, response, struct conf_hdr_ops, hdr_ops_tab),
    CF_END,
};
static const struct cf_table headers_tab = CF_TABLE(struct conf_headers, headers_fields);

/* Destination headers are rare: stored only when written. */
static int
h_dest_headers(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_dest *d = obj;
    if ((d->headers = arena_alloc(c->tmp, sizeof(*d->headers))) == NULL)
        return cf_oom(c);
    return CF_WALK(c, n, &headers_tab, d->headers);
}

static const struct cf_field dest_fields[] = {
    {.key = "destination",
     .type = CF_T_MAP,
     .store = CF_ST_SLOT,
     .required = true,
     .fn.put = h_destref,
     CF__SLOT(struct cf_dest, ref, struct cf_destref),
     .sub = &destination_tab},
    {.key = "weight",
     .type = CF_T_INT,
     .store = CF_ST_OBJ,
     .fn.put = h_weight,
     .min = 0,
     .max = INT32_MAX},
    CF_OBJ("headers", CF_T_MAP, false, h_dest_headers, &headers_tab),
    CF_END,
};
static const struct cf_table dest_tab = CF_TABLE(struct cf_dest, dest_fields);

/* The route being parsed: the handlers of a route's parse-time parts. */
static struct cf_route *
cur_route(struct cf_ctx *c)
{
    BUG_ON(c->route == NULL);
    return c->route;
}

static int
h_dests(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    (void)obj;
    struct cf_route *r = cur_route(c);
    int rc = 0;
    r->actions |= CF_ACT_ROUTE;
    r->dests = cf_walk_list(c, n, &dest_tab, NULL, &rc);
    r->ndests = r->dests != NULL ? n->nitems : 0;
    if (n->nitems == 0) {
        cf_err(c, n, "a route needs at least one destination");
        rc = -1;
    }
    return rc;
}

/* ---- VirtualService: match ---- */

static int
h_match_headers(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_match *m = obj;
    return cf_parse_hdr_matches(c, n, CF_HDR_HEADERS, &m->headers, &m->nheaders);
}

static int
h_match_without(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_match *m = obj;
    return cf_parse_hdr_matches(c, n, CF_HDR_WITHOUT, &m->headers, &m->nheaders);
}

static int
h_match_query(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_match *m = obj;
    return cf_parse_hdr_matches(c, n, CF_HDR_QUERY, &m->query, &m->nquery);
}

#define CF_STRING_MATCH(k, st, mem)                                                                \
    {                                                                                              \
        .key = k, .type = CF_T_MAP, .store = CF_ST_SLOT, .fn.put = cf_h_match,                     \
        CF__SLOT(st, mem, struct match *), .sub = &cf_string_match_tab                             \
    }
#define CF_MATCH_MAP(k, put_)                                                                      \
    {                                                                                              \
        .key = k, .type = CF_T_MAP, .store = CF_ST_OBJ, .fn.put = put_,                            \
        .sample = "{x-user: {exact: beta}}"                                                        \
    }

static const struct cf_field match_fields[] = {
    CF_STR("name", false, cf_h_str, struct conf_match, name),
    CF_STRING_MATCH("uri", struct conf_match, uri),
    CF_STRING_MATCH("scheme", struct conf_match, scheme),
    CF_STRING_MATCH("method", struct conf_match, method),
    CF_STRING_MATCH("authority", struct conf_match, authority),
    CF_MATCH_MAP("headers", h_match_headers),
    CF_MATCH_MAP("withoutHeaders", h_match_without),
    CF_MATCH_MAP("queryParams", h_match_query),
    /* Read by h_matches once the uri matcher exists. */
    {.key = "ignoreUriCase", .type = CF_T_BOOL, .store = CF_ST_CHECK, .fn.check = NULL},
    CF_U16("port", false, struct conf_match, port, 1, 65535),
    CF_OBJ("sourceLabels", CF_T_MAP, false, cf_h_source_labels, NULL),
    {.key = "gateways",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = cf_h_match_gateways,
     .sample = "[mesh]"},
    CF_OBJ("sourceNamespace", CF_T_STR, false, cf_h_source_ns, NULL),
    CF_WARN("statPrefix", CF_T_STR,
            "canaryd labels its metrics by virtual service and route; statPrefix is not used"),
    CF_END,
};
static const struct cf_table match_tab = CF_TABLE(struct conf_match, match_fields);

static int
h_matches(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_route *r = obj;
    int rc = 0;
    r->matches = arena_alloc_array(c->a, n->nitems, sizeof(*r->matches));
    cur_route(c)->msrc = arena_alloc_array(c->tmp, n->nitems, sizeof(*cur_route(c)->msrc));
    if (r->matches == NULL || cur_route(c)->msrc == NULL)
        return cf_oom(c);
    r->nmatches = n->nitems;
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        size_t mark = cf_path_idx(c, i);
        if (it->type != AST_MAP) {
            cf_err(c, it, "expected a map, got %s", ast_type_name(it));
            rc = -1;
        } else if (CF_WALK(c, it, &match_tab, &r->matches[i]) == -1) {
            rc = -1;
        }
        const struct ast_node *ic = ast_map_get(it, "ignoreUriCase");
        struct match *uri = r->matches[i].uri;
        /* Istio: ignoreUriCase applies to exact and prefix, not to regex. */
        bool ic_true =
            ic != NULL && ast_scalar_kind(ic) == AST_S_BOOL && (ic->str[0] | 0x20) == 't';
        cur_route(c)->msrc[i].ignore_case = ic_true;
        if (ic_true && uri != NULL && (uri->kind == MATCH_EXACT || uri->kind == MATCH_PREFIX))
            uri->ignore_case = true;
        cf_path_pop(c, mark);
    }
    return rc;
}

/* ---- VirtualService: the rest of a route ---- */

static int
h_rewrite_uri(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_rewrite *rw = obj;
    return cf_parse_strlen(c, n, &rw->uri, &rw->uri_len);
}

static int
h_rewrite_authority(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_rewrite *rw = obj;
    return cf_parse_strlen(c, n, &rw->authority, &rw->authority_len);
}

static const struct cf_field rewrite_fields[] = {
    {.key = "uri", .type = CF_T_STR, .store = CF_ST_OBJ, .fn.put = h_rewrite_uri, .sample = "/v2"},
    {.key = "authority",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_rewrite_authority,
     .sample = "mobile-api.internal"},
    CF_REFUSE("uriRegexRewrite", "regex rewrites are not implemented by canaryd; use a prefix "
                                 "rewrite (rewrite.uri)"),
    CF_END,
};
static const struct cf_table rewrite_tab = CF_TABLE(struct conf_rewrite, rewrite_fields);

static int
h_redirect_uri(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_redirect *rd = obj;
    return cf_parse_strlen(c, n, &rd->uri, &rd->uri_len);
}

static int
h_redirect_authority(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                     void *obj)
{
    (void)f;
    struct conf_redirect *rd = obj;
    return cf_parse_strlen(c, n, &rd->authority, &rd->authority_len);
}

static const struct cf_field redirect_fields[] = {
    {.key = "uri",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_redirect_uri,
     .sample = "/new"},
    {.key = "authority",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_redirect_authority,
     .sample = "www.example.com"},
    {.key = "scheme",
     .type = CF_T_STR,
     .store = CF_ST_SLOT,
     .fn.put = cf_h_str,
     CF__SLOT(struct conf_redirect, scheme, const char *),
     .sample = "https"},
    CF_U16("port", false, struct conf_redirect, port, 1, 65535),
    CF_U16("redirectCode", false, struct conf_redirect, status, 300, 399),
    CF_REFUSE("derivePort", "derivePort is not implemented by canaryd; give redirect.port"),
    CF_END,
};
static const struct cf_table redirect_tab = CF_TABLE(struct conf_redirect, redirect_fields);

static int
h_redirect(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_route *r = obj;
    cur_route(c)->actions |= CF_ACT_REDIRECT;
    r->redirect.status = 301;
    return CF_WALK(c, n, &redirect_tab, &r->redirect);
}

static int
h_body_string(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_direct *d = obj;
    return cf_parse_strlen(c, n, &d->body, &d->body_len);
}

static int
b64_value(unsigned char ch)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = ch != '\0' ? strchr(alphabet, ch) : NULL;
    return p != NULL ? (int)(p - alphabet) : -1;
}

/* Standard base64 with optional '=' padding, as protobuf JSON writes bytes. */
static int
h_body_bytes(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_direct *d = obj;
    unsigned char *out = arena_alloc(c->a, n->len + 1);
    if (out == NULL)
        return cf_oom(c);
    size_t len = n->len, o = 0;
    uint32_t acc = 0;
    int bits = 0;
    while (len > 0 && n->str[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)n->str[i]);
        if (v < 0) {
            cf_err(c, n, "invalid base64 at offset %zu", i);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    d->body = (const char *)out;
    d->body_len = o;
    return 0;
}

static const struct cf_field body_fields[] = {
    {.key = "string",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_body_string,
     .sample = "maintenance"},
    {.key = "bytes",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_body_bytes,
     .sample = "aGVsbG8="},
    CF_END,
};
static const struct cf_table body_tab = CF_TABLE(struct conf_direct, body_fields);

static const struct cf_field direct_fields[] = {
    CF_U16("status", true, struct conf_direct, status, 200, 599),
    CF_OBJ("body", CF_T_MAP, false, cf_h_map, &body_tab),
    CF_END,
};
static const struct cf_table direct_tab = CF_TABLE(struct conf_direct, direct_fields);

static int
h_direct(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_route *r = obj;
    cur_route(c)->actions |= CF_ACT_DIRECT;
    const struct ast_node *body = ast_map_get(n, "body");
    if (body != NULL && ast_map_get(body, "string") && ast_map_get(body, "bytes")) {
        cf_err(c, body, "string and bytes are mutually exclusive");
        return -1;
    }
    return CF_WALK(c, n, &direct_tab, &r->direct);
}

static int h_retry_on(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                      void *obj);

static int
check_retry_remote(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    (void)f;
    if ((n->str[0] | 0x20) != 't')
        return 0;
    cf_err(c, n,
           "retryRemoteLocalities: true needs localities, which canaryd does not have; "
           "retries already go to other endpoints of the subset");
    return -1;
}

static const struct cf_field retries_fields[] = {
    CF_U32("attempts", false, struct conf_retries, attempts, 0, 100),
    CF_DUR("perTryTimeout", false, struct conf_retries, per_try_timeout_ms),
    {.key = "retryOn",
     .type = CF_T_STR,
     .store = CF_ST_OBJ,
     .fn.put = h_retry_on,
     .sample = "\"connect-failure,reset,503\""},
    {.key = "retryRemoteLocalities",
     .type = CF_T_BOOL,
     .store = CF_ST_CHECK,
     .fn.check = check_retry_remote,
     .sample = "false"},
    CF_BOOL("retryIgnorePreviousHosts", false, struct conf_retries, ignore_previous_hosts),
    CF_REFUSE("backoff", "a retry backoff setting is not implemented by canaryd"),
    CF_END,
};
static const struct cf_table retries_tab = CF_TABLE(struct conf_retries, retries_fields);

static const struct cf_enum retry_on_enum[] = {
    {"connect-failure", RETRY_ON_CONNECT_FAILURE, NULL},
    {"refused-stream", RETRY_ON_REFUSED_STREAM, NULL},
    {"reset", RETRY_ON_RESET, NULL},
    {"5xx", RETRY_ON_5XX, NULL},
    {"gateway-error", RETRY_ON_GATEWAY_ERROR, NULL},
    {"retriable-4xx", RETRY_ON_RETRIABLE_4XX, NULL},
    {"retriable-status-codes", RETRY_ON_STATUS_CODES, NULL},
    {NULL, 0, NULL},
};

static int
retry_token(struct cf_ctx *c, const struct ast_node *n, struct conf_retries *rt, const char *tok,
            uint16_t *codes)
{
    char *end;
    long code = strtol(tok, &end, 10);
    if (tok[0] >= '0' && tok[0] <= '9' && *end == '\0') {
        if (code < 100 || code > 599) {
            cf_err(c, n, "invalid status code \"%s\" in retryOn", tok);
            return -1;
        }
        codes[rt->ncodes++] = (uint16_t)code;
        rt->on |= RETRY_ON_STATUS_CODES;
        return 0;
    }
    int bit = 0;
    struct ast_node tn = *n;
    tn.str = tok;
    tn.len = strlen(tok);
    if (cf_parse_enum(c, retry_on_enum, &tn, &bit) == -1)
        return -1;
    rt->on |= (uint32_t)bit;
    return 0;
}

/* retryOn: a comma-separated list of conditions and bare status codes. */
static int
h_retry_on(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_retries *rt = obj;
    char *copy = arena_strndup(c->tmp, n->str, n->len);
    uint16_t *codes = arena_alloc(c->a, (n->len / 2 + 1) * sizeof(*codes));
    if (copy == NULL || codes == NULL)
        return cf_oom(c);
    rt->on = 0;
    rt->ncodes = 0;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        size_t tl = strlen(tok);
        while (tl > 0 && tok[tl - 1] == ' ')
            tok[--tl] = '\0';
        if (tl > 0 && retry_token(c, n, rt, tok, codes) == -1)
            rc = -1;
    }
    rt->codes = codes;
    return rc;
}

static int
h_retries(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_retries *rt = &((struct conf_route *)obj)->retries;
    rt->is_set = true;
    rt->ignore_previous_hosts = true;
    return CF_WALK(c, n, &retries_tab, rt);
}

/* The deprecated integer percent forms (fault percent, mirrorPercent): 0 to
 * 100, validated here, applied by the map's handler when the percentage form
 * is not also given (Istio lets the newer form win). */
static int
check_int_percent(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n)
{
    uint32_t v;
    return cf_h_u32(c, f, n, &v);
}

#define CF_INT_PERCENT(k)                                                                          \
    {                                                                                              \
        .key = k, .type = CF_T_INT, .store = CF_ST_CHECK, .fn.check = check_int_percent, .min = 0, \
        .max = 100                                                                                 \
    }

/* The ppm an integer percent n stands for; n was validated by its entry. */
static uint32_t
int_percent_ppm(const struct ast_node *n)
{
    return (uint32_t)strtoul(n->str, NULL, 10) * 10000u;
}

/* The value of the deprecated integer form k of map n, when n does not also
 * have the percentage form; NULL otherwise. */
static const struct ast_node *
old_percent(const struct ast_node *n, const char *k, const char *newer)
{
    const struct ast_node *v = ast_map_get(n, k);
    if (v == NULL || ast_map_get(n, newer) != NULL || ast_scalar_kind(v) != AST_S_INT)
        return NULL;
    return v;
}

static const struct cf_field delay_fields[] = {
    CF_DUR("fixedDelay", true, struct conf_fault, delay_ms),
    CF_PPM("percentage", false, struct conf_fault, delay_ppm),
    CF_INT_PERCENT("percent"),
    CF_REFUSE("exponentialDelay", "exponentialDelay is not implemented by canaryd"),
    CF_END,
};
static const struct cf_table delay_tab = CF_TABLE(struct conf_fault, delay_fields);

static const struct cf_field abort_fields[] = {
    CF_U16("httpStatus", true, struct conf_fault, abort_status, 200, 599),
    CF_PPM("percentage", false, struct conf_fault, abort_ppm),
    CF_REFUSE("grpcStatus", "gRPC needs HTTP/2, which is not yet available in canaryd"),
    CF_REFUSE("http2Error", "HTTP/2 is not yet available in canaryd"),
    CF_INT_PERCENT("percent"),
    CF_END,
};
static const struct cf_table abort_tab = CF_TABLE(struct conf_fault, abort_fields);

static int
h_delay(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_fault *ft = obj;
    ft->has_delay = true;
    ft->delay_ppm = CONF_PPM_ALL;
    if (CF_WALK(c, n, &delay_tab, ft) == -1)
        return -1;
    const struct ast_node *pct = old_percent(n, "percent", "percentage");
    if (pct != NULL)
        ft->delay_ppm = int_percent_ppm(pct);
    return 0;
}

static int
h_abort(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_fault *ft = obj;
    ft->has_abort = true;
    ft->abort_ppm = CONF_PPM_ALL;
    if (CF_WALK(c, n, &abort_tab, ft) == -1)
        return -1;
    const struct ast_node *pct = old_percent(n, "percent", "percentage");
    if (pct != NULL)
        ft->abort_ppm = int_percent_ppm(pct);
    return 0;
}

static const struct cf_field fault_fields[] = {
    CF_OBJ("delay", CF_T_MAP, false, h_delay, &delay_tab),
    CF_OBJ("abort", CF_T_MAP, false, h_abort, &abort_tab),
    CF_END,
};
static const struct cf_table fault_tab = CF_TABLE(struct conf_fault, fault_fields);

static const struct cf_field mirror_item_fields[] = {
    {.key = "destination",
     .type = CF_T_MAP,
     .store = CF_ST_SLOT,
     .required = true,
     .fn.put = h_destref,
     CF__SLOT(struct cf_mirror, ref, struct cf_destref),
     .sub = &destination_tab},
    CF_PPM("percentage", false, struct cf_mirror, ppm),
    CF_END,
};
static const struct cf_table mirror_item_tab = CF_TABLE(struct cf_mirror, mirror_item_fields);

/* mirror is rare: stored only when written. */
static int
h_mirror(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)obj;
    struct cf_mirror *m = arena_alloc(c->tmp, sizeof(*m));
    if (m == NULL)
        return cf_oom(c);
    cur_route(c)->mirror = m;
    return h_destref(c, f, n, &m->ref);
}

static int
h_mirror_pct(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)obj;
    struct cf_route *r = cur_route(c);
    r->has_mirror_ppm = true;
    return cf_h_ppm(c, f, n, &r->mirror_ppm);
}

static void
mirror_init(void *p)
{
    ((struct cf_mirror *)p)->ppm = CONF_PPM_ALL;
}

static int
h_mirrors(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    (void)obj;
    struct cf_route *r = cur_route(c);
    int rc = 0;
    r->mirrors = cf_walk_list(c, n, &mirror_item_tab, mirror_init, &rc);
    r->nmirrors = r->mirrors != NULL ? n->nitems : 0;
    return rc;
}

/* Walked with the snapshot's struct conf_route as object; handlers of the
 * parse-time parts (destinations, mirrors, actions) use c->route. */
static const struct cf_field route_fields[] = {
    CF_STR("name", false, cf_h_str, struct conf_route, name),
    CF_OBJ("match", CF_T_SEQ, false, h_matches, &match_tab),
    CF_OBJ("route", CF_T_SEQ, false, h_dests, &dest_tab),
    CF_OBJ("redirect", CF_T_MAP, false, h_redirect, &redirect_tab),
    CF_OBJ("directResponse", CF_T_MAP, false, h_direct, &direct_tab),
    CF_SUB("rewrite", false, struct conf_route, rewrite, struct conf_rewrite, rewrite_tab),
    CF_DUR("timeout", false, struct conf_route, timeout_ms),
    CF_OBJ("retries", CF_T_MAP, false, h_retries, &retries_tab),
    CF_SUB("fault", false, struct conf_route, fault, struct conf_fault, fault_tab),
    CF_OBJ("mirror", CF_T_MAP, false, h_mirror, &destination_tab),
    CF_OBJ("mirrorPercentage", CF_T_MAP, false, h_mirror_pct, &cf_pct_tab),
    CF_OBJ("mirrors", CF_T_SEQ, false, h_mirrors, &mirror_item_tab),
    CF_SUB("headers", false, struct conf_route, headers, struct conf_headers, headers_tab),
    CF_OBJ("delegate", CF_T_MAP, false, cf_h_delegate, &cf_delegate_tab),
    CF_CORS("corsPolicy", struct conf_route, cors),
    CF_INT_PERCENT("mirrorPercent"),
    CF_INT_PERCENT("mirror_percent"),
    CF_WARN("websocketUpgrade", CF_T_BOOL,
            "canaryd always tunnels an Upgrade (WebSocket) request to the upstream; "
            "websocketUpgrade is not needed"),
    CF_END,
};
static const struct cf_table route_tab = CF_TABLE(struct conf_route, route_fields);

/* The checks Istio's validation makes on one HTTPRoute. */
static int
check_route(struct cf_ctx *c, struct cf_route *r, const struct ast_node *n)
{
    static const char *const names[] = {"route", "redirect", "directResponse", "delegate"};
    unsigned a = r->actions;
    if (a == 0) {
        cf_err(c, n, "a route needs one of route, redirect, directResponse or delegate");
        return -1;
    }
    if ((a & (a - 1)) != 0) {
        const char *first = names[__builtin_ctz(a)];
        a &= a - 1;
        cf_err(c, n, "%s and %s are mutually exclusive", first, names[__builtin_ctz(a)]);
        return -1;
    }
    if (r->mirror != NULL && r->nmirrors > 0) {
        cf_err(c, n, "mirror and mirrors are mutually exclusive");
        return -1;
    }
    if (r->has_mirror_ppm && r->mirror == NULL) {
        cf_err(c, n, "mirrorPercentage (or mirrorPercent) needs mirror");
        return -1;
    }
    return 0;
}

/* Walks every route of n into vs->routes[i] and the snapshot's vs->out[i]. */
static int
walk_routes(struct cf_ctx *c, const struct ast_node *n, struct cf_vs *vs)
{
    int rc = 0;
    for (size_t i = 0; i < n->nitems; i++) {
        const struct ast_node *it = n->items[i];
        struct cf_route *r = &vs->routes[i];
        size_t mark = cf_path_idx(c, i);
        r->r = &vs->out[i];
        if (it->type != AST_MAP) {
            cf_err(c, it, "expected a map, got %s", ast_type_name(it));
            rc = -1;
        } else {
            c->route = r;
            if (CF_WALK(c, it, &route_tab, r->r) == -1)
                rc = -1;
            c->route = NULL;
        }
        cf_path_pop(c, mark);
    }
    return rc;
}

/* mirrorPercent (mirror_percent), when mirrorPercentage is not given. */
static void
mirror_int_percent(struct cf_route *r, const struct ast_node *route)
{
    if (route->type != AST_MAP)
        return;
    const struct ast_node *pct = old_percent(route, "mirrorPercent", "mirrorPercentage");
    if (pct == NULL)
        pct = old_percent(route, "mirror_percent", "mirrorPercentage");
    if (pct == NULL)
        return;
    r->has_mirror_ppm = true;
    r->mirror_ppm = int_percent_ppm(pct);
}

/* The routes are built in place in the snapshot (vs->out becomes
 * conf_vs.routes), so only the parse-time parts are scratch. */
static int
h_routes(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_vs *vs = obj;
    vs->routes = arena_alloc_array(c->tmp, n->nitems, sizeof(*vs->routes));
    vs->out = arena_alloc_array(c->a, n->nitems, sizeof(*vs->out));
    if (vs->routes == NULL || vs->out == NULL)
        return cf_oom(c);
    vs->nroutes = n->nitems;
    int rc = walk_routes(c, n, vs);
    for (size_t i = 0; i < vs->nroutes; i++) {
        struct cf_route *r = &vs->routes[i];
        size_t mark = cf_path_idx(c, i);
        r->where = cf_where_here(c, n->items[i]);
        mirror_int_percent(r, n->items[i]);
        if (r->mirror != NULL)
            r->mirror->ppm = r->has_mirror_ppm ? r->mirror_ppm : CONF_PPM_ALL;
        if (n->items[i]->type == AST_MAP && check_route(c, r, n->items[i]) == -1)
            rc = -1;
        cf_path_pop(c, mark);
    }
    return rc;
}

static int
h_vs_hosts(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_vs *vs = obj;
    return cf_parse_strs(c, n, true, &vs->hosts, &vs->nhosts);
}

static int
h_vs_gateways(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct cf_vs *vs = obj;
    return cf_parse_strs(c, n, false, &vs->gateways, &vs->ngateways);
}

static const struct cf_field vs_fields[] = {
    /* A VirtualService without hosts is a delegate (conf_delegate.c). */
    {.key = "hosts",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = h_vs_hosts,
     .sample = "[mobile-api]"},
    {.key = "gateways",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = h_vs_gateways,
     .sample = "[edge]"},
    CF_OBJ("http", CF_T_SEQ, false, h_routes, &route_tab),
    CF_REFUSE("tls", "canaryd routes HTTP only; tls routes need an L4 proxy"),
    CF_REFUSE("tcp", "canaryd routes HTTP only; tcp routes need an L4 proxy"),
    {.key = "exportTo",
     .type = CF_T_SEQ,
     .store = CF_ST_OBJ,
     .fn.put = cf_h_export_to,
     .sample = "[\".\"]"},
    CF_END,
};
const struct cf_table cf_vs_tab = CF_TABLE(struct cf_vs, vs_fields);
