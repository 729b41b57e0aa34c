/*
 * reload.h: configuration life cycle on the main thread.
 * Builds snapshots from the configured sources (start-up, SIGHUP, --watch),
 * opens/closes listeners and publishes the snapshot to the workers only when
 * everything succeeded; otherwise the old snapshot keeps serving untouched.
 * Also runs the SIGTERM/SIGINT drain. Only main.c and reload.c may exit().
 */
#ifndef CANARYD_RELOAD_H
#define CANARYD_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct conf_label;
struct event_base;

struct reload_opts {
    const char *const *paths; /* borrowed: main's argv/env, live for the process */
    size_t npaths;
    const char *listen_addr;
    const char *ns;                  /* --namespace; NULL = the default */
    const struct conf_label *labels; /* borrowed: main's --labels, live for the process */
    size_t nlabels;
    double drain_timeout_s;
    double shutdown_delay_s;
    bool watch;
};

/* Builds and publishes the first snapshot and opens its listeners. Prints
 * every diagnostic. Returns 0, 1 (invalid configuration) or 3 (bind failed):
 * the process exit status. */
int reload_start(const struct reload_opts *opts);

/* Installs SIGHUP/SIGTERM/SIGINT handlers (and --watch) on base, the main
 * thread's loop. Returns 0 or -1. */
int reload_install(struct event_base *base);

/* Removes the signal handlers and the watch (at exit). */
void reload_fini(void);

/* Rebuilds from the sources now (what SIGHUP does). Returns 0 when the new
 * snapshot was published, -1 when the old one stays. */
int reload_now(const char *trigger);

/* Readiness: a config is active, listeners are bound and no drain began. */
bool reload_is_ready(void);

/* Writes the /config JSON document into a new malloc'd string (caller frees),
 * or returns NULL on allocation failure. */
char *reload_config_json(size_t *lenp);

#endif /* CANARYD_RELOAD_H */
