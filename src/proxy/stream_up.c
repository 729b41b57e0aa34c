/*
 * stream_up.c: the upstream side of a stream.
 * Picks an endpoint by the cluster's
 * policy (skipping ejected and already tried ones), leases or opens a
 * connection within the pool limits, relays the request body, retries per the
 * route's policy, parses the response head and relays the response body with
 * back-pressure (Content-Length, chunked, until close), or tunnels an upgraded
 * connection. Runs on the stream's worker thread.
 */
#include "canaryd/common.h"
#include "canaryd/core/clock.h"
#include "canaryd/proxy/stream_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <event2/event.h>

#include "canaryd/conf/conf.h"
#include "canaryd/route/cors.h"
#include "canaryd/proxy/dns.h"
#include "canaryd/proxy/health.h"
#include "canaryd/route/lb.h"
#include "canaryd/core/log.h"
#include "canaryd/core/metrics.h"
#include "canaryd/proxy/fwd.h"
#include "canaryd/proxy/mirror.h"
#include "canaryd/route/route.h"
#include "canaryd/proxy/up_h1.h"
#include "canaryd/proxy/worker.h"

static void on_up_read(evutil_socket_t fd, short what, void *arg);
static void on_up_write(evutil_socket_t fd, short what, void *arg);
static void on_up_timeout(evutil_socket_t fd, short what, void *arg);
static void stream_up_sent(struct conn *c, int res);

void
stream_up_detach(struct stream *st, bool reusable)
{
    struct upconn *up = st->up;
    struct worker *w = st->sess->w;
    if (up == NULL)
        return;
    up->st = NULL;
    st->up = NULL;
    if (st->ep != NULL && st->wc != NULL && st->wc->active[st->ep->index] > 0)
        st->wc->active[st->ep->index]--;
    if (up->counted != NULL) {
        atomic_fetch_sub_explicit(&up->counted->nconns, 1, memory_order_relaxed);
        up->counted = NULL;
        if (w->pend_head != NULL)
            event_active(&w->ev_pending, EV_TIMEOUT, 0);
    }
    if (reusable)
        pool_release(w, &up, st->dest->cluster->policy.pool.idle_timeout_ms);
    else
        pool_close(w, &up);
}

/* ---- request body: downstream -> upstream ---- */

/* Moves request body runs, as the client's protocol reads them, to up->out
 * (and to the mirrors and the replay copy). Returns -1 on a malformed body. */
int
stream_relay_req_body(struct stream *st)
{
    struct sess *s = st->sess;
    struct upconn *up = st->up;
    while (!st->req_done && up->out.len < PROXY_HIGH_WATER) {
        struct http_data d;
        ssize_t r = st->down->req_body(st->dside, &d);
        if (r < 0)
            return -1;
        st->req_done = d.is_end;
        if (r == 0)
            break;
        /* Both sides speak HTTP/1 with the same framing: the bytes go on as
         * they came. */
        const char *p = d.wire.p;
        size_t take = d.wire.len;
        if (buf_append(&up->out, &s->w->bufs, p, take, PROXY_OUT_MAX) == -1)
            return -1;
        if (st->nmirrors > 0)
            mirror_feed(st, p, take, st->req_done);
        if (st->replay_ok && buf_append(&st->replay, &s->w->bufs, p, take, REPLAY_MAX) == -1) {
            /* Too big to keep: this request can no longer be replayed. */
            st->replay_ok = false;
            buf_release(&st->replay, &s->w->bufs);
        }
        st->bytes_in += take;
    }
    return 0;
}

/* ---- upstream connection management ---- */

static void
up_set_interest(struct upconn *up, bool rd, bool wr)
{
    if (up->want_rd != rd) {
        up->want_rd = rd;
        if (rd)
            event_add(&up->ev_rd, NULL);
        else
            event_del(&up->ev_rd);
    }
    if (up->want_wr != wr) {
        up->want_wr = wr;
        if (wr)
            event_add(&up->ev_wr, NULL);
        else
            event_del(&up->ev_wr);
    }
}

void
stream_up_update_events(struct stream *st)
{
    struct upconn *up = st->up;
    if (up == NULL)
        return;
    bool wr = up->is_connecting || (up->out.len > 0 && !up->conn.is_queued);
    bool rd = !up->is_connecting && st->sess->out.len < PROXY_HIGH_WATER;
    up_set_interest(up, rd, wr);
}

void
stream_up_send(struct worker *w, struct upconn *up)
{
    if (up->conn.is_queued)
        return;
    if (!conn_sendq_is_on(&w->sendq) || up->out.len >= SESS_QUEUE_MAX) {
        (void)conn_write(&up->conn, &up->out);
        buf_shrink_if_empty(&up->out, &w->bufs);
        return;
    }
    conn_queue(&w->sendq, &up->conn, &up->out);
}

/* Takes res (bytes sent and consumed, or -errno) of a queued send of the
 * upstream connection's output (its conn's sent callback). */
static void
stream_up_sent(struct conn *c, int res)
{
    struct upconn *up = container_of(c, struct upconn, conn);
    if (res < 0 && res != -EAGAIN && res != -EWOULDBLOCK) {
        /* Dead, or (-EIO) unknown whether it went out: never send these
         * bytes again. The read side sees the end and retries when safe. */
        buf_consume(&up->out, up->out.len);
        (void)conn_shutdown(&up->conn, CONN_SHUT_RDWR);
    }
    if (up->out.len == 0)
        buf_release(&up->out, &up->w->bufs);
    if (up->st == NULL)
        return;
    if (up->out.len > 0)
        stream_up_update_events(up->st); /* the rest on EV_WRITE */
    if (!up->st->sess->want_rd)
        sess_update_events(up->st->sess); /* the body may have waited on up->out */
}

bool
stream_is_idempotent(const struct h1_msg *r)
{
    static const char *const methods[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
    for (size_t i = 0; i < countof(methods); i++)
        if (str_eq(r->method, r->method_len, methods[i], strlen(methods[i])))
            return true;
    return false;
}

static bool
ep_is_usable(void *ctx, const struct conf_endpoint *ep)
{
    const struct stream *st = ctx;
    if (ep->is_dns) {
        const struct dns_addrs *d = dns_addrs_get(ep->dns);
        if (d == NULL || d->n == 0)
            return false;
    }
    const struct conf_cluster *c = st->dest->cluster;
    return !c->policy.outlier.enabled || health_is_usable(c, ep, clock_mono_ms());
}

/* Feeds outlier detection: status 0 is a connect failure or a reset. */
static void
observe(const struct stream *st, unsigned status)
{
    if (st->ep != NULL && st->dest->cluster->policy.outlier.enabled &&
        health_observe(st->dest->cluster, st->ep, status, clock_mono_ms()))
        log_warn("health: endpoint %s:%u of %s ejected after consecutive errors", st->ep->address,
                 st->ep->port, st->dest->cluster->name);
}

/* The address to connect to: the endpoint's own, or one of the addresses its
 * DNS name resolves to now (those new in recent answers slowed down by the
 * cluster's warmup). NULL when none is known. */
static const struct sockaddr *
ep_addr(struct worker *w, const struct conf_cluster *c, const struct conf_endpoint *ep,
        socklen_t *len)
{
    if (!ep->is_dns) {
        *len = ep->salen;
        return (const struct sockaddr *)&ep->sa;
    }
    const struct dns_addrs *d = dns_addrs_get(ep->dns);
    if (d == NULL || d->n == 0)
        return NULL;
    size_t i = 0;
    if (d->n > 1 && c->policy.warmup.window_ms != 0)
        i = lb_pick_warm_index(&c->policy.warmup, d->seen_ms, d->n, clock_mono_ms(),
                               lb_rand(&w->rng));
    else if (d->n > 1)
        i = lb_rand(&w->rng) % d->n;
    const struct sockaddr_storage *sa = &d->sa[i];
    *len = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    return (const struct sockaddr *)sa;
}

static uint32_t
connect_timeout_ms(const struct stream *st)
{
    uint32_t ms = st->dest->cluster->policy.pool.connect_timeout_ms;
    return ms != 0 ? ms : worker_opts.connect_timeout_ms;
}

static uint32_t
retries_max(const struct stream *st)
{
    const struct conf_retries *rt = &st->route->retries;
    return rt->is_set ? rt->attempts : DEFAULT_CONNECT_RETRIES;
}

/* A retry of st is about to be made: takes a slot of the cluster's
 * connectionPool.http.maxRetries (all workers), which the stream keeps until
 * its last try ends, unless it holds one already. false when every slot is
 * taken: as Envoy's retry overflow, the retry is not made and the failure is
 * returned as it is; the overflow is counted. */
static bool
retry_admit(struct stream *st)
{
    const struct conf_cluster *c = st->dest->cluster;
    uint32_t max = c->policy.pool.max_retries;
    if (max == 0 || c->rt == NULL || st->retry_slot != NULL)
        return true;
    if (health_retry_take(c->rt, max)) {
        st->retry_slot = c->rt;
        return true;
    }
    metric_retry_overflow(st->sess->w->metrics, c->host, c->subset ? c->subset : "");
    return false;
}

void
stream_retry_release(struct stream *st)
{
    if (st->retry_slot != NULL) {
        health_retry_put(st->retry_slot);
        st->retry_slot = NULL;
    }
}

/* Whether the route's retry policy covers a failure of kind what. As in
 * Envoy, 5xx and gateway-error also cover connect failures and resets (the
 * 502/503 the proxy would answer). */
static bool
retry_on(const struct stream *st, uint32_t what)
{
    const struct conf_retries *rt = &st->route->retries;
    if (!rt->is_set)
        return (what & (RETRY_ON_CONNECT_FAILURE | RETRY_ON_REFUSED_STREAM)) != 0;
    uint32_t on = rt->on;
    if (on & (RETRY_ON_5XX | RETRY_ON_GATEWAY_ERROR))
        on |= RETRY_ON_CONNECT_FAILURE | RETRY_ON_REFUSED_STREAM | RETRY_ON_RESET;
    return (on & what) != 0;
}

/* ---- connection-pool limits (maxConnections, http1MaxPendingRequests) ---- */

#define DEFAULT_MAX_PENDING 1024u

/* 1: a new connection may be opened; 0: wait in the queue; -1: overflow. */
static int
conn_room(const struct stream *st)
{
    const struct conf_cluster *c = st->dest->cluster;
    uint32_t max = c->policy.pool.max_connections;
    if (max == 0 || c->rt == NULL ||
        (uint32_t)atomic_load_explicit(&c->rt->nconns, memory_order_relaxed) < max)
        return 1;
    if (st->is_pending)
        return 0;
    uint32_t maxp = c->policy.pool.max_pending ? c->policy.pool.max_pending : DEFAULT_MAX_PENDING;
    if ((uint32_t)atomic_load_explicit(&c->rt->npending, memory_order_relaxed) >= maxp)
        return -1;
    return 0;
}

/* Queues st until a connection of its cluster is freed (FIFO per worker). */
static int
pending_push(struct stream *st)
{
    struct worker *w = st->sess->w;
    st->is_pending = true;
    atomic_fetch_add_explicit(&st->dest->cluster->rt->npending, 1, memory_order_relaxed);
    struct stream **pp = &w->pend_head;
    while (*pp != NULL)
        pp = &(*pp)->pend_next;
    st->pend_next = NULL;
    *pp = st;
    sess_update_events(st->sess);
    return 0;
}

void
stream_pending_unlink(struct stream *st)
{
    struct worker *w = st->sess->w;
    for (struct stream **pp = &w->pend_head; *pp != NULL; pp = &(*pp)->pend_next) {
        if (*pp == st) {
            *pp = st->pend_next;
            break;
        }
    }
    st->is_pending = false;
    st->pend_next = NULL;
    atomic_fetch_sub_explicit(&st->dest->cluster->rt->npending, 1, memory_order_relaxed);
}

void
stream_pending_run(struct worker *w)
{
    /* Detach the queue first: a stream still without room queues again. */
    struct stream *list = w->pend_head;
    w->pend_head = NULL;
    while (list != NULL) {
        struct stream *st = list;
        list = st->pend_next;
        st->pend_next = NULL;
        st->is_pending = false;
        atomic_fetch_sub_explicit(&st->dest->cluster->rt->npending, 1, memory_order_relaxed);
        (void)stream_dispatch(st, NULL);
    }
}

/* Picks an endpoint of the destination cluster not tried yet by this stream
 * (any, once all were tried). Returns its index in the cluster or SIZE_MAX
 * when none is usable. */
static size_t
pick_endpoint(struct stream *st)
{
    struct worker *w = st->sess->w;
    const struct conf_cluster *c = st->dest->cluster;
    uint64_t skip[1] = {st->tried};
    struct lb_pick pk = {
        .rng = &w->rng,
        .rr_next = &st->wc->rr[c->index],
        .active = st->wc->active,
        .skip = skip,
        .skip_words = 1, /* endpoints past the 64th are never marked tried */
        .is_usable = ep_is_usable,
        .usable_ctx = st,
        .now_ms = c->policy.warmup.window_ms != 0 ? clock_mono_ms() : 0,
    };
    if (c->policy.lb == LB_HASH) {
        struct route_req rr;
        struct http_req hr;
        stream_route_req_init(&rr, &hr, st);
        pk.has_hash = lb_key_hash_req(&c->policy.hash, &rr, &pk.hash);
    }
    size_t ei = lb_pick_endpoint(c, &pk);
    if (ei == SIZE_MAX && st->tried != 0) {
        pk.skip = NULL;
        ei = lb_pick_endpoint(c, &pk);
    }
    return ei;
}

/* A connection to st->ep: an idle one from the pool, else a new one. NULL when
 * no address is known or the connect was refused at once. */
static struct upconn *
upconn_get(struct stream *st)
{
    struct worker *w = st->sess->w;
    const struct conf_cluster *c = st->dest->cluster;
    socklen_t salen = 0;
    const struct sockaddr *sa = ep_addr(w, c, st->ep, &salen);
    struct pool_ep *pe = sa != NULL ? pool_ep_get(&w->pool, sa, salen) : NULL;
    st->pe = pe;
    if (pe == NULL)
        return NULL;
    struct upconn *up = st->is_fresh_only ? NULL : pool_lease(w, pe);
    if (up == NULL && (up = pool_connect(w, pe)) != NULL)
        up->conn.sent = stream_up_sent; /* results of its queued writes */
    /* maxConnections counts connections in use, across workers: an idle
     * keep-alive connection in another worker's pool must not keep this
     * one waiting. */
    if (up != NULL && c->rt != NULL && c->policy.pool.max_connections != 0) {
        up->counted = c->rt;
        atomic_fetch_add_explicit(&c->rt->nconns, 1, memory_order_relaxed);
    }
    return up;
}

/* Attaches up to st and sends what is ready: carry (bytes of a try whose
 * connect failed) or the rebuilt head, the body kept for replay and what
 * the client sent since. */
static int
upconn_start(struct stream *st, struct upconn *up, struct buf *carry)
{
    struct sess *s = st->sess;
    struct worker *w = s->w;
    if (!up->is_reused) {
        event_assign(&up->ev_rd, w->base, up->conn.fd, EV_READ | EV_PERSIST, on_up_read, up);
        event_assign(&up->ev_wr, w->base, up->conn.fd, EV_WRITE | EV_PERSIST, on_up_write, up);
        event_assign(&up->ev_tmo, w->base, -1, 0, on_up_timeout, up);
        up->want_rd = up->want_wr = false;
    }
    up->st = st;
    st->up = up;
    st->wc->active[st->ep->index]++;
    if (!st->is_mirrored && st->route->nmirrors > 0)
        mirror_start(st);
    if (carry != NULL) {
        up->out = *carry;
        memset(carry, 0, sizeof(*carry));
    } else {
        if (up_h1_req_head(st, &up->out, false) == -1 ||
            buf_append(&up->out, &w->bufs, buf_head(&st->replay), st->replay.len,
                       PROXY_HEAD_MAX + REPLAY_MAX + PROXY_HIGH_WATER) == -1)
            return stream_fail(st, 503, STREAM_END_INTERNAL);
        if (stream_relay_req_body(st) == -1)
            return stream_fail(st, 400, STREAM_END_PARSE);
    }
    uint32_t try_ms = st->route->retries.per_try_timeout_ms;
    if (try_ms != 0) {
        struct timeval ttv = {try_ms / 1000, (try_ms % 1000) * 1000};
        event_add(&st->ev_try, &ttv);
    }
    if (st->up_start_us == 0)
        st->up_start_us = clock_mono_us();
    if (up->is_connecting) {
        uint32_t ms = connect_timeout_ms(st);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        event_add(&up->ev_tmo, &tv);
    } else {
        /* A write error here (a pooled connection the upstream closed) shows
         * up again as a reset on the read side, where it is retried if safe. */
        stream_up_send(s->w, up);
    }
    stream_up_update_events(st);
    sess_update_events(s);
    return 0;
}

/* Fails the stream, dropping bytes prepared for a retry. */
static int
dispatch_fail(struct stream *st, struct buf *carry, uint16_t status, enum stream_end why)
{
    if (carry != NULL)
        buf_release(carry, &st->sess->w->bufs);
    return stream_fail(st, status, why);
}

/* Picks an endpoint not tried yet and starts a try on it. carry, when given,
 * holds bytes already prepared for the upstream (a connect retry). */
int
stream_dispatch(struct stream *st, struct buf *carry)
{
    const struct conf_cluster *c = st->dest->cluster;
    struct upconn *up = NULL;
    while (up == NULL) {
        size_t ei = pick_endpoint(st);
        if (ei == SIZE_MAX)
            return dispatch_fail(st, carry, 503, STREAM_END_NO_HEALTHY);
        st->ep = c->eps[ei];
        if (ei < 64)
            st->tried |= 1ull << ei;
        if (carry == NULL) {
            int room = conn_room(st);
            if (room == 0)
                return pending_push(st);
            if (room < 0)
                return stream_fail(st, 503, STREAM_END_OVERFLOW);
        }
        up = upconn_get(st);
        if (up != NULL)
            break;
        /* Refused at once (common on loopback): another try, as for a
         * connect failure seen later. */
        metric_connect_failure(st->sess->w->metrics, c->host, c->subset ? c->subset : "");
        if (st->tries >= retries_max(st) || !retry_on(st, RETRY_ON_CONNECT_FAILURE) ||
            !retry_admit(st))
            return dispatch_fail(st, carry, 502, STREAM_END_UP_CONNECT);
        st->tries++;
    }
    return upconn_start(st, up, carry);
}

static bool
can_replay(const struct stream *st)
{
    return stream_is_idempotent(&st->req) &&
           (st->req_body.kind == HTTP_BODY_NONE || (st->replay_on && st->replay_ok));
}

/* Whether a response status (or a per-try timeout, as 504) is retried by the
 * route's policy. */
static bool
status_retryable(const struct stream *st, unsigned status)
{
    const struct conf_retries *rt = &st->route->retries;
    if (!rt->is_set || st->tries >= rt->attempts || !can_replay(st))
        return false;
    if ((rt->on & RETRY_ON_5XX) && status >= 500)
        return true;
    if ((rt->on & RETRY_ON_GATEWAY_ERROR) && status >= 502 && status <= 504)
        return true;
    if ((rt->on & RETRY_ON_RETRIABLE_4XX) && status == 409)
        return true;
    for (size_t i = 0; i < rt->ncodes; i++)
        if (rt->codes[i] == status)
            return true;
    return false;
}

/* Drops the current try and schedules the next one after an exponential
 * backoff with full jitter (25 ms base, as Envoy), on another endpoint when
 * one exists. Never called once response bytes reached the client. */
static void
stream_retry_later(struct stream *st)
{
    struct worker *w = st->sess->w;
    if (st->up != NULL && event_initialized(&st->up->ev_tmo))
        event_del(&st->up->ev_tmo);
    stream_up_detach(st, false);
    event_del(&st->ev_try);
    st->tries++;
    uint32_t cap = BACKOFF_BASE_MS << MIN(st->tries - 1u, 4u);
    cap = MIN(cap, BACKOFF_MAX_MS);
    uint32_t ms = 1 + (uint32_t)(lb_rand(&w->rng) % cap);
    struct timeval tv = {0, (suseconds_t)ms * 1000};
    if (st->delay == STREAM_DELAY_WAITING)
        st->delay = STREAM_DELAY_DONE;
    event_add(&st->ev_retry, &tv);
}

/* Upstream failed before any response byte: retry when allowed, else answer. */
int
stream_up_failed(struct stream *st, enum stream_end why, bool nothing_sent)
{
    struct sess *s = st->sess;
    struct worker *w = s->w;
    struct upconn *up = st->up;
    bool was_reused = up != NULL && up->is_reused;
    const struct conf_retries *rt = &st->route->retries;
    if (!was_reused)
        observe(st, 0); /* a stale pooled connection says nothing of the endpoint */
    if (why == STREAM_END_UP_CONNECT)
        metric_connect_failure(w->metrics, st->dest->cluster->host,
                               st->dest->cluster->subset ? st->dest->cluster->subset : "");
    if (nothing_sent && why == STREAM_END_UP_CONNECT && st->tries < retries_max(st) &&
        retry_on(st, RETRY_ON_CONNECT_FAILURE | RETRY_ON_REFUSED_STREAM) && retry_admit(st)) {
        /* Nothing was written: move the prepared bytes to another try. */
        struct buf carry = up->out;
        memset(&up->out, 0, sizeof(up->out));
        st->tries++;
        event_del(&up->ev_tmo);
        stream_up_detach(st, false);
        event_del(&st->ev_try);
        return stream_dispatch(st, &carry);
    }
    if (was_reused && why == STREAM_END_UP_RESET && st->tries < STALE_RETRIES + retries_max(st) &&
        can_replay(st)) {
        /* A stale keep-alive connection says nothing about the endpoint: the
         * request is rebuilt and sent again at once on a fresh connection
         * (not another pooled one, which may be just as stale). */
        st->tries++;
        st->is_fresh_only = true;
        stream_up_detach(st, false);
        event_del(&st->ev_try);
        for (size_t i = 0; i < st->dest->cluster->neps && i < 64; i++)
            if (st->dest->cluster->eps[i] == st->ep)
                st->tried &= ~(1ull << i);
        return stream_dispatch(st, NULL);
    }
    bool policy = rt->is_set && st->tries < rt->attempts && can_replay(st) &&
                  ((why == STREAM_END_UP_RESET && retry_on(st, RETRY_ON_RESET)) ||
                   (why == STREAM_END_UP_TIMEOUT && status_retryable(st, 504)));
    if (policy && retry_admit(st)) {
        stream_retry_later(st);
        return 0;
    }
    uint16_t status = why == STREAM_END_UP_TIMEOUT ? 504 : 502;
    return stream_fail(st, status, why);
}

/* ---- response: upstream -> downstream ---- */

/* How the upstream's response body arrives, as the HTTP/1 parser framed it. */
static void
up_body_desc(const struct h1_msg *resp, struct http_body_desc *d)
{
    static const enum http_body_kind kinds[] = {
        [H1_FRAME_NONE] = HTTP_BODY_NONE,
        [H1_FRAME_LENGTH] = HTTP_BODY_LENGTH,
        [H1_FRAME_CHUNKED] = HTTP_BODY_STREAM,
        [H1_FRAME_CLOSE] = HTTP_BODY_UNTIL_CLOSE,
    };
    memset(d, 0, sizeof(*d));
    d->kind = kinds[resp->framing];
    d->length = resp->content_length;
    if (resp->flags & H1_F_TE_OTHER) {
        d->has_codings = true;
        d->hdrs = resp->hdrs;
        d->nhdrs = resp->nhdrs;
    }
}

/* Writes the client's response head for resp into the session's output.
 * Returns 0, or -1 when it did not fit (memory): the output is then as it
 * was, with nothing of the head in it. */
static int
build_down_head(struct stream *st, const struct h1_msg *resp)
{
    struct sess *s = st->sess;
    const struct http_down_proto *dp = st->down;
    struct buf_out o = out_to(&s->out, &s->w->bufs);
    size_t before = s->out.len;
    struct hdr_skip sk;
    hdr_skip_init(&sk, resp, &st->route->headers.response, &st->dest->headers.response);
    struct http_body_desc body;
    up_body_desc(resp, &body);
    bool keep = dp->body_plan(st->dside, &body, stream_down_keepalive(st));
    dp->resp_begin(st->dside, &o, resp->status,
                   (struct http_str){resp->reason != NULL ? resp->reason : "", resp->reason_len});
    const struct http_hdr *cl = NULL;
    struct cors_hdr ch[CORS_HDRS_MAX];
    size_t nch = stream_cors_headers(st, ch);
    for (uint32_t i = 0; i < resp->nhdrs; i++) {
        const struct http_hdr *h = &resp->hdrs[i];
        if (str_eq(h->name, h->name_len, "content-length", 14)) {
            cl = cl != NULL ? cl : h;
            continue;
        }
        /* The CORS headers replace the upstream's own, as Envoy sets them. */
        if (nch > 0 && cors_hdrs_has(ch, nch, h->name, h->name_len))
            continue;
        if (!hdr_skipped(&sk, h))
            dp->field(&o, h->name, h->name_len, h->value, h->value_len);
    }
    if (body.kind == HTTP_BODY_LENGTH) {
        stream_out_length(&o, st, body.length);
    } else if (cl != NULL && body.kind == HTTP_BODY_NONE) {
        /* HEAD and 304: the length of the body that was not sent. The
         * parser checked duplicates are equal; one line is enough. */
        dp->field(&o, cl->name, cl->name_len, cl->value, cl->value_len);
    }
    out_ops_add(&o, dp->field, &st->route->headers.response, ch, nch);
    out_ops_add(&o, dp->field, &st->dest->headers.response, ch, nch);
    for (size_t i = 0; i < nch; i++)
        dp->field(&o, ch[i].name, ch[i].name_len, ch[i].value, ch[i].value_len);
    struct http_head_end e = {.body = &body, .conn = keep ? HTTP_CONN_KEEP : HTTP_CONN_CLOSE};
    if (st->status == 101) {
        const struct http_hdr *u = h1_hdr_find(resp, "upgrade", 7);
        e.conn = HTTP_CONN_UPGRADE;
        if (u != NULL)
            e.upgrade = (struct http_str){u->value, u->value_len};
    }
    dp->resp_end(st->dside, &o, &e);
    if (o.failed) {
        s->out.len = before; /* a partial head must never reach the client */
        return -1;
    }
    if (!keep)
        s->flags |= SESS_F_CLOSE_AFTER;
    return 0;
}

/* Moves response body runs from up->in, as the upstream framed them, to the
 * client through its protocol. Returns -1 on a framing error from the
 * upstream or when the output cannot take them. */
static int
relay_resp_body(struct stream *st)
{
    struct sess *s = st->sess;
    struct upconn *up = st->up;
    struct buf_out o = out_to(&s->out, &s->w->bufs);
    while (!st->resp_done && up->in.len > 0 && s->out.len < PROXY_HIGH_WATER) {
        size_t before = s->out.len;
        struct http_data d = {0};
        const char *p = buf_head(&up->in);
        size_t take;
        switch (st->resp_framing) {
        case H1_FRAME_LENGTH:
            take = (size_t)MIN((uint64_t)up->in.len, st->resp_left);
            d.data = (struct http_str){p, take};
            st->resp_left -= take;
            st->resp_done = st->resp_left == 0;
            break;
        case H1_FRAME_CHUNKED: {
            size_t doff, dlen;
            ssize_t r = h1_chunked_scan(&st->resp_chunk, p, up->in.len, &doff, &dlen);
            if (r < 0)
                return -1;
            take = (size_t)r;
            d.data = (struct http_str){p + doff, dlen};
            st->resp_done = st->resp_chunk.done;
            break;
        }
        case H1_FRAME_CLOSE:
            take = up->in.len;
            d.data = (struct http_str){p, take};
            break;
        default:
            take = 0;
            st->resp_done = true;
            break;
        }
        if (take == 0)
            break;
        d.wire = (struct http_str){p, take};
        d.is_end = st->resp_done;
        st->down->data(st->dside, &o, &d);
        if (o.failed)
            return -1;
        buf_consume(&up->in, take);
        st->bytes_out += s->out.len - before;
    }
    if (st->resp_framing == H1_FRAME_CLOSE && st->is_up_eof && up->in.len == 0)
        st->resp_done = true;
    return 0;
}

static int
stream_tunnel_start(struct stream *st)
{
    struct sess *s = st->sess;
    s->flags |= SESS_F_TUNNEL;
    st->resp_done = true;
    st->req_done = true;
    /* Bytes the client sent after its head belong to the tunnel. */
    if (s->in.len > 0) {
        struct buf_out o = out_to(&st->up->out, &s->w->bufs);
        buf_out_mem(&o, buf_head(&s->in), s->in.len);
        if (o.failed)
            return stream_fail(st, 502, STREAM_END_INTERNAL);
        buf_consume(&s->in, s->in.len);
    }
    if (event_initialized(&st->ev_tmo))
        event_del(&st->ev_tmo);
    return 0;
}

/* Relays raw bytes both ways for an upgraded connection. */
int
stream_tunnel_pump(struct stream *st)
{
    struct sess *s = st->sess;
    struct upconn *up = st->up;
    struct buf_out d = out_to(&s->out, &s->w->bufs);
    struct buf_out u = out_to(&up->out, &s->w->bufs);
    if (up->in.len > 0) {
        st->bytes_out += up->in.len;
        buf_out_mem(&d, buf_head(&up->in), up->in.len);
        buf_consume(&up->in, up->in.len);
    }
    if (s->in.len > 0) {
        st->bytes_in += s->in.len;
        buf_out_mem(&u, buf_head(&s->in), s->in.len);
        buf_consume(&s->in, s->in.len);
    }
    if (d.failed || u.failed) {
        stream_abort(st, STREAM_END_INTERNAL);
        sess_close(s);
        return -1;
    }
    if (up->out.len > 0 && conn_write(&up->conn, &up->out) == -1 && errno != EAGAIN) {
        stream_abort(st, STREAM_END_TUNNEL);
        sess_close(s);
        return -1;
    }
    if (sess_flush(s) == -1)
        return -1;
    up_set_interest(up, s->out.len<PROXY_HIGH_WATER, up->out.len> 0);
    sess_update_events(s);
    return 0;
}

static void
copy_resp_state(struct stream *st, const struct h1_msg *resp)
{
    st->status = resp->status;
    st->resp_framing = resp->framing;
    st->resp_left = resp->content_length;
    memset(&st->resp_chunk, 0, sizeof(st->resp_chunk));
    bool up_close = (resp->flags & H1_F_CONN_CLOSE) != 0 ||
                    (resp->version_minor == 0 && !(resp->flags & H1_F_CONN_KEEPALIVE));
    st->resp_keepalive = !up_close && resp->framing != H1_FRAME_CLOSE;
    uint32_t maxreq = st->dest->cluster->policy.pool.max_requests_per_conn;
    if (maxreq != 0 && st->up->nreqs + 1 >= maxreq)
        st->resp_keepalive = false;
}

/* An interim (1xx) response, relayed with its end-to-end fields. */
static void
out_interim(struct stream *st, struct buf_out *o, const struct h1_msg *resp)
{
    const struct http_down_proto *dp = st->down;
    dp->resp_begin(st->dside, o, resp->status,
                   (struct http_str){resp->reason != NULL ? resp->reason : "", resp->reason_len});
    for (uint32_t i = 0; i < resp->nhdrs; i++) {
        const struct http_hdr *h = &resp->hdrs[i];
        if (!h1_is_hop_by_hop(h->name, h->name_len))
            dp->field(o, h->name, h->name_len, h->value, h->value_len);
    }
    struct http_head_end e = {.body = NULL, .conn = HTTP_CONN_NONE};
    dp->resp_end(st->dside, o, &e);
}

/* What parsing the response heads in up->in came to. */
enum prh {
    PRH_GONE = -1, /* the session is gone */
    PRH_MORE = 0,  /* need more bytes */
    PRH_ENDED = 1, /* the stream ended (answered with an error); the session lives */
    PRH_HEAD = 2,  /* the final head was handled */
    PRH_RETRY = 3, /* this try was dropped; a retry is scheduled */
};

/* The outcome of a call that ended the stream (stream_fail's -1 or 1). */
static enum prh
prh_ended(int rc)
{
    return rc == -1 ? PRH_GONE : PRH_ENDED;
}

/* Parses response heads in up->in: interim ones are relayed, the final one
 * is written to the client (or retried). */
static enum prh
parse_resp_head(struct stream *st)
{
    struct upconn *up = st->up;
    struct sess *s = st->sess;
    for (;;) {
        struct h1_msg resp;
        ssize_t r = h1_parse_response(buf_head(&up->in), up->in.len, st->req.method,
                                      st->req.method_len, &resp);
        if (r == 0) {
            if (up->in.len >= PROXY_HEAD_MAX)
                return prh_ended(stream_fail(st, 502, STREAM_END_UP_PROTO));
            return PRH_MORE;
        }
        if (r < 0)
            return prh_ended(stream_fail(st, 502, STREAM_END_UP_PROTO));
        if (resp.status >= 100 && resp.status < 200 && resp.status != 101) {
            /* Interim response (100, 103 with its Link headers): pass it on to
             * an HTTP/1.1 client, keep reading. */
            if (st->down->has_interim(st->dside)) {
                struct buf_out o = out_to(&s->out, &s->w->bufs);
                out_interim(st, &o, &resp);
            }
            buf_consume(&up->in, (size_t)r);
            continue;
        }
        if (resp.status == 101 && !st->is_upgrade)
            return prh_ended(stream_fail(st, 502, STREAM_END_UP_PROTO));
        observe(st, resp.status);
        if (resp.status >= 400 && status_retryable(st, resp.status) && retry_admit(st)) {
            stream_retry_later(st);
            return PRH_RETRY;
        }
        stream_retry_release(st); /* the final answer came: no retry in flight */
        st->up_end_us = clock_mono_us();
        copy_resp_state(st, &resp);
        if (build_down_head(st, &resp) == -1)
            return prh_ended(stream_fail(
                st, 503, STREAM_END_INTERNAL)); /* canaryd's failure, not the upstream's */
        buf_consume(&up->in, (size_t)r);
        st->resp = STREAM_RESP_RELAYED;
        if (resp.status == 101) {
            int rc = stream_tunnel_start(st);
            return rc != 0 ? prh_ended(rc) : PRH_HEAD;
        }
        if (st->resp_framing == H1_FRAME_NONE ||
            (st->resp_framing == H1_FRAME_LENGTH && st->resp_left == 0))
            st->resp_done = true;
        return PRH_HEAD;
    }
}

/* Called whenever upstream bytes arrived or client output drained. */
int
stream_pump_resp(struct stream *st)
{
    struct sess *s = st->sess;
    if (st->resp != STREAM_RESP_RELAYED) {
        enum prh r = parse_resp_head(st);
        if (r == PRH_GONE)
            return -1;
        if (r == PRH_ENDED)
            return 1;
        if (r == PRH_RETRY) {
            sess_update_events(s); /* retrying after a backoff */
            return 0;
        }
        if (r == PRH_MORE) {
            /* Interim responses (100 Continue) may be waiting in s->out. */
            if (sess_flush(s) == -1)
                return -1;
            stream_up_update_events(st);
            sess_update_events(s);
            return 0;
        }
        if (s->flags & SESS_F_TUNNEL)
            return stream_tunnel_pump(st);
    }
    if (relay_resp_body(st) == -1)
        return stream_fail(st, 502, STREAM_END_UP_PROTO);
    if (st->resp_done) {
        struct buf_out o = out_to(&s->out, &s->w->bufs);
        st->down->data_end(st->dside, &o);
        bool reuse = st->resp_keepalive && st->req_done && st->up->in.len == 0;
        st->up->nreqs++;
        return stream_finish(st, STREAM_END_OK, reuse);
    }
    if (sess_flush(s) == -1)
        return -1;
    stream_up_update_events(st);
    sess_update_events(s);
    return 0;
}

static void
on_up_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct upconn *up = arg;
    struct stream *st = up->st;
    if (st == NULL) {
        pool_idle_event(up);
        return;
    }
    struct sess *s = st->sess;
    size_t max = st->resp == STREAM_RESP_RELAYED ? PROXY_HIGH_WATER : PROXY_HEAD_MAX;
    /* A head (and the small body that usually comes with it) fits a cached
     * block; body reads go by larger chunks. */
    size_t want = st->resp == STREAM_RESP_RELAYED ? PROXY_READ_CHUNK : BUF_SMALL;
    ssize_t n = conn_read(&up->conn, &up->in, &s->w->bufs, want, max);
    if (n == -1 && (errno == EAGAIN || errno == ENOBUFS))
        return;
    if (s->flags & SESS_F_TUNNEL) {
        if (n <= 0) {
            (void)sess_flush(s); /* may close s: its memory lives to the end of the pass */
            if (!(s->flags & SESS_F_CLOSED) && s->st == st) {
                stream_abort(st, STREAM_END_TUNNEL);
                s->flags |= SESS_F_CLOSING;
                if (s->out.len == 0)
                    sess_close(s);
            }
            return;
        }
        (void)stream_tunnel_pump(st);
        return;
    }
    if (n == 0 && st->resp == STREAM_RESP_RELAYED && st->resp_framing == H1_FRAME_CLOSE) {
        /* The clean end of a close-delimited body (bytes still buffered are
         * relayed first). A reset (n == -1) is a truncation: aborted below. */
        st->is_up_eof = true;
        st->resp_keepalive = false;
        (void)stream_pump_resp(st);
        return;
    }
    if (n <= 0) {
        if (st->resp != STREAM_RESP_RELAYED && up->in.len == 0) {
            (void)stream_up_failed(st, STREAM_END_UP_RESET, false);
            return;
        }
        (void)stream_fail(
            st, 502, st->resp == STREAM_RESP_RELAYED ? STREAM_END_UP_ABORT : STREAM_END_UP_PROTO);
        return;
    }
    (void)stream_pump_resp(st);
}

static int
up_connected(struct stream *st)
{
    struct upconn *up = st->up;
    if (conn_connect_error(&up->conn) != 0) {
        /* This connection is gone (and its memory may already hold the next
         * try's): tell the caller not to touch it, whatever happened next. */
        int rc = stream_up_failed(st, STREAM_END_UP_CONNECT, true);
        return rc == -1 ? -1 : 1;
    }
    up->is_connecting = false;
    event_del(&up->ev_tmo);
    return 0;
}

static void
on_up_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct upconn *up = arg;
    struct stream *st = up->st;
    if (st == NULL)
        return;
    if (up->is_connecting && up_connected(st) != 0)
        return;
    if (conn_write(&up->conn, &up->out) == -1 && errno != EAGAIN) {
        if (st->resp != STREAM_RESP_RELAYED) {
            bool nothing = false;
            (void)stream_up_failed(st, STREAM_END_UP_RESET, nothing);
        } else {
            (void)stream_fail(st, 502, STREAM_END_UP_ABORT);
        }
        return;
    }
    if (st->sess->flags & SESS_F_TUNNEL) {
        (void)stream_tunnel_pump(st);
        return;
    }
    struct sess *s = st->sess;
    if (!st->req_done && s->in.len > 0) {
        if (stream_relay_req_body(st) == -1) {
            (void)stream_fail(st, 400, STREAM_END_PARSE);
            return;
        }
        (void)conn_write(&up->conn, &up->out);
    }
    if (up->out.len == 0)
        buf_release(&up->out, &s->w->bufs);
    stream_up_update_events(st);
    sess_update_events(s);
}

static void
on_up_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct upconn *up = arg;
    struct stream *st = up->st;
    if (st == NULL) {
        pool_idle_event(up); /* idle too long */
        return;
    }
    if (!up->is_connecting)
        return;
    (void)stream_up_failed(st, STREAM_END_UP_CONNECT, true);
}
