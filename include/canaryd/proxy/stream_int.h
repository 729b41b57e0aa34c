/*
 * stream_int.h: internals shared by the two halves of the stream module:
 * stream.c (life cycle, routing, canaryd's own answers, downstream events,
 * timers) and stream_up.c (the upstream side: request head, endpoint pick,
 * connection pools and limits, retries, response relay, tunnels). Not for
 * other modules; everything runs on the stream's worker thread.
 */
#ifndef CANARYD_STREAM_INT_H
#define CANARYD_STREAM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "canaryd/core/buf.h"
#include "canaryd/common.h"
#include "canaryd/http1/h1.h"
#include "canaryd/proxy/proxy.h"
#include "canaryd/proxy/proxy_types.h"

struct cors_hdr;
struct route_req;

#define STALE_RETRIES 1u
#define DEFAULT_CONNECT_RETRIES 2u
#define REPLAY_MAX (64u * 1024u) /* request body kept for a retry, at most */
#define BACKOFF_BASE_MS 25u
#define BACKOFF_MAX_MS 250u

/* Short stable codes of enum stream_end, for the access log's flags. */
extern const char *const stream_end_flags[];

static inline bool
str_eq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Output to a connection: a head, its body and what follows, pipelined,
 * never more than PROXY_OUT_MAX bytes buffered. */
static inline struct buf_out
out_to(struct buf *b, struct buf_cache *bc)
{
    return buf_out_to(b, bc, PROXY_OUT_MAX);
}

/* ---- stream.c ---- */

/* Answers the client with status (or aborts its connection when the response
 * already started) and ends the stream. Returns 1 (ended, the session lives
 * on) or -1 (the session is gone). */
int stream_fail(struct stream *st, uint16_t status, enum stream_end why);

/* The response is complete in the session's output: ends the stream and lets
 * the session go on. Returns 1 or -1 (session gone). */
int stream_finish(struct stream *st, enum stream_end why, bool up_reusable);

/* Fills rr for matching and hashing st's request. */
void stream_route_req_init(struct route_req *rr, struct http_req *hr, struct stream *st);

/* Whether the client connection stays open after this response. */
bool stream_down_keepalive(const struct stream *st);

/* Writes a Content-Length field of n in a response to the client. */
void stream_out_length(struct buf_out *o, const struct stream *st, uint64_t n);

/* The CORS headers st's response carries (route's corsPolicy and the
 * request's Origin), into h[0..CORS_HDRS_MAX); returns the count (0 for a
 * request without CORS). Values borrowed from st and its snapshot. */
size_t stream_cors_headers(const struct stream *st, struct cors_hdr *h);

/* Writes stream_cors_headers(st) to o, a response to the client. */
void stream_out_cors(struct buf_out *o, const struct stream *st);

/* ---- stream_up.c ---- */

/* Picks an endpoint and starts a try (see stream_up.c). 0: in progress or
 * queued; 1: the stream ended; -1: the session is gone. */
int stream_dispatch(struct stream *st, struct buf *carry);

/* Moves request body bytes from the session's input to the upstream's output.
 * Returns -1 on a malformed chunked body. */
int stream_relay_req_body(struct stream *st);

/* Re-arms the upstream connection's events after buffers changed. */
void stream_up_update_events(struct stream *st);

/* The upstream failed before any response byte: retries when allowed, else
 * answers. Same returns as stream_dispatch. */
int stream_up_failed(struct stream *st, enum stream_end why, bool nothing_sent);

/* RFC 9110 9.2.2 idempotent methods. */
bool stream_is_idempotent(const struct h1_msg *r);

/* Relays raw bytes both ways on an upgraded connection. 0, or -1 when the
 * session is gone. */
int stream_tunnel_pump(struct stream *st);

/* Handles upstream bytes or drained client output. Same returns as
 * stream_dispatch. */
int stream_pump_resp(struct stream *st);

/* Removes a stream from its worker's queue of streams waiting for a
 * connection. */
void stream_pending_unlink(struct stream *st);

/* Detaches the upstream connection from st: back to the pool when reusable,
 * else closed; releases its accounting. */
void stream_up_detach(struct stream *st, bool reusable);

/* Gives back the maxRetries slot st holds, if any (its last try ended). */
void stream_retry_release(struct stream *st);

#endif /* CANARYD_STREAM_INT_H */
