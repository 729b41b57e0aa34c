/*
 * fwd.h: the forwarding policy of a head, the same whichever protocol either
 * side speaks: which received fields a forwarded head leaves out (hop-by-hop
 * fields, the fields a Connection line names, the ones a route's header
 * operations set or remove), and the fields those operations add, written in
 * the syntax of the side they go to.
 */
#ifndef CANARYD_FWD_H
#define CANARYD_FWD_H

#include <stdbool.h>
#include <stddef.h>

#include "canaryd/http1/h1.h"

struct buf_out;
struct conf_hdr_ops;
struct cors_hdr;

#define HDR_SKIP_CONN 4

/* What a head's forwarding leaves out: hop-by-hop headers, the headers its
 * Connection lines name (every line counts, RFC 9110 7.6.1), and the header
 * operations' names. */
struct hdr_skip {
    const struct http_hdr *conn[HDR_SKIP_CONN]; /* borrowed: the head; its Connection lines */
    size_t nconn;
    const struct h1_msg *m; /* borrowed: the head, scanned when it has more lines */
    const struct conf_hdr_ops *ops[2];
};

/* Writes one field in the syntax of the side it goes to. */
typedef void field_fn(struct buf_out *o, const char *name, size_t name_len, const char *value,
                      size_t value_len);

/* Prepares sk for forwarding the head m with the header operations a and b
 * (either may be NULL). */
void hdr_skip_init(struct hdr_skip *sk, const struct h1_msg *m, const struct conf_hdr_ops *a,
                   const struct conf_hdr_ops *b);

/* Whether the forwarded head leaves h out. */
bool hdr_skipped(const struct hdr_skip *sk, const struct http_hdr *h);

/* Whether h is one canaryd frames itself (Content-Length, Host), whatever a
 * Connection line says. */
bool hdr_is_framing(const struct http_hdr *h);

/* Writes the set and add operations of ops (NULL: none) with field, except
 * the fields named in skip[0..nskip). */
void out_ops_add(struct buf_out *o, field_fn *field, const struct conf_hdr_ops *ops,
                 const struct cors_hdr *skip, size_t nskip);

#endif /* CANARYD_FWD_H */
