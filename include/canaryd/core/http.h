/*
 * http.h: the protocol-neutral HTTP vocabulary. Routing, policy and logs see a
 * request only in these terms: method, scheme, authority, path, query, a
 * header list and the client address. HTTP/1 fills them from its parsed head
 * (h1_req_view); another wire protocol fills the same views, so that a
 * request routes through exactly the same code whichever protocol carried it.
 * Types, and the header lookup of http.c; no I/O, no allocation.
 */
#ifndef CANARYD_HTTP_H
#define CANARYD_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* A byte string view; p is NULL for an absent value. */
struct http_str {
    const char *p; /* borrowed: whoever filled the view */
    size_t len;
};

/* One header field of a received head. Names are lower case. */
struct http_hdr {
    char *name;  /* borrowed: the head buffer; lower-cased in place by the parser */
    char *value; /* borrowed: the head buffer; surrounding OWS stripped */
    uint32_t name_len;
    uint32_t value_len;
};

/* A received request head as routing reads it. Every view is borrowed from
 * the stream's copy of the head (or the connection, for scheme and client
 * address) and is valid while the stream lives. */
struct http_req {
    struct http_str method;
    struct http_str scheme;    /* "http"; matched by match[].scheme */
    struct http_str authority; /* Host, or the authority of an absolute target; p NULL: none */
    struct http_str path;      /* the target without its query, as sent (no decoding) */
    struct http_str query;     /* after '?'; p NULL when there is no '?' */
    const struct http_hdr *hdrs;
    uint32_t nhdrs;
    const void *client_addr; /* client IP bytes (4 for IPv4, 16 for IPv6); NULL: unknown */
    size_t client_addr_len;
};

/* Returns the first header named name (lower case) of h[0..n), or NULL. */
const struct http_hdr *http_hdr_find(const struct http_hdr *h, size_t n, const char *name,
                                     size_t name_len);

#endif /* CANARYD_HTTP_H */
