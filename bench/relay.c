/*
 * relay.c: the cheapest thing that can sit where a proxy sits, for `make bench`.
 *
 * Each client connection gets its own upstream connection to one address, and
 * bytes are copied both ways as they come: one read and one send per message,
 * level-triggered epoll, no HTTP parsing, no routing, no pools, no timers. No
 * proxy can do less work per request on this path, so its figures bound what
 * any proxy (canaryd, nginx, HAProxy) can reach on the machine: the "relay"
 * row of the benchmark table.
 *
 *   relay LISTEN_PORT UPSTREAM_PORT [THREADS]      (both on 127.0.0.1)
 *
 * A benchmark tool, not part of canaryd: a send that cannot complete at once
 * closes the pair (never the case for the small messages of the benchmark).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct end {
    int fd;
    struct end *peer;
};

static uint16_t g_listen_port, g_up_port;

static int
listen_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_listen_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) == -1 || listen(fd, 4096) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

static int
upstream_socket(void)
{
    /* Blocking connect (loopback: immediate), then non-blocking for the relay. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(g_up_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == -1) {
        close(fd);
        return -1;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

static void
pair_close(int ep, struct end *e)
{
    struct end *p = e->peer;
    (void)epoll_ctl(ep, EPOLL_CTL_DEL, e->fd, NULL);
    (void)epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
    close(e->fd);
    close(p->fd);
    free(e < p ? e : p); /* both ends live in one allocation */
}

static void
accept_all(int ep, int lfd)
{
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd == -1)
            return;
        int one = 1;
        (void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        int ufd = upstream_socket();
        struct end *pair = ufd == -1 ? NULL : calloc(2, sizeof(*pair));
        if (pair == NULL) {
            close(cfd);
            if (ufd != -1)
                close(ufd);
            continue;
        }
        pair[0] = (struct end){cfd, &pair[1]};
        pair[1] = (struct end){ufd, &pair[0]};
        struct epoll_event ev0 = {.events = EPOLLIN, .data.ptr = &pair[0]};
        struct epoll_event ev1 = {.events = EPOLLIN, .data.ptr = &pair[1]};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev0) == -1 ||
            epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &ev1) == -1)
            pair_close(ep, &pair[0]);
    }
}

static void *
worker(void *arg)
{
    (void)arg;
    static const int listen_tag = 0;
    int lfd = listen_socket();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = (void *)&listen_tag};
    if (lfd == -1 || ep == -1 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) == -1) {
        perror("relay: listen");
        exit(1);
    }
    struct epoll_event evs[256];
    char buf[16384];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listen_tag) {
                accept_all(ep, lfd);
                continue;
            }
            struct end *e = evs[i].data.ptr;
            ssize_t r = read(e->fd, buf, sizeof(buf));
            if (r == -1 && errno == EAGAIN)
                continue;
            if (r <= 0 || send(e->peer->fd, buf, (size_t)r, MSG_NOSIGNAL) != r) {
                pair_close(ep, e);
                /* The peer's event may be later in this batch: stop here. */
                break;
            }
        }
    }
    return NULL;
}

int
main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: relay LISTEN_PORT UPSTREAM_PORT [THREADS]\n");
        return 2;
    }
    g_listen_port = (uint16_t)atoi(argv[1]);
    g_up_port = (uint16_t)atoi(argv[2]);
    int nthreads = argc > 3 ? atoi(argv[3]) : 1;
    if (nthreads < 1 || nthreads > 64)
        nthreads = 1;
    signal(SIGPIPE, SIG_IGN);
    pthread_t t;
    for (int i = 1; i < nthreads; i++)
        if (pthread_create(&t, NULL, worker, NULL) != 0)
            return 1;
    worker(NULL);
    return 0;
}
