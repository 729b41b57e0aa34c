/*
 * conf_internal.h: shared by the modules of the loader in src/conf only
 * (not part of the conf contract); conf_util.c holds their containers. The loader walks the
 * AST with schema tables into the cf_* objects below (parse-time forms that
 * keep locations for later diagnostics), then conf_compile.c checks them
 * against each other and builds the struct conf snapshot.
 *
 * Memory: documents are streamed (ast_set.on_doc): each one's tree is freed as
 * soon as it has been parsed, so nothing here may point into the AST. Parse-
 * time objects live in the scratch arena (cf_ctx.tmp), freed when the build
 * ends; what the snapshot keeps goes straight to its arena (cf_ctx.a).
 */
#ifndef CANARYD_CONF_INTERNAL_H
#define CANARYD_CONF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "canaryd/conf/ast.h"
#include "canaryd/conf/conf.h"
#include "canaryd/core/diag.h"

struct arena;

#define CF_PATH_MAX 512

/* Where something was written: its node's location and its object path. */
struct cf_where {
    struct ast_loc loc; /* loc.file borrowed: the ast_set's file records */
    const char *path;   /* borrowed: scratch arena; interned (cf_ctx.paths) */
};

/* Growable array of pointers in an arena. */
struct cf_vec {
    void **v; /* borrowed: arena */
    size_t n;
    size_t cap;
};

struct cf_map_slot {
    const char *key; /* borrowed: caller; NULL = empty */
    size_t len;
    uint32_t hash;
    void *val; /* borrowed: caller */
};

/* String -> pointer, open addressing, in an arena. */
struct cf_map {
    struct cf_map_slot *slots; /* borrowed: arena */
    size_t nslots;             /* a power of two, or 0 */
    size_t n;
};

/* The matchers that own a compiled regex, by source text: open addressing,
 * a power of two slots, at most half full. malloc'd (rebuilt as it grows),
 * freed when the build ends. */
struct cf_regexes {
    struct match **slots; /* owned array; each entry borrowed: snapshot arena */
    size_t nslots;
    size_t n;
};

/* A string with the place it was written. */
struct cf_str {
    const char *s; /* borrowed: arena */
    size_t len;
    struct cf_where where;
};

/* match[i].gateways as written. */
struct cf_match_gws {
    struct cf_str *v; /* borrowed: arena */
    size_t n;
    const char *ns; /* borrowed: scratch arena; the namespace the names resolve in (a
                       delegate's, for a spliced route); NULL = the VirtualService's */
};

struct cf_label {
    const char *key; /* borrowed: scratch arena */
    const char *val; /* borrowed: scratch arena */
};

struct cf_labels {
    struct cf_label *v; /* borrowed: arena */
    size_t n;
};

enum cf_kind {
    CF_SE = 0,
    CF_DR,
    CF_VS,
    CF_GW,
    CF_WE,
    CF_NKINDS,
};

struct cf_meta {
    const char *name;    /* borrowed: scratch arena; NULL when missing */
    const char *ns;      /* borrowed: scratch arena; "default" when not written */
    const char *created; /* borrowed: scratch arena; creationTimestamp as Kubernetes writes
                            it (YYYY-MM-DDTHH:MM:SSZ), NULL when not written */
    struct cf_where name_where;
};

/* ---- ServiceEntry ---- */

struct cf_port {
    uint16_t number;
    uint16_t target_port; /* 0 = not written */
    const char *name;     /* borrowed: scratch arena; may be NULL */
    const char *protocol; /* borrowed: scratch arena; may be NULL */
    const char *unusable; /* static: why canaryd cannot route to a port of this protocol
                             (a destination that selects it is an error); NULL = HTTP */
};

struct cf_named_port {
    const char *name; /* borrowed: scratch arena */
    uint16_t number;
};

struct cf_se_ep {
    const char *address;         /* borrowed: scratch arena */
    struct cf_named_port *ports; /* borrowed: arena */
    size_t nports;
    struct cf_labels labels;
    uint32_t weight;      /* default 1 */
    const char *locality; /* borrowed: scratch arena; NULL = not written */
    struct cf_where where;
    struct cf_where addr_where;
};

enum cf_resolution {
    CF_RES_NONE = 0,
    CF_RES_STATIC,
    CF_RES_DNS,
};

/* ServiceEntry.workloadSelector. */
struct cf_selector {
    struct cf_labels labels;
    bool is_set;
    struct cf_where where;
};

enum cf_location {
    CF_LOC_UNSET = 0,
    CF_LOC_EXTERNAL,
    CF_LOC_INTERNAL,
};

struct cf_se {
    struct cf_str *hosts; /* borrowed: arena */
    size_t nhosts;
    struct cf_port *ports; /* borrowed: arena */
    size_t nports;
    int resolution; /* enum cf_resolution; NONE when not written */
    struct cf_where res_where;
    struct cf_se_ep *eps; /* borrowed: arena */
    size_t neps;
    enum cf_location location;
    struct cf_selector selector;
    bool eps_from_hosts; /* resolution NONE, no endpoints: the hosts are resolved */
};

/* ---- DestinationRule ---- */

/* The components of a traffic policy, as Istio merges them: a level that
 * writes one replaces it whole. */
enum {
    CF_POL_LB = 1u << 0,
    CF_POL_POOL = 1u << 1,
    CF_POL_OUTLIER = 1u << 2,
    CF_POL_ALL = CF_POL_LB | CF_POL_POOL | CF_POL_OUTLIER,
};

/* One portLevelSettings item. */
struct cf_port_policy {
    uint16_t port;
    unsigned set;          /* CF_POL_*: the components written */
    struct conf_policy p;  /* the components written; the others keep their defaults */
    struct cf_where where; /* the item */
    struct cf_where port_where;
};

/* A trafficPolicy (host or subset level), parsed on its own from defaults. */
struct cf_policy {
    unsigned set; /* CF_POL_*: the components written */
    struct conf_policy p;
    struct cf_port_policy *ports; /* borrowed: scratch arena; portLevelSettings */
    size_t nports;
    struct cf_where where; /* the trafficPolicy map */
};

struct cf_subset {
    const char *name; /* borrowed: scratch arena */
    struct cf_labels labels;
    const struct cf_policy *policy; /* borrowed: scratch arena; NULL = none */
    struct cf_where where;
};

/* workloadSelector {matchLabels} (DestinationRule). */
struct cf_dr_selector {
    bool is_set;
    struct cf_labels labels;
    struct cf_where where;
};

struct cf_dr {
    const char *host; /* borrowed: scratch arena; lower case */
    struct cf_where host_where;
    const struct cf_policy *policy; /* borrowed: scratch arena; NULL = none */
    struct cf_subset *subsets;      /* borrowed: arena */
    size_t nsubsets;
    struct cf_dr_selector selector;
};

/* ---- VirtualService ---- */

struct cf_destref {
    const char *host;             /* borrowed: scratch arena; lower case */
    const char *subset;           /* borrowed: scratch arena; NULL = none */
    uint16_t port;                /* 0 = not written */
    struct cf_where where;        /* the destination map */
    struct cf_where subset_where; /* the subset scalar */
    struct cf_where port_where;
    uint32_t cluster; /* set by conf_compile.c */
};

struct cf_dest {
    struct cf_destref ref;
    uint32_t weight;
    bool has_weight;
    struct conf_headers *headers; /* borrowed: scratch arena; NULL = none written */
};

struct cf_mirror {
    struct cf_destref ref;
    uint32_t ppm;
};

enum {
    CF_ACT_ROUTE = 1u << 0,
    CF_ACT_REDIRECT = 1u << 1,
    CF_ACT_DIRECT = 1u << 2,
    CF_ACT_DELEGATE = 1u << 3,
};

/* The parts of one match[] entry that only the loader needs (sourceLabels and
 * sourceNamespace decide conf_match.never at once; delegation merges them). */
struct cf_msrc {
    struct cf_labels labels; /* sourceLabels */
    const char *ns;          /* borrowed: scratch arena; sourceNamespace; NULL = any */
    bool ignore_case;        /* ignoreUriCase: true */
};

/* http[].delegate: the VirtualService (without hosts) this route hands over to. */
struct cf_delegate {
    const char *name; /* borrowed: scratch arena */
    const char *ns;   /* borrowed: scratch arena; NULL = the root's namespace */
    struct cf_where where;
};

/* The route table (conf_kinds.c) is walked with the snapshot's conf_route as
 * its object; the handlers for the parse-time parts reach this through
 * cf_ctx.route. */
struct cf_route {
    struct conf_route *r;  /* borrowed: snapshot arena (cf_vs.out[i]); the parts the
                              schema fills; compile fills the rest */
    struct cf_dest *dests; /* borrowed: scratch arena */
    size_t ndests;
    struct cf_mirror *mirror;  /* borrowed: scratch arena; mirror (+ mirrorPercentage);
                                  NULL = none */
    struct cf_mirror *mirrors; /* borrowed: scratch arena; mirrors[] */
    size_t nmirrors;
    uint32_t mirror_ppm; /* mirrorPercentage, valid when has_mirror_ppm */
    bool has_mirror_ppm;
    unsigned actions; /* CF_ACT_* */
    struct cf_where where;
    struct cf_msrc *msrc;           /* borrowed: scratch arena; one per r->matches[i]; NULL
                                       when match is not written */
    struct cf_delegate *delegate;   /* borrowed: scratch arena; NULL = none */
    const struct cf_obj *from;      /* borrowed: the delegate VirtualService a spliced route
                                       was written in (its namespace resolves short hosts);
                                       NULL = written in the VirtualService it is in */
    struct cf_match_gws *match_gws; /* borrowed: scratch arena; one per r->matches[i]; NULL
                                       when no entry names gateways */
};

struct cf_vs {
    struct cf_str *hosts; /* borrowed: snapshot arena (conf_vs.hosts keeps them); lower case */
    size_t nhosts;
    struct cf_str *gateways; /* borrowed: snapshot arena */
    size_t ngateways;
    struct cf_route *routes; /* borrowed: scratch arena */
    struct conf_route *out;  /* borrowed: snapshot arena; nroutes entries, become
                                conf_vs.routes; NULL when http is missing */
    size_t nroutes;
};

/* ---- Gateway ---- */

struct cf_server {
    uint16_t port;
    const char *port_name; /* borrowed: scratch arena; may be NULL */
    const char *protocol;  /* borrowed: scratch arena */
    struct cf_str *hosts;  /* borrowed: arena */
    size_t nhosts;
    const char *bind;      /* borrowed: scratch arena; NULL = 0.0.0.0 */
    const char *name;      /* borrowed: scratch arena; may be NULL */
    struct cf_where where; /* the port map */
    bool https_redirect;   /* tls.httpsRedirect */
};

struct cf_gw {
    struct cf_server *servers; /* borrowed: arena */
    size_t nservers;
};

struct cf_obj {
    enum cf_kind kind;
    bool failed; /* its document had errors: checked no further, and what refers to it
                    gets no follow-up errors */
    struct cf_meta meta;
    struct conf_key split_key; /* canaryd.io/split-key (VirtualService) */
    struct cf_where where;     /* the document */
    struct cf_str *export_to;  /* borrowed: scratch arena; spec.exportTo (VirtualService,
                                  DestinationRule, ServiceEntry); NULL = not written (all) */
    size_t nexport_to;
    union {
        struct cf_se se;
        struct cf_dr dr;
        struct cf_vs vs;
        struct cf_gw gw;
        struct cf_se_ep we; /* WorkloadEntry: the spec is a ServiceEntry endpoint */
    } u;
};

/* ---- the build context ---- */

struct cf_ctx {
    struct conf *conf;             /* borrowed: being built */
    struct arena *a;               /* borrowed: conf->arena, for the snapshot */
    struct arena *tmp;             /* owned: scratch arena, parse-time objects */
    struct diag_list *diags;       /* borrowed: caller's, or parse_diags while streaming */
    struct diag_list *out_diags;   /* borrowed: caller */
    struct diag_list parse_diags;  /* owned: diagnostics of the streamed documents, moved
                                      to out_diags after the AST's (conf.c) */
    const struct conf_opts *opts;  /* borrowed: caller; may be NULL */
    const struct ast_set *set;     /* borrowed: caller; the loaded files */
    struct cf_vec objs[CF_NKINDS]; /* struct cf_obj *, in tmp */
    struct cf_regexes regexes;     /* one compiled regex per distinct pattern */
    struct cf_map paths;           /* interned object paths (cf_where.path), in tmp */
    struct cf_obj *cur;            /* borrowed: object being parsed */
    struct cf_route *route;        /* borrowed: route being parsed, or NULL */
    const char *const *apis;       /* borrowed: static; the apiVersions of the document's kind */
    struct cf_policy *policy;      /* borrowed: trafficPolicy being parsed, or NULL */
    size_t nerrors0;               /* diags->nerrors when the build started */
    char path[CF_PATH_MAX];
    size_t plen;
};

/* ---- schema tables (conf_schema.c) ---- */

/* The YAML shape a field must have. */
enum cf_type {
    CF_T_STR = 0,
    CF_T_INT,
    CF_T_NUM,
    CF_T_BOOL,
    CF_T_MAP,
    CF_T_SEQ,
    CF_T_ANY,
};

/* What the walker does with a field's value. The storage a handler may write
 * is fixed by the entry's kind: a slot handler gets the one member the entry
 * names (its offset and size are taken from the member itself, so an entry
 * cannot name storage its object does not have), an object handler gets the
 * table's whole object and names its members in C, a check handler gets no
 * storage at all. */
enum cf_store {
    CF_ST_SLOT = 0, /* fn.put(slot): the member at off, size bytes */
    CF_ST_OBJ,      /* fn.put(obj): the whole object the table describes */
    CF_ST_CHECK,    /* fn.check: validates, stores nothing */
    CF_ST_ACCEPT,   /* the shape is checked; nothing to do (API-server metadata) */
    CF_ST_WARN,     /* accepted with a warning: why says what canaryd does instead */
    CF_ST_REFUSE,   /* an Istio field canaryd cannot act on: why names what is missing */
};

struct cf_field;
struct cf_table;

/* Handles the value n of field f; p is the slot (CF_ST_SLOT) or the object
 * (CF_ST_OBJ). Returns 0, or -1 after recording a diagnostic. */
typedef int cf_put_fn(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                      void *p);
/* Validates the value n of field f; stores nothing. 0, or -1 after a diagnostic. */
typedef int cf_check_fn(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n);

/* Enum tables for cf_h_enum: names with their values. */
struct cf_enum {
    const char *name; /* NULL ends a table */
    int val;
    const char *refused; /* non-NULL: valid Istio, refused with this reason */
};

struct cf_field {
    const char *key; /* NULL ends a table */
    enum cf_type type;
    enum cf_store store;
    bool required;
    union {
        cf_put_fn *put;     /* CF_ST_SLOT, CF_ST_OBJ */
        cf_check_fn *check; /* CF_ST_CHECK */
    } fn;
    const char *why; /* CF_ST_WARN, CF_ST_REFUSE; CF_ST_CHECK: the warning the check gives
                        once the value is valid (accepted with a warning) */
    size_t off;      /* CF_ST_SLOT: the member's offset */
    size_t size;     /* CF_ST_SLOT: the member's size */
    int64_t min;     /* CF_T_INT bounds */
    int64_t max;
    const struct cf_table *sub;  /* the table the value (a map, or each item of a list) is
                                    walked with; NULL = none */
    const struct cf_enum *enums; /* cf_h_enum's names; NULL = none */
    const char *sample;          /* a valid value in YAML flow style, for the schema tests
                                    and the structure-aware fuzzer; NULL = derived */
};

/* One YAML map's fields and the C object a walk of it fills. */
struct cf_table {
    const char *name; /* the object's C type, for diagnostics and tests */
    size_t size;      /* sizeof the object */
    const struct cf_field *fields;
};

/* Entry builders. st is the table's struct type; mem one of its members,
 * whose type must be T (checked by the compiler: a mismatch does not build). */
#define CF__OFF(st, mem, T) _Generic(((st *)0)->mem, T : offsetof(st, mem))
#define CF__SLOT(st, mem, T) .off = CF__OFF(st, mem, T), .size = sizeof(((st *)0)->mem)

/* A member of type T written by put. */
#define CF_SLOT(k, t, req, put_, st, mem, T)                                                       \
    {                                                                                              \
        .key = k, .type = t, .store = CF_ST_SLOT, .required = req, .fn.put = put_,                 \
        CF__SLOT(st, mem, T)                                                                       \
    }
#define CF_STR(k, req, put_, st, mem) CF_SLOT(k, CF_T_STR, req, put_, st, mem, const char *)
#define CF_BOOL(k, req, st, mem) CF_SLOT(k, CF_T_BOOL, req, cf_h_bool, st, mem, bool)
#define CF_DUR(k, req, st, mem)                                                                    \
    {                                                                                              \
        .key = k, .type = CF_T_STR, .store = CF_ST_SLOT, .required = req, .fn.put = cf_h_dur,      \
        CF__SLOT(st, mem, uint32_t), .sample = "1.5s"                                              \
    }
#define CF_PPM(k, req, st, mem)                                                                    \
    {                                                                                              \
        .key = k, .type = CF_T_MAP, .store = CF_ST_SLOT, .required = req, .fn.put = cf_h_ppm,      \
        CF__SLOT(st, mem, uint32_t), .sub = &cf_pct_tab                                            \
    }
#define CF_U16(k, req, st, mem, lo, hi)                                                            \
    {                                                                                              \
        .key = k, .type = CF_T_INT, .store = CF_ST_SLOT, .required = req, .fn.put = cf_h_u16,      \
        CF__SLOT(st, mem, uint16_t), .min = lo, .max = hi                                          \
    }
#define CF_U32(k, req, st, mem, lo, hi)                                                            \
    {                                                                                              \
        .key = k, .type = CF_T_INT, .store = CF_ST_SLOT, .required = req, .fn.put = cf_h_u32,      \
        CF__SLOT(st, mem, uint32_t), .min = lo, .max = hi                                          \
    }
/* An enum member of type T (an enum type, stored with its own size). */
#define CF_ENUM(k, req, st, mem, T, tab)                                                           \
    {                                                                                              \
        .key = k, .type = CF_T_STR, .store = CF_ST_SLOT, .required = req, .fn.put = cf_h_enum,     \
        CF__SLOT(st, mem, T), .enums = tab                                                         \
    }
/* A struct member of type T walked with table tab (whose size must be T's). */
#define CF_SUB(k, req, st, mem, T, tab)                                                            \
    {                                                                                              \
        .key = k, .type = CF_T_MAP, .store = CF_ST_SLOT, .required = req, .fn.put = cf_h_map,      \
        CF__SLOT(st, mem, T), .sub = &(tab)                                                        \
    }
/* A handler of the whole object; tab (may be NULL) is what it walks the value,
 * or each item of it, with. */
#define CF_OBJ(k, t, req, put_, tab)                                                               \
    {                                                                                              \
        .key = k, .type = t, .store = CF_ST_OBJ, .required = req, .fn.put = put_, .sub = tab       \
    }
#define CF_CHECK(k, t, req, check_)                                                                \
    {                                                                                              \
        .key = k, .type = t, .store = CF_ST_CHECK, .required = req, .fn.check = check_             \
    }
#define CF_ACCEPT(k, t)                                                                            \
    {                                                                                              \
        .key = k, .type = t, .store = CF_ST_ACCEPT                                                 \
    }
#define CF_WARN(k, t, why_)                                                                        \
    {                                                                                              \
        .key = k, .type = t, .store = CF_ST_WARN, .why = why_                                      \
    }
#define CF_REFUSE(k, why_)                                                                         \
    {                                                                                              \
        .key = k, .type = CF_T_ANY, .store = CF_ST_REFUSE, .why = why_                             \
    }
#define CF_END                                                                                     \
    {                                                                                              \
        .key = NULL                                                                                \
    }

/* A table for objects of type T. */
#define CF_TABLE(T, fields_)                                                                       \
    {                                                                                              \
        .name = #T, .size = sizeof(T), .fields = fields_                                           \
    }

/* Walks map n with table tab into obj, an object of tab->size bytes: unknown
 * fields (with a suggestion), refused fields, wrong types and missing required
 * fields are reported, warnings given. Returns 0 when nothing was wrong, else
 * -1. */
int cf_walk(struct cf_ctx *c, const struct ast_node *n, const struct cf_table *tab, void *obj);

/* cf_walk for an object whose type the compiler knows: checks its size. */
#define CF_WALK(c, n, tab, objp) cf_walk_sized(c, n, tab, objp, sizeof(*(objp)))
int cf_walk_sized(struct cf_ctx *c, const struct ast_node *n, const struct cf_table *tab, void *obj,
                  size_t size);

/* Path helpers: push returns a mark for cf_path_pop. */
size_t cf_path_key(struct cf_ctx *c, const char *key);
size_t cf_path_idx(struct cf_ctx *c, size_t i);
void cf_path_pop(struct cf_ctx *c, size_t mark);
/* The current path and n's location, copied to the scratch arena. */
struct cf_where cf_where_here(struct cf_ctx *c, const struct ast_node *n);

void cf_err(struct cf_ctx *c, const struct ast_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cf_warn(struct cf_ctx *c, const struct ast_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cf_err_at(struct cf_ctx *c, const struct cf_where *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cf_warn_at(struct cf_ctx *c, const struct cf_where *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records an allocation failure; returns -1. */
int cf_oom(struct cf_ctx *c);
/* True when errors were recorded since the build started. */
bool cf_failed(const struct cf_ctx *c);

/* Slot handlers (CF_ST_SLOT); each names the slot type it writes. */
int cf_h_str(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
             void *p); /* const char *, snapshot arena */
int cf_h_lstr(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
              void *p); /* const char *, lower case, snapshot arena */
int cf_h_tstr(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
              void *p); /* const char *, scratch arena */
int cf_h_tlstr(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
               void *p); /* const char *, lower case, scratch arena */
int cf_h_u16(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
             void *p); /* uint16_t */
int cf_h_u32(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
             void *p); /* uint32_t */
int cf_h_bool(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
              void *p); /* bool */
int cf_h_dur(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
             void *p); /* uint32_t milliseconds */
int cf_h_ppm(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
             void *p); /* uint32_t parts per million, from {value: PERCENT} */
int cf_h_enum(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
              void *p); /* an enum of f->size bytes */
int cf_h_map(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
             void *p); /* a struct walked with f->sub */
int cf_h_labels(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                void *p); /* struct cf_labels */
int cf_h_match(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
               void *p); /* struct match *, a StringMatch */
int cf_h_cors(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
              void *p); /* struct conf_cors *, a corsPolicy walked with cf_cors_tab */

/* Object handlers of conf_scope.c: match[].sourceLabels and sourceNamespace
 * (obj: the struct conf_match being walked, in c->route), spec.exportTo (any
 * kind's spec; stored in c->cur). */
int cf_h_source_labels(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                       void *obj);
int cf_h_source_ns(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj);
int cf_h_export_to(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj);

/* True when o is exported to namespace ns (spec.exportTo; none written = all). */
bool cf_exported_to(const struct cf_obj *o, const char *ns);
/* Checks every exportTo and moves the ServiceEntries, DestinationRules and
 * VirtualServices (delegates aside) not exported to canaryd's namespace from
 * c->objs to hidden, warning about each. 0, or -1 on allocation failure. */
int cf_scope_hide(struct cf_ctx *c, struct cf_vec *hidden);
/* canaryd's namespace: --namespace, or CONF_DEFAULT_NS. */
const char *cf_own_ns(const struct cf_ctx *c);

/* ---- delegation (conf_delegate.c) ---- */

/* http[].delegate {name, namespace}: the object handler and its table. */
int cf_h_delegate(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj);
extern const struct cf_table cf_delegate_tab;

/* A VirtualService without hosts and the roots that delegate to it. */
struct cf_dlg {
    struct cf_obj *o;    /* borrowed: scratch arena */
    struct cf_vec roots; /* const struct cf_obj *: the roots splicing its routes */
    bool referenced;     /* named by some delegate (also from a hidden root) */
};

struct cf_delegates {
    struct cf_map by_name; /* "ns/name" -> struct cf_dlg * */
    struct cf_vec all;     /* struct cf_dlg *, in document order */
};

/* Takes the VirtualServices without hosts (delegates) out of c->objs, checks
 * them as Istio does (one level only, no gateways, no regex matches), and
 * splices each delegating route of every root: the delegate's routes in its
 * place, each match merged with the root route's (the delegate's must lie
 * within it), the root route's policy inherited where the delegate's route sets
 * none. hidden: the VirtualServices canaryd does not see (their delegates are
 * not reported unused). Diagnostics as usual; 0, or -1 on allocation failure. */
int cf_delegate_splice(struct cf_ctx *c, const struct cf_vec *hidden, struct cf_delegates *d);

/* -t summary: the spliced routes of root o (" delegated=..."), and a line per
 * delegate. */
void cf_delegate_sum_vs(const struct cf_obj *o, FILE *f);
void cf_delegate_summary(const struct cf_delegates *d, FILE *f);

/* Check handlers (CF_ST_CHECK). */
int cf_check_strmap(struct cf_ctx *c, const struct cf_field *f,
                    const struct ast_node *n); /* every value a string */
int cf_check_enum(struct cf_ctx *c, const struct cf_field *f,
                  const struct ast_node *n); /* one of f->enums */
int cf_check_strs(struct cf_ctx *c, const struct cf_field *f,
                  const struct ast_node *n); /* a list of strings */

/* Every walk of a list of maps: allocates n->nitems elements of tab->size in
 * the scratch arena, calls init (may be NULL) on each, and walks each item
 * with tab. Sets *rc to -1 on any error; returns the array, or NULL on
 * allocation failure. */
void *cf_walk_list(struct cf_ctx *c, const struct ast_node *n, const struct cf_table *tab,
                   void (*init)(void *), int *rc);

/* Value parsers for object handlers, which name their members themselves. */
/* A string with its length in the snapshot arena. */
int cf_parse_strlen(struct cf_ctx *c, const struct ast_node *n, const char **s, size_t *len);
/* A list of strings (lower-cased when lower) into the snapshot arena. */
int cf_parse_strs(struct cf_ctx *c, const struct ast_node *n, bool lower, struct cf_str **v,
                  size_t *nv);
/* A finite decimal number (YAML's .inf and .nan are refused) into *v; -1
 * after a diagnostic. */
int cf_parse_number(struct cf_ctx *c, const struct ast_node *n, double *v);
/* A value of enum table e into *v; -1 after a diagnostic. */
int cf_parse_enum(struct cf_ctx *c, const struct cf_enum *e, const struct ast_node *n, int *v);
/* headers / withoutHeaders / queryParams maps of StringMatch, appended to *v. */
enum cf_hdr_kind {
    CF_HDR_HEADERS = 0,
    CF_HDR_WITHOUT,
    CF_HDR_QUERY,
};
int cf_parse_hdr_matches(struct cf_ctx *c, const struct ast_node *n, enum cf_hdr_kind kind,
                         struct conf_hdr_match **v, size_t *nv);

/* The percentage table ({value: N}), for CF_PPM, and the StringMatch table. */
extern const struct cf_table cf_pct_tab;
extern const struct cf_table cf_string_match_tab;
extern const struct cf_table cf_cors_tab; /* corsPolicy (conf_cors.c) */
/* A corsPolicy member (struct conf_cors *, NULL when not written). */
#define CF_CORS(k, st, mem)                                                                        \
    {                                                                                              \
        .key = k, .type = CF_T_MAP, .store = CF_ST_SLOT, .fn.put = cf_h_cors,                      \
        CF__SLOT(st, mem, struct conf_cors *), .sub = &cf_cors_tab                                 \
    }

/* Every table reachable from the documents, for the schema tests and the
 * structure-aware fuzzer: the document table of each kind. */
struct cf_kind_schema {
    const char *kind;            /* "ServiceEntry", ... */
    const struct cf_table *spec; /* the spec table; NULL for a kind refused whole */
    const char *why;             /* a kind accepted with a warning or refused: the reason */
    bool refused;                /* with why: refused whole (else accepted with a warning) */
};
extern const struct cf_kind_schema cf_kind_schemas[];
extern const size_t cf_nkind_schemas;
/* The spec tables of DestinationRule (conf_policy.c) and VirtualService
 * (conf_vs.c). */
extern const struct cf_table cf_dr_tab;
extern const struct cf_table cf_vs_tab;
/* The document (apiVersion, kind, metadata, spec) and metadata tables. */
extern const struct cf_table cf_doc_tab;
extern const struct cf_table cf_meta_tab;

/* Parses a duration ("1.5s", "250ms", "1m", "1h", "10us", "1h30m") into
 * milliseconds, rounding a non-zero sub-millisecond value up to 1. Returns 0,
 * or -1 with *why set. */
int cf_parse_duration(const char *s, size_t len, uint32_t *ms, const char **why);

/* Lower-cased copy of s[0..len) in arena a, or NULL. */
char *cf_lower_dup(struct arena *a, const char *s, size_t len);

/* The closest of the NULL-terminated keys to s (edit distance), or NULL when
 * none is close enough to be a likely typo. */
const char *cf_suggest(const char *s, const char *const *keys, size_t nkeys);

/* ---- endpoints and WorkloadEntries (conf_endpoints.c) ---- */

/* cf_parse_enum, the name compared without regard to case (port protocols). */
int cf_parse_enum_nocase(struct cf_ctx *c, const struct cf_enum *e, const struct ast_node *n,
                         int *v);
/* ServiceEntry fields: workloadSelector, addresses; endpoint locality. */
int cf_h_selector(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                  void *p); /* struct cf_selector */
int cf_check_addresses(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n);
int cf_h_locality(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                  void *p); /* const char *, scratch arena */
extern const struct cf_table cf_selector_tab;
/* The WorkloadEntries by namespace (name -> struct cf_vec of struct cf_obj *), in tmp. */
int cf_workloads_index(struct cf_ctx *c, struct cf_map *by_ns);
/* Gives the ServiceEntry o with a workloadSelector the WorkloadEntries of its namespace
 * that the selector selects, as its endpoints. */
void cf_workloads_select(struct cf_ctx *c, const struct cf_map *by_ns, struct cf_obj *o);

/* ---- utilities (conf_util.c) ---- */

int cf_vec_push(struct arena *a, struct cf_vec *v, void *p);
/* Returns the value for key, or NULL. */
void *cf_map_get(const struct cf_map *m, const char *key, size_t len);
/* Inserts key -> val unless key is present; returns 0 (inserted), 1 (present:
 * *old is set to the existing value) or -1 (allocation failure). key must
 * outlive the map. */
int cf_map_put(struct arena *a, struct cf_map *m, const char *key, size_t len, void *val,
               void **old);
/* The matcher whose regex source is s[0..len), or NULL. */
struct match *cf_regexes_get(const struct cf_regexes *t, const char *s, size_t len);
/* Adds m (its str/len are the key, not present yet); 0, or -1 on allocation
 * failure (m is not added). */
int cf_regexes_add(struct cf_regexes *t, struct match *m);
/* Arena printf. */
char *cf_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the kinds (conf_kinds.c) and the compiler (conf_compile.c) ---- */

/* Parses one document into a cf_obj registered in c->objs. */
void cf_parse_doc(struct cf_ctx *c, const struct ast_doc *doc);

/* Traffic-policy handlers of conf_policy_ext.c (CF_ST_OBJ): loadBalancer.warmup
 * (walked with cf_warmup_tab) and warmupDurationSecs on a conf_policy, then
 * cf_lb_warmup_resolve once a loadBalancer map was walked; consecutive5xxErrors,
 * consecutiveGatewayErrors and the deprecated consecutiveErrors on a conf_outlier,
 * entries built with CF_OUTLIER_COUNT. */
cf_put_fn cf_h_warmup, cf_h_warmup_secs, cf_h_outlier_5xx, cf_h_outlier_gateway,
    cf_h_consecutive_errors;
int cf_lb_warmup_resolve(struct cf_ctx *c, const struct ast_node *n, struct conf_policy *p);
extern const struct cf_table cf_warmup_tab;
#define CF_OUTLIER_COUNT(k, put_)                                                                  \
    {                                                                                              \
        .key = k, .type = CF_T_INT, .store = CF_ST_OBJ, .fn.put = put_, .min = 0, .max = INT32_MAX \
    }

/* conf_gateway_ext.c: a Gateway server's tls (object handler of struct cf_server that
 * walks f->sub, cf_server_tls_tab) and a match entry's gateways (object handler of
 * struct conf_match; the names go to c->route->match_gws). */
extern const struct cf_table cf_server_tls_tab;
int cf_h_server_tls(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p);
int cf_h_match_gateways(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                        void *p);

/* The trafficPolicy table (conf_kinds.c). */
extern const struct cf_table cf_policy_tab;

/* ---- DestinationRule merging and traffic policies (conf_dr.c) ---- */

/* Why upstream TLS settings are refused (trafficPolicy.tls and port level). */
#define CF_TLS_UP_WHY                                                                              \
    "TLS to upstreams needs the TLS support (not yet available); originate TLS behind canaryd"

/* DestinationRule trafficPolicy.tls (host, subset and port level): mode
 * DISABLE (plain text, what canaryd does) is acted on; the TLS modes and the
 * settings that only serve them are refused with CF_TLS_UP_WHY. */
extern const struct cf_table cf_client_tls_tab;
int cf_check_client_tls(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n);
#define CF_CLIENT_TLS(k)                                                                           \
    {                                                                                              \
        .key = k, .type = CF_T_MAP, .store = CF_ST_CHECK, .fn.check = cf_check_client_tls,         \
        .sub = &cf_client_tls_tab                                                                  \
    }

/* A trafficPolicy: parsed into a new struct cf_policy (slot: const struct
 * cf_policy *), components and portLevelSettings noted. */
int cf_h_policy(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p);
/* trafficPolicy.portLevelSettings, into c->policy (object handler). */
int cf_h_port_policies(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                       void *obj);
extern const struct cf_table cf_port_policy_tab;
/* metadata.creationTimestamp into struct cf_meta.created (object handler). */
int cf_h_created(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj);
/* qsort order of struct cf_obj pointers as Istio orders configs: creation time
 * (not written = earliest), then name, then namespace. */
int cf_obj_order(const void *a, const void *b);
/* The policy of a cluster on service port port: host level, then subset
 * level (either may be NULL), each one's portLevelSettings item for the port
 * standing for it whole, a level replacing the components it writes. */
void cf_policy_merge(struct conf_policy *out, const struct cf_policy *host,
                     const struct cf_policy *sub, uint16_t port);
/* The first portLevelSettings item of pol for port, or NULL. */
const struct cf_port_policy *cf_policy_port(const struct cf_policy *pol, uint16_t port);

/* True when have holds every label of want (a subset or selector matches). */
bool cf_labels_select(const struct cf_labels *want, const struct cf_labels *have);

/* Cross-object checks and snapshot construction; 0 or -1. */
int cf_compile(struct cf_ctx *c);

/* The Istio kind name of k ("VirtualService", ...). */
const char *cf_kind_name(enum cf_kind k);

#endif /* CANARYD_CONF_INTERNAL_H */
