/*
 * h1_down.h: the client's side of an exchange over HTTP/1.x, as the
 * protocol-neutral stream logic drives it (struct http_down_proto, http.h):
 * status lines and fields in HTTP/1 syntax, the framing of a relayed body
 * for a 1.0 or 1.1 client (Content-Length, chunked, or until close, re-framed
 * where the client needs it), the Connection field, and the request body read
 * from the client's input per its Content-Length or chunked framing.
 * No I/O and no allocation; one struct h1_down per request.
 */
#ifndef CANARYD_H1_DOWN_H
#define CANARYD_H1_DOWN_H

#include <stdbool.h>
#include <stdint.h>

#include "canaryd/core/http.h"
#include "canaryd/http1/h1.h"

struct buf;

struct h1_down {
    struct buf *in;        /* borrowed: the client connection's input */
    uint8_t version_minor; /* of the request: 0 (HTTP/1.0) or 1 */
    bool req_keep;         /* the request lets the connection stay open */
    /* request body, as the client framed it */
    enum h1_framing req_framing;
    uint64_t req_left;
    struct h1_chunked req_chunk;
    /* the relayed response body, as body_plan planned it */
    bool to_chunked; /* arrives until close -> chunked to a 1.1 client */
    bool dechunk;    /* arrives chunked -> until close to a 1.0 client */
};

/* The HTTP/1 client side. */
extern const struct http_down_proto h1_down_proto;

/* Prepares d for the request req, whose body (if any) is read from in (the
 * bytes after its head), and describes that body in *body. */
void h1_down_init(struct h1_down *d, const struct h1_msg *req, struct buf *in,
                  struct http_body_desc *body);

/* Writes one HTTP/1 field line ("name: value"). */
void h1_out_field(struct buf_out *o, const char *name, size_t name_len, const char *value,
                  size_t value_len);

/* Writes a Transfer-Encoding field for a body whose codings are in->hdrs
 * (every Transfer-Encoding line, in order, as one list), with chunked last
 * when add_chunked, or just "chunked" when it has no other coding. */
void h1_out_te(struct buf_out *o, const struct http_body_desc *in, bool add_chunked);

#endif /* CANARYD_H1_DOWN_H */
