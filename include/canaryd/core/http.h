/*
 * http.h: the protocol-neutral HTTP vocabulary. Routing, policy and logs see a
 * request only in these terms: method, scheme, authority, path, query, a
 * header list and the client address. HTTP/1 fills them from its parsed head
 * (h1_req_view); another wire protocol fills the same views, so that a
 * request routes through exactly the same code whichever protocol carried it.
 *
 * The client's side of an exchange is written and its request body read
 * through struct http_down_proto, the interface a wire protocol implements
 * for it (HTTP/1: h1_down.h). The stream logic says what a response is
 * (status, fields, how its body arrives, whether the connection stays) and
 * hands over body bytes; the protocol writes its own syntax and framing.
 * Types, the header lookup and the reason phrases of http.c; no I/O.
 */
#ifndef CANARYD_HTTP_H
#define CANARYD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf_out;

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

/* How a message body is delimited by the protocol that carries it in. */
enum http_body_kind {
    HTTP_BODY_NONE = 0,    /* no body (HEAD, 204, 304, a request without one) */
    HTTP_BODY_LENGTH,      /* exactly length bytes */
    HTTP_BODY_STREAM,      /* length unknown; the sender marks the end (HTTP/1 chunked) */
    HTTP_BODY_UNTIL_CLOSE, /* ends when the sender closes (HTTP/1 responses) */
};

/* A body as it arrives: its delimiting, and the codings the sender applied on
 * top of it (HTTP/1 Transfer-Encoding other than chunked, forwarded as they
 * are; a writer takes their names from the Transfer-Encoding fields of
 * hdrs). */
struct http_body_desc {
    enum http_body_kind kind;
    uint64_t length; /* HTTP_BODY_LENGTH */
    bool has_codings;
    const struct http_hdr *hdrs; /* borrowed: the received head; NULL when !has_codings */
    uint32_t nhdrs;
};

/* One run of body bytes as read from a sender. */
struct http_data {
    struct http_str wire; /* the bytes as they came, the sender's framing included */
    struct http_str data; /* the payload among them (len 0: framing only) */
    bool is_end;          /* the body is complete with this run */
};

enum http_conn {
    HTTP_CONN_NONE = 0, /* the head says nothing about the connection (interim responses) */
    HTTP_CONN_KEEP,     /* the connection stays for another exchange */
    HTTP_CONN_CLOSE,    /* the connection closes after this response */
    HTTP_CONN_UPGRADE,  /* the connection switches to the protocol in upgrade */
};

/* What ends a response head after the caller's fields. */
struct http_head_end {
    const struct http_body_desc *body; /* the body as planned by body_plan; NULL: no body */
    enum http_conn conn;
    struct http_str upgrade; /* HTTP_CONN_UPGRADE: the protocol switched to; p NULL: unnamed */
};

/*
 * The client's side of an exchange, as one wire protocol writes it. side is
 * the protocol's state for one request (NULL for an answer on a connection
 * that has no request: a malformed head); writers append to a struct buf_out
 * the caller points at the client's output, and a failed write shows in its
 * failed flag. Nothing here does I/O or calls back.
 */
struct http_down_proto {
    const char *name; /* as logged: "HTTP/1.1" */
    /* Starts a response head. reason p NULL: the standard phrase of status. */
    void (*resp_begin)(void *side, struct buf_out *o, uint16_t status, struct http_str reason);
    /* One field of a head. */
    void (*field)(struct buf_out *o, const char *name, size_t name_len, const char *value,
                  size_t value_len);
    /* Plans how a relayed body that arrives as in is written to the client;
     * keep says whether the client's connection may stay open. Returns keep,
     * false when the framing chosen ends by closing. */
    bool (*body_plan)(void *side, const struct http_body_desc *in, bool keep);
    /* Ends a head: the body's framing fields, the connection's fate. */
    void (*resp_end)(void *side, struct buf_out *o, const struct http_head_end *e);
    /* Whether the client takes interim (1xx) responses. */
    bool (*has_interim)(const void *side);
    /* Writes a run of a relayed body, as body_plan planned. */
    void (*data)(void *side, struct buf_out *o, const struct http_data *d);
    /* Ends a relayed body (after its last run). */
    void (*data_end)(void *side, struct buf_out *o);
    /* Takes the next run of the request body from the client's input and
     * consumes it: returns the bytes taken (d says which are payload and
     * whether the body ended; its views stay valid until the input grows), 0
     * when none are (more needed, or the body ended), -1 on a framing error. */
    ssize_t (*req_body)(void *side, struct http_data *d);
    /* Whether the request lets the client's connection stay open. */
    bool (*keeps_conn)(const void *side);
    /* The request's protocol as logged ("HTTP/1.0"); side may be NULL. */
    const char *(*protocol)(const void *side);
};

/* The standard reason phrase of status ("OK", "Not Found"), or a generic one. */
const char *http_reason_phrase(unsigned status);

/* Returns the first header named name (lower case) of h[0..n), or NULL. */
const struct http_hdr *http_hdr_find(const struct http_hdr *h, size_t n, const char *name,
                                     size_t name_len);

#endif /* CANARYD_HTTP_H */
