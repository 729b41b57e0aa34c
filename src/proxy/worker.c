/*
 * worker.c: worker threads, their listening sockets and the live snapshot.
 * Each worker owns an event_base, one SO_REUSEPORT socket per listener
 * address, its sessions and pools. The main thread publishes snapshots and
 * opens/closes listener sockets; it talks to workers through a small command
 * queue woken by an eventfd (never on the request path).
 */
#include "canaryd/common.h"
#include "canaryd/core/addr.h"
#include "canaryd/core/clock.h"
#include "canaryd/proxy/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "canaryd/engine/conn.h"
#include "canaryd/conf/conf.h"
#include "canaryd/route/lb.h"
#include "canaryd/core/match.h"
#include "canaryd/core/log.h"
#include "canaryd/core/metrics.h"
#include "canaryd/proxy/mirror.h"
#include "canaryd/proxy/proxy.h"

#define LISTEN_BACKLOG 4096
#define ACCEPT_BATCH 64
#define TICK_MS 100

struct worker_opts worker_opts = {
    .nworkers = 1,
    .header_timeout_ms = 10000,
    .idle_timeout_ms = 60000,
    .connect_timeout_ms = 5000,
    .access_log = true,
};

enum wcmd_kind {
    WCMD_ADD_LSN = 0,
    WCMD_DEL_LSN,
    WCMD_DRAIN,
    WCMD_STOP,
};

struct wcmd {
    enum wcmd_kind kind;
    int fd;
    struct sockaddr_storage sa;
    socklen_t salen;
    struct wcmd *next; /* owned */
};

/* One listener address: a socket per worker. Owned by the main thread. */
struct lsn_group {
    struct sockaddr_storage sa;
    socklen_t salen;
    bool is_seen;
    struct lsn_group *next; /* owned */
};

struct worker_ctl {
    pthread_mutex_t mu;
    struct wcmd *head; /* owned */
    struct wcmd **tail;
};

static struct worker *g_workers;  /* owned array */
static struct worker_ctl *g_ctls; /* owned array */
static int g_nworkers;
static bool g_started;
static struct lsn_group *g_groups; /* owned list */

/* Replaced snapshots, kept until no worker uses them (main thread only). */
struct retired {
    struct conf *conf;    /* ref */
    struct retired *next; /* owned */
};

static struct retired *g_retired; /* owned */
static _Atomic(struct conf *) g_active;
static atomic_uint_fast64_t g_gen;
static pthread_mutex_t g_conf_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint g_nsessions;

/* ---- the active snapshot ---- */

void
worker_conf_publish(struct conf *c)
{
    pthread_mutex_lock(&g_conf_mu);
    struct conf *old = atomic_load(&g_active);
    c->generation = atomic_load(&g_gen) + 1;
    atomic_store(&g_active, c);
    atomic_store_explicit(&g_gen, c->generation, memory_order_release);
    pthread_mutex_unlock(&g_conf_mu);
    if (old == NULL)
        return;
    struct retired *r = malloc(sizeof(*r));
    if (r == NULL) {
        conf_unref(&old); /* freed by whoever drops it last */
        return;
    }
    r->conf = old;
    r->next = g_retired;
    g_retired = r;
}

size_t
worker_conf_reap(void)
{
    size_t left = 0;
    struct retired **pp = &g_retired;
    while (*pp != NULL) {
        struct retired *r = *pp;
        /* Ours is the last reference: no worker or stream can take another,
         * since only the active snapshot is handed out. */
        if (atomic_load_explicit(&r->conf->refcnt, memory_order_acquire) == 1) {
            *pp = r->next;
            conf_unref(&r->conf);
            free(r);
        } else {
            left++;
            pp = &r->next;
        }
    }
    return left;
}

bool
worker_is_alive(uint64_t max_age_ms)
{
    if (!g_started)
        return true;
    uint64_t now = clock_mono_us() / 1000u;
    for (int i = 0; i < g_nworkers; i++) {
        uint64_t beat = atomic_load_explicit(&g_workers[i].heartbeat_ms, memory_order_relaxed);
        if (beat != 0 && now > beat + max_age_ms)
            return false;
    }
    return true;
}

struct conf *
worker_conf_get(void)
{
    pthread_mutex_lock(&g_conf_mu);
    struct conf *c = conf_ref(atomic_load(&g_active));
    pthread_mutex_unlock(&g_conf_mu);
    return c;
}

static void
wconf_free(struct wconf *wc)
{
    conf_unref(&wc->conf);
    free(wc->rr);
    free(wc->active);
    free(wc);
}

static struct wconf *
wconf_new(struct conf *c)
{
    struct wconf *wc = calloc(1, sizeof(*wc));
    if (wc == NULL)
        return NULL;
    wc->conf = c;
    wc->rr = calloc(c->nclusters + 1, sizeof(uint64_t));
    wc->active = calloc(c->nendpoints + 1, sizeof(uint32_t));
    if (wc->rr == NULL || wc->active == NULL) {
        wconf_free(wc);
        return NULL;
    }
    return wc;
}

/* A new generation was published: pin it, retire the old pin. */
static void
wconf_refresh(struct worker *w, uint64_t gen)
{
    struct conf *c = worker_conf_get();
    if (c == NULL)
        return;
    struct wconf *wc = wconf_new(c);
    if (wc == NULL) {
        conf_unref(&c);
        return; /* keep serving on the old pin; retried next request */
    }
    struct wconf *old = w->wc;
    w->wc = wc;
    w->gen_seen = gen;
    if (old == NULL)
        return;
    if (old->nstreams == 0) {
        wconf_free(old);
    } else {
        old->next = w->retired;
        w->retired = old;
    }
}

struct wconf *
worker_wconf_acquire(struct worker *w)
{
    uint64_t gen = atomic_load_explicit(&g_gen, memory_order_acquire);
    if (unlikely(gen != w->gen_seen || w->wc == NULL))
        wconf_refresh(w, gen);
    if (unlikely(w->wc == NULL))
        return NULL;
    w->wc->nstreams++;
    return w->wc;
}

void
worker_wconf_release(struct worker *w, struct wconf **wcp)
{
    struct wconf *wc = *wcp;
    *wcp = NULL;
    if (wc == NULL)
        return;
    BUG_ON(wc->nstreams == 0);
    wc->nstreams--;
    if (wc == w->wc || wc->nstreams > 0)
        return;
    for (struct wconf **pp = &w->retired; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == wc) {
            *pp = wc->next;
            wconf_free(wc);
            return;
        }
    }
}

/* ---- listening sockets ---- */

static int
lsn_socket_open(const struct sockaddr *sa, socklen_t salen, char *err, size_t errlen)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        goto fail;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
        goto fail;
    if (sa->sa_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, sa, salen) == -1 || listen(fd, LISTEN_BACKLOG) == -1)
        goto fail;
    return fd;
fail:;
    int e = errno;
    char addr[ADDR_STR_MAX];
    (void)addr_format(sa, addr, sizeof(addr));
    snprintf(err, errlen, "listener %s: %s", addr, strerror(e));
    if (fd != -1)
        close(fd);
    errno = e;
    return -1;
}

static void
ctl_push(int wi, struct wcmd *cmd)
{
    struct worker_ctl *ctl = &g_ctls[wi];
    pthread_mutex_lock(&ctl->mu);
    cmd->next = NULL;
    *ctl->tail = cmd;
    ctl->tail = &cmd->next;
    pthread_mutex_unlock(&ctl->mu);
    if (g_started) {
        uint64_t one = 1;
        ssize_t n = write(g_workers[wi].notify_fd, &one, sizeof(one));
        (void)n; /* a full eventfd counter still wakes the worker */
    }
}

static bool
sa_equal(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr *b, socklen_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static struct lsn_group *
group_find(const struct sockaddr *sa, socklen_t salen)
{
    for (struct lsn_group *g = g_groups; g != NULL; g = g->next)
        if (sa_equal(&g->sa, g->salen, sa, salen))
            return g;
    return NULL;
}

/* Opens one socket per worker for a new address; queues them. */
static int
group_open(const struct conf_listener *cl, char *err, size_t errlen, struct lsn_group **out)
{
    struct lsn_group *g = calloc(1, sizeof(*g));
    struct wcmd **cmds = calloc((size_t)g_nworkers, sizeof(*cmds));
    if (g == NULL || cmds == NULL) {
        snprintf(err, errlen, "listener %s: out of memory", cl->addr);
        free(g);
        free(cmds);
        return -1;
    }
    memcpy(&g->sa, &cl->sa, cl->salen);
    g->salen = cl->salen;
    int i;
    for (i = 0; i < g_nworkers; i++) {
        cmds[i] = calloc(1, sizeof(struct wcmd));
        if (cmds[i] == NULL) {
            snprintf(err, errlen, "listener %s: out of memory", cl->addr);
            break;
        }
        cmds[i]->fd = lsn_socket_open((const struct sockaddr *)&cl->sa, cl->salen, err, errlen);
        if (cmds[i]->fd == -1) {
            free(cmds[i]);
            break;
        }
        cmds[i]->kind = WCMD_ADD_LSN;
        memcpy(&cmds[i]->sa, &cl->sa, cl->salen);
        cmds[i]->salen = cl->salen;
    }
    if (i < g_nworkers) {
        while (i-- > 0) {
            close(cmds[i]->fd);
            free(cmds[i]);
        }
        free(cmds);
        free(g);
        return -1;
    }
    *out = g;
    for (i = 0; i < g_nworkers; i++)
        ctl_push(i, cmds[i]);
    free(cmds);
    return 0;
}

static void
group_close(struct lsn_group *g)
{
    for (int i = 0; i < g_nworkers; i++) {
        struct wcmd *cmd = calloc(1, sizeof(*cmd));
        if (cmd == NULL) {
            log_err("worker: out of memory closing a listener");
            continue;
        }
        cmd->kind = WCMD_DEL_LSN;
        cmd->fd = -1;
        memcpy(&cmd->sa, &g->sa, g->salen);
        cmd->salen = g->salen;
        ctl_push(i, cmd);
    }
    free(g);
}

static int
workers_alloc(void)
{
    if (g_workers != NULL)
        return 0;
    g_nworkers = worker_opts.nworkers > 0 ? worker_opts.nworkers : 1;
    g_workers = calloc((size_t)g_nworkers, sizeof(*g_workers));
    g_ctls = calloc((size_t)g_nworkers, sizeof(*g_ctls));
    if (g_workers == NULL || g_ctls == NULL)
        return -1;
    for (int i = 0; i < g_nworkers; i++) {
        pthread_mutex_init(&g_ctls[i].mu, NULL);
        g_ctls[i].tail = &g_ctls[i].head;
        g_workers[i].id = i;
        g_workers[i].notify_fd = -1;
    }
    return 0;
}

int
worker_listeners_sync(const struct conf *c, bool do_close, char *errbuf, size_t errlen)
{
    if (workers_alloc() == -1) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    for (struct lsn_group *g = g_groups; g != NULL; g = g->next)
        g->is_seen = false;
    struct lsn_group *added = NULL;
    for (size_t i = 0; i < c->nlisteners; i++) {
        const struct conf_listener *cl = &c->listeners[i];
        struct lsn_group *g = group_find((const struct sockaddr *)&cl->sa, cl->salen);
        if (g == NULL) {
            for (g = added; g != NULL; g = g->next)
                if (sa_equal(&g->sa, g->salen, (const struct sockaddr *)&cl->sa, cl->salen))
                    break;
        }
        if (g != NULL) {
            g->is_seen = true;
            continue;
        }
        if (group_open(cl, errbuf, errlen, &g) == -1) {
            /* Undo this call's additions: the old snapshot keeps serving. */
            while (added != NULL) {
                struct lsn_group *next = added->next;
                group_close(added);
                added = next;
            }
            return -1;
        }
        g->is_seen = true;
        g->next = added;
        added = g;
    }
    struct lsn_group **pp = &g_groups;
    while (*pp != NULL) {
        struct lsn_group *g = *pp;
        if (!g->is_seen && do_close) {
            *pp = g->next;
            group_close(g);
        } else {
            pp = &g->next;
        }
    }
    while (added != NULL) {
        struct lsn_group *next = added->next;
        added->next = g_groups;
        g_groups = added;
        added = next;
    }
    return 0;
}

/* ---- worker thread ---- */

static void on_lsn_accept(evutil_socket_t fd, short what, void *arg);
static void on_lsn_resume(evutil_socket_t fd, short what, void *arg);

static void
lsn_add(struct worker *w, struct wcmd *cmd)
{
    struct lsn *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        log_err("worker %d: out of memory adding a listener", w->id);
        close(cmd->fd);
        return;
    }
    l->fd = cmd->fd;
    l->w = w;
    memcpy(&l->sa, &cmd->sa, cmd->salen);
    l->salen = cmd->salen;
    l->port = ntohs(((struct sockaddr_in *)&l->sa)->sin_port);
    if (w->is_draining) {
        close(l->fd);
        free(l);
        return;
    }
    event_assign(&l->ev, w->base, l->fd, EV_READ | EV_PERSIST, on_lsn_accept, l);
    event_assign(&l->ev_resume, w->base, -1, 0, on_lsn_resume, l);
    event_add(&l->ev, NULL);
    l->next = w->lsns;
    w->lsns = l;
}

static void
lsn_free(struct lsn *l)
{
    event_del(&l->ev);
    event_del(&l->ev_resume);
    close(l->fd);
    /* Sessions keep a borrowed pointer for the port only; clear it. */
    for (struct sess *s = l->w->sessions; s != NULL; s = s->next)
        if (s->lsn == l)
            s->lsn = NULL;
    free(l);
}

static void
lsn_del(struct worker *w, const struct wcmd *cmd)
{
    for (struct lsn **pp = &w->lsns; *pp != NULL; pp = &(*pp)->next) {
        struct lsn *l = *pp;
        if (sa_equal(&l->sa, l->salen, (const struct sockaddr *)&cmd->sa, cmd->salen)) {
            *pp = l->next;
            lsn_free(l);
            return;
        }
    }
}

static void
lsn_close_all(struct worker *w)
{
    while (w->lsns != NULL) {
        struct lsn *l = w->lsns;
        w->lsns = l->next;
        lsn_free(l);
    }
}

static void
worker_drain(struct worker *w)
{
    w->is_draining = true;
    lsn_close_all(w);
    struct sess *s = w->sessions;
    while (s != NULL) {
        struct sess *next = s->next;
        sess_drain(s); /* may close s */
        s = next;
    }
}

static void
ctl_run(struct worker *w)
{
    struct worker_ctl *ctl = &g_ctls[w->id];
    pthread_mutex_lock(&ctl->mu);
    struct wcmd *cmd = ctl->head;
    ctl->head = NULL;
    ctl->tail = &ctl->head;
    pthread_mutex_unlock(&ctl->mu);
    while (cmd != NULL) {
        struct wcmd *next = cmd->next;
        switch (cmd->kind) {
        case WCMD_ADD_LSN:
            lsn_add(w, cmd);
            break;
        case WCMD_DEL_LSN:
            lsn_del(w, cmd);
            break;
        case WCMD_DRAIN:
            worker_drain(w);
            break;
        case WCMD_STOP:
            w->is_stopping = true;
            event_base_loopbreak(w->base);
            break;
        }
        free(cmd);
        cmd = next;
    }
}

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof(v));
    (void)n;
    ctl_run(arg);
}

static void
on_lsn_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lsn *l = arg;
    l->is_paused = false;
    event_add(&l->ev, NULL);
}

static void
lsn_pause(struct lsn *l)
{
    /* Out of descriptors: stop accepting for a moment instead of spinning. */
    static _Thread_local uint64_t last_warn_us;
    uint64_t now = clock_mono_us();
    if (now - last_warn_us > 1000000u) {
        log_warn("worker %d: accept: %s; pausing accepts for 100 ms", l->w->id, strerror(errno));
        last_warn_us = now;
    }
    l->is_paused = true;
    event_del(&l->ev);
    struct timeval tv = {0, 100000};
    event_add(&l->ev_resume, &tv);
}

static void
on_lsn_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct lsn *l = arg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int cfd = accept4(fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                lsn_pause(l);
            return;
        }
        if (sess_new(l->w, cfd, (struct sockaddr *)&peer, plen, l) == NULL)
            continue;
        if (l->is_paused)
            return;
    }
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker *w = arg;
    atomic_store_explicit(&w->heartbeat_ms, clock_mono_us() / 1000u, memory_order_relaxed);
    log_buf_flush(w->alog);
    if (w->pend_head != NULL)
        stream_pending_run(w);
    /* Pick up a new snapshot even when idle, so an old one is freed. */
    if (w->wc != NULL && atomic_load(&g_gen) != w->gen_seen && w->wc->nstreams == 0)
        wconf_refresh(w, atomic_load(&g_gen));
    if (w->is_draining && w->sessions == NULL)
        event_base_loopbreak(w->base);
}

static void
on_pending(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stream_pending_run(arg);
}

static void
worker_fini(struct worker *w)
{
    while (w->sessions != NULL)
        sess_close(w->sessions);
    lsn_close_all(w);
    mirror_fini(w);
    pool_fini(w);
    stream_reap(w);
    sess_reap(w);
    pool_reap(w);
    log_buf_flush(w->alog);
    if (w->wc != NULL) {
        BUG_ON(w->wc->nstreams != 0);
        wconf_free(w->wc);
        w->wc = NULL;
    }
    while (w->retired != NULL) {
        struct wconf *next = w->retired->next;
        wconf_free(w->retired);
        w->retired = next;
    }
    stream_free_cache(w);
    buf_cache_fini(&w->bufs);
    conn_sendq_fini(&w->sendq);
}

/* The worker's send batch, made on its own thread (an io_uring ring belongs to
 * the thread that submits to it). Without memory for it, writes go out at once. */
static void
batch_open(struct worker *w)
{
    const char *env = getenv("CANARYD_IO_URING");
    bool use_ring = env == NULL || (strcmp(env, "off") != 0 && strcmp(env, "0") != 0);
    (void)conn_sendq_init(&w->sendq, use_ring); /* off without memory: writes go out at once */
    if (w->id != 0)
        return;
    if (conn_sendq_is_ring(&w->sendq))
        log_info("worker: responses and requests are written in batches through io_uring");
    else
        log_info("worker: one send() per write (io_uring %s)",
                 !use_ring ? "turned off by CANARYD_IO_URING" : "not available");
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    batch_open(w);
    ctl_run(w);
    /* One pass of the loop runs every ready callback; the output they queued
     * is then written together. */
    for (;;) {
        int rc = event_base_loop(w->base, EVLOOP_ONCE);
        conn_sendq_flush(&w->sendq);
        /* Nothing on the stack points at what closed in this pass now. */
        stream_reap(w);
        sess_reap(w);
        pool_reap(w);
        if (rc != 0 || event_base_got_break(w->base) || event_base_got_exit(w->base) ||
            w->is_stopping || atomic_load_explicit(&w->stop_req, memory_order_acquire))
            break;
    }
    worker_fini(w);
    match_thread_fini();
    return NULL;
}

static int
worker_init(struct worker *w)
{
    /* A precise clock: fault delays and timeouts must not fire early by a
     * coarse clock's tick. */
    struct event_config *cfg = event_config_new();
    if (cfg == NULL)
        return -1;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    w->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (w->base == NULL)
        return -1;
    w->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->notify_fd == -1)
        return -1;
    w->metrics = metric_shard_new();
    w->alog = log_buf_new();
    if (w->metrics == NULL || w->alog == NULL)
        return -1;
    lb_rng_seed(&w->rng,
                (uint64_t)clock_mono_us() ^ ((uint64_t)(w->id + 1) << 40) ^ (uint64_t)getpid());
    w->bufs.max = 1024;
    event_assign(&w->ev_notify, w->base, w->notify_fd, EV_READ | EV_PERSIST, on_notify, w);
    event_add(&w->ev_notify, NULL);
    event_assign(&w->ev_tick, w->base, -1, EV_PERSIST, on_tick, w);
    event_assign(&w->ev_pending, w->base, -1, 0, on_pending, w);
    struct timeval tv = {0, TICK_MS * 1000};
    event_add(&w->ev_tick, &tv);
    return 0;
}

int
worker_start_all(void)
{
    if (workers_alloc() == -1)
        return -1;
    for (int i = 0; i < g_nworkers; i++)
        if (worker_init(&g_workers[i]) == -1)
            return -1;
    g_started = true;
    for (int i = 0; i < g_nworkers; i++) {
        int rc = pthread_create(&g_workers[i].thread, NULL, worker_main, &g_workers[i]);
        if (rc != 0) {
            errno = rc;
            return -1;
        }
    }
    return 0;
}

bool
worker_is_serving(void)
{
    return g_started && g_groups != NULL;
}

static void
broadcast(enum wcmd_kind kind)
{
    for (int i = 0; i < g_nworkers; i++) {
        struct wcmd *cmd = calloc(1, sizeof(*cmd));
        if (cmd == NULL) {
            /* Without memory for a command, stop the loop directly. */
            if (kind == WCMD_STOP) {
                atomic_store_explicit(&g_workers[i].stop_req, true, memory_order_release);
                event_base_loopbreak(g_workers[i].base);
            }
            continue;
        }
        cmd->kind = kind;
        cmd->fd = -1;
        ctl_push(i, cmd);
    }
}

void
worker_drain_all(void)
{
    broadcast(WCMD_DRAIN);
    while (g_groups != NULL) {
        struct lsn_group *next = g_groups->next;
        free(g_groups);
        g_groups = next;
    }
}

uint32_t
worker_sessions_open(void)
{
    return atomic_load(&g_nsessions);
}

void
worker_sessions_delta(int delta)
{
    if (delta > 0)
        atomic_fetch_add(&g_nsessions, (unsigned)delta);
    else
        atomic_fetch_sub(&g_nsessions, (unsigned)-delta);
}

void
worker_stop_all(void)
{
    if (!g_started)
        return;
    broadcast(WCMD_STOP);
    for (int i = 0; i < g_nworkers; i++)
        pthread_join(g_workers[i].thread, NULL);
    for (int i = 0; i < g_nworkers; i++) {
        struct worker *w = &g_workers[i];
        event_del(&w->ev_notify);
        event_del(&w->ev_tick);
        close(w->notify_fd);
        metric_shard_free(w->metrics);
        log_buf_free(w->alog);
        event_base_free(w->base);
    }
    g_started = false;
    struct conf *c = atomic_exchange(&g_active, NULL);
    conf_unref(&c);
    while (g_retired != NULL) {
        struct retired *r = g_retired;
        g_retired = r->next;
        conf_unref(&r->conf);
        free(r);
    }
}
