/*
 * watch.c: reload on config change (--watch), main thread only (see watch.h).
 * One inotify descriptor; every event (re)starts a debounce timer; when it
 * fires, watches are re-armed and the sources' content hash is compared with
 * the last one, so a kubelet's "..data" swap, an editor's rename dance or a
 * touch without change each lead to at most one reload.
 */
#include "canaryd/common.h"
#include "canaryd/ops/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "canaryd/core/sha256.h"

#define WATCH_MASK                                                                                 \
    (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE | IN_MODIFY |            \
     IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB)
#define WATCH_RETRY_MS 2000u

/* What a watch descriptor is for: the events that matter on it. */
struct watch_wd {
    int wd;
    char name[NAME_MAX + 1]; /* "" = any event (the file itself, or a config dir) */
    bool is_dir;             /* a config directory: *.yaml, *.yml and "..data" matter */
};

struct watch {
    int fd;
    struct watch_wd *wds; /* owned */
    size_t nwds;
    size_t cap_wds;
    struct event *ev_in;      /* owned */
    struct event *ev_deb;     /* owned */
    const char *const *paths; /* borrowed */
    size_t npaths;
    watch_change_cb cb;
    void *arg;
    unsigned char last[SHA256_DIGEST_BYTES];
};

static unsigned g_debounce_ms = 1000;

void
watch_set_debounce_ms(unsigned ms)
{
    g_debounce_ms = ms;
}

static bool
is_config_name(const char *name)
{
    if (name[0] == '.')
        return false;
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static void
hash_file(struct sha256_ctx *ctx, const char *path)
{
    sha256_update(ctx, path, strlen(path) + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        sha256_update(ctx, "\0missing", 8);
        return;
    }
    char buf[16384];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        sha256_update(ctx, buf, (size_t)n);
    close(fd);
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
hash_dir(struct sha256_ctx *ctx, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        sha256_update(ctx, "\0nodir", 6);
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_config_name(de->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = realloc(names, ncap * sizeof(*nn));
            if (nn == NULL)
                break;
            names = nn;
            cap = ncap;
        }
        names[n] = strdup(de->d_name);
        if (names[n] != NULL)
            n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        hash_file(ctx, path);
        free(names[i]);
    }
    free(names);
}

static void
sources_hash(const struct watch *w, unsigned char out[SHA256_DIGEST_BYTES])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    for (size_t i = 0; i < w->npaths; i++) {
        struct stat st;
        if (stat(w->paths[i], &st) == 0 && S_ISDIR(st.st_mode))
            hash_dir(&ctx, w->paths[i]);
        else
            hash_file(&ctx, w->paths[i]);
    }
    sha256_final(&ctx, out);
}

/* Records what wd is for (once per purpose). Returns -1 when wd is -1. */
static int
wd_note(struct watch *w, int wd, const char *name, bool is_dir)
{
    if (wd == -1)
        return -1;
    for (size_t i = 0; i < w->nwds; i++)
        if (w->wds[i].wd == wd && w->wds[i].is_dir == is_dir && strcmp(w->wds[i].name, name) == 0)
            return 0;
    if (w->nwds == w->cap_wds) {
        size_t ncap = w->cap_wds ? w->cap_wds * 2 : 8;
        struct watch_wd *n = realloc(w->wds, ncap * sizeof(*n));
        if (n == NULL)
            return 0; /* then every event on it counts: still correct */
        w->wds = n;
        w->cap_wds = ncap;
    }
    struct watch_wd *e = &w->wds[w->nwds++];
    e->wd = wd;
    e->is_dir = is_dir;
    snprintf(e->name, sizeof(e->name), "%s", name);
    return 0;
}

/* Whether an inotify event can change the configuration: unrelated files
 * in a watched directory (logs, editor swap files) must not postpone or
 * trigger reloads. */
static bool
event_matters(const struct watch *w, const struct inotify_event *ev)
{
    bool known = false;
    for (size_t i = 0; i < w->nwds; i++) {
        const struct watch_wd *e = &w->wds[i];
        if (e->wd != ev->wd)
            continue;
        known = true;
        if (ev->len == 0)
            return true; /* the watched inode itself changed or went away */
        if (e->is_dir && (is_config_name(ev->name) || strcmp(ev->name, "..data") == 0))
            return true;
        if (!e->is_dir && (e->name[0] == '\0' || strcmp(e->name, ev->name) == 0))
            return true;
    }
    return !known;
}

/* (Re-)adds a watch on each directory and file; inotify_add_watch on an
 * already watched inode just updates it, so this is idempotent. Returns the
 * number of paths that could not be watched. */
static size_t
watch_arm(struct watch *w)
{
    size_t missing = 0;
    for (size_t i = 0; i < w->npaths; i++) {
        const char *p = w->paths[i];
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (wd_note(w, inotify_add_watch(w->fd, p, WATCH_MASK | IN_DONT_FOLLOW), "", true) ==
                -1)
                missing++;
            continue;
        }
        /* A file: watch its directory (renames, symlink swaps) and itself
         * (in-place writes). */
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", p);
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            snprintf(dir, sizeof(dir), ".");
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
        const char *base = strrchr(p, '/') != NULL ? strrchr(p, '/') + 1 : p;
        if (wd_note(w, inotify_add_watch(w->fd, dir, WATCH_MASK), base, false) == -1)
            missing++;
        if (wd_note(w,
                    inotify_add_watch(w->fd, p,
                                      IN_CLOSE_WRITE | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF |
                                          IN_ATTRIB),
                    "", false) == -1)
            missing++;
    }
    return missing;
}

static void
debounce_arm(struct watch *w, unsigned ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(w->ev_deb, &tv);
}

static void
on_watch_debounce(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct watch *w = arg;
    if (watch_arm(w) > 0)
        debounce_arm(w, WATCH_RETRY_MS); /* something vanished: look again later */
    unsigned char h[SHA256_DIGEST_BYTES];
    sources_hash(w, h);
    if (memcmp(h, w->last, sizeof(h)) == 0)
        return;
    memcpy(w->last, h, sizeof(h));
    w->cb(w->arg);
}

static void
on_watch_event(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct watch *w = arg;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    bool any = false;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            if (ev->mask & IN_Q_OVERFLOW || event_matters(w, ev))
                any = true;
            p += sizeof(*ev) + ev->len;
        }
    }
    /* A fixed window from the first relevant event: a stream of writes
     * cannot postpone the reload forever. */
    if (any && !event_pending(w->ev_deb, EV_TIMEOUT, NULL))
        debounce_arm(w, g_debounce_ms);
}

struct watch *
watch_new(struct event_base *base, const char *const *paths, size_t npaths, watch_change_cb cb,
          void *arg)
{
    struct watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->paths = paths;
    w->npaths = npaths;
    w->cb = cb;
    w->arg = arg;
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd == -1) {
        free(w);
        return NULL;
    }
    w->ev_in = event_new(base, w->fd, EV_READ | EV_PERSIST, on_watch_event, w);
    w->ev_deb = event_new(base, -1, 0, on_watch_debounce, w);
    if (w->ev_in == NULL || w->ev_deb == NULL || event_add(w->ev_in, NULL) == -1) {
        watch_free(w);
        return NULL;
    }
    if (watch_arm(w) > 0)
        debounce_arm(w, WATCH_RETRY_MS);
    sources_hash(w, w->last);
    return w;
}

void
watch_free(struct watch *w)
{
    if (w == NULL)
        return;
    if (w->ev_in != NULL)
        event_free(w->ev_in);
    if (w->ev_deb != NULL)
        event_free(w->ev_deb);
    close(w->fd);
    free(w->wds);
    free(w);
}
