/*
 * up_h1.h: the request head canaryd sends an upstream over HTTP/1.1, for the
 * stream's own try and for its mirror copies.
 */
#ifndef CANARYD_UP_H1_H
#define CANARYD_UP_H1_H

#include <stdbool.h>

struct buf;
struct stream;

/* Writes the upstream request head for st into b: as sent to the chosen
 * destination, or as a mirror copy (Host with "-shadow", Connection: close).
 * Returns 0 or -1 (allocation failure). */
int up_h1_req_head(struct stream *st, struct buf *b, bool is_shadow);

#endif /* CANARYD_UP_H1_H */
