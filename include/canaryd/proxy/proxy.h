/*
 * proxy.h: internal contracts between the data-plane modules (worker.c,
 * session.c, stream.c, pool.c). All of these run on the calling worker's
 * thread only. Types are in proxy_types.h.
 */
#ifndef CANARYD_PROXY_H
#define CANARYD_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "canaryd/proxy/proxy_types.h"

/* ---- worker.c ---- */

/* Returns the worker's pin on the active snapshot (refreshing it when a new
 * generation was published) with its stream count incremented, or NULL when no
 * snapshot is active or allocation failed. Release with worker_wconf_release. */
struct wconf *worker_wconf_acquire(struct worker *w);

/* Drops a stream's pin; frees a retired pin when its last stream ends. */
void worker_wconf_release(struct worker *w, struct wconf **wcp);

/* Counts downstream sessions process-wide (for the drain). */
void worker_sessions_delta(int delta);

/* ---- session.c ---- */

/* Takes ownership of the accepted socket fd. Returns the session or NULL (fd
 * closed then). */
struct sess *sess_new(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peerlen,
                      const struct lsn *lsn);

/* Ends the session: ends its stream (if any), closes its socket, releases its
 * buffers and takes it off the worker; its memory is freed at the end of the
 * loop pass (sess_reap), so that whatever still points at it on the stack
 * reads SESS_F_CLOSED rather than freed memory. The one way a session ends (a
 * lingering one ends here too); closing a closed session does nothing. */
void sess_close(struct sess *s);

/* Frees the sessions closed since the last call (end of each loop pass). */
void sess_reap(struct worker *w);

/* Staged close (RFC 9112 9.6) bounds: after its last answer is written, a
 * session that may still receive request bytes half-closes and reads and drops
 * input for at most SESS_LINGER_MS in all, SESS_LINGER_IDLE_MS without input
 * and SESS_LINGER_MAX_BYTES, so that the kernel does not answer late input
 * with a reset that destroys the answer before the client reads it. */
#define SESS_LINGER_MS 2000u
#define SESS_LINGER_IDLE_MS 1000u
#define SESS_LINGER_MAX_BYTES (1024u * 1024u)

/* Called by stream.c when the stream has finished (response fully queued);
 * the session writes out what is left and reads the next request. Returns -1
 * when the session was closed. */
int sess_stream_done(struct sess *s);

/* Re-evaluates which events the session waits for (after buffers changed). */
void sess_update_events(struct sess *s);

/* Writes the session's output: small output of a response in progress is
 * queued for the end of the loop pass (conn_sendq_flush); the rest is written now.
 * Returns 0, or -1 when the session was closed (the caller must not touch
 * it). */
int sess_flush(struct sess *s);

/* Queues up->out for the end of the pass (or writes it at once without a
 * batch). */
void stream_up_send(struct worker *w, struct upconn *up);

/* Worker is draining: close when idle, Connection: close on the next response. */
void sess_drain(struct sess *s);

/* ---- stream.c ---- */

/* Starts the exchange for the request head at the front of s->in (length
 * head_len, parsed into *req). Consumes the head. May end the stream (and even
 * close the session) before returning: returns -1 when the session is gone. */
int stream_start(struct sess *s, struct h1_msg *req, size_t head_len);

/* Downstream readable/writable while a stream runs. Return -1 when the session
 * is gone. */
int stream_on_down_read(struct stream *st);
int stream_on_down_written(struct stream *st);

/* The client made no progress for --idle-timeout: it stopped sending the
 * request body (408 when nothing was answered yet) or stopped reading the
 * response (the connection is aborted). Returns -1 when the session is gone. */
int stream_on_down_timeout(struct stream *st);

/* Recycles the streams that ended since the last call (end of each loop
 * pass; see sess_reap). */
void stream_reap(struct worker *w);

/* Frees the worker's recycled stream objects (worker exit). */
void stream_free_cache(struct worker *w);

/* Dispatches queued streams whose cluster has room for a connection again. */
void stream_pending_run(struct worker *w);

/* Ends the stream because its session is going away (downstream closed or
 * the worker stops): logs it with reason why and frees it. */
void stream_abort(struct stream *st, enum stream_end why);

/* Answers a request that never became a stream (malformed head, timeout)
 * with status and a short body, logs and counts it; the session closes after
 * writing it. Returns -1 when the session is gone. */
int stream_reject(struct sess *s, uint16_t status, enum stream_end why, const char *flag);

/* Watermarks for relaying: stop reading a side when the other side has this
 * much unsent; resume below it. */
#define PROXY_HIGH_WATER (64u * 1024u)
#define SESS_QUEUE_MAX PROXY_HIGH_WATER /* output below this waits for the end of the pass */
#define PROXY_READ_CHUNK (16u * 1024u)
/* The one head limit: the most bytes of a head canaryd holds, read or written.
 * The parser refuses a head past H1_MAX_HEAD (431, or 502 from an upstream);
 * the slack is for the bytes that come in with a head (the start of a body,
 * pipelined requests) and for the headers canaryd adds to one it writes. */
#define PROXY_HEAD_MAX (H1_MAX_HEAD + 8192u)
/* The most output buffered for one connection: a head and two high-water
 * marks of body behind it. */
#define PROXY_OUT_MAX (PROXY_HEAD_MAX + PROXY_HIGH_WATER * 2)

/* ---- pool.c ---- */

/* Returns the pool entry for address sa (created on first use), or NULL on
 * allocation failure. Entries live as long as the worker. */
struct pool_ep *pool_ep_get(struct pool *p, const struct sockaddr *sa, socklen_t salen);

/* Leases an idle connection to pe (most recently used first), or NULL. */
struct upconn *pool_lease(struct worker *w, struct pool_ep *pe);

/* Opens a new non-blocking connection to pe (connect in progress). Returns the
 * upconn or NULL with errno. */
struct upconn *pool_connect(struct worker *w, struct pool_ep *pe);

/* Returns a cleanly finished connection to its entry's idle list (or closes it
 * when the list is full); it is closed after idle_ms unused (0 = default).
 * *upp becomes NULL. */
void pool_release(struct worker *w, struct upconn **upp, uint32_t idle_ms);

/* An idle connection became readable or timed out: the upstream closed it,
 * sent something unsolicited, or it sat unused too long; it is closed. */
void pool_idle_event(struct upconn *up);

/* Closes a connection; *upp becomes NULL. */
void pool_close(struct worker *w, struct upconn **upp);

/* Closes every idle connection and frees every entry. */
void pool_fini(struct worker *w);

/* Frees the upstream connections closed since the last call (end of each
 * loop pass; see sess_reap). */
void pool_reap(struct worker *w);

#endif /* CANARYD_PROXY_H */
