/*
 * conf.h: the compiled, immutable, refcounted configuration snapshot.
 * conf.c loads Istio networking YAML (ServiceEntry, DestinationRule,
 * VirtualService, Gateway) through ast.c, validates it against schema tables,
 * reports every problem with file:line:col, and compiles it into the structures
 * below: names resolved to pointers, regexes compiled, weights turned into
 * cumulative tables, host tables hashed. The data plane reads a snapshot
 * without locks and never looks anything up by name; a stream pins the
 * snapshot it started with (conf_ref) and drops it when it ends (conf_unref).
 *
 * Every pointer inside a struct conf is owned by the snapshot (its arena) unless
 * said otherwise. Strings are NUL-terminated and also carry their length.
 * Durations are in milliseconds; 0 means "not set" unless said otherwise.
 * Percentages are in parts per million (Istio's percentage.value * 10000).
 */
#ifndef CANARYD_CONF_H
#define CANARYD_CONF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "canaryd/core/match.h"

struct arena;
struct diag_list;
struct dns_entry;
struct health_cluster;
struct health_ep;

#define CONF_PPM_ALL 1000000u

/* ---- DestinationRule traffic policy ---- */

enum lb_policy {
    LB_ROUND_ROBIN = 0,
    LB_LEAST_REQUEST,
    LB_RANDOM,
    LB_HASH, /* consistentHash */
};

/* What a hash (consistentHash, or the canaryd.io/split-key annotation) reads. */
enum conf_key_src {
    CONF_KEY_NONE = 0,
    CONF_KEY_HEADER,    /* name: lower-case header name */
    CONF_KEY_COOKIE,    /* name: cookie name, case-sensitive */
    CONF_KEY_SOURCE_IP, /* no name */
    CONF_KEY_QUERY,     /* name: query parameter name, case-sensitive */
};

struct conf_key {
    enum conf_key_src src;
    const char *name; /* NULL for NONE and SOURCE_IP */
    size_t name_len;
    const char *cookie_path; /* consistentHash.httpCookie.path; NULL = not set */
    uint32_t cookie_ttl_ms;  /* consistentHash.httpCookie.ttl; 0 = not set */
};

struct conf_conn_pool {
    uint32_t max_connections;       /* tcp.maxConnections; 0 = unlimited */
    uint32_t connect_timeout_ms;    /* tcp.connectTimeout; 0 = --connect-timeout */
    uint32_t max_pending;           /* http.http1MaxPendingRequests; 0 = unlimited */
    uint32_t max_requests_per_conn; /* http.maxRequestsPerConnection; 0 = unlimited */
    uint32_t idle_timeout_ms;       /* http.idleTimeout; 0 = default */
    uint32_t max_retries;           /* http.maxRetries: retries outstanding at once in the
                                       cluster, all workers; 0 = unlimited (Istio's default) */
};

struct conf_outlier {
    bool enabled;                  /* outlierDetection present */
    uint32_t consecutive_5xx;      /* consecutive5xxErrors; 0 = off */
    uint32_t consecutive_gateway;  /* consecutiveGatewayErrors; 0 = off */
    uint32_t interval_ms;          /* default 10000 */
    uint32_t base_ejection_ms;     /* default 30000 */
    uint32_t max_ejection_percent; /* default 10 */
    uint32_t min_health_percent;   /* default 0 */
    /* Deprecated consecutiveErrors N, as Istio maps it: consecutive_gateway = N and
     * consecutive_5xx = 0, unless consecutiveGatewayErrors / consecutive5xxErrors are
     * written too (they win, whatever the order). */
    uint32_t consecutive_errors; /* 0 = not written */
    bool has_5xx;                /* consecutive5xxErrors written */
    bool has_gateway;            /* consecutiveGatewayErrors written */
};

/* Slow start (loadBalancer.warmup, or the older warmupDurationSecs): an endpoint
 * that appeared after start-up takes weight * max(min_weight, t ^ (1 / aggression))
 * with t = age / window, until its age reaches the window. ROUND_ROBIN and
 * LEAST_REQUEST only. */
struct conf_warmup {
    uint32_t window_ms; /* effective window; 0 = off */
    double min_weight;  /* warmup.minimumPercent / 100; default 0.1 */
    double aggression;  /* warmup.aggression; default 1.0, >= 1 */
    /* Parse-time parts, resolved into the above once the loadBalancer map is walked. */
    uint32_t duration_ms; /* warmup.duration */
    uint32_t legacy_ms;   /* warmupDurationSecs */
    bool has_warmup;      /* warmup written: it wins over warmupDurationSecs */
};

struct conf_policy {
    enum lb_policy lb;
    struct conf_key hash; /* valid when lb == LB_HASH */
    struct conf_warmup warmup;
    struct conf_conn_pool pool;
    struct conf_outlier outlier;
};

/* ---- clusters and endpoints ---- */

struct conf_endpoint {
    const char *address; /* IP literal, or DNS name when is_dns */
    size_t address_len;
    uint16_t port;
    uint32_t weight; /* ServiceEntry endpoint weight; default 1 */
    bool is_dns;
    struct sockaddr_storage sa; /* valid when !is_dns */
    socklen_t salen;
    uint32_t index;           /* dense, unique in the snapshot: index into per-worker arrays */
    struct dns_entry *dns;    /* borrowed: process-lifetime resolver state for is_dns
                                 endpoints, attached by dns_attach() before the snapshot is
                                 published; NULL otherwise (and always under -t) */
    struct health_ep *health; /* borrowed: process-lifetime outlier state, attached by
                                 health_attach() before publishing; NULL under -t */
    uint64_t warm_since_ms;   /* monotonic ms (clock_mono_ms) at which canaryd first saw
                                 this endpoint after start-up, set by health_attach() before
                                 publishing; 0 = present at start-up (never warmed) */
};

/* A cluster is what a route destination names: (host, subset, port). */
struct conf_cluster {
    const char *name;   /* "subset|port|host" style stable key for logs and pools */
    const char *host;   /* destination host as written (lower case) */
    const char *subset; /* NULL when the destination names no subset */
    uint16_t port;
    struct conf_policy policy;  /* host-level policy merged with the subset's */
    struct conf_endpoint **eps; /* borrowed pointers into conf->endpoints */
    size_t neps;
    bool is_dns;               /* no ServiceEntry (a DNS name) or resolution: DNS */
    uint32_t index;            /* dense index in conf->clusters */
    struct health_cluster *rt; /* borrowed: process-lifetime connection accounting, attached
                                  by health_attach() before publishing; NULL under -t */
};

/* ---- VirtualService routes ---- */

struct conf_hdr_kv {
    const char *name; /* lower case */
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct conf_hdr_ops {
    struct conf_hdr_kv *set;
    size_t nset;
    struct conf_hdr_kv *add;
    size_t nadd;
    struct conf_hdr_kv *remove; /* value unused */
    size_t nremove;
};

struct conf_headers {
    struct conf_hdr_ops request;
    struct conf_hdr_ops response;
};

struct conf_hdr_match {
    const char *name; /* lower case header name, or query parameter name */
    size_t name_len;
    struct match m;
    bool invert; /* withoutHeaders: matches when the header is absent or m fails */
};

/* One entry of match[]: every field set must hold (AND). NULL = any. */
struct conf_match {
    const char *name;  /* may be NULL */
    struct match *uri; /* path without the query string */
    struct match *scheme;
    struct match *method;
    struct match *authority;
    struct conf_hdr_match *headers; /* headers and withoutHeaders (invert) */
    size_t nheaders;
    struct conf_hdr_match *query; /* queryParams: first value of the parameter */
    size_t nquery;
    uint16_t port; /* 0 = any */
    bool never;    /* sourceLabels or sourceNamespace name another workload than canaryd
                      (--labels, --namespace): the entry never holds */
    /* match[].gateways as a Gateway set (see conf_vhost.gateways): the entry holds only
     * for requests whose host binding carries one of them. NULL = not written (the
     * VirtualService's own gateways apply, through the listeners it is bound to). */
    const uint64_t *gateways;
};

enum conf_retry_on {
    RETRY_ON_CONNECT_FAILURE = 1u << 0,
    RETRY_ON_REFUSED_STREAM = 1u << 1,
    RETRY_ON_RESET = 1u << 2,
    RETRY_ON_5XX = 1u << 3,
    RETRY_ON_GATEWAY_ERROR = 1u << 4,
    RETRY_ON_RETRIABLE_4XX = 1u << 5,
    RETRY_ON_STATUS_CODES = 1u << 6, /* retriable-status-codes and bare codes */
};

struct conf_retries {
    bool is_set;       /* retries present in YAML; else the Istio mesh default */
    uint32_t attempts; /* retries after the first try; 0 disables */
    uint32_t per_try_timeout_ms;
    uint32_t on;     /* enum conf_retry_on bits */
    uint16_t *codes; /* bare status codes in retryOn */
    size_t ncodes;
    bool ignore_previous_hosts; /* default true in canaryd */
};

struct conf_fault {
    bool has_delay;
    uint32_t delay_ms;
    uint32_t delay_ppm;
    bool has_abort;
    uint16_t abort_status;
    uint32_t abort_ppm;
};

struct conf_mirror {
    struct conf_cluster *cluster; /* borrowed: conf */
    uint32_t ppm;                 /* share of requests mirrored; default all */
};

struct conf_rewrite {
    const char *uri; /* replaces the matched prefix (or the whole path); NULL = none */
    size_t uri_len;
    const char *authority; /* NULL = keep Host */
    size_t authority_len;
};

struct conf_redirect {
    const char *uri; /* NULL = keep path */
    size_t uri_len;
    const char *authority; /* NULL = keep */
    size_t authority_len;
    const char *scheme; /* NULL = keep */
    uint16_t port;      /* 0 = keep */
    uint16_t status;    /* redirectCode, default 301 */
};

struct conf_direct {
    uint16_t status;
    const char *body; /* may be NULL */
    size_t body_len;
};

/* http[].corsPolicy, as Istio hands it to Envoy's CORS filter: list fields
 * joined with ",", maxAge in whole seconds. The data plane's decisions are
 * cors.c's. */
struct conf_cors {
    struct match **origins; /* allowOrigins, or allowOrigin as exact matches; entries
                               borrowed: conf arena (regexes released by conf_free) */
    size_t norigins;
    bool is_any_origin;        /* an entry matches "*" itself: every origin is allowed */
    const char *allow_methods; /* NULL = not set */
    size_t allow_methods_len;
    const char *allow_headers; /* NULL = not set; "*" echoes Access-Control-Request-Headers */
    size_t allow_headers_len;
    const char *expose_headers; /* NULL = not set */
    size_t expose_headers_len;
    const char *max_age; /* decimal seconds; NULL = not set */
    size_t max_age_len;
    bool allow_credentials;
    bool forward_unmatched; /* unmatchedPreflights FORWARD (the default), else IGNORE */
};

enum conf_action {
    CONF_ACTION_FORWARD = 0,
    CONF_ACTION_REDIRECT,
    CONF_ACTION_DIRECT,
};

struct conf_dest {
    struct conf_cluster *cluster; /* borrowed: conf */
    uint32_t weight;
    struct conf_headers headers; /* destination-level headers */
};

struct conf_vs;

struct conf_route {
    const char *name;           /* http[].name, or "route-N" (N = index) when unnamed */
    struct conf_vs *vs;         /* borrowed: conf */
    uint32_t index;             /* dense index in conf (all routes of all VS) */
    struct conf_match *matches; /* OR'ed; nmatches == 0 is a catch-all */
    size_t nmatches;
    enum conf_action action;
    struct conf_dest *dests; /* FORWARD */
    size_t ndests;
    /* Subset pick: dest i is chosen for a draw r in [cum_weight[i-1], cum_weight[i]),
     * r uniform in [0, total_weight). Zero-weight dests have empty ranges. */
    uint32_t *cum_weight;
    uint32_t total_weight;
    uint32_t timeout_ms;
    struct conf_retries retries;
    struct conf_fault fault;
    struct conf_mirror *mirrors;
    size_t nmirrors;
    struct conf_headers headers; /* route-level headers */
    struct conf_rewrite rewrite;
    struct conf_redirect redirect; /* REDIRECT */
    struct conf_direct direct;     /* DIRECT */
    struct conf_cors *cors;        /* corsPolicy; NULL = none */
};

struct conf_vs {
    const char *name;
    const char *ns; /* metadata.namespace, default "default" */
    const char **hosts;
    size_t nhosts;
    struct conf_route *routes;
    size_t nroutes;
    struct conf_key split_key; /* annotation canaryd.io/split-key; src NONE = random */
    uint32_t index;
};

/* ---- listeners and host tables ---- */

/* Gateway sets are bitsets of conf.gw_words words: bit i is the snapshot's Gateway i
 * (in load order), bit counts.gateways is "mesh", which canaryd serves on --listen. */
#define CONF_GW_HAS(set, i) (((set)[(i) / 64] >> ((i) % 64)) & 1u)

/* What one host of a listener leads to: one virtual host, in Istio's terms. */
struct conf_vhost {
    struct conf_vs *vs;       /* borrowed: conf; NULL when only a tls.httpsRedirect server
                                 names the host (every request is redirected) */
    const uint64_t *gateways; /* the Gateways whose servers on this listener bind the host
                                 to vs (conf.gw_words words); matched by match[].gateways */
    bool https_redirect;      /* a server with tls.httpsRedirect serves the host: every
                                 request gets 301 to https://<Host><path> */
};

struct conf_host_entry {
    const char *host; /* lower case, no port; NULL = empty slot */
    size_t len;
    uint32_t hash;
    const struct conf_vhost *vh; /* borrowed: conf */
};

struct conf_wildcard {
    const char *suffix; /* lower case, with the leading '.', e.g. ".example.com" */
    size_t len;
    const struct conf_vhost *vh; /* borrowed: conf */
};

/* Host header -> VirtualService, for one listener. Exact hosts (including the
 * Kubernetes forms of short names) sit in an open-addressing hash table;
 * wildcards are sorted by suffix length, longest first; star is "*". */
struct conf_vhosts {
    struct conf_host_entry *exact; /* nexact_slots entries, a power of two */
    size_t nexact_slots;
    struct conf_wildcard *wild;
    size_t nwild;
    const struct conf_vhost *star; /* borrowed: conf; NULL = none */
};

struct conf_listener {
    const char *name; /* "gateway/server-port" or "default" for --listen */
    const char *addr; /* as written, e.g. "0.0.0.0:8080" */
    struct sockaddr_storage sa;
    socklen_t salen;
    uint16_t port;
    struct conf_vhosts vhosts;
};

/* ---- the snapshot ---- */

struct conf_source {
    const char *path;
    char sha256_hex[65];
};

struct conf_counts {
    size_t service_entries;
    size_t destination_rules;
    size_t virtual_services;
    size_t gateways;
    size_t routes;
    size_t clusters;
    size_t endpoints;
};

struct conf {
    atomic_uint refcnt;
    uint64_t generation; /* set by whoever activates it (reload) */
    struct arena *arena; /* owned */
    struct conf_listener *listeners;
    size_t nlisteners;
    size_t gw_words; /* words of every Gateway set: ngateways / 64 + 1 (room for "mesh") */
    struct conf_vs *vss;
    size_t nvss;
    struct conf_route **routes; /* every route of every VS, by conf_route.index */
    size_t nroutes;
    struct conf_cluster *clusters;
    size_t nclusters;
    struct conf_endpoint *endpoints;
    size_t nendpoints;
    struct conf_source *sources;
    size_t nsources;
    struct conf_counts counts;
    struct match **regexes; /* every compiled matcher, for conf_free */
    size_t nregexes;
    char *summary;    /* -t output: one line per object, '\n'-separated */
    size_t mem_bytes; /* arena bytes, for the benchmarks */
};

/* One of canaryd's own workload labels (--labels). */
struct conf_label {
    const char *key;   /* borrowed: caller */
    const char *value; /* borrowed: caller */
};

#define CONF_LABELS_MAX 64
/* canaryd's namespace when --namespace is not given: the one objects without
 * metadata.namespace are in. */
#define CONF_DEFAULT_NS "default"

struct conf_opts {
    const char *listen_addr;         /* the --listen address used when no Gateway exists */
    const char *ns;                  /* canaryd's namespace (--namespace): what
                                        sourceNamespace and exportTo compare with; NULL =
                                        CONF_DEFAULT_NS */
    const struct conf_label *labels; /* borrowed: canaryd's labels (--labels), what
                                        match[].sourceLabels compare with; may be NULL */
    size_t nlabels;
};

/* Loads every path (file or directory, see ast_load_path), validates and
 * compiles. All errors and warnings go to diags. Returns a new snapshot with
 * refcount 1, or NULL when any error was recorded (everything built so far is
 * freed). Does no I/O except reading the files. */
struct conf *conf_build(const char *const *paths, size_t npaths, const struct conf_opts *opts,
                        struct diag_list *diags);

/* Same as conf_build for one in-memory YAML buffer named name. */
struct conf *conf_build_buffer(const char *name, const char *buf, size_t len,
                               const struct conf_opts *opts, struct diag_list *diags);

/* Returns c with one more reference. c may be NULL. Thread-safe. */
struct conf *conf_ref(struct conf *c);

/* Drops the reference *cp and sets *cp = NULL; frees the snapshot when it was
 * the last one. *cp may be NULL. Thread-safe. */
void conf_unref(struct conf **cp);

/* Prints the -t summary (one line per object). */
void conf_print_summary(const struct conf *c, FILE *out);

/* Hash of the host table: FNV-1a over the ASCII-lower-cased bytes of
 * s[0..len). The lookup key is the request's Host in lower case without its
 * port (hashing folds case itself, so the caller may hash the raw bytes, but
 * must compare against conf_host_entry.host case-insensitively or lower-case
 * first). Entries of conf_vhosts.exact sit at slot hash & (nexact_slots - 1),
 * then the next slots (linear probing) until an empty slot (host == NULL). */
uint32_t conf_host_hash(const char *s, size_t len);

/* Parses canaryd's labels "k=v,k2=v2" (the --labels form) in place: s is cut
 * at the separators and out[i] points into it. Keys are Kubernetes label keys
 * ([prefix/]name), values label values (may be empty); a key given twice is an
 * error. An empty s gives no labels. Returns 0 with *n set, or -1 with *why set
 * (a static string). */
int conf_labels_parse(char *s, struct conf_label *out, size_t cap, size_t *n, const char **why);

/* True when s is a DNS-1123 label (a Kubernetes namespace name): 1 to 63
 * lower-case letters, digits or '-', starting and ending with a letter or digit. */
bool conf_is_dns_label(const char *s);

/* Parses a listen address "HOST:PORT", "[V6]:PORT" or ":PORT" (HOST an IP
 * literal or "localhost"; empty host = 0.0.0.0) into sa, salen and port. No DNS.
 * Returns 0, or -1 when s is malformed. */
int conf_addr_parse(const char *s, struct sockaddr_storage *sa, socklen_t *salen, uint16_t *port);

#endif /* CANARYD_CONF_H */
