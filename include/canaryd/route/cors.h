/*
 * cors.h: the decisions of a VirtualService corsPolicy, with the meaning of
 * Envoy's CORS filter as Istio configures it. The stream asks, after routing
 * and before fault injection, what a request is (cors_decide), then which
 * headers an answer carries (cors_preflight_headers for the preflight canaryd
 * answers itself, cors_response_headers for any other response of an allowed
 * origin). Pure functions on the compiled policy: no I/O, no allocation, no
 * logging; safe on any worker.
 */
#ifndef CANARYD_CORS_H
#define CANARYD_CORS_H

#include <stdbool.h>
#include <stddef.h>

struct conf_cors;

enum cors_verdict {
    CORS_NONE = 0,         /* no (or an empty) Origin: not a CORS request */
    CORS_DENIED,           /* the origin is not allowed: forwarded, no CORS headers */
    CORS_ALLOWED,          /* allowed, not a preflight: forwarded, response headers added */
    CORS_PREFLIGHT,        /* allowed preflight: answered by canaryd, never forwarded */
    CORS_PREFLIGHT_DENIED, /* preflight of a denied origin under unmatchedPreflights
                              IGNORE: answered by canaryd without Allow-Origin */
};

/* One response header; both strings borrowed (from the policy or from the
 * request the caller passed in). */
struct cors_hdr {
    const char *name; /* lower case */
    size_t name_len;
    const char *value;
    size_t value_len;
};

#define CORS_HDRS_MAX 5

/* Whether origin[0..len) is allowed: an entry matches it, or an entry matches
 * "*" (Envoy's test, so allowOrigin ["*"] allows everything). */
bool cors_origin_is_allowed(const struct conf_cors *p, const char *origin, size_t len);

/* Classifies a request under policy p. origin may be NULL (absent); a
 * preflight is OPTIONS with a non-empty Origin and a non-empty
 * Access-Control-Request-Method (acrm_len is its length, 0 when absent). A
 * denied preflight is CORS_DENIED under FORWARD, CORS_PREFLIGHT_DENIED under
 * IGNORE. */
enum cors_verdict cors_decide(const struct conf_cors *p, const char *method, size_t method_len,
                              const char *origin, size_t origin_len, size_t acrm_len);

/* The headers of canaryd's answer to a preflight (v is CORS_PREFLIGHT or
 * CORS_PREFLIGHT_DENIED): Allow-Origin echoing origin (allowed only),
 * Allow-Credentials, Allow-Methods, Allow-Headers (allowHeaders "*" echoes
 * req_headers, the request's Access-Control-Request-Headers, when not
 * empty), Max-Age. Fills out[0..CORS_HDRS_MAX) and returns the count. */
size_t cors_preflight_headers(const struct conf_cors *p, enum cors_verdict v, const char *origin,
                              size_t origin_len, const char *req_headers, size_t req_headers_len,
                              struct cors_hdr *out);

/* The headers added to any other response for an allowed origin: Allow-Origin
 * echoing origin, Allow-Credentials, Expose-Headers. They replace the same
 * headers of the upstream response (see cors_hdrs_has). Fills out and returns
 * the count. */
size_t cors_response_headers(const struct conf_cors *p, const char *origin, size_t origin_len,
                             struct cors_hdr *out);

/* Whether name[0..len) (lower case) is one of h[0..n). */
bool cors_hdrs_has(const struct cors_hdr *h, size_t n, const char *name, size_t len);

#endif /* CANARYD_CORS_H */
