/*
 * test_lb.c: unit tests of lb.c through lb.h: the per-worker PRNG, the
 * weighted destination pick (statistics, monotonicity, split-key stickiness
 * while a canary grows), the key hash and key extraction, and the endpoint
 * policies (round robin, least request, random, consistent hash) with
 * skipping, and slow start (the warmup factor, and the share of a new endpoint
 * over its window). Conf fragments and requests are built by hand (route_fixture.h).
 */
#include "canaryd/common.h"
#include "canaryd/route/lb.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route_fixture.h"

#define NDRAWS 100000

static int
setup(void **state)
{
    (void)state;
    return fx_init();
}

static int
teardown(void **state)
{
    (void)state;
    fx_fini();
    return 0;
}

/* ---- builders ---- */

static struct conf_route *
route_w(const uint32_t *w, size_t n)
{
    struct conf_route *r = fx_alloc(sizeof(*r));
    r->name = "r";
    r->dests = fx_alloc((n + 1) * sizeof(*r->dests));
    r->cum_weight = fx_alloc((n + 1) * sizeof(*r->cum_weight));
    r->ndests = n;
    for (size_t i = 0; i < n; i++) {
        r->dests[i].weight = w[i];
        r->total_weight += w[i];
        r->cum_weight[i] = r->total_weight;
    }
    return r;
}

/* Endpoint i: 10.0.0.(i+1):8080, conf index i + 3 (not its position). */
#define EP_INDEX_BASE 3
#define MAX_EPS 16

static struct conf_cluster *
cluster_w(enum lb_policy lb, size_t n, const uint32_t *w)
{
    struct conf_cluster *c = fx_alloc(sizeof(*c));
    c->name = "c";
    c->policy.lb = lb;
    c->eps = fx_alloc((n + 1) * sizeof(*c->eps));
    c->neps = n;
    for (size_t i = 0; i < n; i++) {
        struct conf_endpoint *ep = fx_alloc(sizeof(*ep));
        char addr[32];
        snprintf(addr, sizeof(addr), "10.0.0.%zu", i + 1);
        ep->address = fx_str(addr);
        ep->address_len = strlen(addr);
        ep->port = 8080;
        ep->weight = w != NULL ? w[i] : 1;
        ep->index = (uint32_t)(i + EP_INDEX_BASE);
        c->eps[i] = ep;
    }
    return c;
}

static struct lb_rng rng;

static struct lb_pick
pick_init(void)
{
    struct lb_pick p;
    memset(&p, 0, sizeof(p));
    lb_rng_seed(&rng, 42);
    p.rng = &rng;
    return p;
}

/* ---- PRNG ---- */

static void
test_lb_rng_same_seed_gives_same_sequence(void **state)
{
    (void)state;
    struct lb_rng a, b, c;
    lb_rng_seed(&a, 7);
    lb_rng_seed(&b, 7);
    lb_rng_seed(&c, 8);
    bool differs = false;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = lb_rand(&a);
        assert_true(x == lb_rand(&b));
        differs |= x != lb_rand(&c);
    }
    assert_true(differs);
}

static void
test_lb_rng_zero_seed_is_valid(void **state)
{
    (void)state;
    struct lb_rng a;
    lb_rng_seed(&a, 0);
    uint64_t or_all = 0;
    for (int i = 0; i < 16; i++)
        or_all |= lb_rand(&a);
    assert_true(or_all != 0);
}

static void
test_lb_rand_bits_are_balanced(void **state)
{
    (void)state;
    struct lb_rng a;
    lb_rng_seed(&a, 1);
    unsigned ones[64] = {0};
    for (int i = 0; i < NDRAWS; i++) {
        uint64_t x = lb_rand(&a);
        for (int b = 0; b < 64; b++)
            ones[b] += (x >> b) & 1u;
    }
    for (int b = 0; b < 64; b++) {
        assert_in_range(ones[b], NDRAWS / 2 - 1000, NDRAWS / 2 + 1000);
    }
}

/* ---- destination pick ---- */

/* Share (in percent) of NDRAWS random draws that land on each destination. */
static void
dest_shares(const struct conf_route *r, double *pct, uint64_t seed)
{
    struct lb_rng a;
    unsigned count[16] = {0};
    assert_true(r->ndests <= countof(count));
    lb_rng_seed(&a, seed);
    for (int i = 0; i < NDRAWS; i++) {
        size_t d = lb_pick_dest(r, lb_rand(&a));
        assert_true(d < r->ndests);
        count[d]++;
    }
    for (size_t i = 0; i < r->ndests; i++)
        pct[i] = 100.0 * count[i] / NDRAWS;
}

static void
assert_near(double got, double want, double tol)
{
    if (got < want - tol || got > want + tol)
        fail_msg("got %.3f, want %.3f +- %.3f", got, want, tol);
}

static void
test_lb_pick_dest_95_5_within_0_3_points(void **state)
{
    (void)state;
    const uint32_t w[] = {95, 5};
    double pct[2];
    for (uint64_t seed = 1; seed <= 5; seed++) {
        dest_shares(route_w(w, 2), pct, seed);
        assert_near(pct[0], 95.0, 0.3);
        assert_near(pct[1], 5.0, 0.3);
    }
}

static void
test_lb_pick_dest_1_1_is_even(void **state)
{
    (void)state;
    const uint32_t w[] = {1, 1};
    double pct[2];
    dest_shares(route_w(w, 2), pct, 3);
    assert_near(pct[0], 50.0, 0.5);
    assert_near(pct[1], 50.0, 0.5);
}

static void
test_lb_pick_dest_lone_destination_takes_everything(void **state)
{
    (void)state;
    const uint32_t w100[] = {100}, w5[] = {5}, w0[] = {0};
    struct lb_rng a;
    lb_rng_seed(&a, 9);
    for (int i = 0; i < 1000; i++) {
        uint64_t u = lb_rand(&a);
        assert_int_equal(lb_pick_dest(route_w(w100, 1), u), 0);
        assert_int_equal(lb_pick_dest(route_w(w5, 1), u), 0);
        assert_int_equal(lb_pick_dest(route_w(w0, 1), u), 0);
    }
    assert_int_equal(lb_pick_dest(route_w(w100, 1), UINT64_MAX), 0);
}

static void
test_lb_pick_dest_zero_weight_is_never_picked(void **state)
{
    (void)state;
    const uint32_t first[] = {0, 1, 1}, middle[] = {3, 0, 1}, last[] = {100, 0};
    const uint32_t many[] = {0, 2, 0, 0, 5, 1, 0, 3, 0};
    double pct[9];
    dest_shares(route_w(first, 3), pct, 1);
    assert_true(pct[0] == 0.0);
    dest_shares(route_w(middle, 3), pct, 2);
    assert_true(pct[1] == 0.0);
    assert_near(pct[0], 75.0, 0.5);
    dest_shares(route_w(last, 2), pct, 3);
    assert_true(pct[1] == 0.0);
    dest_shares(route_w(many, 9), pct, 4);
    for (size_t i = 0; i < 9; i++) {
        if (many[i] == 0)
            assert_true(pct[i] == 0.0);
        else
            assert_near(pct[i], 100.0 * many[i] / 11.0, 0.6);
    }
    /* The edges of the u range. */
    assert_int_equal(lb_pick_dest(route_w(first, 3), 0), 1);
    assert_int_equal(lb_pick_dest(route_w(last, 2), UINT64_MAX), 0);
    assert_int_equal(lb_pick_dest(route_w(many, 9), 0), 1);
    assert_int_equal(lb_pick_dest(route_w(many, 9), UINT64_MAX), 7);
}

static void
test_lb_pick_dest_without_weight_returns_size_max(void **state)
{
    (void)state;
    const uint32_t zero[] = {0, 0};
    assert_int_equal(lb_pick_dest(route_w(zero, 2), 12345), SIZE_MAX);
    assert_int_equal(lb_pick_dest(route_w(zero, 0), 12345), SIZE_MAX);
}

/* Reference: the first destination whose cumulative weight exceeds the slot. */
static size_t
dest_linear(const struct conf_route *r, uint64_t u)
{
    uint64_t x = (uint64_t)(((unsigned __int128)u * r->total_weight) >> 64);
    for (size_t i = 0; i < r->ndests; i++) {
        if (x < r->cum_weight[i])
            return i;
    }
    return SIZE_MAX;
}

static void
test_lb_pick_dest_binary_search_agrees_with_linear_scan(void **state)
{
    (void)state;
    struct lb_rng a;
    lb_rng_seed(&a, 11);
    for (int round = 0; round < 50; round++) {
        uint32_t w[12];
        size_t n = 5 + (size_t)(lb_rand(&a) % 8);
        for (size_t i = 0; i < n; i++)
            w[i] = (lb_rand(&a) % 3 == 0) ? 0 : (uint32_t)(lb_rand(&a) % 1000);
        w[n - 1] += 1; /* at least one non-zero weight */
        struct conf_route *r = route_w(w, n);
        for (int i = 0; i < 2000; i++) {
            uint64_t u = lb_rand(&a);
            assert_int_equal(lb_pick_dest(r, u), dest_linear(r, u));
        }
        assert_int_equal(lb_pick_dest(r, 0), dest_linear(r, 0));
        assert_int_equal(lb_pick_dest(r, UINT64_MAX), dest_linear(r, UINT64_MAX));
    }
}

static void
test_lb_pick_dest_is_monotone_in_u(void **state)
{
    (void)state;
    const uint32_t small[] = {30, 0, 50, 20}, big[] = {1, 0, 7, 3, 0, 9, 2, 4};
    const struct conf_route *rs[] = {route_w(small, 4), route_w(big, 8)};
    for (size_t k = 0; k < countof(rs); k++) {
        size_t prev = 0;
        const uint64_t step = UINT64_MAX / 200000;
        for (uint64_t i = 0; i <= 200000; i++) {
            size_t d = lb_pick_dest(rs[k], i * step);
            assert_true(d != SIZE_MAX);
            assert_true(d >= prev);
            prev = d;
        }
        assert_int_equal(prev, rs[k]->ndests - 1);
    }
}

static uint64_t
user_key(unsigned i)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "user-%u", i);
    return lb_key_hash(key, (size_t)n);
}

static void
test_lb_pick_dest_split_key_keeps_canary_users_while_it_grows(void **state)
{
    (void)state;
    static const uint32_t steps[][2] = {{95, 5}, {90, 10}, {75, 25}, {50, 50}, {0, 100}};
    static bool on_canary[NDRAWS];
    memset(on_canary, 0, sizeof(on_canary));
    for (size_t s = 0; s < countof(steps); s++) {
        const struct conf_route *r = route_w(steps[s], 2);
        unsigned n_canary = 0;
        for (unsigned i = 0; i < NDRAWS; i++) {
            size_t d = lb_pick_dest(r, user_key(i));
            if (on_canary[i])
                assert_int_equal(d, 1); /* once on the canary, always on it */
            on_canary[i] = d == 1;
            n_canary += on_canary[i];
        }
        /* The split key spreads users like the weights say, +-1 point. */
        assert_near(100.0 * n_canary / NDRAWS, steps[s][1], 1.0);
    }
}

static void
test_lb_pick_dest_split_key_keeps_canary_users_when_total_changes(void **state)
{
    (void)state;
    /* Relative weights need not sum to 100: the canary's share still grows. */
    static const uint32_t steps[][2] = {{19, 1}, {95, 10}, {3, 1}, {1, 1}, {1, 3}};
    static bool on_canary[NDRAWS];
    memset(on_canary, 0, sizeof(on_canary));
    for (size_t s = 0; s < countof(steps); s++) {
        const struct conf_route *r = route_w(steps[s], 2);
        for (unsigned i = 0; i < NDRAWS; i++) {
            size_t d = lb_pick_dest(r, user_key(i));
            if (on_canary[i])
                assert_int_equal(d, 1);
            on_canary[i] = d == 1;
        }
    }
}

static void
test_lb_pick_dest_split_key_is_stable_per_user(void **state)
{
    (void)state;
    const uint32_t w[] = {90, 10};
    const struct conf_route *r = route_w(w, 2);
    for (unsigned i = 0; i < 1000; i++)
        assert_int_equal(lb_pick_dest(r, user_key(i)), lb_pick_dest(r, user_key(i)));
}

/* ---- key hash ---- */

static void
test_lb_key_hash_is_fixed_across_processes(void **state)
{
    (void)state;
    /* Golden values: changing them moves every sticky user to another
     * subset on upgrade. Never update them without a migration plan. */
    assert_true(lb_key_hash("", 0) == 0x96fb732d5d77b9ebull);
    assert_true(lb_key_hash(NULL, 0) == 0x96fb732d5d77b9ebull);
    assert_true(lb_key_hash("a", 1) == 0x22ebf6e59dc74d73ull);
    assert_true(lb_key_hash("user-42", 7) == 0x55f8bef3b1abcc6full);
    assert_true(lb_key_hash("12345678", 8) == 0x2e30051ab0f4959bull);
    assert_true(lb_key_hash("joe@example.com", 15) == 0xd1273c52331b64acull);
}

static int
popcount64(uint64_t x)
{
    return __builtin_popcountll(x);
}

static void
test_lb_key_hash_avalanches(void **state)
{
    (void)state;
    /* Flipping any input bit flips about half of the output bits. */
    char buf[24];
    long total = 0, n = 0;
    for (unsigned k = 0; k < 200; k++) {
        size_t len = 1 + k % sizeof(buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)('a' + (k * 7 + i * 13) % 26);
        uint64_t h0 = lb_key_hash(buf, len);
        for (size_t bit = 0; bit < len * 8; bit++) {
            buf[bit / 8] ^= (char)(1u << (bit % 8));
            int d = popcount64(h0 ^ lb_key_hash(buf, len));
            buf[bit / 8] ^= (char)(1u << (bit % 8));
            assert_in_range(d, 8, 56);
            total += d;
            n++;
        }
    }
    assert_near((double)total / (double)n, 32.0, 0.5);
}

static void
test_lb_key_hash_spreads_sequential_keys_evenly(void **state)
{
    (void)state;
    unsigned bucket[100] = {0};
    for (unsigned i = 0; i < NDRAWS; i++)
        bucket[(uint64_t)(((unsigned __int128)user_key(i) * 100) >> 64)]++;
    double chi2 = 0;
    for (int b = 0; b < 100; b++) {
        double d = (double)bucket[b] - NDRAWS / 100.0;
        chi2 += d * d / (NDRAWS / 100.0);
    }
    /* 99 degrees of freedom: mean 99, sd 14. */
    assert_true(chi2 < 170.0);
}

static void
test_lb_key_hash_length_matters(void **state)
{
    (void)state;
    const char zeros[16] = {0};
    for (size_t a = 0; a < 16; a++) {
        for (size_t b = a + 1; b <= 16; b++)
            assert_true(lb_key_hash(zeros, a) != lb_key_hash(zeros, b));
    }
}

/* ---- key extraction ---- */

static struct conf_key
key(enum conf_key_src src, const char *name)
{
    struct conf_key k = {.src = src, .name = name, .name_len = name != NULL ? strlen(name) : 0};
    return k;
}

static void
assert_key(const struct conf_key *k, const struct fx_req *t, const char *want)
{
    const char *v = NULL;
    size_t len = 0;
    bool found = lb_key_get(k, &t->rr, &v, &len);
    if (want == NULL) {
        assert_false(found);
        uint64_t h = 0;
        assert_false(lb_key_hash_req(k, &t->rr, &h));
        return;
    }
    assert_true(found);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(v, want, len);
    uint64_t h = 0;
    assert_true(lb_key_hash_req(k, &t->rr, &h));
    assert_true(h == lb_key_hash(want, strlen(want)));
}

static void
test_lb_key_get_header_joins_repeated_lines(void **state)
{
    (void)state;
    struct conf_key k = key(CONF_KEY_HEADER, "x-user");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    assert_key(&k, &t, NULL);
    fx_req_hdr(&t, "x-user", "alice");
    assert_key(&k, &t, "alice");
    fx_req_hdr(&t, "x-user", "bob");
    assert_key(&k, &t, "alice, bob");
    t.rr.scratch_cap = 3;
    assert_key(&k, &t, NULL);
}

static void
test_lb_key_get_cookie_finds_the_named_cookie(void **state)
{
    (void)state;
    struct conf_key k = key(CONF_KEY_COOKIE, "user");
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    assert_key(&k, &t, NULL);
    fx_req_hdr(&t, "cookie", "xuser=1; User=2;userx=3; theme=dark");
    assert_key(&k, &t, NULL);
    fx_req_hdr(&t, "cookie", "a=1;user=joe; user=ann");
    assert_key(&k, &t, "joe");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "cookie", "session=1; user=\"q v\"");
    assert_key(&k, &t, "q v");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "cookie", "user=");
    assert_key(&k, &t, "");
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "cookie", "user; other=1");
    assert_key(&k, &t, NULL);
    fx_req_init(&t, "GET", "/", "h");
    fx_req_hdr(&t, "x-cookie", "user=1");
    assert_key(&k, &t, NULL);
}

static void
test_lb_key_get_query_uses_the_first_value(void **state)
{
    (void)state;
    struct conf_key k = key(CONF_KEY_QUERY, "uid");
    struct fx_req t;
    fx_req_init(&t, "GET", "/p?a=1&uid=7&uid=8", "h");
    assert_key(&k, &t, "7");
    fx_req_init(&t, "GET", "/p?uid", "h");
    assert_key(&k, &t, "");
    fx_req_init(&t, "GET", "/p", "h");
    assert_key(&k, &t, NULL);
}

static void
test_lb_key_get_source_ip_uses_the_address_bytes(void **state)
{
    (void)state;
    struct conf_key k = key(CONF_KEY_SOURCE_IP, NULL);
    struct fx_req t;
    fx_req_init(&t, "GET", "/", "h");
    assert_key(&k, &t, NULL);
    const unsigned char ip[4] = {10, 1, 2, 3};
    t.hr.client_addr = ip;
    t.hr.client_addr_len = sizeof(ip);
    const char *v = NULL;
    size_t len = 0;
    assert_true(lb_key_get(&k, &t.rr, &v, &len));
    assert_ptr_equal(v, ip);
    assert_int_equal(len, 4);
}

static void
test_lb_key_get_none_is_absent(void **state)
{
    (void)state;
    struct conf_key k = key(CONF_KEY_NONE, NULL);
    struct fx_req t;
    fx_req_init(&t, "GET", "/?x=1", "h");
    assert_key(&k, &t, NULL);
}

/* ---- endpoint pick: round robin ---- */

static void
test_lb_round_robin_cycles_in_order(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_ROUND_ROBIN, 3, NULL);
    struct lb_pick p = pick_init();
    uint64_t cursor = 0;
    p.rr_next = &cursor;
    for (size_t i = 0; i < 30; i++)
        assert_int_equal(lb_pick_endpoint(c, &p), i % 3);
    assert_true(cursor == 30);
}

static void
test_lb_round_robin_skips_tried_endpoints(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_ROUND_ROBIN, 3, NULL);
    struct lb_pick p = pick_init();
    uint64_t cursor = 0;
    uint64_t skip[LB_BITMAP_WORDS(3)] = {1u << 1};
    p.rr_next = &cursor;
    p.skip = skip;
    unsigned count[3] = {0};
    for (int i = 0; i < 100; i++)
        count[lb_pick_endpoint(c, &p)]++;
    assert_int_equal(count[1], 0);
    assert_int_equal(count[0], 50);
    assert_int_equal(count[2], 50);
}

static bool
usable_not_first(void *ctx, const struct conf_endpoint *ep)
{
    unsigned *calls = ctx;
    (*calls)++;
    return ep->index != EP_INDEX_BASE;
}

static bool
usable_none(void *ctx, const struct conf_endpoint *ep)
{
    (void)ctx;
    (void)ep;
    return false;
}

static void
test_lb_round_robin_skips_unusable_endpoints(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_ROUND_ROBIN, 3, NULL);
    struct lb_pick p = pick_init();
    unsigned calls = 0;
    uint64_t cursor = 0;
    p.rr_next = &cursor;
    p.is_usable = usable_not_first;
    p.usable_ctx = &calls;
    for (int i = 0; i < 10; i++)
        assert_int_equal(lb_pick_endpoint(c, &p), 1 + i % 2);
    assert_true(calls > 0);
}

static void
test_lb_round_robin_weighted_interleaves_exact_shares(void **state)
{
    (void)state;
    const uint32_t w[] = {95, 5};
    struct conf_cluster *c = cluster_w(LB_ROUND_ROBIN, 2, w);
    struct lb_pick p = pick_init();
    uint64_t cursor = 0;
    p.rr_next = &cursor;
    for (int cycle = 0; cycle < 3; cycle++) {
        unsigned count[2] = {0}, run = 0, max_run = 0;
        for (int i = 0; i < 100; i++) {
            size_t e = lb_pick_endpoint(c, &p);
            count[e]++;
            run = e == 0 ? run + 1 : 0;
            max_run = MAX(max_run, run);
        }
        assert_int_equal(count[0], 95);
        assert_int_equal(count[1], 5);
        /* The 5 picks of the light endpoint are spread over the cycle. */
        assert_true(max_run < 40);
    }
    const uint32_t w3[] = {3, 1, 2};
    c = cluster_w(LB_ROUND_ROBIN, 3, w3);
    unsigned count[3] = {0};
    for (int i = 0; i < 600; i++)
        count[lb_pick_endpoint(c, &p)]++;
    assert_int_equal(count[0], 300);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 200);
}

static void
test_lb_round_robin_without_cursor_still_picks(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_ROUND_ROBIN, 4, NULL);
    struct lb_pick p = pick_init();
    unsigned seen = 0;
    for (int i = 0; i < 200; i++) {
        size_t e = lb_pick_endpoint(c, &p);
        assert_true(e < 4);
        seen |= 1u << e;
    }
    assert_int_equal(seen, 0xf);
}

static void
test_lb_pick_endpoint_none_usable_returns_size_max(void **state)
{
    (void)state;
    const enum lb_policy pols[] = {LB_ROUND_ROBIN, LB_LEAST_REQUEST, LB_RANDOM, LB_HASH};
    for (size_t i = 0; i < countof(pols); i++) {
        struct lb_pick p = pick_init();
        uint64_t cursor = 0;
        p.rr_next = &cursor;
        assert_int_equal(lb_pick_endpoint(cluster_w(pols[i], 0, NULL), &p), SIZE_MAX);
        struct conf_cluster *c = cluster_w(pols[i], 2, NULL);
        p.is_usable = usable_none;
        assert_int_equal(lb_pick_endpoint(c, &p), SIZE_MAX);
        uint64_t skip[1] = {3};
        p.is_usable = NULL;
        p.skip = skip;
        assert_int_equal(lb_pick_endpoint(c, &p), SIZE_MAX);
    }
}

static void
test_lb_pick_endpoint_skip_bitmap_spans_words(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_RANDOM, MAX_EPS, NULL);
    /* Reuse one cluster but pretend it has 70 endpoints by repeating pointers. */
    struct conf_endpoint **eps = fx_alloc(70 * sizeof(*eps));
    for (size_t i = 0; i < 70; i++)
        eps[i] = c->eps[i % MAX_EPS];
    c->eps = eps;
    c->neps = 70;
    uint64_t skip[LB_BITMAP_WORDS(70)];
    memset(skip, 0xff, sizeof(skip));
    skip[1] &= ~(1ull << (66 - 64));
    struct lb_pick p = pick_init();
    p.skip = skip;
    for (int i = 0; i < 50; i++)
        assert_int_equal(lb_pick_endpoint(c, &p), 66);
}

static void
test_lb_pick_endpoint_short_skip_bitmap_leaves_the_rest_usable(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_ROUND_ROBIN, MAX_EPS, NULL);
    struct conf_endpoint **eps = fx_alloc(70 * sizeof(*eps));
    for (size_t i = 0; i < 70; i++)
        eps[i] = c->eps[i % MAX_EPS];
    c->eps = eps;
    c->neps = 70;
    uint64_t skip[1] = {UINT64_MAX}; /* one word: endpoints 0..63 tried */
    uint64_t cursor = 0;
    struct lb_pick p = pick_init();
    p.rr_next = &cursor;
    p.skip = skip;
    p.skip_words = 1;
    for (int i = 0; i < 12; i++)
        assert_int_equal(lb_pick_endpoint(c, &p), 64 + i % 6);
}

/* ---- endpoint pick: least request ---- */

static void
test_lb_least_request_prefers_the_idler_of_two(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_LEAST_REQUEST, 2, NULL);
    uint32_t active[EP_INDEX_BASE + 2] = {0};
    active[EP_INDEX_BASE + 0] = 5;
    active[EP_INDEX_BASE + 1] = 1;
    struct lb_pick p = pick_init();
    p.active = active;
    for (int i = 0; i < 100; i++)
        assert_int_equal(lb_pick_endpoint(c, &p), 1);
}

static void
test_lb_least_request_is_power_of_two_choices(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_LEAST_REQUEST, 3, NULL);
    uint32_t active[EP_INDEX_BASE + 3] = {0};
    active[EP_INDEX_BASE + 0] = 10;
    active[EP_INDEX_BASE + 2] = 10;
    struct lb_pick p = pick_init();
    p.active = active;
    unsigned count[3] = {0};
    for (int i = 0; i < 30000; i++)
        count[lb_pick_endpoint(c, &p)]++;
    /* The idle endpoint wins whenever it is one of the two draws: 2/3. */
    assert_near(100.0 * count[1] / 30000, 66.7, 1.5);
}

static void
test_lb_least_request_weighs_load_by_endpoint_weight(void **state)
{
    (void)state;
    const uint32_t w[] = {1, 4};
    struct conf_cluster *c = cluster_w(LB_LEAST_REQUEST, 2, w);
    uint32_t active[EP_INDEX_BASE + 2] = {0};
    active[EP_INDEX_BASE + 0] = 1; /* (1+1)/1 = 2 */
    active[EP_INDEX_BASE + 1] = 3; /* (3+1)/4 = 1 */
    struct lb_pick p = pick_init();
    p.active = active;
    for (int i = 0; i < 100; i++)
        assert_int_equal(lb_pick_endpoint(c, &p), 1);
}

static void
test_lb_least_request_skips_and_falls_back_to_the_last_usable(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_LEAST_REQUEST, 3, NULL);
    uint32_t active[EP_INDEX_BASE + 3] = {0};
    active[EP_INDEX_BASE + 2] = 1000;
    uint64_t skip[1] = {3}; /* 0 and 1 tried */
    struct lb_pick p = pick_init();
    p.active = active;
    p.skip = skip;
    for (int i = 0; i < 20; i++)
        assert_int_equal(lb_pick_endpoint(c, &p), 2);
    p.active = NULL;
    p.skip = NULL;
    for (int i = 0; i < 20; i++)
        assert_true(lb_pick_endpoint(c, &p) < 3);
}

/* ---- endpoint pick: random ---- */

static void
test_lb_random_is_uniform_and_weighted(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_RANDOM, 4, NULL);
    struct lb_pick p = pick_init();
    unsigned count[4] = {0};
    for (int i = 0; i < NDRAWS; i++)
        count[lb_pick_endpoint(c, &p)]++;
    for (int e = 0; e < 4; e++)
        assert_near(100.0 * count[e] / NDRAWS, 25.0, 0.6);
    const uint32_t w[] = {3, 1};
    c = cluster_w(LB_RANDOM, 2, w);
    unsigned wc[2] = {0};
    for (int i = 0; i < NDRAWS; i++)
        wc[lb_pick_endpoint(c, &p)]++;
    assert_near(100.0 * wc[0] / NDRAWS, 75.0, 0.6);
}

static void
test_lb_random_never_picks_skipped(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_RANDOM, 4, NULL);
    uint64_t skip[1] = {1u << 2};
    struct lb_pick p = pick_init();
    p.skip = skip;
    unsigned count[4] = {0};
    for (int i = 0; i < 30000; i++)
        count[lb_pick_endpoint(c, &p)]++;
    assert_int_equal(count[2], 0);
    for (int e = 0; e < 4; e++) {
        if (e != 2)
            assert_near(100.0 * count[e] / 30000, 33.3, 1.0);
    }
}

/* ---- endpoint pick: consistent hash ---- */

static size_t
hash_pick(const struct conf_cluster *c, uint64_t h, const uint64_t *skip)
{
    struct lb_pick p = pick_init();
    p.has_hash = true;
    p.hash = h;
    p.skip = skip;
    return lb_pick_endpoint(c, &p);
}

static void
test_lb_hash_same_key_same_endpoint(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_HASH, 5, NULL);
    for (unsigned i = 0; i < 1000; i++) {
        size_t e = hash_pick(c, user_key(i), NULL);
        assert_true(e < 5);
        assert_int_equal(hash_pick(c, user_key(i), NULL), e);
    }
}

static void
test_lb_hash_follows_endpoint_identity_not_position(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_HASH, 5, NULL);
    struct conf_cluster *rev = cluster_w(LB_HASH, 5, NULL);
    for (size_t i = 0; i < 5; i++) {
        rev->eps[i] = c->eps[4 - i];
    }
    for (unsigned i = 0; i < 2000; i++) {
        size_t a = hash_pick(c, user_key(i), NULL);
        size_t b = hash_pick(rev, user_key(i), NULL);
        assert_string_equal(c->eps[a]->address, rev->eps[b]->address);
    }
}

static void
test_lb_hash_skipping_moves_only_the_skipped_keys(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_HASH, 5, NULL);
    uint64_t skip[1] = {1u << 3};
    unsigned moved = 0;
    for (unsigned i = 0; i < 20000; i++) {
        size_t before = hash_pick(c, user_key(i), NULL);
        size_t after = hash_pick(c, user_key(i), skip);
        assert_int_not_equal(after, 3);
        if (before != 3)
            assert_int_equal(after, before);
        else
            moved++;
    }
    assert_near(100.0 * moved / 20000, 20.0, 1.5);
}

static void
test_lb_hash_new_endpoint_only_takes_keys(void **state)
{
    (void)state;
    struct conf_cluster *c4 = cluster_w(LB_HASH, 4, NULL);
    struct conf_cluster *c5 = cluster_w(LB_HASH, 5, NULL);
    for (unsigned i = 0; i < 20000; i++) {
        size_t a = hash_pick(c4, user_key(i), NULL);
        size_t b = hash_pick(c5, user_key(i), NULL);
        if (b != 4)
            assert_int_equal(a, b);
    }
}

static void
test_lb_hash_spreads_keys_by_weight(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_HASH, 4, NULL);
    unsigned count[4] = {0};
    for (unsigned i = 0; i < 40000; i++)
        count[hash_pick(c, user_key(i), NULL)]++;
    for (int e = 0; e < 4; e++)
        assert_near(100.0 * count[e] / 40000, 25.0, 1.5);
    const uint32_t w[] = {3, 1};
    c = cluster_w(LB_HASH, 2, w);
    unsigned wc[2] = {0};
    for (unsigned i = 0; i < 40000; i++)
        wc[hash_pick(c, user_key(i), NULL)]++;
    assert_near(100.0 * wc[0] / 40000, 75.0, 1.5);
}

static void
test_lb_hash_without_key_picks_at_random(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_HASH, 3, NULL);
    struct lb_pick p = pick_init();
    unsigned seen = 0;
    for (int i = 0; i < 300; i++) {
        size_t e = lb_pick_endpoint(c, &p);
        assert_true(e < 3);
        seen |= 1u << e;
    }
    assert_int_equal(seen, 7);
}

/* ---- slow start (warmup) ---- */

static struct conf_warmup
warmup(uint32_t window_ms, double min_weight, double aggression)
{
    struct conf_warmup wu;
    memset(&wu, 0, sizeof(wu));
    wu.window_ms = window_ms;
    wu.min_weight = min_weight;
    wu.aggression = aggression;
    return wu;
}

static void
test_lb_warmup_factor_follows_the_slow_start_formula(void **state)
{
    (void)state;
    struct conf_warmup wu = warmup(10000, 0.1, 1.0);
    assert_near(lb_warmup_factor(&wu, 1000, 6000), 0.5, 1e-9);
    assert_near(lb_warmup_factor(&wu, 1000, 3500), 0.25, 1e-9);
    assert_near(lb_warmup_factor(&wu, 1000, 1000), 0.1, 1e-9); /* the minimum percent */
    assert_near(lb_warmup_factor(&wu, 1000, 1999), 0.1, 1e-9);
    assert_near(lb_warmup_factor(&wu, 1000, 10999), 0.9999, 1e-9);
    assert_near(lb_warmup_factor(&wu, 1000, 11000), 1.0, 0.0); /* the window is over */
    assert_near(lb_warmup_factor(&wu, 0, 5000), 1.0, 0.0);     /* present at start-up */
    struct conf_warmup fast = warmup(10000, 0.1, 2.0);
    assert_near(lb_warmup_factor(&fast, 1000, 3500), 0.5, 1e-9); /* 0.25 ^ (1/2) */
    struct conf_warmup nomin = warmup(10000, 0.0, 1.0);
    assert_near(lb_warmup_factor(&nomin, 1000, 1000), 0.0001, 1e-12); /* age counts 1 ms */
    struct conf_warmup off = warmup(0, 0.1, 1.0);
    assert_near(lb_warmup_factor(&off, 1000, 1000), 1.0, 0.0);
}

/* Picks at one instant: endpoint 1 is new (first seen at 1000), endpoint 0 was
 * there at start-up. */
static unsigned
warm_picks(struct conf_cluster *c, uint64_t now, unsigned n, uint64_t *cursor)
{
    struct lb_pick p = pick_init();
    p.rr_next = cursor;
    p.now_ms = now;
    unsigned got = 0;
    for (unsigned i = 0; i < n; i++)
        got += lb_pick_endpoint(c, &p) == 1;
    return got;
}

static void
test_lb_round_robin_warmup_gives_a_new_endpoint_its_ramped_share(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_ROUND_ROBIN, 2, NULL);
    c->policy.warmup = warmup(10000, 0.1, 1.0);
    c->eps[1]->warm_since_ms = 1000;
    uint64_t cursor = 0;
    /* Factor 0.1: share 0.1 / 1.1 = 1/11; the golden-ratio walk stays within a
     * few picks of it. */
    unsigned got = warm_picks(c, 1000, 11000, &cursor);
    assert_in_range(got, 995, 1005);
    /* Factor 0.5: share 1/3. */
    got = warm_picks(c, 6000, 3000, &cursor);
    assert_in_range(got, 995, 1005);
    /* The window is over: plain round robin, one in two. */
    got = warm_picks(c, 11000, 2000, &cursor);
    assert_int_equal(got, 1000);
    /* Nobody new: the weights are the endpoints' own. */
    c->eps[1]->warm_since_ms = 0;
    assert_int_equal(warm_picks(c, 6000, 2000, &cursor), 1000);
}

static void
test_lb_round_robin_warmup_share_follows_the_ramp_over_the_window(void **state)
{
    (void)state;
    const uint32_t w[] = {1, 1, 2};
    struct conf_cluster *c = cluster_w(LB_ROUND_ROBIN, 3, w);
    c->policy.warmup = warmup(20000, 0.1, 1.5);
    c->eps[2]->warm_since_ms = 5000;
    struct lb_pick p = pick_init();
    uint64_t cursor = 0;
    p.rr_next = &cursor;
    /* One pick per millisecond over the window: the new endpoint (weight 2) gets
     * the sum of its instantaneous shares, computed here independently. */
    double want = 0.0;
    unsigned got = 0;
    for (uint64_t t = 5000; t < 25000; t++) {
        p.now_ms = t;
        got += lb_pick_endpoint(c, &p) == 2;
        double x = (double)(t > 5000 ? t - 5000 : 1) / 20000.0;
        double f = pow(x, 1.0 / 1.5);
        f = f > 0.1 ? f : 0.1;
        want += 2.0 * f / (2.0 + 2.0 * f);
    }
    assert_near(got, want, 20.0); /* 20000 picks, about 8000 of them to the new one */
    assert_true(want > 6000.0 && want < 10000.0);
}

static void
test_lb_least_request_warmup_weighs_the_new_endpoint_down(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_LEAST_REQUEST, 2, NULL);
    c->policy.warmup = warmup(10000, 0.1, 1.0);
    c->eps[1]->warm_since_ms = 1000;
    uint32_t active[EP_INDEX_BASE + 2] = {0};
    struct lb_pick p = pick_init();
    p.active = active;
    p.now_ms = 6000; /* factor 0.5 */
    unsigned got = 0;
    for (int i = 0; i < 30000; i++)
        got += lb_pick_endpoint(c, &p) == 1;
    assert_near(100.0 * got / 30000, 33.3, 1.0);
    /* Load still counts: the old endpoint busy with 3 requests weighs 1/4,
     * the new one idle 0.5: it now takes two thirds. */
    active[EP_INDEX_BASE + 0] = 3;
    got = 0;
    for (int i = 0; i < 30000; i++)
        got += lb_pick_endpoint(c, &p) == 1;
    assert_near(100.0 * got / 30000, 66.7, 1.0);
}

static void
test_lb_warmup_is_ignored_by_random_and_hash(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_RANDOM, 2, NULL);
    c->policy.warmup = warmup(10000, 0.1, 1.0);
    c->eps[1]->warm_since_ms = 1000;
    struct lb_pick p = pick_init();
    p.now_ms = 1000;
    unsigned got = 0;
    for (int i = 0; i < 30000; i++)
        got += lb_pick_endpoint(c, &p) == 1;
    assert_near(100.0 * got / 30000, 50.0, 1.5);
    struct conf_cluster *h = cluster_w(LB_HASH, 3, NULL);
    h->policy.warmup = c->policy.warmup;
    h->eps[1]->warm_since_ms = 1000;
    for (unsigned i = 0; i < 2000; i++) {
        struct lb_pick q = pick_init();
        q.has_hash = true;
        q.hash = user_key(i);
        size_t cold = lb_pick_endpoint(h, &q);
        q.now_ms = 1000;
        assert_int_equal(lb_pick_endpoint(h, &q), cold);
    }
}

static void
test_lb_warmup_skips_unusable_endpoints(void **state)
{
    (void)state;
    struct conf_cluster *c = cluster_w(LB_ROUND_ROBIN, 3, NULL);
    c->policy.warmup = warmup(10000, 0.1, 1.0);
    c->eps[2]->warm_since_ms = 1000;
    uint64_t skip[1] = {1u << 0};
    uint64_t cursor = 0;
    struct lb_pick p = pick_init();
    p.rr_next = &cursor;
    p.skip = skip;
    p.now_ms = 6000;
    unsigned count[3] = {0};
    for (int i = 0; i < 3000; i++)
        count[lb_pick_endpoint(c, &p)]++;
    assert_int_equal(count[0], 0);
    assert_in_range(count[2], 995, 1005); /* 0.5 / 1.5 */
}

static void
test_lb_pick_warm_index_slows_down_new_dns_addresses(void **state)
{
    (void)state;
    struct conf_warmup wu = warmup(10000, 0.1, 1.0);
    const uint64_t since[3] = {0, 0, 1000};
    struct lb_pick p = pick_init();
    unsigned count[3] = {0};
    for (int i = 0; i < 60000; i++)
        count[lb_pick_warm_index(&wu, since, 3, 6000, lb_rand(p.rng))]++;
    assert_near(100.0 * count[2] / 60000, 20.0, 1.0); /* 0.5 / 2.5 */
    assert_near(100.0 * count[0] / 60000, 40.0, 1.0);
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 60000; i++)
        count[lb_pick_warm_index(&wu, since, 3, 11000, lb_rand(p.rng))]++;
    assert_near(100.0 * count[2] / 60000, 33.3, 1.0); /* the window is over */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_lb_rng_same_seed_gives_same_sequence),
        T(test_lb_rng_zero_seed_is_valid),
        T(test_lb_rand_bits_are_balanced),
        T(test_lb_pick_dest_95_5_within_0_3_points),
        T(test_lb_pick_dest_1_1_is_even),
        T(test_lb_pick_dest_lone_destination_takes_everything),
        T(test_lb_pick_dest_zero_weight_is_never_picked),
        T(test_lb_pick_dest_without_weight_returns_size_max),
        T(test_lb_pick_dest_binary_search_agrees_with_linear_scan),
        T(test_lb_pick_dest_is_monotone_in_u),
        T(test_lb_pick_dest_split_key_keeps_canary_users_while_it_grows),
        T(test_lb_pick_dest_split_key_keeps_canary_users_when_total_changes),
        T(test_lb_pick_dest_split_key_is_stable_per_user),
        T(test_lb_key_hash_is_fixed_across_processes),
        T(test_lb_key_hash_avalanches),
        T(test_lb_key_hash_spreads_sequential_keys_evenly),
        T(test_lb_key_hash_length_matters),
        T(test_lb_key_get_header_joins_repeated_lines),
        T(test_lb_key_get_cookie_finds_the_named_cookie),
        T(test_lb_key_get_query_uses_the_first_value),
        T(test_lb_key_get_source_ip_uses_the_address_bytes),
        T(test_lb_key_get_none_is_absent),
        T(test_lb_round_robin_cycles_in_order),
        T(test_lb_round_robin_skips_tried_endpoints),
        T(test_lb_round_robin_skips_unusable_endpoints),
        T(test_lb_round_robin_weighted_interleaves_exact_shares),
        T(test_lb_round_robin_without_cursor_still_picks),
        T(test_lb_pick_endpoint_none_usable_returns_size_max),
        T(test_lb_pick_endpoint_skip_bitmap_spans_words),
        T(test_lb_pick_endpoint_short_skip_bitmap_leaves_the_rest_usable),
        T(test_lb_least_request_prefers_the_idler_of_two),
        T(test_lb_least_request_is_power_of_two_choices),
        T(test_lb_least_request_weighs_load_by_endpoint_weight),
        T(test_lb_least_request_skips_and_falls_back_to_the_last_usable),
        T(test_lb_random_is_uniform_and_weighted),
        T(test_lb_random_never_picks_skipped),
        T(test_lb_hash_same_key_same_endpoint),
        T(test_lb_hash_follows_endpoint_identity_not_position),
        T(test_lb_hash_skipping_moves_only_the_skipped_keys),
        T(test_lb_hash_new_endpoint_only_takes_keys),
        T(test_lb_hash_spreads_keys_by_weight),
        T(test_lb_hash_without_key_picks_at_random),
        T(test_lb_warmup_factor_follows_the_slow_start_formula),
        T(test_lb_round_robin_warmup_gives_a_new_endpoint_its_ramped_share),
        T(test_lb_round_robin_warmup_share_follows_the_ramp_over_the_window),
        T(test_lb_least_request_warmup_weighs_the_new_endpoint_down),
        T(test_lb_warmup_is_ignored_by_random_and_hash),
        T(test_lb_warmup_skips_unusable_endpoints),
        T(test_lb_pick_warm_index_slows_down_new_dns_addresses),
    };
    return cmocka_run_group_tests_name("lb", tests, NULL, NULL);
}
