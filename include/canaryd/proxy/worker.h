/*
 * worker.h: the data plane's threads and the live configuration.
 * N worker threads each run their own event_base with their own SO_REUSEPORT
 * listening sockets, sessions, upstream pools, metric shard and access-log
 * buffer; nothing on the request path takes a lock. The one shared object is
 * the active conf snapshot: an atomic pointer plus generation; a worker pins
 * it once per generation and its streams pin the worker's pin.
 * The main thread (main.c, reload.c, admin.c) drives workers through the
 * functions below; they are not for worker threads.
 */
#ifndef CANARYD_WORKER_H
#define CANARYD_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf;
struct diag_list;

struct worker_opts {
    int nworkers;
    uint32_t header_timeout_ms;
    uint32_t idle_timeout_ms;
    uint32_t connect_timeout_ms;
    bool access_log;
};

/* Process-wide data-plane settings, read by the workers (set before start). */
extern struct worker_opts worker_opts;

/* Makes c the active snapshot (takes over the caller's reference) and bumps the
 * generation, which is stored in c->generation. Workers pick it up at their
 * next request. The snapshot it replaces is kept (with a reference) until no
 * worker uses it and then freed by worker_conf_reap() on the main thread, so
 * freeing a large snapshot never stalls a worker's loop. Main thread. */
void worker_conf_publish(struct conf *c);

/* Frees replaced snapshots nobody uses any more. Returns how many are still
 * in use. Main thread (called from a timer). */
size_t worker_conf_reap(void);

/* True when every worker's loop turned within the last max_age_ms (the
 * liveness probe). Thread-safe. */
bool worker_is_alive(uint64_t max_age_ms);

/* Returns a new reference to the active snapshot (NULL before the first
 * publish). Thread-safe. */
struct conf *worker_conf_get(void);

/* Opens listening sockets for every listener of c not yet open (one per worker,
 * SO_REUSEPORT), and, when do_close, closes the ones c no longer has. Before
 * the workers start, sockets are queued for them. Returns 0, or -1 when a bind
 * failed (nothing is closed then; new sockets opened by this call are closed;
 * the error is in errbuf). */
int worker_listeners_sync(const struct conf *c, bool do_close, char *errbuf, size_t errlen);

/* Starts the worker threads. Returns 0 or -1 (errno). */
int worker_start_all(void);

/* Graceful drain: stop accepting, close idle sessions, ask keep-alive sessions
 * to close after their current response. */
void worker_drain_all(void);

/* Number of downstream sessions still open, over all workers. */
uint32_t worker_sessions_open(void);

/* Stops every worker loop at once (open sessions are closed) and joins them. */
void worker_stop_all(void);

/* True once the listeners are bound and the workers run. */
bool worker_is_serving(void);

#endif /* CANARYD_WORKER_H */
