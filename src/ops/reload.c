/*
 * reload.c: configuration life cycle and process signals, on the main thread.
 * Start-up, SIGHUP and --watch all go through reload_build(): load, validate,
 * compile a complete snapshot, sync listeners, then publish atomically. A
 * failure at any step leaves the running snapshot untouched. SIGTERM/SIGINT
 * start the graceful drain; a second one exits at once.
 */
#include "canaryd/common.h"
#include "canaryd/core/clock.h"
#include "canaryd/ops/reload.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/buf.h"
#include "canaryd/core/diag.h"
#include "canaryd/proxy/dns.h"
#include "canaryd/proxy/health.h"
#include "canaryd/core/log.h"
#include "canaryd/core/metrics.h"
#include "canaryd/ops/watch.h"
#include "canaryd/proxy/worker.h"

#define DRAIN_POLL_MS 50
#define CONFIG_JSON_MAX ((size_t)64 << 20) /* the /config document, at most */

static struct reload_opts g_opts;
static struct event_base *g_base; /* borrowed: main's */
static atomic_bool g_ready;
static atomic_bool g_draining;
static uint64_t g_drain_start_us;
static struct event *g_ev_drain;  /* owned */
static struct event *g_ev_reap;   /* owned: frees replaced snapshots off the workers */
static struct event *g_ev_sig[3]; /* owned */
static struct watch *g_watch;     /* owned */

/* /config state, guarded by g_mu (the admin handler and reloads both run on
 * the main thread, but keep it simple and safe). */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static char *g_last_error; /* owned: diagnostics of the last failed reload, or NULL */
static double g_loaded_at;

/* Joins the diagnostics into one string (for /config and the reload event). */
static char *
diags_join(const struct diag_list *dl, bool errors_only)
{
    size_t cap = 256, len = 0;
    char *s = malloc(cap);
    if (s == NULL)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < dl->n; i++) {
        if (errors_only && dl->v[i].level != DIAG_ERROR)
            continue;
        char line[2048];
        int n = diag_format(&dl->v[i], line, sizeof(line));
        if (n < 0)
            continue;
        size_t need = len + (size_t)MIN(n, (int)sizeof(line) - 1) + 2;
        if (need > cap) {
            while (cap < need)
                cap *= 2;
            char *ns = realloc(s, cap);
            if (ns == NULL)
                return s;
            s = ns;
        }
        len += (size_t)snprintf(s + len, cap - len, "%s%s", len ? "\n" : "", line);
    }
    return s;
}

static void
log_diags(const struct diag_list *dl)
{
    for (size_t i = 0; i < dl->n; i++) {
        char line[2048];
        diag_format(&dl->v[i], line, sizeof(line));
        if (dl->v[i].level == DIAG_ERROR)
            log_event(LOG_LEVEL_ERROR, "config", NULL, 0, "%s", line);
        else
            log_event(LOG_LEVEL_WARN, "config", NULL, 0, "%s", line);
    }
}

/* Loads, compiles and (when valid and listeners could be opened) publishes.
 * Returns 0, 1 (invalid config) or 3 (listener failure). */
static int
reload_build(const char *trigger, bool at_start)
{
    uint64_t t0 = clock_mono_us();
    struct diag_list dl;
    diag_list_init(&dl);
    struct conf_opts copts = {.listen_addr = g_opts.listen_addr,
                              .ns = g_opts.ns,
                              .labels = g_opts.labels,
                              .nlabels = g_opts.nlabels};
    struct conf *c = conf_build(g_opts.paths, g_opts.npaths, &copts, &dl);
    log_diags(&dl);
    int rc = 0;
    char err[512] = "";
    if (c == NULL) {
        rc = 1;
    } else if (dns_attach(c) == -1 || health_attach(c) == -1) {
        rc = 1;
        diag_add(&dl, DIAG_ERROR, NULL, 0, 0, NULL, "out of memory attaching DNS endpoints");
        conf_unref(&c);
    } else if (worker_listeners_sync(c, !at_start, err, sizeof(err)) == -1) {
        rc = 3;
        diag_add(&dl, DIAG_ERROR, NULL, 0, 0, NULL, "%s", err);
        log_event(LOG_LEVEL_ERROR, "listen", NULL, 0, "%s", err);
        conf_unref(&c);
    }
    uint64_t build_us = clock_mono_us() - t0;
    pthread_mutex_lock(&g_mu);
    if (rc != 0) {
        free(g_last_error);
        g_last_error = diags_join(&dl, true);
    } else {
        free(g_last_error);
        g_last_error = NULL;
        g_loaded_at = ((double)clock_wall_us() / 1e6);
    }
    pthread_mutex_unlock(&g_mu);
    if (rc == 0) {
        worker_conf_publish(c); /* takes our reference */
        metric_config_generation_set(c->generation);
        metric_config_last_success_set(g_loaded_at);
        if (!at_start)
            metric_reload(true);
        log_event(LOG_LEVEL_INFO, "reload",
                  LOG_FIELDS(LOG_F_STR("result", "ok"), LOG_F_STR("trigger", trigger),
                             LOG_F_U64("generation", c->generation),
                             LOG_F_DBL("duration_ms", (double)build_us / 1000.0),
                             LOG_F_U64("warnings", dl.nwarnings)),
                  "configuration generation %llu active", (unsigned long long)c->generation);
    } else {
        if (!at_start)
            metric_reload(false);
        log_event(LOG_LEVEL_ERROR, "reload",
                  LOG_FIELDS(LOG_F_STR("result", "failed"), LOG_F_STR("trigger", trigger),
                             LOG_F_U64("errors", dl.nerrors)),
                  "configuration rejected%s", at_start ? "" : "; the previous one keeps serving");
    }
    diag_list_fini(&dl);
    return rc;
}

int
reload_start(const struct reload_opts *opts)
{
    g_opts = *opts;
    int rc = reload_build("start", true);
    if (rc == 0)
        atomic_store(&g_ready, true);
    return rc;
}

int
reload_now(const char *trigger)
{
    if (atomic_load(&g_draining))
        return -1;
    return reload_build(trigger, false) == 0 ? 0 : -1;
}

bool
reload_is_ready(void)
{
    return atomic_load(&g_ready) && !atomic_load(&g_draining) && worker_is_serving();
}

/* ---- drain ---- */

static void
on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    static bool stopped_accepting;
    double elapsed = (double)(clock_mono_us() - g_drain_start_us) / 1e6;
    if (!stopped_accepting && elapsed >= g_opts.shutdown_delay_s) {
        stopped_accepting = true;
        log_event(LOG_LEVEL_INFO, "drain",
                  LOG_FIELDS(LOG_F_U64("sessions", worker_sessions_open())),
                  "stopped accepting; waiting for open connections");
        worker_drain_all();
    }
    bool done = stopped_accepting && worker_sessions_open() == 0;
    bool late = elapsed >= g_opts.shutdown_delay_s + g_opts.drain_timeout_s;
    if (done || late) {
        if (late && !done)
            log_event(LOG_LEVEL_WARN, "drain",
                      LOG_FIELDS(LOG_F_U64("sessions", worker_sessions_open())),
                      "drain timeout: closing the remaining connections");
        event_base_loopbreak(g_base);
    }
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    if (sig == SIGHUP) {
        (void)reload_now("SIGHUP");
        return;
    }
    if (atomic_load(&g_draining)) {
        log_event(LOG_LEVEL_WARN, "exit", NULL, 0, "second signal: exiting now");
        event_base_loopbreak(g_base);
        return;
    }
    atomic_store(&g_draining, true);
    g_drain_start_us = clock_mono_us();
    log_event(LOG_LEVEL_INFO, "drain",
              LOG_FIELDS(LOG_F_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"),
                         LOG_F_DBL("shutdown_delay_s", g_opts.shutdown_delay_s),
                         LOG_F_DBL("drain_timeout_s", g_opts.drain_timeout_s)),
              "draining: readiness is now 503");
    g_ev_drain = event_new(g_base, -1, EV_PERSIST, on_drain_tick, NULL);
    if (g_ev_drain == NULL) {
        event_base_loopbreak(g_base);
        return;
    }
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};
    event_add(g_ev_drain, &tv);
}

static void
on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    (void)worker_conf_reap();
}

static void
on_watch_change(void *arg)
{
    (void)arg;
    (void)reload_now("watch");
}

int
reload_install(struct event_base *base)
{
    g_base = base;
    const int sigs[3] = {SIGHUP, SIGTERM, SIGINT};
    for (size_t i = 0; i < 3; i++) {
        g_ev_sig[i] = evsignal_new(base, sigs[i], on_signal, NULL);
        if (g_ev_sig[i] == NULL || event_add(g_ev_sig[i], NULL) == -1)
            return -1;
    }
    g_ev_reap = event_new(base, -1, EV_PERSIST, on_reap, NULL);
    struct timeval tv = {0, 500 * 1000};
    if (g_ev_reap == NULL || event_add(g_ev_reap, &tv) == -1)
        return -1;
    if (g_opts.watch) {
        g_watch = watch_new(base, g_opts.paths, g_opts.npaths, on_watch_change, NULL);
        if (g_watch == NULL)
            return -1;
    }
    return 0;
}

void
reload_fini(void)
{
    for (size_t i = 0; i < countof(g_ev_sig); i++) {
        if (g_ev_sig[i] != NULL)
            event_free(g_ev_sig[i]);
        g_ev_sig[i] = NULL;
    }
    if (g_ev_drain != NULL)
        event_free(g_ev_drain);
    g_ev_drain = NULL;
    if (g_ev_reap != NULL)
        event_free(g_ev_reap);
    g_ev_reap = NULL;
    watch_free(g_watch);
    g_watch = NULL;
    pthread_mutex_lock(&g_mu);
    free(g_last_error);
    g_last_error = NULL;
    pthread_mutex_unlock(&g_mu);
}

/* ---- /config ---- */

/* Appends s as a JSON string. */
static void
json_str(struct buf_out *o, const char *s)
{
    size_t n = strlen(s);
    /* Escaped text, its quotes and the NUL log_json_escape writes (not kept). */
    if (o->failed || buf_reserve(o->b, o->bc, n * 6 + 3, o->max) == -1) {
        o->failed = true;
        return;
    }
    char *dst = o->b->data + o->b->off + o->b->len;
    size_t w = 0;
    dst[w++] = '"';
    w += log_json_escape(dst + w, n * 6 + 1, s, n);
    dst[w++] = '"';
    o->b->len += w;
}

char *
reload_config_json(size_t *lenp)
{
    struct buf text = {0};
    struct buf_out o = buf_out_to(&text, NULL, CONFIG_JSON_MAX);
    struct conf *c = worker_conf_get();
    pthread_mutex_lock(&g_mu);
    buf_out_printf(&o, "{\"generation\":%llu,\"loaded_at\":%.3f,\"ready\":%s,\"sources\":[",
                   c ? (unsigned long long)c->generation : 0ull, g_loaded_at,
                   reload_is_ready() ? "true" : "false");
    for (size_t i = 0; c != NULL && i < c->nsources; i++) {
        buf_out_printf(&o, "%s{\"path\":", i ? "," : "");
        json_str(&o, c->sources[i].path);
        buf_out_printf(&o, ",\"sha256\":\"%s\"}", c->sources[i].sha256_hex);
    }
    buf_out_str(&o, "],\"objects\":{");
    if (c != NULL) {
        const struct conf_counts *k = &c->counts;
        buf_out_printf(&o,
                       "\"ServiceEntry\":%zu,\"DestinationRule\":%zu,\"VirtualService\":%zu,"
                       "\"Gateway\":%zu,\"routes\":%zu,\"clusters\":%zu,\"endpoints\":%zu,"
                       "\"listeners\":%zu",
                       k->service_entries, k->destination_rules, k->virtual_services, k->gateways,
                       k->routes, k->clusters, k->endpoints, c->nlisteners);
    }
    buf_out_str(&o, "},\"listeners\":[");
    for (size_t i = 0; c != NULL && i < c->nlisteners; i++) {
        buf_out_printf(&o, "%s{\"name\":", i ? "," : "");
        json_str(&o, c->listeners[i].name);
        buf_out_str(&o, ",\"address\":");
        json_str(&o, c->listeners[i].addr);
        buf_out_str(&o, "}");
    }
    buf_out_str(&o, "],\"last_reload_error\":");
    if (g_last_error != NULL)
        json_str(&o, g_last_error);
    else
        buf_out_str(&o, "null");
    buf_out_str(&o, "}\n");
    pthread_mutex_unlock(&g_mu);
    conf_unref(&c);
    buf_out_mem(&o, "", 1); /* NUL-terminated for the caller */
    if (o.failed) {
        buf_release(&text, NULL);
        return NULL;
    }
    *lenp = text.len - 1;
    return text.data; /* off is 0: nothing was consumed */
}
