/*
 * route_fixture.h: hand-built requests and conf fragments for the route and
 * lb unit tests (test_route.c, test_lb.c), so that they test route.c and lb.c
 * through their headers without conf.c or h1.c. Everything is allocated from
 * one arena; compiled regexes are remembered and released by fx_fini().
 * Include from exactly one test file per binary.
 */
#ifndef CANARYD_TEST_ROUTE_FIXTURE_H
#define CANARYD_TEST_ROUTE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "canaryd/common.h"
#include "canaryd/core/arena.h"
#include "canaryd/conf/conf.h"
#include "canaryd/core/http.h"
#include "canaryd/core/match.h"
#include "canaryd/route/route.h"

#define FX_SCRATCH 4096
#define FX_REQ_HDRS 100
#define FX_MAX_REGEX 256
#define FX_MAX_ROUTES 16
#define FX_MAX_ENTRIES 8
#define FX_MAX_HDRS 8

struct fx {
    struct arena *arena;               /* owned */
    struct match *regex[FX_MAX_REGEX]; /* borrowed: arena; compiled, for fx_fini */
    size_t nregex;
};

static struct fx fx;

static inline int
fx_init(void)
{
    memset(&fx, 0, sizeof(fx));
    fx.arena = arena_new();
    return fx.arena != NULL ? 0 : -1;
}

static inline void
fx_fini(void)
{
    for (size_t i = 0; i < fx.nregex; i++)
        match_fini(fx.regex[i]);
    arena_free(fx.arena);
    memset(&fx, 0, sizeof(fx));
}

static inline void *
fx_alloc(size_t n)
{
    void *p = arena_alloc(fx.arena, n);
    BUG_ON(p == NULL);
    return p;
}

static inline const char *
fx_str(const char *s)
{
    char *p = arena_strdup(fx.arena, s);
    BUG_ON(p == NULL);
    return p;
}

/* ---- matchers ---- */

static inline struct match *
fx_match(enum match_kind kind, const char *s, bool ignore_case)
{
    struct match *m = fx_alloc(sizeof(*m));
    m->kind = kind;
    m->ignore_case = ignore_case;
    m->str = s != NULL ? fx_str(s) : NULL;
    m->len = s != NULL ? strlen(s) : 0;
    return m;
}

static inline struct match *
fx_exact(const char *s)
{
    return fx_match(MATCH_EXACT, s, false);
}

static inline struct match *
fx_prefix(const char *s)
{
    return fx_match(MATCH_PREFIX, s, false);
}

static inline struct match *
fx_present(void)
{
    return fx_match(MATCH_PRESENT, NULL, false);
}

static inline struct match *
fx_regex(const char *re)
{
    struct match *m = fx_alloc(sizeof(*m));
    char err[256];
    size_t off = 0;
    const char *pat = fx_str(re);
    BUG_ON(match_init_regex(m, pat, strlen(pat), err, sizeof(err), &off) != 0);
    BUG_ON(fx.nregex >= FX_MAX_REGEX);
    fx.regex[fx.nregex++] = m;
    return m;
}

/* ---- VirtualServices, routes, match entries ---- */

static inline struct conf_vs *
fx_vs(const char *name)
{
    struct conf_vs *vs = fx_alloc(sizeof(*vs));
    vs->name = fx_str(name);
    vs->ns = "default";
    vs->routes = fx_alloc(FX_MAX_ROUTES * sizeof(*vs->routes));
    return vs;
}

/* Appends a route with no match entry (a catch-all until fx_entry adds one). */
static inline struct conf_route *
fx_route(struct conf_vs *vs, const char *name)
{
    BUG_ON(vs->nroutes >= FX_MAX_ROUTES);
    struct conf_route *r = &vs->routes[vs->nroutes];
    r->index = (uint32_t)vs->nroutes++;
    r->name = fx_str(name);
    r->vs = vs;
    r->matches = fx_alloc(FX_MAX_ENTRIES * sizeof(*r->matches));
    return r;
}

static inline struct conf_match *
fx_entry(struct conf_route *r)
{
    BUG_ON(r->nmatches >= FX_MAX_ENTRIES);
    struct conf_match *m = &r->matches[r->nmatches++];
    m->headers = fx_alloc(FX_MAX_HDRS * sizeof(*m->headers));
    m->query = fx_alloc(FX_MAX_HDRS * sizeof(*m->query));
    return m;
}

static inline void
fx_hdr(struct conf_match *e, const char *name, struct match *m, bool invert)
{
    BUG_ON(e->nheaders >= FX_MAX_HDRS);
    struct conf_hdr_match *h = &e->headers[e->nheaders++];
    h->name = fx_str(name);
    h->name_len = strlen(name);
    h->m = *m;
    h->invert = invert;
}

static inline void
fx_query(struct conf_match *e, const char *name, struct match *m)
{
    BUG_ON(e->nquery >= FX_MAX_HDRS);
    struct conf_hdr_match *q = &e->query[e->nquery++];
    q->name = fx_str(name);
    q->name_len = strlen(name);
    q->m = *m;
}

/* ---- host tables (what conf.c builds) ---- */

/* A host binding to vs, on no Gateway, without https redirect. */
static inline const struct conf_vhost *
fx_vhost(struct conf_vs *vs)
{
    struct conf_vhost *b = fx_alloc(sizeof(*b));
    b->vs = vs;
    b->gateways = fx_alloc(sizeof(uint64_t));
    return b;
}

/* The VirtualService of a route_vhost() result, NULL when there is none. */
static inline const struct conf_vs *
fx_vs_of(const struct conf_vhost *b)
{
    return b != NULL ? b->vs : NULL;
}

static inline void
fx_vhosts_init(struct conf_vhosts *vh, size_t nslots)
{
    memset(vh, 0, sizeof(*vh));
    vh->exact = fx_alloc(nslots * sizeof(*vh->exact));
    vh->nexact_slots = nslots;
    vh->wild = fx_alloc(16 * sizeof(*vh->wild));
}

static inline void
fx_vhosts_exact(struct conf_vhosts *vh, const char *host, struct conf_vs *vs)
{
    size_t len = strlen(host);
    uint32_t h = conf_host_hash(host, len);
    size_t mask = vh->nexact_slots - 1;
    size_t slot = h & mask;
    while (vh->exact[slot].host != NULL)
        slot = (slot + 1) & mask;
    vh->exact[slot].host = fx_str(host);
    vh->exact[slot].len = len;
    vh->exact[slot].hash = h;
    vh->exact[slot].vh = fx_vhost(vs);
}

/* suffix with its leading '.', e.g. ".example.com"; kept longest first. */
static inline void
fx_vhosts_wild(struct conf_vhosts *vh, const char *suffix, struct conf_vs *vs)
{
    size_t len = strlen(suffix);
    size_t i = vh->nwild++;
    while (i > 0 && vh->wild[i - 1].len < len) {
        vh->wild[i] = vh->wild[i - 1];
        i--;
    }
    vh->wild[i].suffix = fx_str(suffix);
    vh->wild[i].len = len;
    vh->wild[i].vh = fx_vhost(vs);
}

/* ---- requests (the protocol-neutral view a parser fills) ---- */

struct fx_req {
    struct http_hdr hdrs[FX_REQ_HDRS];
    struct http_req hr;
    char scratch[FX_SCRATCH];
    struct route_req rr;
};

/* target is split into path and query as a parser does; host (may be NULL)
 * becomes the authority and a "host" header. */
static inline void
fx_req_init(struct fx_req *t, const char *method, const char *target, const char *host)
{
    memset(t, 0, sizeof(*t));
    struct http_req *r = &t->hr;
    r->method = (struct http_str){fx_str(method), strlen(method)};
    const char *tg = fx_str(target);
    const char *q = strchr(tg, '?');
    r->path = (struct http_str){tg, q != NULL ? (size_t)(q - tg) : strlen(tg)};
    if (q != NULL)
        r->query = (struct http_str){q + 1, strlen(q + 1)};
    r->scheme = (struct http_str){"http", 4};
    r->hdrs = t->hdrs;
    t->rr.req = r;
    t->rr.port = 8080;
    t->rr.scratch = t->scratch;
    t->rr.scratch_cap = sizeof(t->scratch);
    if (host != NULL) {
        struct http_hdr *h = &t->hdrs[r->nhdrs++];
        h->name = (char *)fx_str("host");
        h->name_len = 4;
        h->value = (char *)fx_str(host);
        h->value_len = (uint32_t)strlen(host);
        r->authority = (struct http_str){h->value, h->value_len};
    }
}

/* name must be lower case, as a parser leaves it. */
static inline void
fx_req_hdr(struct fx_req *t, const char *name, const char *value)
{
    BUG_ON(t->hr.nhdrs >= FX_REQ_HDRS);
    struct http_hdr *h = &t->hdrs[t->hr.nhdrs++];
    h->name = (char *)fx_str(name);
    h->name_len = (uint32_t)strlen(name);
    h->value = (char *)fx_str(value);
    h->value_len = (uint32_t)strlen(value);
}

#endif /* CANARYD_TEST_ROUTE_FIXTURE_H */
