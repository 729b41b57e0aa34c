/*
 * h1.h: strict, incremental HTTP/1.1 message-head parser and chunked-body
 * scanner. No I/O and no allocation: the caller hands a contiguous buffer and
 * gets views into it. Used on both sides of the proxy: requests from clients
 * (downstream) and responses from upstreams. Anything ambiguous for request
 * smuggling is an error, never a guess. Library module: never logs.
 *
 * Return convention of the parse functions (tri-state):
 *   > 0  the head is complete; the value is its length in bytes (through the
 *        blank line); the message fields are filled in;
 *   0    incomplete, call again with more bytes (from the start of the head);
 *   < 0  malformed: msg->err_status says what to answer (400, 414, 431, 501,
 *        505 for a request; 502 for a response) and msg->err says why (static string).
 */
#ifndef CANARYD_H1_H
#define CANARYD_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "canaryd/core/http.h"

#define H1_MAX_HEADERS 100
#define H1_MAX_REQUEST_LINE (8 * 1024) /* longer request line -> 414 */
#define H1_MAX_HEAD (64 * 1024)        /* longer header section -> 431 */
#define H1_MAX_EMPTY_LINES 8           /* CRLFs skipped before a request line */
#define H1_MAX_CHUNK_LINE 4096         /* chunk-size line (with extensions) or trailer line */
#define H1_MAX_CHUNK_DIGITS 16         /* hex digits of a chunk size */
#define H1_MAX_TRAILERS (16 * 1024)    /* whole trailer section of a chunked body */

enum h1_framing {
    H1_FRAME_NONE = 0, /* no body: no CL/TE on a request; 1xx/204/304/HEAD response */
    H1_FRAME_LENGTH,   /* Content-Length bytes */
    H1_FRAME_CHUNKED,  /* Transfer-Encoding: chunked (final coding) */
    H1_FRAME_CLOSE,    /* response body delimited by the upstream closing */
};

enum h1_flags {
    H1_F_NONE = 0,
    H1_F_CONN_CLOSE = 1u << 0,      /* Connection: close (or HTTP/1.0 without keep-alive) */
    H1_F_CONN_KEEPALIVE = 1u << 1,  /* Connection: keep-alive token present */
    H1_F_CONN_UPGRADE = 1u << 2,    /* Connection: upgrade token present */
    H1_F_UPGRADE = 1u << 3,         /* an Upgrade header is present */
    H1_F_EXPECT_CONTINUE = 1u << 4, /* Expect: 100-continue */
    H1_F_ABSOLUTE_FORM = 1u << 5,   /* request-target was http://authority/path */
    H1_F_TE_OTHER = 1u << 6,        /* Transfer-Encoding lists codings besides chunked */
};

struct h1_msg {
    /* request line */
    char *method; /* borrowed: buffer */
    uint32_t method_len;
    char *target; /* borrowed: buffer; as sent (origin, absolute, asterisk or authority form) */
    uint32_t target_len;
    char *path; /* borrowed: buffer; origin-form path without the query, starts with '/' or is
                   "*"; a static read-only "/" when an absolute-form target has an empty path */
    uint32_t path_len;
    char *query; /* borrowed: buffer; after '?', NULL when there is no '?' */
    uint32_t query_len;
    /* status line */
    uint16_t status;
    char *reason; /* borrowed: buffer */
    uint32_t reason_len;
    /* both */
    uint8_t version_minor; /* HTTP/1.<minor>: 0 or 1 */
    uint32_t flags;        /* enum h1_flags */
    enum h1_framing framing;
    uint64_t content_length; /* valid when framing == H1_FRAME_LENGTH */
    char *host;              /* borrowed: Host header value (request), or the authority
                                of an absolute-form target; NULL when absent */
    uint32_t host_len;
    struct http_hdr hdrs[H1_MAX_HEADERS];
    uint32_t nhdrs;
    uint32_t head_len; /* the value returned on success (leading CRLFs included) */
    /* on error */
    uint16_t err_status;
    const char *err; /* static string: short reason for logs */
};

/* Parses a request head from buf[0..len). Header names are lower-cased in place.
 * Accepted targets: origin-form, absolute-form "http://host[:port][/path][?query]"
 * (msg->host is then the target's authority, a Host header is still required for
 * HTTP/1.1), and "*" with OPTIONS only. CONNECT (authority-form) is rejected (400):
 * canaryd does not tunnel. Bytes outside 0x21-0x7E and '#' are rejected in the target.
 * Duplicate Content-Length (separate lines or a "5, 5" list) is accepted only when
 * every value is the same number. Transfer-Encoding on a request must end in a single
 * chunked; gzip, x-gzip, deflate, compress and x-compress may precede it
 * (H1_F_TE_OTHER). A coding name outside that list (and not chunked) is 501 once
 * the rest of the head is well-formed (RFC 9112 6.1), unless chunked came before
 * it (400). Transfer-Encoding on HTTP/1.0 is 400. A well-formed request line
 * whose HTTP-version has a major other than 1 ("HTTP/2.0", "PRI * HTTP/2.0") is
 * 505. Rejects (400): invalid method token, a malformed HTTP-version or HTTP/1.x
 * other than 1.0 and 1.1, CL together with TE, differing or malformed Content-Length,
 * Transfer-Encoding whose final coding is not chunked (or chunked applied twice), obs-fold, bare
 * CR, NUL or other control characters in names or values, whitespace before the
 * colon or inside a name, an HTTP/1.1 request without exactly one Host, more
 * than one Host. 414 when the request line exceeds H1_MAX_REQUEST_LINE, 431 when
 * the head exceeds H1_MAX_HEAD or H1_MAX_HEADERS. Leading empty lines (CRLF)
 * before the request line are skipped (up to H1_MAX_EMPTY_LINES) and count in the
 * returned length; H1_MAX_HEAD applies from the request line on. Exactly
 * H1_MAX_REQUEST_LINE bytes (without CRLF) and exactly H1_MAX_HEAD bytes are legal.
 * req must not be NULL. The parse restarts from buf[0] on every call; the fields
 * of req are meaningful only after a return > 0 (err/err_status after < 0). */
ssize_t h1_parse_request(char *buf, size_t len, struct h1_msg *req);

/* Parses a response head from buf[0..len). method is the request's method
 * (HEAD responses have no body); framing accounts for 1xx, 204 and 304.
 * Rejects (err_status 502): bad status line, CL+TE, differing Content-Length,
 * malformed values, head larger than H1_MAX_HEAD. Also 502: a version other than
 * HTTP/1.0 or HTTP/1.1, a status outside 100-999, Content-Length or Transfer-Encoding
 * on a 1xx or 204, chunked not final or twice, Transfer-Encoding on HTTP/1.0.
 * The reason phrase may be empty and its SP may be missing ("HTTP/1.1 200\r\n").
 * Framing: NONE for HEAD, 1xx (101 included: the caller tunnels), 204 and 304;
 * CHUNKED when chunked is final; CLOSE for other codings or no CL; else LENGTH.
 * method may be NULL (treated as not HEAD); resp must not be NULL. */
ssize_t h1_parse_response(char *buf, size_t len, const char *method, size_t method_len,
                          struct h1_msg *resp);

/* Progress of h1_head_is_ready over one head; zero-initialise per head. */
struct h1_head_progress {
    size_t scanned; /* bytes of the buffer already looked at */
    uint32_t nlf;   /* line feeds seen */
};

/* Optional, linear-time pre-check for a head that arrives in many small
 * reads: looks only at the bytes added since the previous call and returns
 * true when calling h1_parse_request/h1_parse_response on buf[0..len) is
 * worth it: an empty line (CRLF CRLF) or a bare LF arrived, one of the first
 * H1_MAX_EMPTY_LINES + 1 line feeds arrived (so errors in the first line are
 * answered at once), or len just crossed the point where the request-line
 * or head limit must have been passed. When it returns false, the parse
 * would return 0 or an error that it will still return at the next true
 * (errors never go away with more bytes), so skipping it changes only when
 * an error is noticed, never what is answered. Without this, re-parsing a
 * growing head on every read is quadratic in its size. buf must start with
 * the same bytes on every call (the caller appends); hp must not be NULL.
 * Never calls back. */
bool h1_head_is_ready(struct h1_head_progress *hp, const char *buf, size_t len);

/* Fills the protocol-neutral view of the request msg (method, authority,
 * path, query, headers), borrowing from msg. scheme and client address are the
 * connection's: they are left empty for the caller. */
void h1_req_view(const struct h1_msg *msg, struct http_req *v);

/* Returns the first header named name (lower case, name_len bytes) or NULL.
 * The result is borrowed from msg. */
const struct http_hdr *h1_hdr_find(const struct h1_msg *msg, const char *name, size_t name_len);

/* True when name (lower case) is a hop-by-hop header per RFC 9110 7.6.1:
 * connection, keep-alive, proxy-connection, te, trailer, transfer-encoding,
 * upgrade. Headers named in Connection are the caller's business. */
bool h1_is_hop_by_hop(const char *name, size_t name_len);

/* True when the comma-separated token list value contains token
 * (case-insensitive, OWS around elements ignored). */
bool h1_token_list_has(const char *value, size_t value_len, const char *token, size_t token_len);

/* RFC 3986 5.2.4 remove_dot_segments on an origin-form path p[0..n) that
 * starts with '/', in place, with "%2e"/"%2E" read as '.': routing and the
 * upstream both see "/public/../admin" as "/admin", as Istio's default path
 * normalisation does, so a uri rule cannot be side-stepped. Other escapes and
 * repeated slashes are kept. Returns the new length (never longer; at least 1,
 * the path "/"). */
size_t h1_path_normalize(char *p, size_t n);

/* Chunked body scanner state; zero-initialise before the first call. */
struct h1_chunked {
    int state;
    uint64_t remaining;   /* payload bytes left in the current chunk */
    uint32_t line_len;    /* bytes of the current size/trailer line, bounded */
    bool done;            /* the last chunk and the trailer section have been seen */
    uint32_t trailer_len; /* bytes of trailer lines seen, bounded by H1_MAX_TRAILERS */
};

/* Scans a chunked body in buf[0..len) incrementally. Returns the number of
 * bytes consumed (the caller forwards or drops them), 0 when len is 0 or the
 * body is done, -1 on a framing error (bad or overflowing size, missing CRLF,
 * control characters, oversize chunk-size or trailer line). The consumed bytes
 * contain at most one run of chunk payload, reported by *data_off and *data_len
 * (relative to buf; *data_len is 0 when the run is empty), so a caller that
 * de-chunks copies exactly that run. Bytes after the end of the body are not
 * consumed. Size: at most H1_MAX_CHUNK_DIGITS hex digits, below 2^63; optional
 * BWS ";" extensions up to CRLF; the size line and each trailer line at most
 * H1_MAX_CHUNK_LINE bytes; trailers are validated like header fields (no
 * obs-fold) and total at most H1_MAX_TRAILERS. Every CR must be followed by LF.
 * Once -1 was returned, every later call returns -1. Any split of the input over
 * calls gives the same result and the same payload bytes. */
ssize_t h1_chunked_scan(struct h1_chunked *st, const char *buf, size_t len, size_t *data_off,
                        size_t *data_len);

#endif /* CANARYD_H1_H */
