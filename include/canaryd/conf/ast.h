/*
 * ast.h: YAML documents as a generic node tree with file:line:col on every node.
 * ast.c turns libyaml events into scalars, sequences and mappings; it knows
 * nothing of Istio or proxies. The whole tree lives in one arena and is freed
 * with it once conf.c has compiled it. Library module: never logs, reports
 * through a diag_list.
 */
#ifndef CANARYD_AST_H
#define CANARYD_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct diag_list;

enum ast_type {
    AST_SCALAR = 0,
    AST_SEQ,
    AST_MAP,
};

struct ast_loc {
    const char *file; /* borrowed: the ast_set's arena */
    int line;         /* 1-based */
    int col;          /* 1-based */
};

struct ast_node;

struct ast_pair {
    struct ast_node *key; /* borrowed: arena; always a scalar */
    struct ast_node *val; /* borrowed: arena */
};

/* 48 bytes: one per scalar, list and map of every document, so kept small.
 * Counts are 32-bit (a file is at most AST_MAX_FILE_BYTES). items and pairs
 * share storage: read the one that matches type (the other count is 0). */
struct ast_node {
    struct ast_loc loc;
    /* AST_SCALAR */
    const char *str; /* borrowed: arena; NUL-terminated (len excludes the NUL); NULL
                        for a list or a map */
    union {
        struct ast_node **items; /* AST_SEQ; borrowed: arena */
        struct ast_pair *pairs;  /* AST_MAP; borrowed: arena. Keys are scalars, unique (a
                                    duplicate key is a diagnostic) */
    };
    uint32_t len;    /* AST_SCALAR */
    uint32_t nitems; /* AST_SEQ; 0 otherwise */
    uint32_t npairs; /* AST_MAP; 0 otherwise */
    uint8_t type;    /* enum ast_type */
    bool is_plain;   /* unquoted scalar: may be a number, bool or null */
};

struct ast_doc {
    struct ast_node *root; /* borrowed: arena; NULL for an empty document */
    struct ast_loc loc;    /* where the document starts */
};

struct ast_file {
    const char *path; /* borrowed: arena; as given or as found in a directory */
    unsigned char sha256[32];
    size_t size;
};

/* Receives each document of a streamed load as soon as it is complete (see
 * ast_set.on_doc). The tree is valid during the call only: it is freed when
 * the callback returns. Locations (loc.file) stay valid until ast_set_fini. */
typedef void ast_doc_fn(void *ctx, const struct ast_doc *doc);

struct ast_set {
    struct arena *arena;  /* owned: file records, and the documents of a loaded set */
    struct ast_doc *docs; /* borrowed: arena; empty when streaming */
    size_t ndocs;
    struct ast_file *files; /* borrowed: arena */
    size_t nfiles;
    /* Streaming: when on_doc is set, loading hands each document to on_doc and
     * then frees its nodes, so memory holds one document at a time instead of
     * the whole set. Set both after ast_set_init, before loading. */
    ast_doc_fn *on_doc;
    void *on_doc_ctx;        /* borrowed: on_doc's first argument */
    struct arena *doc_arena; /* private to ast.c: nodes of the document being streamed */
    size_t docs_cap;         /* private to ast.c: capacity of docs */
    size_t files_cap;        /* private to ast.c: capacity of files */
};

#define AST_MAX_FILE_BYTES (16u * 1024u * 1024u) /* larger files are an error */
#define AST_MAX_DEPTH 64                         /* deeper nesting is an error */

/* Initialises an empty set with a fresh arena; returns 0 or -1 on allocation
 * failure. */
int ast_set_init(struct ast_set *set);

/* Frees the arenas and every node, document and file record. */
void ast_set_fini(struct ast_set *set);

/* Loads path into set. A regular file is parsed as a multi-document YAML
 * stream; a directory contributes every "*.yaml" / "*.yml" entry in it sorted by
 * name (byte order), skipping names that begin with '.' (so a Kubernetes
 * ConfigMap volume, whose visible entries are symlinks into "..data/", loads
 * each file once); entries are followed through symlinks; subdirectories are
 * not descended. YAML syntax errors, unreadable files, duplicate mapping keys,
 * aliases/anchors and tags other than the core schema are recorded in diags
 * with their location. Returns 0 when the path was loaded without error, -1
 * otherwise (diagnostics say why). Documents already loaded stay in set.
 * When set->on_doc is set, every complete document is handed to it, in order,
 * before loading goes on (synchronously, from inside this call); a document cut
 * short by a syntax error is not. */
int ast_load_path(struct ast_set *set, const char *path, struct diag_list *diags);

/* Same as ast_load_path but parses an in-memory buffer named name (used by the
 * fuzzer and the tests). */
int ast_load_buffer(struct ast_set *set, const char *name, const char *buf, size_t len,
                    struct diag_list *diags);

/* Returns a deep copy of the tree under n in arena a (strings included;
 * locations still point at the set's file names, so the copy must not outlive
 * the set), or NULL on allocation failure. For the few subtrees a consumer of
 * a streamed load must keep after the callback returns. */
struct ast_node *ast_node_clone(struct arena *a, const struct ast_node *n);

/* Returns the value mapped to key in map node m, or NULL (also when m is not a
 * map). */
struct ast_node *ast_map_get(const struct ast_node *m, const char *key);

/* True when n is a plain scalar null ("", "~", "null", "Null", "NULL"). */
bool ast_is_null(const struct ast_node *n);

/* What a scalar is under the YAML 1.2 core schema. */
enum ast_scalar_kind {
    AST_S_STR = 0, /* quoted, or plain text that is none of the below */
    AST_S_NULL,    /* plain "", "~", "null", "Null", "NULL" */
    AST_S_BOOL,    /* plain true/True/TRUE/false/False/FALSE */
    AST_S_INT,     /* plain [-+]?[0-9]+ */
    AST_S_FLOAT,   /* plain decimal with a fraction or exponent, .inf, .nan */
};

/* Classifies scalar n (AST_S_STR for a non-scalar). */
enum ast_scalar_kind ast_scalar_kind(const struct ast_node *n);

/* Returns "a map", "a list", "a string", "an integer", "a number", "a boolean"
 * or "null": what n is under the YAML 1.2 core schema (a quoted scalar is
 * always a string). For messages such as "expected an integer, got a string". */
const char *ast_type_name(const struct ast_node *n);

#endif /* CANARYD_AST_H */
