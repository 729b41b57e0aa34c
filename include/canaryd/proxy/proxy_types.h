/*
 * proxy_types.h: the data plane's runtime objects, shared by worker.c,
 * session.c, stream.c and pool.c (types only). Everything here belongs to
 * exactly one worker thread and is touched by no other thread.
 *
 *   worker  - one thread, one event_base, its listeners, sessions and pools
 *   wconf   - a worker's pin on one conf snapshot (plus per-worker LB state)
 *   lsn     - one listening socket of one worker (SO_REUSEPORT)
 *   sess    - one accepted downstream connection
 *   stream  - one request/response exchange inside a session
 *   upconn  - one upstream connection, leased from a pool entry
 *   pool_ep - idle upconns to one endpoint address, keyed by identity
 */
#ifndef CANARYD_PROXY_TYPES_H
#define CANARYD_PROXY_TYPES_H

#include <event2/event_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "canaryd/core/addr.h"
#include "canaryd/core/buf.h"
#include "canaryd/engine/conn.h"
#include "canaryd/http1/h1.h"
#include "canaryd/http1/h1_down.h"
#include "canaryd/route/lb.h"

struct conf;
struct conf_cluster;
struct conf_dest;
struct conf_endpoint;
struct conf_listener;
struct conf_route;
struct conf_vs;
struct event_base;
struct health_cluster;
struct log_buf;
struct metric_shard;
struct mirror;

struct wconf {
    struct conf *conf;  /* ref */
    uint32_t nstreams;  /* this worker's streams pinning it */
    uint64_t *rr;       /* owned: round-robin cursor per cluster */
    uint32_t *active;   /* owned: in-flight requests per endpoint */
    struct wconf *next; /* owned: chain of retired pins still in use */
};

struct lsn {
    int fd;
    struct event ev;
    struct event ev_resume; /* accepts paused (out of descriptors): resume timer */
    struct worker *w;       /* borrowed: owner */
    struct sockaddr_storage sa;
    socklen_t salen;
    uint16_t port;
    bool is_paused;   /* accept paused (fd limit reached) */
    struct lsn *next; /* owned: worker's list */
};

enum sess_flags {
    SESS_F_NONE = 0,
    SESS_F_CLOSE_AFTER = 1u << 0, /* close once the current response is written */
    SESS_F_CLOSING = 1u << 1,     /* flushing output, then free */
    SESS_F_TUNNEL = 1u << 2,      /* upgraded: raw bytes both ways */
    SESS_F_ABORT = 1u << 3,       /* reset, do not flush */
    SESS_F_IN_PROCESS = 1u << 4,  /* sess_process is on the stack */
    SESS_F_RDHUP = 1u << 5,       /* the client shut down its sending side */
    SESS_F_CLOSED = 1u << 6,      /* closed: freed at the end of the loop pass (sess_reap) */
    SESS_F_WBLOCKED = 1u << 7,    /* a send left output behind: write on EV_WRITE only */
    SESS_F_UNREAD = 1u << 8,      /* answered before the request was read: more may come */
    SESS_F_LINGER = 1u << 9,      /* answered and half-closed: dropping input, then free */
};

struct sess {
    struct worker *w;                    /* borrowed: owner */
    const struct http_down_proto *proto; /* borrowed: a static table (h1_down_proto) */
    struct conn conn; /* the transport; conn.is_queued: output waits on the send queue */
    struct event ev_rd;
    struct event ev_wr;
    struct event ev_tmo;
    struct buf in;
    struct buf out;
    struct stream *st; /* owned: the exchange in progress, NULL between requests */
    struct sockaddr_storage peer;
    char peer_ip[INET6_ADDRSTRLEN];
    uint16_t lport;
    const struct lsn *lsn; /* borrowed: worker keeps it (may be closed before us) */
    uint32_t flags;
    uint32_t nreqs;
    uint64_t head_start_us;     /* first byte of the current head, for --header-timeout */
    uint64_t linger_end_us;     /* SESS_F_LINGER: close at the latest then */
    uint32_t linger_bytes;      /* SESS_F_LINGER: input dropped so far */
    struct h1_head_progress hp; /* how much of the current head was scanned */
    bool want_rd, want_wr;      /* event interests currently armed */
    struct sess *prev, *next;   /* worker's list */
    struct sess *reap_next;     /* worker's closed list, once SESS_F_CLOSED */
};

struct upconn {
    struct conn conn; /* the transport; conn.is_queued: output waits on the send queue */
    struct event ev_rd;
    struct event ev_wr;
    struct event ev_tmo;
    struct buf in;
    struct buf out;
    struct pool_ep *pe; /* borrowed: the worker's pool entry (lives as long as the worker) */
    struct worker *w;   /* borrowed: owner */
    struct health_cluster *counted; /* borrowed: process-lifetime; the cluster whose
                                       in-use connection count includes this one while
                                       leased (maxConnections), or NULL */
    struct stream *st;              /* weak: cleared by stream_end */
    uint32_t nreqs;
    bool is_connecting;
    bool is_reused;
    bool want_rd, want_wr;
    struct upconn *next;      /* pool entry's idle list */
    struct upconn *reap_next; /* worker's closed list, once closed */
};

struct pool_ep {
    struct sockaddr_storage sa;
    socklen_t salen;
    char addr_str[ADDR_STR_MAX];
    struct upconn *idle; /* owned list */
    uint32_t nidle;
    uint32_t nconns;      /* idle + leased */
    struct pool_ep *next; /* hash chain */
};

struct pool {
    struct pool_ep **slots; /* owned */
    size_t nslots;
    size_t nentries;
};

enum stream_end {
    STREAM_END_OK = 0,
    STREAM_END_PARSE,        /* PE: bad request from downstream */
    STREAM_END_NO_ROUTE,     /* NR: no VirtualService or route matched */
    STREAM_END_NO_HEALTHY,   /* NH: no endpoint to send to */
    STREAM_END_UP_CONNECT,   /* UC: upstream connect failed */
    STREAM_END_UP_RESET,     /* UR: upstream closed/reset before the response */
    STREAM_END_UP_TIMEOUT,   /* UT: upstream did not answer in time */
    STREAM_END_UP_PROTO,     /* UP: upstream sent an invalid response */
    STREAM_END_UP_ABORT,     /* UA: upstream failed after the response started */
    STREAM_END_DOWN_CLOSE,   /* DC: downstream went away */
    STREAM_END_DIRECT,       /* DR: directResponse */
    STREAM_END_REDIRECT,     /* RD: redirect */
    STREAM_END_INTERNAL,     /* IE: allocation failure */
    STREAM_END_TUNNEL,       /* TU: an upgraded tunnel ended */
    STREAM_END_FAULT,        /* FI: fault injection aborted the request */
    STREAM_END_OVERFLOW,     /* UO: connection pool full and pending queue full */
    STREAM_END_DOWN_TIMEOUT, /* DT: the client stopped sending its request body */
    STREAM_END_CORS,         /* CP: a CORS preflight answered by canaryd */
};

/* What of a response went to the client. */
enum stream_resp {
    STREAM_RESP_NONE = 0, /* nothing yet: a local answer can still be given */
    STREAM_RESP_RELAYED,  /* the upstream's final head was written; its body follows */
    STREAM_RESP_LOCAL,    /* canaryd's own answer was written */
};

/* Fault injection's delay of a request. */
enum stream_delay {
    STREAM_DELAY_NONE = 0, /* not delayed */
    STREAM_DELAY_WAITING,  /* ev_retry is the delay, not a retry backoff */
    STREAM_DELAY_DONE,     /* delayed, and the delay is over (counted as such) */
};

struct stream {
    struct sess *sess; /* borrowed: owner */
    struct wconf *wc;  /* pin: nstreams counted */
    struct buf head;   /* owned copy of the request head; req points into it */
    struct h1_msg req;
    const struct conf_listener *cl; /* borrowed: wc->conf */
    const struct conf_vs *vs;       /* borrowed: wc->conf */
    const struct conf_route *route; /* borrowed: wc->conf */
    const struct conf_dest *dest;   /* borrowed: wc->conf */
    const struct conf_endpoint *ep; /* borrowed: wc->conf */
    struct upconn *up;              /* owned while leased */
    const struct pool_ep *pe;       /* borrowed: worker's pool (lives as long as it) */
    /* the client's side: its protocol, that protocol's state for this
     * request, and how the request body arrives */
    const struct http_down_proto *down; /* borrowed: a static table (the session's) */
    void *dside;                        /* borrowed: &h1d */
    struct h1_down h1d;
    struct http_body_desc req_body;
    bool req_done;
    bool req_expect;
    /* response */
    enum stream_resp resp; /* what of the response went to the client */
    bool resp_done;
    bool is_up_eof;      /* the upstream closed cleanly (end of a close-delimited body) */
    bool resp_keepalive; /* upstream connection reusable after this response */
    bool is_head;
    bool is_upgrade;
    enum h1_framing resp_framing;
    uint64_t resp_left;
    struct h1_chunked resp_chunk;
    uint16_t status;
    uint8_t tries;
    uint64_t tried;                    /* bit i: cluster endpoint i was tried */
    struct health_cluster *retry_slot; /* borrowed: process-lifetime cluster state whose
                                          maxRetries slot this stream holds; NULL = none */
    enum stream_end end;
    uint64_t start_us;
    uint64_t up_start_us;
    uint64_t up_end_us;
    uint64_t bytes_in;
    uint64_t bytes_out;
    struct event ev_tmo;       /* route timeout */
    struct event ev_try;       /* perTryTimeout */
    struct event ev_retry;     /* retry backoff, or a fault delay */
    struct buf replay;         /* owned: request body bytes kept for a retry */
    bool replay_on;            /* this request's body is kept for retries */
    bool replay_ok;            /* replay holds the whole body sent so far */
    enum stream_delay delay;   /* fault injection's delay of this request */
    bool is_pending;           /* waiting in the worker's queue for a connection */
    bool is_fresh_only;        /* a pooled connection failed: the next try opens a new one */
    bool is_mirrored;          /* mirror copies were started (first try only) */
    struct mirror *mirrors[4]; /* weak: cleared by mirror_detach */
    uint8_t nmirrors;
    uint8_t cors; /* enum cors_verdict of the request (route's corsPolicy) */
    uint32_t cors_origin_len;
    const char *cors_origin;  /* borrowed: head; the Origin echoed when cors is ALLOWED */
    struct stream *pend_next; /* worker's pending queue, its ended list, or its free list */
    bool is_ended;            /* ended: recycled at the end of the loop pass */
    char request_id[40];
    uint32_t request_id_len;
};

struct worker {
    int id;
    pthread_t thread;
    struct event_base *base; /* owned */
    struct lb_rng rng;
    struct lsn *lsns;      /* owned list */
    struct sess *sessions; /* owned list */
    /* Closed this pass, freed at its end: a session or upstream connection
     * that ends inside a callback stays valid memory until nothing on the
     * stack can point at it any more. */
    struct sess *reap_sess;      /* owned list (reap_next) */
    struct upconn *reap_up;      /* owned list (reap_next) */
    struct stream *reap_streams; /* owned list (pend_next): streams that ended */
    uint32_t nsessions;
    struct wconf *wc;      /* owned: current pin */
    struct wconf *retired; /* owned: older pins with streams left */
    uint64_t gen_seen;
    struct pool pool;
    struct buf_cache bufs;
    struct metric_shard *metrics; /* owned */
    struct log_buf *alog;         /* owned */
    struct event ev_notify;
    int notify_fd; /* eventfd */
    struct event ev_tick;
    struct event ev_pending;     /* run the pending queue (a connection was freed) */
    struct stream *pend_head;    /* streams waiting for a connection (maxConnections) */
    struct stream *free_streams; /* owned: recycled stream objects (linked by pend_next) */
    uint32_t nfree_streams;
    struct mirror *mirrors; /* owned list: mirror copies in flight */
    uint32_t nmirrors;
    /* Output queued during one pass of the loop, written together at its end
     * (conn_sendq_flush): one system call for all of it through io_uring. */
    struct conn_sendq sendq;
    bool is_draining;
    bool is_stopping;
    _Atomic bool stop_req;         /* stop asked from another thread (no memory for a command) */
    _Atomic uint64_t heartbeat_ms; /* last tick of this worker's loop (liveness) */
    char scratch[H1_MAX_HEAD];     /* header joins for routing */
};

#endif /* CANARYD_PROXY_TYPES_H */
