/*
 * route.h: request -> VirtualService -> route, with Istio semantics.
 * Sits on the request path right after the head is parsed: the stream asks
 * route_vhost() which VirtualService of its listener serves the Host, then
 * route_select() which of that VirtualService's http[] routes takes the
 * request (first match wins). lb.c then picks the destination and endpoint.
 * Pure logic over a pinned conf snapshot and the protocol-neutral request
 * view of http.h, whichever protocol carried the request: no allocation, no
 * locks, no I/O, never logs, never calls back.
 */
#ifndef CANARYD_ROUTE_H
#define CANARYD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf_route;
struct conf_vhost;
struct conf_vhosts;
struct conf_vs;
struct http_req;

/* Longest Host (without its port) route_vhost() looks up; longer is no match. */
#define ROUTE_HOST_MAX 255

/* Separators used to join repeated request headers before matching: Cookie
 * lines with "; " (as browsers send them), every other header with ", " (the
 * list form of RFC 9110 5.3, as the canaryd contract says). Envoy joins plain
 * headers with a bare ","; a regex written with ",\s*" matches both. */
#define ROUTE_JOIN_SEP ", "
#define ROUTE_JOIN_SEP_COOKIE "; "

/* Everything route_select() (and lb_key_*) read about one request. Filled by
 * the stream on its stack; nothing here is owned. */
struct route_req {
    const struct http_req *req; /* borrowed: the stream's request view */
    uint16_t port;              /* port of the listener the request came in on; match[].port */
    const uint64_t *gateways;   /* borrowed: the host binding's Gateway set
                                   (conf_vhost.gateways), gw_words words; NULL = none, so a
                                   match entry naming gateways never holds */
    size_t gw_words;
    char *scratch; /* borrowed: caller's buffer for joined repeated headers; may be NULL
                      when scratch_cap is 0. As many bytes as the longest head accepted
                      never overflow. */
    size_t scratch_cap;
};

/* Host header value -> host binding (VirtualService) for one listener's host table.
 * host[0..len) is the Host header as sent (or NULL/0 when absent). The port is
 * stripped ("a.example.com:8080" -> "a.example.com", "[::1]:8080" -> "[::1]",
 * brackets kept; a colon-separated IPv6 literal without brackets is kept as
 * is), the rest lower-cased into a stack buffer. A host longer than
 * ROUTE_HOST_MAX bytes gives NULL. Lookup order, as Envoy/Istio: exact host
 * (the conf hash table, which also holds the Kubernetes forms of short names),
 * then the longest wildcard suffix ("*.example.com" matches "www.example.com"
 * and "a.b.example.com", never "example.com"), then "*". An absent or empty
 * host only matches "*". Returns the binding, borrowed from the snapshot that
 * owns vh, or NULL when nothing serves the host (404). A binding may have no
 * VirtualService (vs NULL) when it only redirects to https. */
const struct conf_vhost *route_vhost(const struct conf_vhosts *vh, const char *host, size_t len);

/* Returns the first route of vs whose match[] holds for rr, or NULL (404).
 * A route with no match entry takes every request. match[] entries are OR'ed
 * and the fields of one entry AND'ed, with Istio/Envoy semantics:
 *  - an entry marked never (sourceLabels/sourceNamespace for another workload,
 *    decided at load time) holds for no request;
 *  - uri: the path without the query string, as sent (no decoding); exact and
 *    prefix honour ignoreUriCase (compiled into struct match), regex does not;
 *  - gateways: one of the named Gateways is in rr->gateways (checked first, a
 *    few word ANDs, no strings);
 *  - method, scheme, authority (the Host header as sent, port included), port
 *    (rr->port, the listener's);
 *  - headers.<name>: an absent header never matches (presence {} included);
 *    repeated headers are joined with ROUTE_JOIN_SEP, Cookie with
 *    ROUTE_JOIN_SEP_COOKIE, before matching;
 *  - withoutHeaders.<name>: holds when the header is absent or does not match;
 *  - queryParams.<name>: the FIRST value of the parameter; "a" without '=' has
 *    the value ""; names and values are compared raw, without percent-decoding
 *    (Envoy's route matcher uses QueryParamsMulti::parseQueryString, which does
 *    not decode); an absent parameter never matches.
 * Regexes are full-match (match.c). When a joined header does not fit in
 * rr->scratch, that header condition fails (also for withoutHeaders), so the
 * entry does not match. vs and rr must not be NULL. The result is borrowed from
 * the snapshot that owns vs. */
const struct conf_route *route_select(const struct conf_vs *vs, const struct route_req *rr);

/* Value of request header name[0..name_len) (lower case) as the matcher sees
 * it. One occurrence: *val points into the head buffer. Several: they are
 * joined (Cookie with "; ", others with ",") into rr->scratch and *val points
 * there, valid until the next call that uses the scratch.
 * Returns 1 when present, 0 when absent, -1 when the joined value does not fit
 * in rr->scratch (*val and *len are then unspecified). */
int route_hdr_get(const struct route_req *rr, const char *name, size_t name_len, const char **val,
                  size_t *len);

/* First value of query parameter name[0..name_len) (case-sensitive, raw) in
 * query[0..query_len) (the part after '?'; query may be NULL). Parameters are
 * separated by '&'; a parameter without '=' has the empty value. Returns true
 * and sets *val and *len (pointing into query) when the parameter is present. */
bool route_query_get(const char *query, size_t query_len, const char *name, size_t name_len,
                     const char **val, size_t *len);

#endif /* CANARYD_ROUTE_H */
