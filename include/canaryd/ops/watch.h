/*
 * watch.h: --watch: reload when a config file or directory changes.
 * inotify on every configured directory and on the directory of every
 * configured file. For a Kubernetes ConfigMap volume the change is the
 * "..data" symlink being replaced (IN_MOVED_TO/IN_CREATE in the directory);
 * for plain files, in-place writes and renames. Events are debounced (about
 * 1 s), and the callback runs only when the content hash of the sources
 * changed. Watches are re-armed after every event, and a directory that
 * disappears is watched again when it comes back. Main thread only.
 */
#ifndef CANARYD_WATCH_H
#define CANARYD_WATCH_H

#include <stddef.h>

struct event_base;
struct watch;

typedef void (*watch_change_cb)(void *arg);

/* Starts watching paths (borrowed: must outlive the watch) on base. Returns
 * the watch or NULL (errno). */
struct watch *watch_new(struct event_base *base, const char *const *paths, size_t npaths,
                        watch_change_cb cb, void *arg);

/* Stops watching. NULL is a no-op. */
void watch_free(struct watch *w);

/* Debounce interval in milliseconds (tests shorten it). */
void watch_set_debounce_ms(unsigned ms);

#endif /* CANARYD_WATCH_H */
