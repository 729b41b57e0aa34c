/*
 * cors.c: the CORS decisions of a route's corsPolicy (see cors.h). The stream
 * calls cors_decide once per request on a route that has a policy, answers a
 * preflight with cors_preflight_headers and adds cors_response_headers to the
 * response of an allowed origin. Envoy's filter is the reference: the allowed
 * origin is echoed (never "*"), no Vary header is added, a denied origin gets
 * no Access-Control-Allow-Origin.
 */
#include "canaryd/common.h"
#include "canaryd/route/cors.h"

#include <string.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/match.h"

#define LIT(s) s, sizeof(s) - 1

bool
cors_origin_is_allowed(const struct conf_cors *p, const char *origin, size_t len)
{
    if (p->is_any_origin)
        return true;
    for (size_t i = 0; i < p->norigins; i++)
        if (match_test(p->origins[i], origin, len))
            return true;
    return false;
}

enum cors_verdict
cors_decide(const struct conf_cors *p, const char *method, size_t method_len, const char *origin,
            size_t origin_len, size_t acrm_len)
{
    if (origin == NULL || origin_len == 0)
        return CORS_NONE;
    bool allowed = cors_origin_is_allowed(p, origin, origin_len);
    bool preflight = acrm_len > 0 && method_len == 7 && memcmp(method, "OPTIONS", 7) == 0;
    if (!preflight)
        return allowed ? CORS_ALLOWED : CORS_DENIED;
    if (allowed)
        return CORS_PREFLIGHT;
    return p->forward_unmatched ? CORS_DENIED : CORS_PREFLIGHT_DENIED;
}

static size_t
put(struct cors_hdr *out, size_t n, const char *name, size_t name_len, const char *value,
    size_t value_len)
{
    out[n] = (struct cors_hdr){name, name_len, value, value_len};
    return n + 1;
}

size_t
cors_preflight_headers(const struct conf_cors *p, enum cors_verdict v, const char *origin,
                       size_t origin_len, const char *req_headers, size_t req_headers_len,
                       struct cors_hdr *out)
{
    size_t n = 0;
    if (v == CORS_PREFLIGHT)
        n = put(out, n, LIT("access-control-allow-origin"), origin, origin_len);
    if (p->allow_credentials)
        n = put(out, n, LIT("access-control-allow-credentials"), LIT("true"));
    if (p->allow_methods != NULL)
        n = put(out, n, LIT("access-control-allow-methods"), p->allow_methods,
                p->allow_methods_len);
    bool echo = p->allow_headers_len == 1 && p->allow_headers[0] == '*';
    if (echo && req_headers != NULL && req_headers_len > 0)
        n = put(out, n, LIT("access-control-allow-headers"), req_headers, req_headers_len);
    else if (!echo && p->allow_headers != NULL)
        n = put(out, n, LIT("access-control-allow-headers"), p->allow_headers,
                p->allow_headers_len);
    if (p->max_age != NULL)
        n = put(out, n, LIT("access-control-max-age"), p->max_age, p->max_age_len);
    return n;
}

size_t
cors_response_headers(const struct conf_cors *p, const char *origin, size_t origin_len,
                      struct cors_hdr *out)
{
    size_t n = put(out, 0, LIT("access-control-allow-origin"), origin, origin_len);
    if (p->allow_credentials)
        n = put(out, n, LIT("access-control-allow-credentials"), LIT("true"));
    if (p->expose_headers != NULL)
        n = put(out, n, LIT("access-control-expose-headers"), p->expose_headers,
                p->expose_headers_len);
    return n;
}

bool
cors_hdrs_has(const struct cors_hdr *h, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == len && memcmp(h[i].name, name, len) == 0)
            return true;
    return false;
}
