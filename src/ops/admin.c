/*
 * admin.c: the admin listener (-a): probes, /metrics, /config.
 * Served by libevent's evhttp on the main thread's loop: small GET requests
 * from the kubelet and Prometheus, never on a worker's loop. Paths are a
 * table of handlers.
 */
#include "canaryd/common.h"
#include "canaryd/ops/admin.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/metrics.h"
#include "canaryd/ops/reload.h"
#include "canaryd/proxy/worker.h"

static struct evhttp *g_http; /* owned */

typedef void (*admin_handler_fn)(struct evhttp_request *req);

static void
reply(struct evhttp_request *req, int code, const char *ctype, const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Service Unavailable", b);
    evbuffer_free(b);
}

/* Longest a worker's loop may go without turning before liveness fails. */
#define LIVENESS_MAX_AGE_MS 10000u

static void
h_liveness(struct evhttp_request *req)
{
    /* This loop answers, and every worker loop ticked recently. */
    if (worker_is_alive(LIVENESS_MAX_AGE_MS))
        reply(req, 200, "text/plain", "ok\n", 3);
    else
        reply(req, 503, "text/plain", "worker stalled\n", 15);
}

static void
h_readiness(struct evhttp_request *req)
{
    if (reload_is_ready())
        reply(req, 200, "text/plain", "ready\n", 6);
    else
        reply(req, 503, "text/plain", "not ready\n", 10);
}

static void
h_metrics(struct evhttp_request *req)
{
    char *text = NULL;
    size_t len = 0;
    if (metric_render(&text, &len) == -1) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    reply(req, 200, METRIC_CONTENT_TYPE, text, len);
    free(text);
}

static void
h_config(struct evhttp_request *req)
{
    size_t len = 0;
    char *json = reload_config_json(&len);
    if (json == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    reply(req, 200, "application/json", json, len);
    free(json);
}

static const struct {
    const char *path;
    admin_handler_fn fn;
} handlers[] = {
    {"/internal/platform/liveness", h_liveness},
    {"/internal/platform/readiness", h_readiness},
    {"/metrics", h_metrics},
    {"/config", h_config},
};

static void
on_admin_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_send_error(req, 405, NULL);
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    for (size_t i = 0; path != NULL && i < countof(handlers); i++) {
        if (strcmp(path, handlers[i].path) == 0) {
            handlers[i].fn(req);
            return;
        }
    }
    evhttp_send_error(req, 404, NULL);
}

int
admin_start(struct event_base *base, const char *addr, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    uint16_t port;
    if (conf_addr_parse(addr, &sa, &salen, &port) == -1) {
        snprintf(err, errlen, "admin address %s: expected HOST:PORT, [V6]:PORT or :PORT", addr);
        return -1;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        bind(fd, (struct sockaddr *)&sa, salen) == -1 || listen(fd, 128) == -1) {
        snprintf(err, errlen, "admin listener %s: %s", addr, strerror(errno));
        if (fd != -1)
            close(fd);
        return -1;
    }
    g_http = evhttp_new(base);
    if (g_http == NULL || evhttp_accept_socket(g_http, fd) == -1) {
        snprintf(err, errlen, "admin listener %s: out of memory", addr);
        if (g_http != NULL)
            evhttp_free(g_http);
        g_http = NULL;
        close(fd);
        return -1;
    }
    evhttp_set_gencb(g_http, on_admin_request, NULL);
    evhttp_set_timeout(g_http, 10);
    evhttp_set_max_headers_size(g_http, 16384);
    evhttp_set_max_body_size(g_http, 4096);
    return 0;
}

void
admin_stop(void)
{
    if (g_http != NULL)
        evhttp_free(g_http);
    g_http = NULL;
}
