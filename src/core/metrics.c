/*
 * metrics.c: per-worker metric shards and the Prometheus exposition (see metrics.h).
 * stream_end calls metric_request on its worker's shard: one hash of the label values,
 * one probe of a table only that worker touches, plain relaxed stores. A series is
 * allocated once per label set and then published on a per-kind list with a release
 * store; the scraper (admin thread, metric_render) walks those lists with acquire
 * loads and never touches the lookup table, so neither side needs a lock. Series are
 * freed only with their shard, which is unregistered under the registry lock first.
 */
#include "canaryd/common.h"
#include "canaryd/core/clock.h"
#include "canaryd/core/metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "canaryd/core/buf.h"
#include "canaryd/core/log.h"

#define NLABELS 4
#define CODE_SLOTS 8
#define TAB_INITIAL 64u
#define PCACHE_SLOTS 64u /* a power of two */
#define HASH_K 0x9e3779b97f4a7c15ull
#define OVERFLOW_VALUE "overflow"

enum series_kind {
    KIND_REQ = 0,  /* lv: virtual_service, route, destination, subset */
    KIND_CONNFAIL, /* lv: destination, subset, "", "" */
    KIND_RETRYOVF, /* lv: destination, subset, "", "" */
    KIND__COUNT,
};

/* Histogram buckets: upper bound in microseconds and its "le" text. */
static const struct {
    uint64_t le_us;
    const char *le;
} buckets[] = {
    {500, "0.0005"},  {1000, "0.001"},  {2500, "0.0025"}, {5000, "0.005"},  {10000, "0.01"},
    {25000, "0.025"}, {50000, "0.05"},  {100000, "0.1"},  {250000, "0.25"}, {500000, "0.5"},
    {1000000, "1"},   {2500000, "2.5"}, {5000000, "5"},   {10000000, "10"}, {UINT64_MAX, "+Inf"},
};
#define NBUCKETS countof(buckets)

static const char *const err_names[METRIC_ERR__COUNT] = {
    [METRIC_ERR_BAD_REQUEST] = "bad_request",
    [METRIC_ERR_HEAD_TOO_LARGE] = "header_too_large",
    [METRIC_ERR_URI_TOO_LONG] = "uri_too_long",
    [METRIC_ERR_HEAD_TIMEOUT] = "header_timeout",
    [METRIC_ERR_NO_ROUTE] = "no_route",
    [METRIC_ERR_NO_ENDPOINT] = "no_healthy_endpoint",
    [METRIC_ERR_UP_CONNECT] = "upstream_connect",
    [METRIC_ERR_UP_RESET] = "upstream_reset",
    [METRIC_ERR_UP_TIMEOUT] = "upstream_timeout",
    [METRIC_ERR_UP_BAD_RESPONSE] = "upstream_bad_response",
    [METRIC_ERR_DOWN_CLOSED] = "downstream_closed",
    [METRIC_ERR_NOMEM] = "out_of_memory",
    [METRIC_ERR_REGEX_LIMIT] = "regex_limit",
    [METRIC_ERR_ACCEPT] = "accept",
    [METRIC_ERR_MIRROR_DROPPED] = "mirror_dropped",
    [METRIC_ERR_OVERFLOW] = "overflow",
};

/* Status codes seen by one request series: filled in order, published by a release
 * store of code1, so the scraper stops at the first free slot. */
struct code_slot {
    _Atomic uint32_t code1; /* status code + 1; 0: free */
    _Atomic uint64_t n;
};

struct code_blk {
    struct code_slot slot[CODE_SLOTS];
    _Atomic(struct code_blk *) next; /* owned; published when this block is full */
};

struct series {
    struct series *next; /* owned: next on the shard's list; fixed before publication */
    uint64_t hash;
    enum series_kind kind;
    const char *lv[NLABELS];           /* borrowed: point into text */
    _Atomic uint64_t n;                /* KIND_CONNFAIL, KIND_RETRYOVF: events */
    struct code_blk codes;             /* KIND_REQ: requests by status code */
    _Atomic uint64_t bucket[NBUCKETS]; /* KIND_REQ: per bucket, not cumulative */
    _Atomic uint64_t sum_us;           /* KIND_REQ */
    char text[];                       /* the label values, NUL-separated */
};

/* Remembers which series the caller's label pointers led to last time. A hit is
 * confirmed by content, so pointers reused by a later config snapshot are harmless. */
struct pcache_slot {
    const char *lv[NLABELS]; /* weak: compared, never dereferenced */
    struct series *se;       /* borrowed: owned by the shard's list */
};

struct metric_shard {
    struct pcache_slot pcache[PCACHE_SLOTS];
    struct series **tab; /* owned array; entries borrowed: owned by the lists */
    size_t mask;         /* slots in tab - 1 (a power of two - 1) */
    size_t nseries;      /* series in tab */
    _Atomic(struct series *) head[KIND__COUNT]; /* owned: published lists */
    struct series *overflow[KIND__COUNT];       /* owned until linked onto head */
    bool is_overflow_linked[KIND__COUNT];
    _Atomic int64_t nconns;
    _Atomic uint64_t errors[METRIC_ERR__COUNT];
};

/* Registry of shards, for the scraper. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric_shard **reg_shards; /* owned array; shards borrowed: owned by workers */
static size_t reg_n;
static size_t reg_cap;

/* Process-wide values, written rarely by the reload code. */
static _Atomic uint64_t reloads_ok;
static _Atomic uint64_t reloads_failed;
static _Atomic uint64_t config_generation;
static _Atomic uint64_t last_success_bits; /* a double's bits */

/* ---- single-writer counters --------------------------------------------------------- */

/* Only the shard's thread writes, so load + store is enough (no locked RMW). */
static inline void
cnt_add(_Atomic uint64_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

static inline uint64_t
cnt_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- hashing and lookup ------------------------------------------------------------- */

static inline const char *
nz(const char *s)
{
    return s != NULL ? s : "";
}

static inline uint64_t
hash_word(uint64_t h, uint64_t w)
{
    h = (h ^ w) * HASH_K;
    return h ^ (h >> 32);
}

static uint64_t
hash_str(uint64_t h, const char *s)
{
    size_t n = strlen(s);
    uint64_t w;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = hash_word(h, w);
    }
    /* Built in a register: byte stores then a word load would stall store forwarding. */
    w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)(unsigned char)s[i] << (8 * i);
    /* The tail length keeps ("ab", "c") apart from ("a", "bc"). */
    return hash_word(h, w ^ ((uint64_t)n << 61));
}

static uint64_t
hash_labels(enum series_kind kind, const char *const lv[NLABELS])
{
    uint64_t h = (uint64_t)kind + 1;
    for (size_t i = 0; i < NLABELS; i++)
        h = hash_str(h, lv[i]);
    /* splitmix64 finaliser: the table index uses the low bits. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h != 0 ? h : 1;
}

uint64_t
metric_labels_hash(const struct metric_labels *l)
{
    const char *lv[NLABELS] = {nz(l->virtual_service), nz(l->route), nz(l->destination),
                               nz(l->subset)};
    return hash_labels(KIND_REQ, lv);
}

static bool
labels_eq(const struct series *se, const char *const lv[NLABELS])
{
    for (size_t i = 0; i < NLABELS; i++)
        if (strcmp(se->lv[i], lv[i]) != 0)
            return false;
    return true;
}

static struct series *
tab_find(const struct metric_shard *s, enum series_kind kind, const char *const lv[NLABELS],
         uint64_t h)
{
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        struct series *se = s->tab[i];
        if (se == NULL)
            return NULL;
        if (se->hash == h && se->kind == kind && labels_eq(se, lv))
            return se;
    }
}

static void
tab_put(struct series **tab, size_t mask, struct series *se)
{
    size_t i = se->hash & mask;
    while (tab[i] != NULL)
        i = (i + 1) & mask;
    tab[i] = se;
}

/* Doubles the table; the writer thread is its only user, so no lock. */
static int
tab_grow(struct metric_shard *s)
{
    size_t nslots = (s->mask + 1) * 2;
    struct series **tab = calloc(nslots, sizeof(*tab));
    if (tab == NULL)
        return -1;
    for (size_t i = 0; i <= s->mask; i++)
        if (s->tab[i] != NULL)
            tab_put(tab, nslots - 1, s->tab[i]);
    free(s->tab);
    s->tab = tab;
    s->mask = nslots - 1;
    return 0;
}

/* ---- series ------------------------------------------------------------------------- */

/* Returns a new unpublished series with copies of lv, or NULL. */
static struct series *
series_new(enum series_kind kind, const char *const lv[NLABELS], uint64_t h)
{
    size_t len[NLABELS], total = 0;
    for (size_t i = 0; i < NLABELS; i++)
        total += (len[i] = strlen(lv[i])) + 1;
    struct series *se = calloc(1, sizeof(*se) + total);
    if (se == NULL)
        return NULL;
    se->hash = h;
    se->kind = kind;
    char *p = se->text;
    for (size_t i = 0; i < NLABELS; i++) {
        memcpy(p, lv[i], len[i] + 1);
        se->lv[i] = p;
        p += len[i] + 1;
    }
    return se;
}

static void
series_free(struct series *se)
{
    if (se == NULL)
        return;
    struct code_blk *b = atomic_load_explicit(&se->codes.next, memory_order_relaxed);
    while (b != NULL) {
        struct code_blk *next = atomic_load_explicit(&b->next, memory_order_relaxed);
        free(b);
        b = next;
    }
    free(se);
}

/* Makes se visible to the scraper: its fields are complete before the release store. */
static void
series_publish(struct metric_shard *s, struct series *se)
{
    se->next = atomic_load_explicit(&s->head[se->kind], memory_order_relaxed);
    atomic_store_explicit(&s->head[se->kind], se, memory_order_release);
}

static struct series *
shard_overflow(struct metric_shard *s, enum series_kind kind)
{
    if (!s->is_overflow_linked[kind]) {
        series_publish(s, s->overflow[kind]);
        s->is_overflow_linked[kind] = true;
    }
    return s->overflow[kind];
}

/* Slow path: first sight of a label set. Never fails: falls back to overflow. */
static struct series *
shard_insert(struct metric_shard *s, enum series_kind kind, const char *const lv[NLABELS],
             uint64_t h)
{
    if (s->nseries >= METRIC_SERIES_MAX)
        return shard_overflow(s, kind);
    if ((s->nseries + 1) * 2 > s->mask + 1 && tab_grow(s) == -1)
        goto nomem;
    struct series *se = series_new(kind, lv, h);
    if (se == NULL)
        goto nomem;
    tab_put(s->tab, s->mask, se);
    s->nseries++;
    series_publish(s, se);
    return se;
nomem:
    cnt_add(&s->errors[METRIC_ERR_NOMEM], 1);
    return shard_overflow(s, kind);
}

static inline struct series *
shard_series(struct metric_shard *s, enum series_kind kind, const char *const lv[NLABELS],
             uint64_t h)
{
    struct series *se = tab_find(s, kind, lv, h);
    if (likely(se != NULL))
        return se;
    return shard_insert(s, kind, lv, h);
}

/* ---- shards ------------------------------------------------------------------------- */

static int
registry_add(struct metric_shard *s)
{
    pthread_mutex_lock(&reg_lock);
    if (reg_n == reg_cap) {
        size_t cap = reg_cap != 0 ? reg_cap * 2 : 8;
        struct metric_shard **v = realloc(reg_shards, cap * sizeof(*v));
        if (v == NULL) {
            pthread_mutex_unlock(&reg_lock);
            return -1;
        }
        reg_shards = v;
        reg_cap = cap;
    }
    reg_shards[reg_n++] = s;
    pthread_mutex_unlock(&reg_lock);
    return 0;
}

static void
registry_remove(const struct metric_shard *s)
{
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < reg_n; i++) {
        if (reg_shards[i] == s) {
            reg_shards[i] = reg_shards[--reg_n];
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

/* Frees everything s owns; s must not be registered. */
static void
shard_destroy(struct metric_shard *s)
{
    for (size_t k = 0; k < KIND__COUNT; k++) {
        struct series *se = atomic_load_explicit(&s->head[k], memory_order_relaxed);
        while (se != NULL) {
            struct series *next = se->next;
            series_free(se);
            se = next;
        }
        if (!s->is_overflow_linked[k])
            series_free(s->overflow[k]);
    }
    free(s->tab);
    free(s);
}

struct metric_shard *
metric_shard_new(void)
{
    static const char *const ovf[NLABELS] = {OVERFLOW_VALUE, OVERFLOW_VALUE, OVERFLOW_VALUE,
                                             OVERFLOW_VALUE};
    static const char *const ovf_cf[NLABELS] = {OVERFLOW_VALUE, OVERFLOW_VALUE, "", ""};
    struct metric_shard *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->tab = calloc(TAB_INITIAL, sizeof(*s->tab));
    s->mask = TAB_INITIAL - 1;
    /* Allocated now so that overflow works when memory is short. */
    s->overflow[KIND_REQ] = series_new(KIND_REQ, ovf, hash_labels(KIND_REQ, ovf));
    s->overflow[KIND_CONNFAIL] =
        series_new(KIND_CONNFAIL, ovf_cf, hash_labels(KIND_CONNFAIL, ovf_cf));
    s->overflow[KIND_RETRYOVF] =
        series_new(KIND_RETRYOVF, ovf_cf, hash_labels(KIND_RETRYOVF, ovf_cf));
    if (s->tab == NULL || s->overflow[KIND_REQ] == NULL || s->overflow[KIND_CONNFAIL] == NULL ||
        s->overflow[KIND_RETRYOVF] == NULL || registry_add(s) == -1) {
        shard_destroy(s);
        return NULL;
    }
    return s;
}

void
metric_shard_free(struct metric_shard *s)
{
    if (s == NULL)
        return;
    registry_remove(s);
    shard_destroy(s);
}

/* ---- recording ---------------------------------------------------------------------- */

static void
count_code(struct metric_shard *s, struct series *se, unsigned code)
{
    uint32_t want = (uint32_t)MIN(code, 9999u) + 1;
    struct code_blk *b = &se->codes;
    for (;;) {
        for (size_t i = 0; i < CODE_SLOTS; i++) {
            struct code_slot *sl = &b->slot[i];
            uint32_t c = atomic_load_explicit(&sl->code1, memory_order_relaxed);
            if (likely(c == want)) {
                cnt_add(&sl->n, 1);
                return;
            }
            if (c == 0) {
                atomic_store_explicit(&sl->n, 1, memory_order_relaxed);
                atomic_store_explicit(&sl->code1, want, memory_order_release);
                return;
            }
        }
        struct code_blk *next = atomic_load_explicit(&b->next, memory_order_relaxed);
        if (next == NULL) {
            next = calloc(1, sizeof(*next));
            if (next == NULL) {
                cnt_add(&s->errors[METRIC_ERR_NOMEM], 1);
                return;
            }
            atomic_store_explicit(&b->next, next, memory_order_release);
        }
        b = next;
    }
}

static inline size_t
pcache_index(const char *const lv[NLABELS])
{
    uint64_t h = 0;
    for (size_t i = 0; i < NLABELS; i++)
        h = (h ^ (uint64_t)(uintptr_t)lv[i]) * HASH_K;
    return (size_t)(h >> 58) & (PCACHE_SLOTS - 1);
}

/* Returns the request series for lv: the pointer cache first, then the table. */
static inline struct series *
shard_req_series(struct metric_shard *s, const char *const lv[NLABELS], uint64_t h)
{
    struct pcache_slot *c = &s->pcache[pcache_index(lv)];
    if (c->se != NULL && c->lv[0] == lv[0] && c->lv[1] == lv[1] && c->lv[2] == lv[2] &&
        c->lv[3] == lv[3] && labels_eq(c->se, lv))
        return c->se;
    struct series *se = shard_series(s, KIND_REQ, lv, h != 0 ? h : hash_labels(KIND_REQ, lv));
    memcpy(c->lv, lv, sizeof(c->lv));
    c->se = se;
    return se;
}

void
metric_request(struct metric_shard *s, const struct metric_labels *l, unsigned code,
               uint64_t duration_us)
{
    const char *lv[NLABELS] = {nz(l->virtual_service), nz(l->route), nz(l->destination),
                               nz(l->subset)};
    struct series *se = shard_req_series(s, lv, l->hash);
    count_code(s, se, code);
    size_t i = 0;
    while (duration_us > buckets[i].le_us)
        i++;
    cnt_add(&se->bucket[i], 1);
    cnt_add(&se->sum_us, duration_us);
}

void
metric_connect_failure(struct metric_shard *s, const char *destination, const char *subset)
{
    const char *lv[NLABELS] = {nz(destination), nz(subset), "", ""};
    struct series *se = shard_series(s, KIND_CONNFAIL, lv, hash_labels(KIND_CONNFAIL, lv));
    cnt_add(&se->n, 1);
}

void
metric_retry_overflow(struct metric_shard *s, const char *destination, const char *subset)
{
    const char *lv[NLABELS] = {nz(destination), nz(subset), "", ""};
    struct series *se = shard_series(s, KIND_RETRYOVF, lv, hash_labels(KIND_RETRYOVF, lv));
    cnt_add(&se->n, 1);
}

void
metric_conn_delta(struct metric_shard *s, int delta)
{
    int64_t v = atomic_load_explicit(&s->nconns, memory_order_relaxed);
    atomic_store_explicit(&s->nconns, v + delta, memory_order_relaxed);
}

void
metric_error(struct metric_shard *s, enum metric_err reason)
{
    if ((unsigned)reason < METRIC_ERR__COUNT)
        cnt_add(&s->errors[reason], 1);
}

const char *
metric_err_name(enum metric_err reason)
{
    if ((unsigned)reason >= METRIC_ERR__COUNT)
        return "unknown";
    return err_names[reason];
}

void
metric_reload(bool is_ok)
{
    atomic_fetch_add_explicit(is_ok ? &reloads_ok : &reloads_failed, 1, memory_order_relaxed);
}

void
metric_config_generation_set(uint64_t generation)
{
    atomic_store_explicit(&config_generation, generation, memory_order_relaxed);
}

void
metric_config_last_success_set(double unix_seconds)
{
    uint64_t bits;
    memcpy(&bits, &unix_seconds, sizeof(bits));
    atomic_store_explicit(&last_success_bits, bits, memory_order_relaxed);
}

/* ---- exposition: text ----------------------------------------------------------------- */

/* Metrics text goes through the byte appender (buf.h) into a malloc'd buffer
 * handed to the caller. */
#define MB_MAX ((size_t)1 << 30)

static void
mb_dbl(struct buf_out *b, double d)
{
    if (isnan(d)) {
        buf_out_str(b, "NaN");
        return;
    }
    if (isinf(d)) {
        buf_out_str(b, d > 0 ? "+Inf" : "-Inf");
        return;
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.15g", d);
    buf_out_mem(b, tmp, (size_t)n);
}

/* Appends microseconds as seconds with six decimals (exact). */
static void
mb_seconds(struct buf_out *b, uint64_t us)
{
    char frac[7] = {'.'};
    uint64_t f = us % 1000000u;
    for (int i = 6; i >= 1; i--, f /= 10)
        frac[i] = (char)('0' + f % 10);
    buf_out_u64(b, us / 1000000u);
    buf_out_mem(b, frac, sizeof(frac));
}

/* Label values escape '\\', '"' and newline (text format 0.0.4). */
static void
mb_label_value(struct buf_out *b, const char *s)
{
    const char *run = s;
    for (; *s != '\0'; s++) {
        const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
        if (esc == NULL)
            continue;
        buf_out_mem(b, run, (size_t)(s - run));
        buf_out_mem(b, esc, 2);
        run = s + 1;
    }
    buf_out_mem(b, run, (size_t)(s - run));
}

struct lbl {
    const char *name; /* borrowed: literal */
    const char *val;  /* borrowed: for the duration of the call */
};

/* Appends "name+suffix{l...} " (no braces without labels). */
static void
mb_series(struct buf_out *b, const char *name, const char *suffix, const struct lbl *l, size_t n)
{
    buf_out_str(b, name);
    buf_out_str(b, suffix);
    for (size_t i = 0; i < n; i++) {
        buf_out_mem(b, i == 0 ? "{" : ",", 1);
        buf_out_str(b, l[i].name);
        buf_out_mem(b, "=\"", 2);
        mb_label_value(b, l[i].val);
        buf_out_mem(b, "\"", 1);
    }
    buf_out_mem(b, n > 0 ? "} " : " ", n > 0 ? 2 : 1);
}

/* ---- exposition: summing shards ------------------------------------------------------ */

struct code_count {
    uint32_t code;
    uint64_t n;
};

/* One label set summed over all shards. */
struct agg {
    const char *const *lv; /* borrowed: a series' values; valid while reg_lock is held */
    uint64_t bucket[NBUCKETS];
    uint64_t sum_us;
    uint64_t n;
    size_t code_off; /* first entry in scrape.codes */
    size_t ncodes;
};

struct scrape {
    struct agg *agg[KIND__COUNT]; /* owned arrays, sorted by label values */
    size_t nagg[KIND__COUNT];
    struct code_count *codes; /* owned */
    size_t ncodes;
    size_t capcodes;
    int64_t nconns;
    uint64_t errors[METRIC_ERR__COUNT];
    bool is_oom;
};

static int
series_cmp(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;
    for (size_t i = 0; i < NLABELS; i++) {
        int c = strcmp(x->lv[i], y->lv[i]);
        if (c != 0)
            return c;
    }
    return 0;
}

static int
code_cmp(const void *a, const void *b)
{
    const struct code_count *x = a, *y = b;
    return (x->code > y->code) - (x->code < y->code);
}

static void
codes_push(struct scrape *sc, uint32_t code, uint64_t n)
{
    if (sc->ncodes == sc->capcodes) {
        size_t cap = sc->capcodes != 0 ? sc->capcodes * 2 : 64;
        struct code_count *v = realloc(sc->codes, cap * sizeof(*v));
        if (v == NULL) {
            sc->is_oom = true;
            return;
        }
        sc->codes = v;
        sc->capcodes = cap;
    }
    sc->codes[sc->ncodes++] = (struct code_count){code, n};
}

static void
agg_add(struct scrape *sc, struct agg *a, struct series *se)
{
    for (size_t i = 0; i < NBUCKETS; i++)
        a->bucket[i] += cnt_get(&se->bucket[i]);
    a->sum_us += cnt_get(&se->sum_us);
    a->n += cnt_get(&se->n);
    for (struct code_blk *b = &se->codes; b != NULL;
         b = atomic_load_explicit(&b->next, memory_order_acquire)) {
        for (size_t i = 0; i < CODE_SLOTS; i++) {
            uint32_t c = atomic_load_explicit(&b->slot[i].code1, memory_order_acquire);
            if (c == 0)
                return;
            codes_push(sc, c - 1, cnt_get(&b->slot[i].n));
        }
    }
}

/* Sorts the codes gathered for a and merges equal ones. */
static void
agg_codes_finish(struct scrape *sc, struct agg *a)
{
    struct code_count *v = sc->codes + a->code_off;
    size_t n = sc->ncodes - a->code_off, k = 0;
    qsort(v, n, sizeof(*v), code_cmp);
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && v[k - 1].code == v[i].code)
            v[k - 1].n += v[i].n;
        else
            v[k++] = v[i];
    }
    a->ncodes = k;
    sc->ncodes = a->code_off + k;
}

/* Returns every published series of kind over all shards, or NULL (*np == 0 too). */
static struct series **
gather(enum series_kind kind, size_t *np, bool *is_oom)
{
    struct series **v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < reg_n; i++) {
        struct series *se = atomic_load_explicit(&reg_shards[i]->head[kind], memory_order_acquire);
        for (; se != NULL; se = se->next) {
            if (n == cap) {
                cap = cap != 0 ? cap * 2 : 64;
                struct series **nv = realloc(v, cap * sizeof(*nv));
                if (nv == NULL) {
                    *is_oom = true;
                    break;
                }
                v = nv;
            }
            v[n++] = se;
        }
    }
    *np = n;
    return v;
}

/* Sums the series of kind by label set, sorted. Caller holds reg_lock. */
static void
collect_kind(struct scrape *sc, enum series_kind kind)
{
    size_t n;
    struct series **v = gather(kind, &n, &sc->is_oom);
    if (n == 0)
        return;
    qsort(v, n, sizeof(*v), series_cmp);
    struct agg *aggs = calloc(n, sizeof(*aggs));
    size_t k = 0;
    for (size_t i = 0; aggs != NULL && i < n; i++) {
        if (i == 0 || series_cmp(&v[i - 1], &v[i]) != 0) {
            if (k > 0)
                agg_codes_finish(sc, &aggs[k - 1]);
            aggs[k].lv = v[i]->lv;
            aggs[k++].code_off = sc->ncodes;
        }
        agg_add(sc, &aggs[k - 1], v[i]);
    }
    if (k > 0)
        agg_codes_finish(sc, &aggs[k - 1]);
    sc->is_oom |= aggs == NULL;
    sc->agg[kind] = aggs;
    sc->nagg[kind] = k;
    free(v);
}

/* Caller holds reg_lock. */
static void
scrape_collect(struct scrape *sc)
{
    for (size_t k = 0; k < KIND__COUNT; k++)
        collect_kind(sc, (enum series_kind)k);
    for (size_t i = 0; i < reg_n; i++) {
        struct metric_shard *s = reg_shards[i];
        sc->nconns += atomic_load_explicit(&s->nconns, memory_order_relaxed);
        for (size_t e = 0; e < METRIC_ERR__COUNT; e++)
            sc->errors[e] += cnt_get(&s->errors[e]);
    }
}

static void
scrape_fini(struct scrape *sc)
{
    for (size_t k = 0; k < KIND__COUNT; k++)
        free(sc->agg[k]);
    free(sc->codes);
}

/* ---- exposition: families ------------------------------------------------------------ */

struct family;
typedef void (*family_render_fn)(struct buf_out *b, const struct family *f,
                                 const struct scrape *sc);
typedef int (*family_read_fn)(double *v);

struct family {
    const char *name;        /* borrowed: literal */
    const char *type;        /* borrowed: literal */
    const char *help;        /* borrowed: literal */
    family_render_fn render; /* writes the samples; NULL: one sample from read */
    family_read_fn read;     /* value of an unlabelled sample; -1 leaves the family out */
};

static void
render_build_info(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    (void)sc;
    mb_series(b, f->name, "", &(struct lbl){"version", CANARYD_VERSION}, 1);
    buf_out_str(b, "1\n");
}

static void
render_generation(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    (void)sc;
    mb_series(b, f->name, "", NULL, 0);
    buf_out_u64(b, atomic_load_explicit(&config_generation, memory_order_relaxed));
    buf_out_str(b, "\n");
}

static void
render_last_success(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    (void)sc;
    uint64_t bits = atomic_load_explicit(&last_success_bits, memory_order_relaxed);
    double d;
    memcpy(&d, &bits, sizeof(d));
    mb_series(b, f->name, "", NULL, 0);
    mb_dbl(b, d);
    buf_out_str(b, "\n");
}

static void
render_reloads(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    (void)sc;
    mb_series(b, f->name, "", &(struct lbl){"result", "failure"}, 1);
    buf_out_u64(b, atomic_load_explicit(&reloads_failed, memory_order_relaxed));
    buf_out_str(b, "\n");
    mb_series(b, f->name, "", &(struct lbl){"result", "success"}, 1);
    buf_out_u64(b, atomic_load_explicit(&reloads_ok, memory_order_relaxed));
    buf_out_str(b, "\n");
}

static void
render_conns(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    mb_series(b, f->name, "", NULL, 0);
    buf_out_i64(b, sc->nconns);
    buf_out_str(b, "\n");
}

static int
err_name_cmp(const void *a, const void *b)
{
    return strcmp(err_names[*(const unsigned char *)a], err_names[*(const unsigned char *)b]);
}

static void
render_errors(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    unsigned char order[METRIC_ERR__COUNT];
    for (size_t i = 0; i < countof(order); i++)
        order[i] = (unsigned char)i;
    qsort(order, countof(order), 1, err_name_cmp);
    for (size_t i = 0; i < countof(order); i++) {
        mb_series(b, f->name, "", &(struct lbl){"reason", err_names[order[i]]}, 1);
        buf_out_u64(b, sc->errors[order[i]]);
        buf_out_str(b, "\n");
    }
}

static void
req_labels(struct lbl l[NLABELS + 1], const struct agg *a)
{
    static const char *const names[NLABELS] = {"virtual_service", "route", "destination", "subset"};
    for (size_t i = 0; i < NLABELS; i++)
        l[i] = (struct lbl){names[i], a->lv[i]};
}

static void
render_histogram_one(struct buf_out *b, const char *name, const struct agg *a)
{
    struct lbl l[NLABELS + 1];
    req_labels(l, a);
    uint64_t cum = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += a->bucket[i];
        l[NLABELS] = (struct lbl){"le", buckets[i].le};
        mb_series(b, name, "_bucket", l, NLABELS + 1);
        buf_out_u64(b, cum);
        buf_out_str(b, "\n");
    }
    mb_series(b, name, "_sum", l, NLABELS);
    mb_seconds(b, a->sum_us);
    buf_out_str(b, "\n");
    /* _count is the +Inf bucket by construction, even during concurrent updates. */
    mb_series(b, name, "_count", l, NLABELS);
    buf_out_u64(b, cum);
    buf_out_str(b, "\n");
}

static void
render_duration(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    for (size_t i = 0; i < sc->nagg[KIND_REQ]; i++)
        render_histogram_one(b, f->name, &sc->agg[KIND_REQ][i]);
}

static void
render_requests(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    struct lbl l[NLABELS + 1];
    for (size_t i = 0; i < sc->nagg[KIND_REQ]; i++) {
        const struct agg *a = &sc->agg[KIND_REQ][i];
        req_labels(l, a);
        for (size_t c = 0; c < a->ncodes; c++) {
            const struct code_count *cc = &sc->codes[a->code_off + c];
            char code[12];
            snprintf(code, sizeof(code), "%u", cc->code);
            l[NLABELS] = (struct lbl){"code", code};
            mb_series(b, f->name, "", l, NLABELS + 1);
            buf_out_u64(b, cc->n);
            buf_out_str(b, "\n");
        }
    }
}

/* Counters labelled {destination, subset}. */
static void
render_dest_counter(struct buf_out *b, const struct family *f, const struct scrape *sc,
                    enum series_kind kind)
{
    for (size_t i = 0; i < sc->nagg[kind]; i++) {
        const struct agg *a = &sc->agg[kind][i];
        struct lbl l[2] = {{"destination", a->lv[0]}, {"subset", a->lv[1]}};
        mb_series(b, f->name, "", l, 2);
        buf_out_u64(b, a->n);
        buf_out_str(b, "\n");
    }
}

static void
render_connect_failures(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    render_dest_counter(b, f, sc, KIND_CONNFAIL);
}

static void
render_retry_overflow(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    render_dest_counter(b, f, sc, KIND_RETRYOVF);
}

static int
read_log_dropped(double *v)
{
    *v = (double)log_access_dropped();
    return 0;
}

/* ---- exposition: process metrics from /proc/self ------------------------------------- */

static int
read_small_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

/* field 0: virtual size, 1: resident size (pages in /proc/self/statm). */
static int
read_statm(size_t field, double *v)
{
    char buf[256];
    unsigned long long pages[2];
    if (read_small_file("/proc/self/statm", buf, sizeof(buf)) == -1 ||
        sscanf(buf, "%llu %llu", &pages[0], &pages[1]) != 2)
        return -1;
    *v = (double)pages[field] * (double)sysconf(_SC_PAGESIZE);
    return 0;
}

static int
read_virtual_memory(double *v)
{
    return read_statm(0, v);
}

static int
read_resident_memory(double *v)
{
    return read_statm(1, v);
}

static int
read_cpu_seconds(double *v)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == -1)
        return -1;
    *v = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    return 0;
}

static int
read_open_fds(double *v)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    /* Leave out the descriptor opendir itself used. */
    *v = (double)(n > 0 ? n - 1 : 0);
    return 0;
}

static int
read_max_fds(double *v)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
        return -1;
    *v = (double)rl.rlim_cur;
    return 0;
}

/* The wall clock when the process started, taken before main() runs.
 * Derived from /proc/self/stat starttime and /proc/uptime it is wrong in
 * sandboxes whose uptime does not match the tick counter; this is not. */
static double g_start_time;

__attribute__((constructor)) static void
record_start_time(void)
{
    g_start_time = floor((double)clock_wall_us() / 1e4 + 0.5) / 100.0;
}

static int
read_start_time(double *v)
{
    if (g_start_time == 0)
        return -1;
    *v = g_start_time;
    return 0;
}

static const struct family families[] = {
    {"canaryd_build_info", "gauge", "canaryd build information; the value is always 1.",
     render_build_info, NULL},
    {"canaryd_config_generation", "gauge",
     "Generation number of the active configuration snapshot.", render_generation, NULL},
    {"canaryd_config_last_reload_success_timestamp_seconds", "gauge",
     "Unix time of the last successful configuration load.", render_last_success, NULL},
    {"canaryd_config_reloads_total", "counter", "Configuration reloads by result.", render_reloads,
     NULL},
    {"canaryd_downstream_connections_active", "gauge", "Client connections currently open.",
     render_conns, NULL},
    {"canaryd_errors_total", "counter", "Requests and connections that failed, by reason.",
     render_errors, NULL},
    {"canaryd_request_duration_seconds", "histogram",
     "Time from the start of a request to the end of its response.", render_duration, NULL},
    {"canaryd_requests_total", "counter",
     "Requests completed, by virtual service, route, destination, subset and status code.",
     render_requests, NULL},
    {"canaryd_retry_overflow_total", "counter",
     "Retries not made because the destination's maxRetries were all in flight.",
     render_retry_overflow, NULL},
    {"canaryd_upstream_connect_failures_total", "counter",
     "Failed connection attempts to upstream endpoints.", render_connect_failures, NULL},
    {"canaryd_access_log_dropped_lines_total", "counter",
     "Access log lines dropped because stdout did not keep up.", NULL, read_log_dropped},
    {"process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
     NULL, read_cpu_seconds},
    {"process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", NULL,
     read_resident_memory},
    {"process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", NULL,
     read_virtual_memory},
    {"process_open_fds", "gauge", "Number of open file descriptors.", NULL, read_open_fds},
    {"process_max_fds", "gauge", "Maximum number of open file descriptors.", NULL, read_max_fds},
    {"process_start_time_seconds", "gauge",
     "Start time of the process since unix epoch in seconds.", NULL, read_start_time},
};

static void
family_render(struct buf_out *b, const struct family *f, const struct scrape *sc)
{
    double v = 0;
    if (f->read != NULL && f->read(&v) == -1)
        return;
    buf_out_str(b, "# HELP ");
    buf_out_str(b, f->name);
    buf_out_str(b, " ");
    buf_out_str(b, f->help);
    buf_out_str(b, "\n# TYPE ");
    buf_out_str(b, f->name);
    buf_out_str(b, " ");
    buf_out_str(b, f->type);
    buf_out_str(b, "\n");
    if (f->render != NULL) {
        f->render(b, f, sc);
        return;
    }
    mb_series(b, f->name, "", NULL, 0);
    mb_dbl(b, v);
    buf_out_str(b, "\n");
}

int
metric_render(char **textp, size_t *lenp)
{
    struct scrape sc = {0};
    struct buf text = {0};
    struct buf_out b = buf_out_to(&text, NULL, MB_MAX);
    /* The sums borrow label values from the shards: keep them registered meanwhile. */
    pthread_mutex_lock(&reg_lock);
    scrape_collect(&sc);
    for (size_t i = 0; i < countof(families); i++)
        family_render(&b, &families[i], &sc);
    pthread_mutex_unlock(&reg_lock);
    buf_out_mem(&b, "", 1); /* NUL-terminated for the caller */
    bool is_oom = sc.is_oom || b.failed;
    scrape_fini(&sc);
    if (is_oom) {
        buf_release(&text, NULL);
        return -1;
    }
    *textp = text.data; /* off is 0: nothing was consumed */
    *lenp = text.len - 1;
    return 0;
}
