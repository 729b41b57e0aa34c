/*
 * test_metrics.c: per-worker shards summed by metric_render, the histogram, overflow,
 * label escaping and the validity of the Prometheus text exposition.
 * Every test frees the shards it creates, so each render sees only its own series;
 * process-wide values (reloads) are compared as deltas.
 */
#include "canaryd/common.h"
#include "canaryd/core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static char *
render(void)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(metric_render(&text, &len), 0);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* Returns the value of the sample whose name and labels are exactly series, or -1. */
static double
sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

static size_t
count_prefix(const char *text, const char *prefix)
{
    size_t k = 0, n = strlen(prefix);
    for (const char *p = text; *p != '\0'; p = strchr(p, '\n') + 1)
        k += strncmp(p, prefix, n) == 0;
    return k;
}

/* ---- exposition checker (text format 0.0.4) ----------------------------------------- */

struct fam {
    char name[128];
    char type[16];
};

static size_t
metric_name_len(const char *p)
{
    size_t n = 0;
    while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') || p[n] == '_' ||
           p[n] == ':' || (n > 0 && p[n] >= '0' && p[n] <= '9'))
        n++;
    return n;
}

/* Parses {name="value",...}; returns the bytes used or 0. Sets *has_le. */
static size_t
labels_len(const char *p, bool *has_le)
{
    const char *s = p;
    *has_le = false;
    if (*p != '{')
        return 0;
    p++;
    for (;;) {
        size_t n = metric_name_len(p);
        if (n == 0)
            return 0;
        *has_le |= n == 2 && strncmp(p, "le", 2) == 0;
        p += n;
        if (strncmp(p, "=\"", 2) != 0)
            return 0;
        for (p += 2; *p != '"'; p++) {
            if (*p == '\n' || *p == '\0')
                return 0;
            if (*p == '\\' && (p[1] == '\\' || p[1] == '"' || p[1] == 'n'))
                p++;
            else if (*p == '\\')
                return 0;
        }
        p++;
        if (*p == '}')
            return (size_t)(p + 1 - s);
        if (*p++ != ',')
            return 0;
    }
}

static bool
is_family_sample(const struct fam *f, const char *name, size_t n)
{
    if (strcmp(f->type, "histogram") != 0)
        return strlen(f->name) == n && strncmp(f->name, name, n) == 0;
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    size_t fn = strlen(f->name);
    for (size_t i = 0; i < countof(sfx); i++)
        if (n == fn + strlen(sfx[i]) && strncmp(name, f->name, fn) == 0 &&
            strncmp(name + fn, sfx[i], n - fn) == 0)
            return true;
    return false;
}

static void
check_sample(const struct fam *f, const char *line)
{
    size_t n = metric_name_len(line);
    assert_true(n > 0);
    if (!is_family_sample(f, line, n))
        fail_msg("sample outside its family %s: %s", f->name, line);
    bool has_le = false;
    size_t l = line[n] == '{' ? labels_len(line + n, &has_le) : 0;
    if (line[n] == '{' && l == 0)
        fail_msg("bad labels: %s", line);
    if (strncmp(line + n, "_bucket", 7) == 0 || (n > 7 && strncmp(line + n - 7, "_bucket", 7) == 0))
        assert_true(has_le);
    assert_int_equal(line[n + l], ' ');
    char *end;
    strtod(line + n + l + 1, &end);
    assert_true(end > line + n + l + 1);
    assert_true(*end == '\n');
}

/* Checks HELP then TYPE before each family's samples, no family opened twice, every
 * sample belongs to the family just declared, label syntax and values. */
static void
check_exposition(const char *text)
{
    static struct fam seen[64];
    size_t nseen = 0;
    struct fam *cur = NULL;
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    for (const char *p = text; *p != '\0'; p = strchr(p, '\n') + 1) {
        if (strncmp(p, "# HELP ", 7) == 0) {
            size_t n = metric_name_len(p + 7);
            assert_true(n > 0 && n < sizeof(seen[0].name) && nseen < countof(seen));
            for (size_t i = 0; i < nseen; i++)
                if (strlen(seen[i].name) == n && strncmp(seen[i].name, p + 7, n) == 0)
                    fail_msg("family declared twice: %.*s", (int)n, p + 7);
            cur = &seen[nseen++];
            memcpy(cur->name, p + 7, n);
            cur->name[n] = '\0';
            cur->type[0] = '\0';
            const char *t = strchr(p, '\n') + 1;
            size_t tn = strlen(cur->name);
            assert_true(strncmp(t, "# TYPE ", 7) == 0 && strncmp(t + 7, cur->name, tn) == 0);
            sscanf(t + 7 + tn, " %15s", cur->type);
            assert_true(strcmp(cur->type, "counter") == 0 || strcmp(cur->type, "gauge") == 0 ||
                        strcmp(cur->type, "histogram") == 0);
            if (strcmp(cur->type, "counter") == 0)
                assert_true(tn > 6 && strcmp(cur->name + tn - 6, "_total") == 0);
            p = t;
            continue;
        }
        assert_true(*p != '#');
        assert_non_null(cur);
        check_sample(cur, p);
    }
}

/* ---- tests -------------------------------------------------------------------------- */

static const struct metric_labels L_V1 = {"shop", "split", "shop.svc", "v1", 0};
static const struct metric_labels L_V2 = {"shop", "split", "shop.svc", "v2", 0};

#define REQ(sub, code)                                                                             \
    "canaryd_requests_total{virtual_service=\"shop\",route=\"split\",destination=\"shop.svc\","    \
    "subset=\"" sub "\",code=\"" code "\"}"
#define HIST(sub, sfx)                                                                             \
    "canaryd_request_duration_seconds" sfx "{virtual_service=\"shop\",route=\"split\","            \
    "destination=\"shop.svc\",subset=\"" sub "\""

static void
test_metric_render_without_shards_is_valid(void **state)
{
    (void)state;
    char *text = render();
    check_exposition(text);
    static const char *const families[] = {
        "canaryd_build_info",
        "canaryd_config_generation",
        "canaryd_config_last_reload_success_timestamp_seconds",
        "canaryd_config_reloads_total",
        "canaryd_downstream_connections_active",
        "canaryd_errors_total",
        "canaryd_request_duration_seconds",
        "canaryd_requests_total",
        "canaryd_upstream_connect_failures_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    };
    for (size_t i = 0; i < countof(families); i++) {
        char help[160];
        snprintf(help, sizeof(help), "# HELP %s ", families[i]);
        assert_non_null(strstr(text, help));
    }
    assert_true(sample(text, "canaryd_build_info{version=\"" CANARYD_VERSION "\"}") == 1);
    assert_true(sample(text, "canaryd_downstream_connections_active") == 0);
    assert_true(sample(text, "canaryd_errors_total{reason=\"no_route\"}") == 0);
    free(text);
}

static void
test_metric_request_counts_by_labels_and_code(void **state)
{
    (void)state;
    struct metric_shard *s = metric_shard_new();
    assert_non_null(s);
    for (int i = 0; i < 3; i++)
        metric_request(s, &L_V1, 200, 100);
    metric_request(s, &L_V1, 503, 100);
    metric_request(s, &L_V2, 200, 100);
    char *text = render();
    check_exposition(text);
    assert_true(sample(text, REQ("v1", "200")) == 3);
    assert_true(sample(text, REQ("v1", "503")) == 1);
    assert_true(sample(text, REQ("v2", "200")) == 1);
    assert_true(sample(text, REQ("v2", "503")) == -1);
    /* Sorted: v1 before v2, 200 before 503. */
    assert_true(strstr(text, REQ("v1", "200")) < strstr(text, REQ("v1", "503")));
    assert_true(strstr(text, REQ("v1", "503")) < strstr(text, REQ("v2", "200")));
    free(text);
    metric_shard_free(s);
}

static void
test_metric_histogram_is_cumulative_and_inf_equals_count(void **state)
{
    (void)state;
    struct metric_shard *s = metric_shard_new();
    static const uint64_t us[] = {100, 500, 501, 1000, 30000, 2000000, 20000000};
    for (size_t i = 0; i < countof(us); i++)
        metric_request(s, &L_V1, 200, us[i]);
    char *text = render();
    check_exposition(text);
    static const struct {
        const char *le;
        double want;
    } b[] = {{"0.0005", 2}, {"0.001", 4}, {"0.0025", 4}, {"0.025", 4}, {"0.05", 5},
             {"1", 5},      {"2.5", 6},   {"10", 6},     {"+Inf", 7}};
    for (size_t i = 0; i < countof(b); i++) {
        char series[256];
        snprintf(series, sizeof(series), HIST("v1", "_bucket") ",le=\"%s\"}", b[i].le);
        assert_true(sample(text, series) == b[i].want);
    }
    assert_int_equal(count_prefix(text, HIST("v1", "_bucket")), 15);
    assert_true(sample(text, HIST("v1", "_count") "}") == 7);
    assert_true(fabs(sample(text, HIST("v1", "_sum") "}") - 22.032101) < 1e-9);
    assert_non_null(strstr(text, HIST("v1", "_sum") "} 22.032101\n"));
    free(text);
    metric_shard_free(s);
}

#define NTHREAD_REQS 200000

struct worker_arg {
    struct metric_shard *shard;
    int id;
};

static void *
worker(void *p)
{
    struct worker_arg *a = p;
    char dest[32];
    snprintf(dest, sizeof(dest), "only-%d", a->id);
    for (int i = 0; i < NTHREAD_REQS; i++) {
        metric_request(a->shard, i % 4 == 0 ? &L_V2 : &L_V1, i % 10 == 0 ? 503 : 200,
                       (uint64_t)(i % 3000));
        if (i % 1000 == 0) {
            metric_connect_failure(a->shard, dest, "v1");
            metric_connect_failure(a->shard, "shared", "v1");
            metric_error(a->shard, METRIC_ERR_UP_CONNECT);
        }
        metric_conn_delta(a->shard, i % 2 == 0 ? 1 : -1);
    }
    metric_conn_delta(a->shard, a->id + 1);
    return NULL;
}

static void *
scraper(void *p)
{
    atomic_bool *is_done = p;
    while (!atomic_load(is_done)) {
        char *text = render();
        check_exposition(text);
        free(text);
    }
    return NULL;
}

static void
test_metric_two_shards_from_two_threads_are_summed(void **state)
{
    (void)state;
    struct worker_arg args[2] = {{metric_shard_new(), 0}, {metric_shard_new(), 1}};
    pthread_t th[2], sc;
    atomic_bool is_done = false;
    pthread_create(&sc, NULL, scraper, &is_done);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, worker, &args[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    atomic_store(&is_done, true);
    pthread_join(sc, NULL);
    char *text = render();
    check_exposition(text);
    /* Per thread: i%4==0 -> v2; i%10==0 -> 503; i%20==0 is both. */
    assert_true(sample(text, REQ("v2", "503")) == 2 * NTHREAD_REQS / 20);
    assert_true(sample(text, REQ("v2", "200")) == 2 * (NTHREAD_REQS / 4 - NTHREAD_REQS / 20));
    assert_true(sample(text, REQ("v1", "503")) == 2 * (NTHREAD_REQS / 10 - NTHREAD_REQS / 20));
    assert_true(sample(text, HIST("v1", "_count") "}") + sample(text, HIST("v2", "_count") "}") ==
                2 * NTHREAD_REQS);
    assert_true(sample(text, HIST("v1", "_bucket") ",le=\"+Inf\"}") ==
                sample(text, HIST("v1", "_count") "}"));
    assert_true(sample(text, "canaryd_upstream_connect_failures_total{destination=\"shared\","
                             "subset=\"v1\"}") == 2 * NTHREAD_REQS / 1000);
    assert_true(sample(text, "canaryd_upstream_connect_failures_total{destination=\"only-1\","
                             "subset=\"v1\"}") == NTHREAD_REQS / 1000);
    assert_true(sample(text, "canaryd_errors_total{reason=\"upstream_connect\"}") ==
                2 * NTHREAD_REQS / 1000);
    assert_true(sample(text, "canaryd_downstream_connections_active") == 3);
    free(text);
    metric_shard_free(args[0].shard);
    metric_shard_free(args[1].shard);
}

static void
test_metric_label_values_are_escaped(void **state)
{
    (void)state;
    struct metric_shard *s = metric_shard_new();
    struct metric_labels l = {"a\"b", "c\\d", "e\nf", "plain", 0};
    metric_request(s, &l, 200, 1);
    metric_connect_failure(s, "x\"y", NULL);
    char *text = render();
    check_exposition(text);
    assert_true(sample(text, "canaryd_requests_total{virtual_service=\"a\\\"b\",route=\"c\\\\d\","
                             "destination=\"e\\nf\",subset=\"plain\",code=\"200\"}") == 1);
    assert_true(sample(text, "canaryd_upstream_connect_failures_total{destination=\"x\\\"y\","
                             "subset=\"\"}") == 1);
    free(text);
    metric_shard_free(s);
}

static void
test_metric_labels_are_copied_from_borrowed_strings(void **state)
{
    (void)state;
    struct metric_shard *s = metric_shard_new();
    char vs[] = "shop", route[] = "split", dest[] = "shop.svc", subset[] = "v1";
    struct metric_labels l = {vs, route, dest, subset, 0};
    metric_request(s, &l, 200, 1);
    memcpy(subset, "XX", 2); /* the snapshot goes away */
    metric_request(s, &L_V1, 200, 1);
    char *text = render();
    assert_true(sample(text, REQ("v1", "200")) == 2);
    free(text);
    metric_shard_free(s);
}

static void
test_metric_precomputed_hash_finds_same_series(void **state)
{
    (void)state;
    struct metric_shard *s = metric_shard_new();
    struct metric_labels l = L_V1;
    l.hash = metric_labels_hash(&l);
    assert_true(l.hash != 0);
    metric_request(s, &l, 200, 1);
    metric_request(s, &L_V1, 200, 1);
    struct metric_labels nulls = {NULL, NULL, NULL, NULL, 0};
    struct metric_labels empties = {"", "", "", "", 0};
    metric_request(s, &nulls, 404, 1);
    metric_request(s, &empties, 404, 1);
    char *text = render();
    assert_true(sample(text, REQ("v1", "200")) == 2);
    assert_int_equal(count_prefix(text, "canaryd_requests_total{"), 2);
    assert_true(sample(text, "canaryd_requests_total{virtual_service=\"\",route=\"\","
                             "destination=\"\",subset=\"\",code=\"404\"}") == 2);
    free(text);
    metric_shard_free(s);
}

static void
test_metric_overflow_series_takes_label_sets_past_cap(void **state)
{
    (void)state;
    struct metric_shard *s = metric_shard_new();
    char route[32];
    for (unsigned i = 0; i < METRIC_SERIES_MAX + 5; i++) {
        snprintf(route, sizeof(route), "r%u", i);
        struct metric_labels l = {"vs", route, "d", "s", 0};
        metric_request(s, &l, 200, 1);
        metric_request(s, &l, 200, 1);
    }
    char *text = render();
    check_exposition(text);
    assert_true(sample(text, "canaryd_requests_total{virtual_service=\"overflow\","
                             "route=\"overflow\",destination=\"overflow\",subset=\"overflow\","
                             "code=\"200\"}") == 10);
    assert_true(sample(text, "canaryd_requests_total{virtual_service=\"vs\",route=\"r0\","
                             "destination=\"d\",subset=\"s\",code=\"200\"}") == 2);
    assert_int_equal(count_prefix(text, "canaryd_requests_total{"), METRIC_SERIES_MAX + 1);
    free(text);
    metric_shard_free(s);
}

static void
test_metric_many_codes_are_kept_and_sorted(void **state)
{
    (void)state;
    struct metric_shard *s = metric_shard_new();
    for (unsigned code = 599; code >= 200; code -= 19)
        metric_request(s, &L_V1, code, 1);
    metric_request(s, &L_V1, 599, 1);
    char *text = render();
    check_exposition(text);
    assert_int_equal(count_prefix(text, "canaryd_requests_total{"), 22);
    assert_true(sample(text, REQ("v1", "599")) == 2);
    assert_true(sample(text, REQ("v1", "200")) == 1);
    assert_true(strstr(text, REQ("v1", "219")) < strstr(text, REQ("v1", "580")));
    free(text);
    metric_shard_free(s);
}

static void
test_metric_reload_generation_and_timestamp_are_exported(void **state)
{
    (void)state;
    char *text = render();
    double ok = sample(text, "canaryd_config_reloads_total{result=\"success\"}");
    double bad = sample(text, "canaryd_config_reloads_total{result=\"failure\"}");
    free(text);
    metric_reload(true);
    metric_reload(true);
    metric_reload(false);
    metric_config_generation_set(42);
    metric_config_last_success_set(1732500000.25);
    text = render();
    check_exposition(text);
    assert_true(sample(text, "canaryd_config_reloads_total{result=\"success\"}") == ok + 2);
    assert_true(sample(text, "canaryd_config_reloads_total{result=\"failure\"}") == bad + 1);
    assert_true(sample(text, "canaryd_config_generation") == 42);
    assert_true(sample(text, "canaryd_config_last_reload_success_timestamp_seconds") ==
                1732500000.25);
    free(text);
}

static void
test_metric_process_metrics_are_plausible(void **state)
{
    (void)state;
    char *text = render();
    assert_true(sample(text, "process_resident_memory_bytes") > 4096);
    assert_true(sample(text, "process_virtual_memory_bytes") >=
                sample(text, "process_resident_memory_bytes"));
    assert_true(sample(text, "process_open_fds") >= 3);
    assert_true(sample(text, "process_cpu_seconds_total") >= 0);
    double start = sample(text, "process_start_time_seconds");
    assert_true(start > 1.6e9 && start <= (double)time(NULL) + 1);
    free(text);
}

static void
test_metric_shard_free_removes_its_series(void **state)
{
    (void)state;
    struct metric_shard *s = metric_shard_new();
    metric_request(s, &L_V1, 200, 1);
    metric_conn_delta(s, 5);
    metric_shard_free(s);
    metric_shard_free(NULL);
    char *text = render();
    assert_int_equal(count_prefix(text, "canaryd_requests_total{"), 0);
    assert_true(sample(text, "canaryd_downstream_connections_active") == 0);
    free(text);
    assert_string_equal(metric_err_name(METRIC_ERR_NO_ROUTE), "no_route");
    assert_string_equal(metric_err_name(METRIC_ERR__COUNT), "unknown");
}

static void
test_metric_err_every_reason_has_a_unique_name(void **state)
{
    (void)state;
    char *text = render();
    for (int i = 0; i < METRIC_ERR__COUNT; i++) {
        const char *name = metric_err_name((enum metric_err)i);
        assert_non_null(name);
        assert_string_not_equal(name, "unknown");
        for (int k = 0; k < i; k++)
            assert_string_not_equal(name, metric_err_name((enum metric_err)k));
        char series[128];
        snprintf(series, sizeof(series), "canaryd_errors_total{reason=\"%s\"}", name);
        assert_true(sample(text, series) >= 0);
    }
    assert_int_equal(count_prefix(text, "canaryd_errors_total{"), METRIC_ERR__COUNT);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_render_without_shards_is_valid),
        cmocka_unit_test(test_metric_request_counts_by_labels_and_code),
        cmocka_unit_test(test_metric_histogram_is_cumulative_and_inf_equals_count),
        cmocka_unit_test(test_metric_two_shards_from_two_threads_are_summed),
        cmocka_unit_test(test_metric_label_values_are_escaped),
        cmocka_unit_test(test_metric_labels_are_copied_from_borrowed_strings),
        cmocka_unit_test(test_metric_precomputed_hash_finds_same_series),
        cmocka_unit_test(test_metric_overflow_series_takes_label_sets_past_cap),
        cmocka_unit_test(test_metric_many_codes_are_kept_and_sorted),
        cmocka_unit_test(test_metric_reload_generation_and_timestamp_are_exported),
        cmocka_unit_test(test_metric_process_metrics_are_plausible),
        cmocka_unit_test(test_metric_shard_free_removes_its_series),
        cmocka_unit_test(test_metric_err_every_reason_has_a_unique_name),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
