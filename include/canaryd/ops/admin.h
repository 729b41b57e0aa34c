/*
 * admin.h: the admin listener (-a): liveness and readiness probes, /metrics
 * and /config. Served by the main thread's event loop (evhttp: small GETs,
 * never on a worker), so a scrape never slows the data plane.
 */
#ifndef CANARYD_ADMIN_H
#define CANARYD_ADMIN_H

#include <stddef.h>

struct event_base;

/* Binds addr ("HOST:PORT", "[::1]:PORT" or ":PORT") on base. Returns 0, or -1
 * with a message in err. */
int admin_start(struct event_base *base, const char *addr, char *err, size_t errlen);

/* Closes the admin listener. */
void admin_stop(void);

#endif /* CANARYD_ADMIN_H */
