/*
 * pool.c: per-worker upstream keep-alive pools.
 * Entries are keyed by endpoint address (identity), not by a config object,
 * so idle connections survive a reload that keeps the endpoint. An idle
 * connection waits for readability: any byte or EOF from the upstream while
 * idle means it can no longer be used, and it is closed.
 */
#include "canaryd/common.h"
#include "canaryd/proxy/proxy.h"

#include "canaryd/core/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "canaryd/proxy/health.h"

#define POOL_MAX_IDLE_PER_EP 1024u
#define POOL_IDLE_TIMEOUT_S 55

static uint32_t
sa_hash(const struct sockaddr *sa, socklen_t salen)
{
    const unsigned char *p = (const unsigned char *)sa;
    uint32_t h = 2166136261u;
    for (socklen_t i = 0; i < salen; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static int
pool_grow(struct pool *p)
{
    size_t nslots = p->nslots ? p->nslots * 2 : 64;
    struct pool_ep **slots = calloc(nslots, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < p->nslots; i++) {
        struct pool_ep *pe = p->slots[i];
        while (pe != NULL) {
            struct pool_ep *next = pe->next;
            size_t h = sa_hash((struct sockaddr *)&pe->sa, pe->salen) & (nslots - 1);
            pe->next = slots[h];
            slots[h] = pe;
            pe = next;
        }
    }
    free(p->slots);
    p->slots = slots;
    p->nslots = nslots;
    return 0;
}

struct pool_ep *
pool_ep_get(struct pool *p, const struct sockaddr *sa, socklen_t salen)
{
    if (salen == 0 || salen > sizeof(struct sockaddr_storage))
        return NULL;
    uint32_t h = sa_hash(sa, salen);
    if (p->nslots > 0) {
        for (struct pool_ep *pe = p->slots[h & (p->nslots - 1)]; pe != NULL; pe = pe->next)
            if (pe->salen == salen && memcmp(&pe->sa, sa, salen) == 0)
                return pe;
    }
    if (p->nentries + 1 > p->nslots / 2 && pool_grow(p) == -1)
        return NULL;
    struct pool_ep *pe = calloc(1, sizeof(*pe));
    if (pe == NULL)
        return NULL;
    memcpy(&pe->sa, sa, salen);
    pe->salen = salen;
    (void)addr_format((const struct sockaddr *)&pe->sa, pe->addr_str, sizeof(pe->addr_str));
    size_t slot = h & (p->nslots - 1);
    pe->next = p->slots[slot];
    p->slots[slot] = pe;
    p->nentries++;
    return pe;
}

static void
upconn_free(struct worker *w, struct upconn *up)
{
    if (event_initialized(&up->ev_rd))
        event_del(&up->ev_rd);
    if (event_initialized(&up->ev_wr))
        event_del(&up->ev_wr);
    if (event_initialized(&up->ev_tmo))
        event_del(&up->ev_tmo);
    conn_close(&up->conn, false);
    buf_release(&up->in, &w->bufs);
    buf_release(&up->out, &w->bufs);
    up->pe->nconns--;
    up->reap_next = w->reap_up;
    w->reap_up = up; /* freed at the end of the pass (pool_reap) */
}

void
pool_reap(struct worker *w)
{
    while (w->reap_up != NULL) {
        struct upconn *up = w->reap_up;
        w->reap_up = up->reap_next;
        free(up);
    }
}

static void
idle_unlink(struct pool_ep *pe, struct upconn *up)
{
    for (struct upconn **pp = &pe->idle; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == up) {
            *pp = up->next;
            pe->nidle--;
            return;
        }
    }
}

void
pool_idle_event(struct upconn *up)
{
    struct worker *w = up->w;
    idle_unlink(up->pe, up);
    upconn_free(w, up);
}

struct upconn *
pool_lease(struct worker *w, struct pool_ep *pe)
{
    (void)w;
    struct upconn *up = pe->idle;
    if (up == NULL)
        return NULL;
    pe->idle = up->next;
    pe->nidle--;
    up->next = NULL;
    event_del(&up->ev_tmo);
    up->st = NULL;
    up->is_reused = true;
    return up;
}

struct upconn *
pool_connect(struct worker *w, struct pool_ep *pe)
{
    struct upconn *up = calloc(1, sizeof(*up));
    if (up == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (conn_tcp_connect(&up->conn, (const struct sockaddr *)&pe->sa, pe->salen, CONN_UP,
                         &up->is_connecting) == -1) {
        int e = errno;
        free(up);
        errno = e;
        return NULL;
    }
    up->pe = pe;
    up->w = w;
    pe->nconns++;
    return up;
}

void
pool_release(struct worker *w, struct upconn **upp, uint32_t idle_ms)
{
    if (idle_ms == 0)
        idle_ms = POOL_IDLE_TIMEOUT_S * 1000u;
    struct upconn *up = *upp;
    *upp = NULL;
    struct pool_ep *pe = up->pe;
    if (pe->nidle >= POOL_MAX_IDLE_PER_EP || w->is_stopping || up->in.len > 0 || up->out.len > 0) {
        upconn_free(w, up);
        return;
    }
    /* The read event stays armed (no epoll_ctl per request): a byte or EOF
     * while idle reaches pool_idle_event through the stream's callback. */
    if (up->want_wr) {
        event_del(&up->ev_wr);
        up->want_wr = false;
    }
    if (!up->want_rd) {
        event_add(&up->ev_rd, NULL);
        up->want_rd = true;
    }
    buf_release(&up->in, &w->bufs);
    buf_release(&up->out, &w->bufs);
    up->st = NULL;
    struct timeval tv = {idle_ms / 1000, (idle_ms % 1000) * 1000};
    event_add(&up->ev_tmo, &tv);
    up->next = pe->idle;
    pe->idle = up;
    pe->nidle++;
}

void
pool_close(struct worker *w, struct upconn **upp)
{
    struct upconn *up = *upp;
    *upp = NULL;
    if (up != NULL)
        upconn_free(w, up);
}

void
pool_fini(struct worker *w)
{
    struct pool *p = &w->pool;
    for (size_t i = 0; i < p->nslots; i++) {
        struct pool_ep *pe = p->slots[i];
        while (pe != NULL) {
            struct pool_ep *next = pe->next;
            while (pe->idle != NULL) {
                struct upconn *up = pe->idle;
                pe->idle = up->next;
                upconn_free(w, up);
            }
            free(pe);
            pe = next;
        }
    }
    free(p->slots);
    memset(p, 0, sizeof(*p));
}
