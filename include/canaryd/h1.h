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
 *   < 0  malformed: msg->err_status says what to answer (400, 414, 431 for a
 *        request; 502 for a response) and msg->err says why (static string).
 */
#ifndef CANARYD_H1_H
#define CANARYD_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define H1_MAX_HEADERS 100
#define H1_MAX_REQUEST_LINE (8 * 1024) /* longer request line -> 414 */
#define H1_MAX_HEAD (64 * 1024)        /* longer header section -> 431 */

struct h1_hdr {
    char *name; /* borrowed: the caller's buffer; lower-cased in place by the parser */
    char *value; /* borrowed: the caller's buffer; surrounding OWS stripped */
    uint32_t name_len;
    uint32_t value_len;
};

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
};

struct h1_msg {
    /* request line */
    char *method; /* borrowed: buffer */
    uint32_t method_len;
    char *target; /* borrowed: buffer; as sent (origin, absolute, asterisk or authority form) */
    uint32_t target_len;
    char *path; /* borrowed: buffer; origin-form path without the query, starts with '/' or is "*" */
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
    struct h1_hdr hdrs[H1_MAX_HEADERS];
    uint32_t nhdrs;
    uint32_t head_len;
    /* on error */
    uint16_t err_status;
    const char *err; /* static string: short reason for logs */
};

/* Parses a request head from buf[0..len). Header names are lower-cased in place.
 * Rejects (400): invalid method token, version other than HTTP/1.0 or HTTP/1.1,
 * CL together with TE, differing or malformed Content-Length, Transfer-Encoding
 * whose final coding is not chunked (or chunked applied twice), obs-fold, bare
 * CR, NUL or other control characters in names or values, whitespace before the
 * colon or inside a name, an HTTP/1.1 request without exactly one Host, more
 * than one Host. 414 when the request line exceeds H1_MAX_REQUEST_LINE, 431 when
 * the head exceeds H1_MAX_HEAD or H1_MAX_HEADERS. Leading empty lines (CRLF)
 * before the request line are skipped and count in the returned length. */
ssize_t h1_parse_request(char *buf, size_t len, struct h1_msg *req);

/* Parses a response head from buf[0..len). method is the request's method
 * (HEAD responses have no body); framing accounts for 1xx, 204 and 304.
 * Rejects (err_status 502): bad status line, CL+TE, differing Content-Length,
 * malformed values, head larger than H1_MAX_HEAD. */
ssize_t h1_parse_response(char *buf, size_t len, const char *method, size_t method_len,
                          struct h1_msg *resp);

/* Returns the first header named name (lower case) or NULL. */
const struct h1_hdr *h1_hdr_find(const struct h1_msg *msg, const char *name, size_t name_len);

/* True when name (lower case) is a hop-by-hop header per RFC 9110 7.6.1:
 * connection, keep-alive, proxy-connection, te, trailer, transfer-encoding,
 * upgrade. Headers named in Connection are the caller's business. */
bool h1_is_hop_by_hop(const char *name, size_t name_len);

/* True when the comma-separated token list value contains token
 * (case-insensitive, OWS around elements ignored). */
bool h1_token_list_has(const char *value, size_t value_len, const char *token, size_t token_len);

/* Chunked body scanner state; zero-initialise before the first call. */
struct h1_chunked {
    int state;
    uint64_t remaining; /* payload bytes left in the current chunk */
    uint32_t line_len;  /* bytes of the current size/trailer line, bounded */
    bool done;          /* the last chunk and the trailer section have been seen */
};

/* Scans a chunked body in buf[0..len) incrementally. Returns the number of
 * bytes consumed (the caller forwards or drops them), 0 when len is 0 or the
 * body is done, -1 on a framing error (bad or overflowing size, missing CRLF,
 * control characters, oversize chunk-size or trailer line). The consumed bytes
 * contain at most one run of chunk payload, reported by *data_off/*data_len
 * (relative to buf; *data_len is 0 when the run is empty), so a caller that
 * de-chunks copies exactly that run. Bytes after the end of the body are not
 * consumed. */
ssize_t h1_chunked_scan(struct h1_chunked *st, const char *buf, size_t len, size_t *data_off,
                        size_t *data_len);

#endif /* CANARYD_H1_H */
