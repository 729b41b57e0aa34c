/*
 * session.c: one downstream (client) connection.
 * Reads request heads, hands each complete head to stream.c, and keeps the
 * connection for the next request (keep-alive, pipelining) until the client
 * closes, a timeout fires (--header-timeout while a head is incomplete,
 * --idle-timeout between requests), or the worker drains. Output is written
 * from s->out; the stream in progress fills it. A session closed after an
 * answer while the client may still be sending lingers first (staged close:
 * half-close, drop input within bounds, then sess_close).
 */
#include "canaryd/common.h"
#include "canaryd/core/addr.h"
#include "canaryd/core/clock.h"
#include "canaryd/proxy/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "canaryd/core/log.h"
#include "canaryd/core/metrics.h"
#include "canaryd/proxy/worker.h"

static void on_down_read(evutil_socket_t fd, short what, void *arg);
static void on_down_write(evutil_socket_t fd, short what, void *arg);
static void on_down_timeout(evutil_socket_t fd, short what, void *arg);
static void sess_sent(struct conn *c, int res);
static int sess_process(struct sess *s);
static int sess_process_loop(struct sess *s);
static int sess_close_staged(struct sess *s);

struct sess *
sess_new(struct worker *w, int fd, const struct sockaddr *peer, socklen_t peerlen,
         const struct lsn *lsn)
{
    struct sess *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        conn_tcp_drop(fd);
        metric_error(w->metrics, METRIC_ERR_NOMEM);
        return NULL;
    }
    s->w = w;
    conn_tcp_accepted(&s->conn, fd, CONN_DOWN);
    s->proto = &h1_down_proto;
    s->conn.sent = sess_sent;
    memcpy(&s->peer, peer, MIN((size_t)peerlen, sizeof(s->peer)));
    (void)addr_format_ip(peer, s->peer_ip, sizeof(s->peer_ip));
    s->lsn = lsn;
    s->lport = lsn->port;
    event_assign(&s->ev_rd, w->base, s->conn.fd, EV_READ | EV_PERSIST, on_down_read, s);
    event_assign(&s->ev_wr, w->base, s->conn.fd, EV_WRITE | EV_PERSIST, on_down_write, s);
    event_assign(&s->ev_tmo, w->base, -1, 0, on_down_timeout, s);
    s->next = w->sessions;
    if (w->sessions != NULL)
        w->sessions->prev = s;
    w->sessions = s;
    w->nsessions++;
    worker_sessions_delta(1);
    metric_conn_delta(w->metrics, 1);
    sess_update_events(s);
    return s;
}

void
sess_close(struct sess *s)
{
    struct worker *w = s->w;
    if (s->flags & SESS_F_CLOSED)
        return;
    if (s->st != NULL)
        stream_abort(s->st, STREAM_END_DOWN_CLOSE);
    event_del(&s->ev_rd);
    event_del(&s->ev_wr);
    event_del(&s->ev_tmo);
    /* An aborted session resets: the client sees an error, not a clean end
     * of a short body. */
    conn_close(&s->conn, (s->flags & SESS_F_ABORT) != 0);
    buf_release(&s->in, &w->bufs);
    buf_release(&s->out, &w->bufs);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        w->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    w->nsessions--;
    worker_sessions_delta(-1);
    metric_conn_delta(w->metrics, -1);
    s->flags |= SESS_F_CLOSED;
    s->reap_next = w->reap_sess;
    w->reap_sess = s;
}

void
sess_reap(struct worker *w)
{
    while (w->reap_sess != NULL) {
        struct sess *s = w->reap_sess;
        w->reap_sess = s->reap_next;
        free(s);
    }
}

static void
timer_arm(struct sess *s, uint32_t ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(&s->ev_tmo, &tv);
}

static void
set_interest(struct event *ev, bool *cur, bool want)
{
    if (*cur == want)
        return;
    *cur = want;
    if (want)
        event_add(ev, NULL);
    else
        event_del(ev);
}

void
sess_update_events(struct sess *s)
{
    if (s->flags & SESS_F_LINGER)
        return; /* its events are set by linger_arm */
    bool closing = (s->flags & (SESS_F_CLOSING | SESS_F_CLOSE_AFTER)) != 0;
    bool want_rd;
    if (s->flags & SESS_F_RDHUP)
        want_rd = false; /* nothing more will come */
    else if (s->flags & SESS_F_TUNNEL)
        want_rd = s->st != NULL && s->st->up != NULL && s->st->up->out.len < PROXY_HIGH_WATER;
    else if (s->st != NULL)
        /* Reading on during a stream feeds its body, buffers pipelined
         * requests and notices a client that went away. */
        want_rd = s->in.len < PROXY_HIGH_WATER &&
                  (s->st->req_done || s->st->up == NULL || s->st->up->out.len < PROXY_HIGH_WATER);
    else
        want_rd = !closing && s->out.len < PROXY_HIGH_WATER;
    set_interest(&s->ev_rd, &s->want_rd, want_rd);
    /* Queued output is written at the end of the pass, not on EV_WRITE. */
    bool has_out = s->out.len > 0 && !s->conn.is_queued;
    set_interest(&s->ev_wr, &s->want_wr, has_out);
    if (s->st != NULL || (s->flags & SESS_F_TUNNEL)) {
        /* A client that stops reading its response, or stops sending the
         * request body we wait for, is given --idle-timeout of no progress,
         * re-armed whenever bytes move. */
        bool waits_body = s->st != NULL && !s->st->req_done && want_rd;
        if (has_out || waits_body)
            timer_arm(s, worker_opts.idle_timeout_ms);
        else
            event_del(&s->ev_tmo);
    } else if (closing) {
        timer_arm(s, worker_opts.idle_timeout_ms);
    } else if (s->in.len > 0 || s->nreqs == 0) {
        if (s->head_start_us == 0) {
            s->head_start_us = clock_mono_us();
            timer_arm(s, worker_opts.header_timeout_ms);
        }
    } else {
        s->head_start_us = 0;
        timer_arm(s, worker_opts.idle_timeout_ms);
    }
}

/* After output was written (or not: EAGAIN): frees an emptied buffer and
 * closes a session that only waited for that. Returns 0, or -1 when closed. */
static int
sess_written(struct sess *s)
{
    if (s->out.len == 0) {
        buf_release(&s->out, &s->w->bufs);
        if ((s->flags & SESS_F_CLOSING) || ((s->flags & SESS_F_CLOSE_AFTER) && s->st == NULL))
            return sess_close_staged(s);
    }
    return 0;
}

int
sess_flush(struct sess *s)
{
    if (s->conn.is_queued)
        return 0; /* already on its way */
    /* A socket that was full is written on EV_WRITE (below, or by
     * on_down_write): queueing it again would only meet EAGAIN again. */
    if (s->out.len > 0 && conn_sendq_is_on(&s->w->sendq) && s->out.len < SESS_QUEUE_MAX &&
        !(s->flags & (SESS_F_CLOSING | SESS_F_TUNNEL | SESS_F_WBLOCKED))) {
        conn_queue(&s->w->sendq, &s->conn, &s->out);
        return 0;
    }
    if (s->out.len > 0 && conn_write(&s->conn, &s->out) == -1) {
        sess_close(s);
        return -1;
    }
    if (s->out.len == 0)
        s->flags &= ~SESS_F_WBLOCKED;
    return sess_written(s);
}

/* The result of a queued send of s->out (the bytes sent are consumed): what
 * on_down_write does after its write. */
static void
sess_sent(struct conn *c, int res)
{
    struct sess *s = container_of(c, struct sess, conn);
    if (res < 0 && res != -EAGAIN && res != -EWOULDBLOCK) {
        sess_close(s);
        return;
    }
    if (s->out.len > 0)
        s->flags |= SESS_F_WBLOCKED; /* the socket is full */
    if (sess_written(s) == -1)
        return;
    /* As after a write on EV_WRITE; a full socket is now written directly
     * (SESS_F_WBLOCKED), so this cannot queue the same output again. */
    if (s->st != NULL) {
        (void)stream_on_down_written(s->st);
        return;
    }
    if (s->out.len > 0) {
        sess_update_events(s); /* wait for EV_WRITE */
        return;
    }
    if (s->w->is_draining && s->in.len == 0) {
        sess_close(s); /* idle now: the drain skipped it while output was queued */
        return;
    }
    /* Pipelined requests held back while output was high go on now. */
    if (s->in.len > 0) {
        if (sess_process(s) == -1)
            return;
        sess_update_events(s);
    } else if (!s->want_rd) {
        sess_update_events(s);
    }
}

int
sess_stream_done(struct sess *s)
{
    s->st = NULL;
    s->nreqs++;
    event_del(&s->ev_tmo);
    if (s->w->is_draining)
        s->flags |= SESS_F_CLOSE_AFTER;
    if (sess_flush(s) == -1)
        return -1;
    if (s->flags & SESS_F_CLOSE_AFTER) {
        s->flags |= SESS_F_CLOSING;
        if (s->out.len == 0)
            return sess_close_staged(s);
        sess_update_events(s);
        return 0;
    }
    buf_shrink_if_empty(&s->in, &s->w->bufs);
    /* Inside sess_process the loop goes on to the next pipelined request. */
    if (!(s->flags & SESS_F_IN_PROCESS) && sess_process(s) == -1)
        return -1;
    sess_update_events(s);
    return 0;
}

void
sess_drain(struct sess *s)
{
    /* Idle: close now. Otherwise the request in progress (even a head still
     * arriving) is answered with Connection: close (w->is_draining). A
     * lingering session ends within its own bounds. */
    if (s->st == NULL && s->in.len == 0 && s->out.len == 0 && !(s->flags & SESS_F_LINGER))
        sess_close(s);
}

/* ---- staged close (RFC 9112 9.6) ---- */

/* True when the client may still send bytes canaryd will not read: closing
 * now, with them unread or yet to come, would make the kernel send a reset. */
static bool
sess_may_get_more(const struct sess *s)
{
    if (s->flags & (SESS_F_RDHUP | SESS_F_ABORT))
        return false; /* the client half-closed (all read), or a reset is meant */
    if ((s->flags & SESS_F_UNREAD) || s->in.len > 0)
        return true;
    return conn_has_input(&s->conn);
}

/* Closes at the deadline or after SESS_LINGER_IDLE_MS without input, whichever
 * comes first. Returns -1 when the session is gone. */
static int
linger_arm(struct sess *s)
{
    uint64_t now = clock_mono_us();
    if (now >= s->linger_end_us) {
        sess_close(s);
        return -1;
    }
    uint64_t left_ms = (s->linger_end_us - now + 999u) / 1000u;
    timer_arm(s, (uint32_t)MIN(left_ms, (uint64_t)SESS_LINGER_IDLE_MS));
    return 0;
}

/* The session's last answer is written: closes it, or first half-closes and
 * drops what the client still sends (on_down_read, on_down_timeout end it).
 * Returns -1: the caller must not touch the session any more either way. */
static int
sess_close_staged(struct sess *s)
{
    if (s->st != NULL || !sess_may_get_more(s) || conn_shutdown(&s->conn, CONN_SHUT_WR) == -1) {
        sess_close(s);
        return -1;
    }
    s->flags = (s->flags & ~(uint32_t)SESS_F_IN_PROCESS) | SESS_F_LINGER;
    buf_release(&s->in, &s->w->bufs);
    buf_release(&s->out, &s->w->bufs);
    set_interest(&s->ev_wr, &s->want_wr, false);
    set_interest(&s->ev_rd, &s->want_rd, true);
    s->linger_end_us = clock_mono_us() + SESS_LINGER_MS * 1000u;
    s->linger_bytes = 0;
    (void)linger_arm(s);
    return -1;
}

/* Reads and drops input; ends the session at EOF, on an error, or past a
 * bound. At most a few reads per event, so that a fast sender cannot hold the
 * worker. */
static void
linger_read(struct sess *s)
{
    char *sink = s->w->scratch; /* free: no routing runs now */
    for (int i = 0; i < 4; i++) {
        ssize_t n = conn_recv(&s->conn, sink, sizeof(s->w->scratch));
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n > 0)
            s->linger_bytes += (uint32_t)n;
        if (n <= 0 || s->linger_bytes >= SESS_LINGER_MAX_BYTES) {
            sess_close(s); /* EOF, an error (a reset), or enough dropped */
            return;
        }
    }
    (void)linger_arm(s);
}

/* Parses and starts every complete request in s->in, one at a time.
 * Returns -1 when the session is gone. */
static int
sess_process(struct sess *s)
{
    if (s->flags & SESS_F_IN_PROCESS)
        return 0;
    s->flags |= SESS_F_IN_PROCESS;
    int rc = sess_process_loop(s);
    if (rc != 0)
        return rc;
    s->flags &= ~(uint32_t)SESS_F_IN_PROCESS;
    if ((s->flags & SESS_F_RDHUP) && s->st == NULL) {
        /* Half-closed and every complete request answered: close once the
         * output is written (what is left in s->in can never complete). */
        s->flags |= SESS_F_CLOSING;
        if (s->out.len == 0)
            return sess_close_staged(s);
    }
    return 0;
}

static int
sess_process_loop(struct sess *s)
{
    while (s->st == NULL && s->in.len > 0 && !(s->flags & (SESS_F_CLOSE_AFTER | SESS_F_CLOSING))) {
        if (s->out.len >= PROXY_HIGH_WATER)
            return 0; /* pipelined answers pile up: let the client read first */
        /* A head trickling in is only parsed once it can be complete (or
         * wrong): re-parsing it on every read would be quadratic. */
        if (!h1_head_is_ready(&s->hp, buf_head(&s->in), s->in.len)) {
            if (s->in.len >= PROXY_HEAD_MAX)
                return stream_reject(s, 431, STREAM_END_PARSE, "header_too_large");
            return 0;
        }
        struct h1_msg req;
        ssize_t r = h1_parse_request(buf_head(&s->in), s->in.len, &req);
        if (r == 0) {
            if (s->in.len >= PROXY_HEAD_MAX)
                return stream_reject(s, 431, STREAM_END_PARSE, "header_too_large");
            return 0;
        }
        if (r < 0)
            return stream_reject(s, req.err_status ? req.err_status : 400, STREAM_END_PARSE,
                                 req.err != NULL ? req.err : "bad_request");
        event_del(&s->ev_tmo);
        memset(&s->hp, 0, sizeof(s->hp));
        if (stream_start(s, &req, (size_t)r) == -1)
            return -1;
    }
    return 0;
}

static void
on_down_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sess *s = arg;
    if (s->flags & SESS_F_LINGER) {
        linger_read(s);
        return;
    }
    if (s->flags & SESS_F_TUNNEL || s->st != NULL) {
        (void)stream_on_down_read(s->st);
        return;
    }
    ssize_t n = conn_read(&s->conn, &s->in, &s->w->bufs, BUF_SMALL, PROXY_HEAD_MAX);
    if (n == 0 && s->conn.is_queued) {
        /* Half-closed after its last request: the answer queued in this
         * pass is still written, then the connection closes. */
        s->flags |= SESS_F_RDHUP | SESS_F_CLOSING;
        sess_update_events(s);
        return;
    }
    if (n == 0 || (n == -1 && errno != EAGAIN && errno != ENOBUFS)) {
        sess_close(s);
        return;
    }
    if (n == -1 && errno == EAGAIN)
        return;
    if (sess_process(s) == -1)
        return;
    sess_update_events(s);
}

static void
on_down_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sess *s = arg;
    s->flags &= ~SESS_F_WBLOCKED; /* writable again */
    if (sess_flush(s) == -1)
        return;
    if (s->st != NULL) {
        (void)stream_on_down_written(s->st);
        return;
    }
    if (sess_process(s) == -1)
        return;
    sess_update_events(s);
}

static void
on_down_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sess *s = arg;
    if (s->flags & SESS_F_LINGER) {
        sess_close(s); /* quiet for SESS_LINGER_IDLE_MS, or SESS_LINGER_MS are up */
        return;
    }
    if (s->st != NULL) {
        (void)stream_on_down_timeout(s->st);
        return;
    }
    if (s->in.len > 0 && !(s->flags & (SESS_F_CLOSING | SESS_F_CLOSE_AFTER))) {
        (void)stream_reject(s, 408, STREAM_END_PARSE, "header_timeout");
        return;
    }
    sess_close(s);
}
