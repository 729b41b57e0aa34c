/*
 * mirror.c: fire-and-forget request mirroring (see mirror.h).
 * Each copy: a non-blocking connect to an endpoint of the mirror cluster, the
 * rewritten head plus the body bytes fed by the primary stream, then reading
 * and discarding until the upstream closes (the copy asks for Connection:
 * close) or MIRROR_TIMEOUT_MS passes. Copies never block, never retry, and are
 * dropped (counted as mirror_dropped) rather than buffered without bound.
 */
#include "canaryd/common.h"
#include "canaryd/proxy/mirror.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "canaryd/conf/conf.h"
#include "canaryd/proxy/dns.h"
#include "canaryd/proxy/health.h"
#include "canaryd/route/lb.h"
#include "canaryd/core/metrics.h"
#include "canaryd/proxy/proxy.h"
#include "canaryd/proxy/up_h1.h"

struct mirror {
    struct worker *w; /* borrowed: owner */
    struct conn conn; /* the transport */
    struct event ev_rd;
    struct event ev_wr;
    struct event ev_tmo;
    struct buf out;
    struct stream *st; /* weak: cleared by mirror_detach */
    bool is_connecting;
    bool is_body_done;
    size_t body_bytes;          /* request body bytes fed so far */
    struct mirror *prev, *next; /* worker's list */
};

static void
mirror_free(struct mirror *m)
{
    struct worker *w = m->w;
    event_del(&m->ev_rd);
    event_del(&m->ev_wr);
    event_del(&m->ev_tmo);
    conn_close(&m->conn, false);
    buf_release(&m->out, &w->bufs);
    if (m->st != NULL) {
        for (uint8_t i = 0; i < m->st->nmirrors; i++)
            if (m->st->mirrors[i] == m)
                m->st->mirrors[i] = NULL;
    }
    if (m->prev != NULL)
        m->prev->next = m->next;
    else
        w->mirrors = m->next;
    if (m->next != NULL)
        m->next->prev = m->prev;
    w->nmirrors--;
    free(m);
}

static void
dropped(struct worker *w)
{
    metric_error(w->metrics, METRIC_ERR_MIRROR_DROPPED);
}

static void
mirror_pump(struct mirror *m)
{
    if (m->out.len > 0 && conn_write(&m->conn, &m->out) == -1 && errno != EAGAIN) {
        mirror_free(m);
        return;
    }
    bool want_wr = m->out.len > 0;
    if (want_wr != (event_pending(&m->ev_wr, EV_WRITE, NULL) != 0)) {
        if (want_wr)
            event_add(&m->ev_wr, NULL);
        else
            event_del(&m->ev_wr);
    }
    if (m->out.len == 0)
        buf_release(&m->out, &m->w->bufs);
}

static void
on_mirror_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mirror *m = arg;
    if (m->is_connecting) {
        if (conn_connect_error(&m->conn) != 0) {
            dropped(m->w);
            mirror_free(m);
            return;
        }
        m->is_connecting = false;
        event_add(&m->ev_rd, NULL);
    }
    mirror_pump(m);
}

static void
on_mirror_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mirror *m = arg;
    char sink[4096];
    ssize_t n = conn_recv(&m->conn, sink, sizeof(sink));
    if (n == -1 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0)
        mirror_free(m); /* the response (discarded) is over */
}

static void
on_mirror_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    mirror_free(arg);
}

static const struct sockaddr *
pick_addr(struct worker *w, const struct conf_cluster *c, socklen_t *len)
{
    struct lb_pick pk = {.rng = &w->rng};
    size_t ei = lb_pick_endpoint(c, &pk);
    if (ei == SIZE_MAX)
        return NULL;
    const struct conf_endpoint *ep = c->eps[ei];
    if (!ep->is_dns) {
        *len = ep->salen;
        return (const struct sockaddr *)&ep->sa;
    }
    const struct dns_addrs *d = dns_addrs_get(ep->dns);
    if (d == NULL || d->n == 0)
        return NULL;
    const struct sockaddr_storage *sa = &d->sa[lb_rand(&w->rng) % d->n];
    *len = sa->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    return (const struct sockaddr *)sa;
}

static struct mirror *
mirror_open(struct stream *st, const struct conf_cluster *c)
{
    struct worker *w = st->sess->w;
    socklen_t salen = 0;
    const struct sockaddr *sa = pick_addr(w, c, &salen);
    if (sa == NULL)
        return NULL;
    struct mirror *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    if (conn_tcp_connect(&m->conn, sa, salen, CONN_UP, &m->is_connecting) == -1) {
        free(m);
        return NULL;
    }
    m->w = w;
    int fd = m->conn.fd;
    event_assign(&m->ev_rd, w->base, fd, EV_READ | EV_PERSIST, on_mirror_read, m);
    event_assign(&m->ev_wr, w->base, fd, EV_WRITE | EV_PERSIST, on_mirror_write, m);
    event_assign(&m->ev_tmo, w->base, -1, 0, on_mirror_timeout, m);
    if (up_h1_req_head(st, &m->out, true) == 0)
        return m;
    buf_release(&m->out, &w->bufs);
    conn_close(&m->conn, false);
    free(m);
    return NULL;
}

static void
mirror_link(struct worker *w, struct mirror *m)
{
    m->next = w->mirrors;
    if (w->mirrors != NULL)
        w->mirrors->prev = m;
    w->mirrors = m;
    w->nmirrors++;
    struct timeval tv = {MIRROR_TIMEOUT_MS / 1000, (MIRROR_TIMEOUT_MS % 1000) * 1000};
    event_add(&m->ev_tmo, &tv);
    if (m->is_connecting)
        event_add(&m->ev_wr, NULL);
    else
        event_add(&m->ev_rd, NULL);
}

void
mirror_start(struct stream *st)
{
    struct worker *w = st->sess->w;
    const struct conf_route *r = st->route;
    st->is_mirrored = true;
    for (size_t i = 0; i < r->nmirrors && st->nmirrors < countof(st->mirrors); i++) {
        const struct conf_mirror *cm = &r->mirrors[i];
        uint32_t draw = (uint32_t)(((lb_rand(&w->rng) >> 32) * CONF_PPM_ALL) >> 32);
        if (draw >= cm->ppm)
            continue;
        struct mirror *m = NULL;
        if (w->nmirrors < MIRROR_MAX_INFLIGHT)
            m = mirror_open(st, cm->cluster);
        if (m == NULL) {
            dropped(w);
            continue;
        }
        m->st = st;
        m->is_body_done = st->req_done;
        st->mirrors[st->nmirrors++] = m;
        mirror_link(w, m);
        if (!m->is_connecting)
            mirror_pump(m);
    }
}

void
mirror_feed(struct stream *st, const char *p, size_t len, bool done)
{
    for (uint8_t i = 0; i < st->nmirrors; i++) {
        struct mirror *m = st->mirrors[i];
        if (m == NULL)
            continue;
        m->body_bytes += len;
        if (m->body_bytes > MIRROR_MAX_BYTES ||
            buf_append(&m->out, &m->w->bufs, p, len, MIRROR_MAX_BYTES + 16384u) == -1) {
            /* Too big, or the mirror is not keeping up: drop this copy. */
            dropped(m->w);
            mirror_free(m);
            continue;
        }
        m->is_body_done = done;
        if (!m->is_connecting)
            mirror_pump(m);
    }
}

void
mirror_detach(struct stream *st)
{
    for (uint8_t i = 0; i < st->nmirrors; i++) {
        struct mirror *m = st->mirrors[i];
        st->mirrors[i] = NULL;
        if (m == NULL)
            continue;
        m->st = NULL;
        if (!m->is_body_done) {
            dropped(m->w); /* its body will never be complete */
            mirror_free(m);
        }
    }
    st->nmirrors = 0;
}

void
mirror_fini(struct worker *w)
{
    while (w->mirrors != NULL)
        mirror_free(w->mirrors);
}
