/*
 * mirror.h: fire-and-forget request mirroring (VirtualService mirror,
 * mirrorPercentage, mirrors[]). A mirror copy is its own upstream connection
 * carrying the request head (Host with the "-shadow" suffix, as Envoy) and
 * body; its response is read and discarded. Copies are bounded per worker and
 * per body size; a copy that cannot be made or falls behind is dropped and
 * counted, so a slow or dead mirror never slows or fails the primary request.
 * Worker thread only.
 */
#ifndef CANARYD_MIRROR_H
#define CANARYD_MIRROR_H

#include <stdbool.h>
#include <stddef.h>

struct stream;
struct worker;

#define MIRROR_MAX_INFLIGHT 256u       /* per worker */
#define MIRROR_MAX_BYTES (64u * 1024u) /* request body mirrored, at most */
#define MIRROR_TIMEOUT_MS 10000u

/* Starts the copies st's route asks for (each drawn by its percentage). */
void mirror_start(struct stream *st);

/* Passes request body bytes p[0..len) on to st's copies; done says the body
 * ended. */
void mirror_feed(struct stream *st, const char *p, size_t len, bool done);

/* The stream ends: its copies go on alone (or stop, when their body is
 * incomplete). */
void mirror_detach(struct stream *st);

/* Closes every copy (worker exit). */
void mirror_fini(struct worker *w);

#endif /* CANARYD_MIRROR_H */
