/*
 * stream.c: one request/response exchange, its life cycle and routing.
 * A stream pins the worker's snapshot, routes the request (Host ->
 * VirtualService -> first matching route), answers it itself (directResponse,
 * redirect, fault abort, errors) or picks a subset by weight and hands it to
 * the upstream side (stream_up.c), and ends through stream_end(): access log,
 * metrics, connection back to the pool, snapshot unpinned.
 */
#include "canaryd/common.h"
#include "canaryd/core/addr.h"
#include "canaryd/core/clock.h"
#include "canaryd/proxy/stream_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
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
#include "canaryd/proxy/mirror.h"
#include "canaryd/route/route.h"
#include "canaryd/proxy/worker.h"

static void on_stream_timeout(evutil_socket_t fd, short what, void *arg);
static void on_stream_try_timeout(evutil_socket_t fd, short what, void *arg);
static void on_stream_retry(evutil_socket_t fd, short what, void *arg);

const char *const stream_end_flags[] = {
    [STREAM_END_OK] = "",
    [STREAM_END_PARSE] = "bad_request",
    [STREAM_END_NO_ROUTE] = "no_route",
    [STREAM_END_NO_HEALTHY] = "no_healthy_upstream",
    [STREAM_END_UP_CONNECT] = "upstream_connect_failure",
    [STREAM_END_UP_RESET] = "upstream_reset",
    [STREAM_END_UP_TIMEOUT] = "upstream_timeout",
    [STREAM_END_UP_PROTO] = "upstream_protocol_error",
    [STREAM_END_UP_ABORT] = "upstream_abort",
    [STREAM_END_DOWN_CLOSE] = "downstream_close",
    [STREAM_END_DIRECT] = "direct_response",
    [STREAM_END_REDIRECT] = "redirect",
    [STREAM_END_INTERNAL] = "internal_error",
    [STREAM_END_TUNNEL] = "upgrade",
    [STREAM_END_FAULT] = "fault_abort",
    [STREAM_END_OVERFLOW] = "overflow",
    [STREAM_END_DOWN_TIMEOUT] = "request_timeout",
    [STREAM_END_CORS] = "cors_preflight",
};

static const enum metric_err end_metric[] = {
    [STREAM_END_OK] = METRIC_ERR__COUNT,
    [STREAM_END_PARSE] = METRIC_ERR_BAD_REQUEST,
    [STREAM_END_NO_ROUTE] = METRIC_ERR_NO_ROUTE,
    [STREAM_END_NO_HEALTHY] = METRIC_ERR_NO_ENDPOINT,
    [STREAM_END_UP_CONNECT] = METRIC_ERR_UP_CONNECT,
    [STREAM_END_UP_RESET] = METRIC_ERR_UP_RESET,
    [STREAM_END_UP_TIMEOUT] = METRIC_ERR_UP_TIMEOUT,
    [STREAM_END_UP_PROTO] = METRIC_ERR_UP_BAD_RESPONSE,
    [STREAM_END_UP_ABORT] = METRIC_ERR_UP_RESET,
    [STREAM_END_DOWN_CLOSE] = METRIC_ERR_DOWN_CLOSED,
    [STREAM_END_DIRECT] = METRIC_ERR__COUNT,
    [STREAM_END_REDIRECT] = METRIC_ERR__COUNT,
    [STREAM_END_INTERNAL] = METRIC_ERR_NOMEM,
    [STREAM_END_TUNNEL] = METRIC_ERR__COUNT,
    [STREAM_END_FAULT] = METRIC_ERR__COUNT,
    [STREAM_END_OVERFLOW] = METRIC_ERR_OVERFLOW,
    [STREAM_END_DOWN_TIMEOUT] = METRIC_ERR_HEAD_TIMEOUT,
    [STREAM_END_CORS] = METRIC_ERR__COUNT,
};

static enum metric_err
reject_metric(uint16_t status, enum stream_end why)
{
    if (why != STREAM_END_PARSE)
        return end_metric[why];
    switch (status) {
    case 408:
        return METRIC_ERR_HEAD_TIMEOUT;
    case 414:
        return METRIC_ERR_URI_TOO_LONG;
    case 431:
        return METRIC_ERR_HEAD_TOO_LARGE;
    default:
        return METRIC_ERR_BAD_REQUEST;
    }
}

/* ---- small helpers ---- */

/* Moves h1_msg views from one buffer base to another after a copy. */
static void
rebase(struct h1_msg *m, const char *from, char *to, size_t len)
{
    /* Views outside the head (the parser's static "/" for an absolute-form
     * target without a path) stay as they are. */
#define REBASE(p)                                                                                  \
    do {                                                                                           \
        if ((p) != NULL && (p) >= from && (p) < from + len)                                        \
            (p) = to + ((p)-from);                                                                 \
    } while (0)
    REBASE(m->method);
    REBASE(m->target);
    REBASE(m->path);
    REBASE(m->query);
    REBASE(m->reason);
    REBASE(m->host);
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        REBASE(m->hdrs[i].name);
        REBASE(m->hdrs[i].value);
    }
#undef REBASE
}

static void
request_id_make(struct stream *st, struct lb_rng *rng)
{
    const struct http_hdr *h = h1_hdr_find(&st->req, "x-request-id", 12);
    if (h != NULL && h->value_len > 0 && h->value_len < sizeof(st->request_id)) {
        memcpy(st->request_id, h->value, h->value_len);
        st->request_id_len = h->value_len;
        st->request_id[h->value_len] = '\0';
        return;
    }
    /* UUID version 4 (RFC 9562): 122 random bits, version 0100, variant 10. */
    uint64_t a = lb_rand(rng), b = lb_rand(rng);
    a = (a & ~0xf000ull) | 0x4000ull;
    b = (b & ~(3ull << 62)) | (2ull << 62);
    static const char hex[] = "0123456789abcdef";
    char *p = st->request_id;
    for (int i = 0; i < 32; i++) {
        uint64_t word = i < 16 ? a : b;
        int shift = 60 - 4 * (i % 16);
        if (i == 8 || i == 12 || i == 16 || i == 20)
            *p++ = '-';
        *p++ = hex[(word >> shift) & 0xf];
    }
    *p = '\0';
    st->request_id_len = 36;
}

/* ---- ending ---- */

static int
client_format(const struct sess *s, char *buf, size_t len)
{
    return (int)addr_join(buf, len, s->peer.ss_family, s->peer_ip,
                          addr_port((const struct sockaddr *)&s->peer));
}

static void
stream_log(struct stream *st)
{
    struct worker *w = st->sess->w;
    const struct conf_cluster *c = st->dest != NULL ? st->dest->cluster : NULL;
    const char *vs = st->vs != NULL ? st->vs->name : "";
    const char *rt = st->route != NULL ? st->route->name : "";
    const char *dst = c != NULL ? c->host : "";
    const char *sub = c != NULL && c->subset != NULL ? c->subset : "";
    uint64_t now = clock_mono_us();
    uint64_t dur = now - st->start_us;
    if (st->status != 0) {
        struct metric_labels ml = {vs, rt, dst, sub, 0};
        metric_request(w->metrics, &ml, st->status, dur);
    }
    if (end_metric[st->end] != METRIC_ERR__COUNT)
        metric_error(w->metrics, end_metric[st->end]);
    if (!log_access_is_enabled())
        return;
    char client[INET6_ADDRSTRLEN + 8];
    int clen = client_format(st->sess, client, sizeof(client));
    const char *proto = st->down->protocol(st->dside);
    struct log_access_rec rec = {
        .time_us = clock_wall_us() - dur,
        .request_id = {st->request_id, st->request_id_len},
        .client = {client, (size_t)clen},
        .method = {st->req.method, st->req.method_len},
        .authority = {st->req.host, st->req.host_len},
        .path = {st->req.target, st->req.target_len},
        .protocol = {proto, strlen(proto)},
        .status = st->status,
        .bytes_in = st->bytes_in,
        .bytes_out = st->bytes_out,
        .duration_us = dur,
        .upstream_us = st->up_end_us > st->up_start_us && st->up_start_us != 0
                           ? (int64_t)(st->up_end_us - st->up_start_us)
                           : -1,
        .virtual_service = {vs, strlen(vs)},
        .route = {rt, strlen(rt)},
        .destination = {dst, strlen(dst)},
        .subset = {sub, strlen(sub)},
        .upstream = {NULL, 0},
        .flags = {stream_end_flags[st->end], strlen(stream_end_flags[st->end])},
    };
    if (st->delay != STREAM_DELAY_NONE && st->end == STREAM_END_OK) {
        rec.flags.p = "fault_delay";
        rec.flags.len = 11;
    }
    if (st->pe != NULL) {
        rec.upstream.p = st->pe->addr_str;
        rec.upstream.len = strlen(st->pe->addr_str);
    }
    log_access(w->alog, &rec);
}

#define STREAM_FREE_MAX 256u

/* A zeroed stream, from the worker's free list when it has one: no malloc on
 * the request path in the steady state. */
static struct stream *
stream_alloc(struct worker *w)
{
    struct stream *st = w->free_streams;
    if (st == NULL)
        return calloc(1, sizeof(*st));
    w->free_streams = st->pend_next;
    w->nfree_streams--;
    memset(st, 0, sizeof(*st));
    return st;
}

static void
stream_recycle(struct worker *w, struct stream *st)
{
    if (w->nfree_streams >= STREAM_FREE_MAX || w->is_stopping) {
        free(st);
        return;
    }
    st->pend_next = w->free_streams;
    w->free_streams = st;
    w->nfree_streams++;
}

void
stream_free_cache(struct worker *w)
{
    while (w->free_streams != NULL) {
        struct stream *st = w->free_streams;
        w->free_streams = st->pend_next;
        free(st);
    }
    w->nfree_streams = 0;
}

/* The one way a stream ends: logs, counts, releases; its memory is recycled
 * at the end of the loop pass (stream_reap), so that a caller still holding
 * st reads is_ended rather than the next request's stream. */
static void
stream_end(struct stream *st, enum stream_end why, bool up_reusable)
{
    struct sess *s = st->sess;
    struct worker *w = s->w;
    if (st->is_ended)
        return;
    st->end = st->end != STREAM_END_OK ? st->end : why;
    if (event_initialized(&st->ev_tmo)) {
        event_del(&st->ev_tmo);
        event_del(&st->ev_try);
        event_del(&st->ev_retry);
    }
    buf_release(&st->replay, &w->bufs);
    if (st->nmirrors > 0)
        mirror_detach(st);
    if (st->is_pending)
        stream_pending_unlink(st);
    stream_up_detach(st, up_reusable);
    stream_retry_release(st);
    stream_log(st);
    worker_wconf_release(w, &st->wc);
    buf_release(&st->head, &w->bufs);
    st->is_ended = true;
    st->pend_next = w->reap_streams;
    w->reap_streams = st;
}

void
stream_reap(struct worker *w)
{
    while (w->reap_streams != NULL) {
        struct stream *st = w->reap_streams;
        w->reap_streams = st->pend_next;
        stream_recycle(w, st);
    }
}

void
stream_abort(struct stream *st, enum stream_end why)
{
    struct sess *s = st->sess;
    stream_end(st, why, false);
    s->st = NULL;
}

/* The response is complete in s->out: end the stream, let the session go on. */
int
stream_finish(struct stream *st, enum stream_end why, bool up_reusable)
{
    struct sess *s = st->sess;
    if (!st->req_done) /* unread request body: cannot reuse; may still arrive */
        s->flags |= SESS_F_CLOSE_AFTER | SESS_F_UNREAD;
    stream_end(st, why, up_reusable);
    return sess_stream_done(s) == -1 ? -1 : 1;
}

/* ---- answers canaryd writes itself ---- */

bool
stream_down_keepalive(const struct stream *st)
{
    const struct sess *s = st->sess;
    if (s->flags & SESS_F_CLOSE_AFTER || s->w->is_draining)
        return false;
    return st->down->keeps_conn(st->dside);
}

/* Writes a Content-Length field of n through the client's protocol. */
void
stream_out_length(struct buf_out *o, const struct stream *st, uint64_t n)
{
    char tmp[20];
    const char *p = u64_to_dec(tmp, n);
    st->down->field(o, "content-length", 14, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Answers with status, a plain-text body and, for a redirect, location. */
static int
stream_local_reply(struct stream *st, uint16_t status, const struct http_str *location,
                   const char *body, size_t body_len, enum stream_end why)
{
    struct sess *s = st->sess;
    const struct http_down_proto *dp = st->down;
    bool keep = stream_down_keepalive(st) && st->req_done;
    struct buf_out o = out_to(&s->out, &s->w->bufs);
    size_t before = s->out.len;
    dp->resp_begin(st->dside, &o, status, (struct http_str){NULL, 0});
    stream_out_length(&o, st, body_len);
    if (body_len > 0)
        dp->field(&o, "content-type", 12, "text/plain", 10);
    if (location != NULL)
        dp->field(&o, "location", 8, location->p, location->len);
    stream_out_cors(&o, st);
    dp->field(&o, "x-request-id", 12, st->request_id, st->request_id_len);
    struct http_body_desc bd = {.kind = body_len > 0 ? HTTP_BODY_LENGTH : HTTP_BODY_NONE,
                                .length = body_len};
    struct http_head_end e = {.body = &bd, .conn = keep ? HTTP_CONN_KEEP : HTTP_CONN_CLOSE};
    dp->resp_end(st->dside, &o, &e);
    if (!st->is_head)
        buf_out_mem(&o, body, body_len);
    if (o.failed) {
        s->out.len = before;
        s->flags |= SESS_F_CLOSE_AFTER;
        status = 500;
    }
    if (!keep)
        s->flags |= SESS_F_CLOSE_AFTER;
    st->status = status;
    st->resp = STREAM_RESP_LOCAL;
    /* As for proxied responses (and Envoy's BYTES_SENT): body bytes only. */
    st->bytes_out += st->is_head || o.failed ? 0 : body_len;
    return stream_finish(st, why, false);
}

int
stream_fail(struct stream *st, uint16_t status, enum stream_end why)
{
    if (st->resp != STREAM_RESP_NONE) {
        /* Bytes of the real response went out: the client must see a broken
         * response, never a complete-looking short one. */
        struct sess *s = st->sess;
        s->flags |= SESS_F_ABORT;
        st->status = st->status ? st->status : status;
        stream_end(st, STREAM_END_UP_ABORT, false);
        s->st = NULL;
        sess_close(s);
        return -1;
    }
    char body[64];
    int n = snprintf(body, sizeof(body), "%s\n", stream_end_flags[why]);
    st->end = why;
    return stream_local_reply(st, status, NULL, body, (size_t)n, why);
}

int
stream_reject(struct sess *s, uint16_t status, enum stream_end why, const char *flag)
{
    struct worker *w = s->w;
    struct buf_out o = out_to(&s->out, &w->bufs);
    const struct http_down_proto *dp = s->proto;
    char body[96];
    int n = snprintf(body, sizeof(body), "%s\n", flag);
    n = MIN(n, (int)sizeof(body) - 1);
    char len[20];
    const char *lp = u64_to_dec(len, (uint64_t)n);
    /* No request was read: the protocol writes with its defaults (side NULL). */
    dp->resp_begin(NULL, &o, status, (struct http_str){NULL, 0});
    dp->field(&o, "content-type", 12, "text/plain", 10);
    dp->field(&o, "content-length", 14, lp, (size_t)(len + sizeof(len) - lp));
    struct http_body_desc bd = {.kind = HTTP_BODY_LENGTH, .length = (uint64_t)n};
    struct http_head_end e = {.body = &bd, .conn = HTTP_CONN_CLOSE};
    dp->resp_end(NULL, &o, &e);
    buf_out_mem(&o, body, (size_t)n);
    s->flags |= SESS_F_CLOSE_AFTER | SESS_F_CLOSING | SESS_F_UNREAD;
    struct metric_labels ml = {"", "", "", "", 0};
    metric_request(w->metrics, &ml, status, 0);
    metric_error(w->metrics, reject_metric(status, why));
    if (log_access_is_enabled()) {
        char client[INET6_ADDRSTRLEN + 8];
        int clen = client_format(s, client, sizeof(client));
        struct log_access_rec rec = {
            .time_us = clock_wall_us(),
            .client = {client, (size_t)clen},
            .status = status,
            .bytes_in = s->in.len,
            .bytes_out = o.failed ? 0 : (uint64_t)n,
            .upstream_us = -1,
            .flags = {flag, strlen(flag)},
        };
        log_access(w->alog, &rec);
    }
    buf_consume(&s->in, s->in.len);
    if (sess_flush(s) == -1)
        return -1;
    sess_update_events(s);
    return 0;
}

/* A Location value may take 8 KiB less its HTTP/1 field syntax ("location: "
 * and CRLF), whatever protocol writes it. */
#define LOCATION_FIELD_EXTRA 12u

static int
stream_redirect(struct stream *st)
{
    const struct conf_redirect *rd = &st->route->redirect;
    char loc[8192];
    const char *scheme = rd->scheme != NULL ? rd->scheme : "http";
    const char *auth = rd->authority;
    size_t auth_len = rd->authority_len;
    if (auth == NULL) {
        auth = st->req.host != NULL ? st->req.host : "";
        auth_len = st->req.host != NULL ? st->req.host_len : 0;
        /* Keep the host, drop its port when a new port is set. */
        const char *colon = memchr(auth, ':', auth_len);
        if (rd->port != 0 && colon != NULL && auth[0] != '[')
            auth_len = (size_t)(colon - auth);
    }
    int n;
    char port[16] = "";
    if (rd->port != 0)
        snprintf(port, sizeof(port), ":%u", rd->port);
    if (rd->uri != NULL)
        n = snprintf(loc, sizeof(loc), "%s://%.*s%s%.*s", scheme, (int)auth_len, auth, port,
                     (int)rd->uri_len, rd->uri);
    else
        n = snprintf(loc, sizeof(loc), "%s://%.*s%s%.*s", scheme, (int)auth_len, auth, port,
                     (int)st->req.target_len, st->req.target);
    if (n < 0 || (size_t)n >= sizeof(loc) - LOCATION_FIELD_EXTRA)
        return stream_fail(st, 500, STREAM_END_INTERNAL);
    struct http_str lv = {loc, (size_t)n};
    return stream_local_reply(st, rd->status ? rd->status : 301, &lv, NULL, 0, STREAM_END_REDIRECT);
}

/* ---- CORS ---- */

static const char *
req_hdr(const struct stream *st, const char *name, size_t len, size_t *vlen)
{
    const struct http_hdr *h = h1_hdr_find(&st->req, name, len);
    *vlen = h != NULL ? h->value_len : 0;
    return h != NULL ? h->value : NULL;
}

/* Envoy's CORS filter sits after routing and before fault injection, and
 * skips redirect and directResponse routes. Returns true when st is a
 * preflight canaryd answers itself. */
static bool
stream_cors(struct stream *st)
{
    size_t olen, acrm_len = 0;
    const char *origin = req_hdr(st, "origin", 6, &olen);
    if (origin == NULL || olen == 0)
        return false; /* not a CORS request: st->cors stays CORS_NONE */
    if (str_eq(st->req.method, st->req.method_len, "OPTIONS", 7))
        (void)req_hdr(st, "access-control-request-method", 29, &acrm_len);
    enum cors_verdict v =
        cors_decide(st->route->cors, st->req.method, st->req.method_len, origin, olen, acrm_len);
    st->cors = (uint8_t)v;
    st->cors_origin = origin;
    st->cors_origin_len = (uint32_t)olen;
    return v == CORS_PREFLIGHT || v == CORS_PREFLIGHT_DENIED;
}

size_t
stream_cors_headers(const struct stream *st, struct cors_hdr *h)
{
    const struct conf_cors *p = st->route != NULL ? st->route->cors : NULL;
    switch ((enum cors_verdict)st->cors) {
    case CORS_ALLOWED:
        return cors_response_headers(p, st->cors_origin, st->cors_origin_len, h);
    case CORS_PREFLIGHT:
    case CORS_PREFLIGHT_DENIED: {
        size_t rlen;
        const char *rh = req_hdr(st, "access-control-request-headers", 30, &rlen);
        return cors_preflight_headers(p, (enum cors_verdict)st->cors, st->cors_origin,
                                      st->cors_origin_len, rh, rlen, h);
    }
    case CORS_NONE:
    case CORS_DENIED:
        break;
    }
    return 0;
}

void
stream_out_cors(struct buf_out *o, const struct stream *st)
{
    struct cors_hdr h[CORS_HDRS_MAX];
    size_t n = stream_cors_headers(st, h);
    for (size_t i = 0; i < n; i++)
        st->down->field(o, h[i].name, h[i].name_len, h[i].value, h[i].value_len);
}

/* A Gateway server with tls.httpsRedirect, as Envoy's require_tls: 301 to
 * https:// with the Host as sent and the path and query, for every method. */
static int
stream_https_redirect(struct stream *st)
{
    const struct h1_msg *req = &st->req;
    char loc[8192];
    if (req->host == NULL || req->host_len == 0)
        return stream_fail(st, 400, STREAM_END_PARSE); /* no authority to send it to */
    /* OPTIONS * (asterisk form) names no resource: the redirect is to "/". */
    bool is_origin = req->path_len > 0 && req->path[0] == '/';
    int n = snprintf(loc, sizeof(loc), "https://%.*s%.*s%s%.*s", (int)req->host_len, req->host,
                     is_origin ? (int)req->path_len : 1, is_origin ? req->path : "/",
                     req->query != NULL ? "?" : "", req->query != NULL ? (int)req->query_len : 0,
                     req->query != NULL ? req->query : "");
    if (n < 0 || (size_t)n >= sizeof(loc) - LOCATION_FIELD_EXTRA)
        return stream_fail(st, 500, STREAM_END_INTERNAL);
    struct http_str lv = {loc, (size_t)n};
    return stream_local_reply(st, 301, &lv, NULL, 0, STREAM_END_REDIRECT);
}

/* ---- routing ---- */

static const struct conf_listener *
listener_of(const struct conf *c, const struct sess *s)
{
    if (c->nlisteners == 1)
        return &c->listeners[0];
    for (size_t i = 0; i < c->nlisteners; i++) {
        const struct conf_listener *cl = &c->listeners[i];
        if (s->lsn != NULL && cl->salen == s->lsn->salen &&
            memcmp(&cl->sa, &s->lsn->sa, cl->salen) == 0)
            return cl;
    }
    for (size_t i = 0; i < c->nlisteners; i++)
        if (c->listeners[i].port == s->lport)
            return &c->listeners[i];
    return NULL;
}

void
stream_route_req_init(struct route_req *rr, struct http_req *hr, struct stream *st)
{
    struct sess *s = st->sess;
    h1_req_view(&st->req, hr);
    hr->scheme = (struct http_str){"http", 4};
    if (s->peer.ss_family == AF_INET) {
        hr->client_addr = &((const struct sockaddr_in *)&s->peer)->sin_addr;
        hr->client_addr_len = 4;
    } else if (s->peer.ss_family == AF_INET6) {
        hr->client_addr = &((const struct sockaddr_in6 *)&s->peer)->sin6_addr;
        hr->client_addr_len = 16;
    }
    *rr = (struct route_req){
        .req = hr,
        .port = s->lport,
        .scratch = s->w->scratch,
        .scratch_cap = sizeof(s->w->scratch),
    };
}

/* A uniform draw in [0, 1e6), for percentages in parts per million. */
static uint32_t
draw_ppm(struct worker *w)
{
    return (uint32_t)(((lb_rand(&w->rng) >> 32) * CONF_PPM_ALL) >> 32);
}

/* Fault injection (delay, then abort, as Envoy orders them), then the
 * upstream. */
static int
stream_forward(struct stream *st)
{
    const struct conf_fault *f = &st->route->fault;
    struct worker *w = st->sess->w;
    if (f->has_delay && st->delay == STREAM_DELAY_NONE && draw_ppm(w) < f->delay_ppm) {
        st->delay = STREAM_DELAY_WAITING;
        /* The loop's cached clock may lag: the delay counts from now. */
        event_base_update_cache_time(w->base);
        struct timeval tv = {f->delay_ms / 1000, (f->delay_ms % 1000) * 1000};
        event_add(&st->ev_retry, &tv); /* a timer on the loop, never a sleep */
        return 0;
    }
    if (f->has_abort && draw_ppm(w) < f->abort_ppm) {
        static const char body[] = "fault filter abort\n";
        return stream_local_reply(st, f->abort_status, NULL, body, sizeof(body) - 1,
                                  STREAM_END_FAULT);
    }
    return stream_dispatch(st, NULL);
}

static int
stream_route(struct stream *st)
{
    const struct conf *c = st->wc->conf;
    const struct conf_vhost *vh = NULL;
    st->cl = listener_of(c, st->sess);
    if (st->cl != NULL) /* no Host (HTTP/1.0): only "*" can match */
        vh = route_vhost(&st->cl->vhosts, st->req.host, st->req.host_len);
    st->vs = vh != NULL ? vh->vs : NULL; /* logged and counted, also for a redirect */
    if (vh != NULL && vh->https_redirect)
        return stream_https_redirect(st);
    struct route_req rr;
    struct http_req hr;
    stream_route_req_init(&rr, &hr, st);
    rr.gateways = vh != NULL ? vh->gateways : NULL;
    rr.gw_words = c->gw_words;
    if (st->vs != NULL)
        st->route = route_select(st->vs, &rr);
    if (st->route == NULL)
        return stream_fail(st, 404, STREAM_END_NO_ROUTE);
    switch (st->route->action) {
    case CONF_ACTION_DIRECT:
        return stream_local_reply(st, st->route->direct.status, NULL, st->route->direct.body,
                                  st->route->direct.body_len, STREAM_END_DIRECT);
    case CONF_ACTION_REDIRECT:
        return stream_redirect(st);
    case CONF_ACTION_FORWARD:
        break;
    }
    if (st->route->cors != NULL && stream_cors(st))
        return stream_local_reply(st, 200, NULL, NULL, 0, STREAM_END_CORS);
    uint64_t u;
    if (st->vs->split_key.src == CONF_KEY_NONE || !lb_key_hash_req(&st->vs->split_key, &rr, &u))
        u = lb_rand(&st->sess->w->rng);
    size_t di = lb_pick_dest(st->route, u);
    if (di == SIZE_MAX)
        return stream_fail(st, 503, STREAM_END_NO_HEALTHY);
    st->dest = &st->route->dests[di];
    const struct conf_retries *rt = &st->route->retries;
    st->replay_on = st->req_body.kind != HTTP_BODY_NONE && rt->is_set && rt->attempts > 0 &&
                    stream_is_idempotent(&st->req);
    st->replay_ok = st->replay_on;
    return stream_forward(st);
}

static void
on_stream_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct stream *st = arg;
    if (st->delay == STREAM_DELAY_WAITING) {
        st->delay = STREAM_DELAY_DONE;
        (void)stream_forward(st);
        return;
    }
    (void)stream_dispatch(st, NULL);
}

static void
on_stream_try_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct stream *st = arg;
    if (st->resp == STREAM_RESP_RELAYED)
        return; /* the response is flowing: only the route timeout applies */
    (void)stream_up_failed(st, STREAM_END_UP_TIMEOUT, false);
}

static void
on_stream_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct stream *st = arg;
    (void)stream_fail(st, 504, STREAM_END_UP_TIMEOUT);
}

/* ---- downstream events during a stream ---- */

int
stream_on_down_read(struct stream *st)
{
    if (st == NULL)
        return 0;
    struct sess *s = st->sess;
    ssize_t n = conn_read(&s->conn, &s->in, &s->w->bufs, PROXY_READ_CHUNK,
                          PROXY_HIGH_WATER + PROXY_READ_CHUNK);
    if (n == -1 && (errno == EAGAIN || errno == ENOBUFS)) {
        sess_update_events(s);
        return 0;
    }
    if (n == 0 && st->req_done && !(s->flags & SESS_F_TUNNEL)) {
        /* A half-close after a complete request: the client still reads.
         * Answer it (and what it pipelined before), then close. */
        s->flags |= SESS_F_RDHUP;
        sess_update_events(s);
        return 0;
    }
    if (n <= 0) {
        /* The client went away mid-request (or the tunnel ended). */
        if (s->flags & SESS_F_TUNNEL && st->up != NULL && st->up->out.len > 0)
            (void)conn_write(&st->up->conn, &st->up->out);
        stream_abort(st, (s->flags & SESS_F_TUNNEL) ? STREAM_END_TUNNEL : STREAM_END_DOWN_CLOSE);
        sess_close(s);
        return -1;
    }
    if (s->flags & SESS_F_TUNNEL)
        return stream_tunnel_pump(st);
    if (!st->req_done && st->up != NULL) {
        if (stream_relay_req_body(st) == -1)
            return stream_fail(st, 400, STREAM_END_PARSE);
        if (!st->up->is_connecting && conn_write(&st->up->conn, &st->up->out) == -1 &&
            errno != EAGAIN)
            return stream_up_failed(st, STREAM_END_UP_RESET, false);
        stream_up_update_events(st);
    }
    sess_update_events(s);
    return 0;
}

int
stream_on_down_timeout(struct stream *st)
{
    struct sess *s = st->sess;
    if (!st->req_done && st->resp == STREAM_RESP_NONE)
        return stream_fail(st, 408, STREAM_END_DOWN_TIMEOUT);
    stream_abort(st, STREAM_END_DOWN_CLOSE);
    sess_close(s);
    return -1;
}

int
stream_on_down_written(struct stream *st)
{
    struct sess *s = st->sess;
    if (s->flags & SESS_F_TUNNEL)
        return stream_tunnel_pump(st);
    if (st->up != NULL && st->resp == STREAM_RESP_RELAYED && st->up->in.len > 0)
        return stream_pump_resp(st);
    stream_up_update_events(st);
    sess_update_events(s);
    return 0;
}

/* ---- start ---- */

static int
stream_prepare(struct stream *st, struct h1_msg *req, size_t head_len)
{
    struct sess *s = st->sess;
    struct worker *w = s->w;
    if (buf_append(&st->head, &w->bufs, buf_head(&s->in), head_len, PROXY_HEAD_MAX) == -1)
        return -1;
    st->req = *req;
    rebase(&st->req, buf_head(&s->in), buf_head(&st->head), head_len);
    char *path = st->req.path;
    if (path != NULL && path[0] == '/' && path >= buf_head(&st->head) &&
        path < buf_head(&st->head) + head_len)
        st->req.path_len = (uint32_t)h1_path_normalize(path, st->req.path_len);
    buf_consume(&s->in, head_len);
    /* The head now lives in st->head: a connection waiting for its answer
     * holds no input block (memory under many slow requests). */
    buf_shrink_if_empty(&s->in, &w->bufs);
    st->bytes_in = head_len;
    st->down = s->proto;
    st->dside = &st->h1d;
    h1_down_init(&st->h1d, &st->req, &s->in, &st->req_body);
    st->req_done = st->req_body.kind == HTTP_BODY_NONE ||
                   (st->req_body.kind == HTTP_BODY_LENGTH && st->req_body.length == 0);
    st->is_head = str_eq(st->req.method, st->req.method_len, "HEAD", 4);
    st->is_upgrade = (st->req.flags & H1_F_UPGRADE) && (st->req.flags & H1_F_CONN_UPGRADE);
    request_id_make(st, &w->rng);
    return 0;
}

int
stream_start(struct sess *s, struct h1_msg *req, size_t head_len)
{
    struct worker *w = s->w;
    struct stream *st = stream_alloc(w);
    if (st == NULL) {
        metric_error(w->metrics, METRIC_ERR_NOMEM);
        return stream_reject(s, 503, STREAM_END_INTERNAL, "out_of_memory");
    }
    st->sess = s;
    st->start_us = clock_mono_us();
    s->st = st;
    s->head_start_us = 0;
    if (stream_prepare(st, req, head_len) == -1) {
        s->st = NULL;
        buf_release(&st->head, &w->bufs);
        stream_recycle(w, st);
        return stream_reject(s, 503, STREAM_END_INTERNAL, "out_of_memory");
    }
    event_assign(&st->ev_tmo, w->base, -1, 0, on_stream_timeout, st);
    event_assign(&st->ev_try, w->base, -1, 0, on_stream_try_timeout, st);
    event_assign(&st->ev_retry, w->base, -1, 0, on_stream_retry, st);
    st->wc = worker_wconf_acquire(w);
    if (st->wc == NULL)
        return stream_fail(st, 503, STREAM_END_NO_HEALTHY);
    uint32_t tmo = 0;
    int rc = stream_route(st);
    if (rc != 0)
        return rc == -1 ? -1 : 0; /* answered already; the session lives on when 1 */
    tmo = st->route != NULL ? st->route->timeout_ms : 0;
    if (tmo != 0) {
        struct timeval tv = {tmo / 1000, (tmo % 1000) * 1000};
        event_add(&st->ev_tmo, &tv);
    }
    return 0;
}
