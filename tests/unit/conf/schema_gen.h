/*
 * schema_gen.h: builds Istio documents from canaryd's own schema tables, for
 * the table-walk unit test (test_schema.c) and the structure-aware fuzzer
 * (tests/fuzz/fuzz_conf_struct.c). A choice source decides, at every step,
 * which optional fields a map gets, in which order, and whether a value is
 * the field's valid one or a hostile one; the unit test drives it with fixed
 * choices, the fuzzer with its input bytes. Documents are written in YAML flow
 * style, one per "---".
 *
 * Header-only (static functions): included by exactly one test or fuzz target.
 */
#ifndef CANARYD_TESTS_SCHEMA_GEN_H
#define CANARYD_TESTS_SCHEMA_GEN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canaryd/conf/conf_internal.h"

/* ---- output ---- */

struct sg_out {
    char *buf; /* owned; NUL-terminated */
    size_t len;
    size_t cap;
    bool oom;
};

static void
sg_put(struct sg_out *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t ncap = (o->cap ? o->cap * 2 : 1024) + n;
        char *nb = realloc(o->buf, ncap);
        if (nb == NULL) {
            o->oom = true;
            return;
        }
        o->buf = nb;
        o->cap = ncap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void
sg_puts(struct sg_out *o, const char *s)
{
    sg_put(o, s, strlen(s));
}

static void sg_printf(struct sg_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sg_printf(struct sg_out *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        sg_put(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* ---- choices ---- */

/* Bytes decide; once they run out every choice is 0 (the valid, minimal
 * one). */
struct sg_src {
    const uint8_t *p; /* borrowed */
    size_t n;
    size_t i;
    int depth;
    /* The unit test's target: the chain of fields from the spec table down to
     * the field under test (path[d] is a field of the map at depth d). n == 0:
     * the fuzzer's mode, any subset of fields in any order. */
    const struct cf_field *path[16];
    size_t npath;
};

static unsigned
sg_pick(struct sg_src *s, unsigned n)
{
    if (n <= 1 || s->i >= s->n)
        return 0;
    return s->p[s->i++] % n;
}

/* A hostile value of any shape, for the fuzzer's "wrong" choices. */
static const char *const sg_hostile[] = {
    "\"\"",    "-1",
    "0",       "99999999999999999999",
    "{}",      "[]",
    "~",       "true",
    "1.5",     "\"*\"",
    "\"a b\"", "\"\\xff\"",
    "[{}]",    "{a: [1, {b: c}]}",
    "\"0s\"",  "\"-1s\"",
    "\"1ms\"", "\"(a+)+$\"",
    "\"[\"",   "\"h:\"",
};

/* A pool of names, so that references between generated objects resolve. */
static const char *const sg_names[] = {"mobile-api", "v1", "v2", "edge", "reviews", "canary"};

/* ---- values ---- */

static void sg_map(struct sg_out *o, struct sg_src *s, const struct cf_table *t, bool fuzz);

static bool
sg_is_action(const char *key)
{
    return strcmp(key, "route") == 0 || strcmp(key, "redirect") == 0 ||
           strcmp(key, "directResponse") == 0 || strcmp(key, "delegate") == 0;
}

/* The valid value of field f: its sample, an enum name, a table, or one
 * derived from its type and bounds. */
static void
sg_value(struct sg_out *o, struct sg_src *s, const struct cf_field *f, bool fuzz)
{
    /* On the way to the unit test's target: always through the sub-table. */
    bool on_path = s->npath > (size_t)s->depth && s->path[s->depth - 1] == f && f->sub != NULL;
    if (on_path && f->type == CF_T_MAP) {
        sg_map(o, s, f->sub, fuzz);
        return;
    }
    if (on_path && f->type == CF_T_SEQ) {
        sg_puts(o, "[");
        sg_map(o, s, f->sub, fuzz);
        sg_puts(o, "]");
        return;
    }
    if (fuzz && sg_pick(s, 8) == 7) {
        sg_puts(o, sg_hostile[sg_pick(s, sizeof(sg_hostile) / sizeof(sg_hostile[0]))]);
        return;
    }
    if (f->enums != NULL) {
        size_t n = 0, ok = 0;
        while (f->enums[n].name != NULL)
            n++;
        unsigned k = sg_pick(s, (unsigned)n);
        for (size_t j = 0; j < n; j++) {
            const struct cf_enum *e = &f->enums[(k + j) % n];
            if (e->refused == NULL || fuzz) {
                sg_puts(o, e->name);
                return;
            }
            ok++;
        }
        (void)ok;
        sg_puts(o, f->enums[0].name);
        return;
    }
    if (f->sample != NULL) {
        sg_puts(o, f->sample);
        return;
    }
    switch (f->type) {
    case CF_T_STR:
    case CF_T_ANY:
        sg_puts(o, sg_names[sg_pick(s, sizeof(sg_names) / sizeof(sg_names[0]))]);
        return;
    case CF_T_INT: {
        int64_t lo = f->min, hi = f->max > f->min ? f->max : f->min + 1;
        int64_t v[] = {lo, hi, lo + (hi - lo) / 2, lo + 1 <= hi ? lo + 1 : lo};
        sg_printf(o, "%lld", (long long)v[sg_pick(s, 4)]);
        return;
    }
    case CF_T_NUM:
        sg_puts(o, sg_pick(s, 2) ? "50" : "0.5");
        return;
    case CF_T_BOOL:
        sg_puts(o, sg_pick(s, 2) ? "false" : "true");
        return;
    case CF_T_MAP:
        if (f->sub != NULL && s->depth < 12)
            sg_map(o, s, f->sub, fuzz);
        else
            sg_puts(o, "{version: v1}");
        return;
    case CF_T_SEQ:
        sg_puts(o, "[");
        if (f->sub != NULL && s->depth < 12) {
            unsigned items = 1 + sg_pick(s, 2);
            for (unsigned i = 0; i < items; i++) {
                if (i > 0)
                    sg_puts(o, ", ");
                sg_map(o, s, f->sub, fuzz);
            }
        } else {
            sg_puts(o, "v1");
        }
        sg_puts(o, "]");
        return;
    }
}

static size_t
sg_nfields(const struct cf_table *t)
{
    size_t n = 0;
    while (t->fields[n].key != NULL)
        n++;
    return n;
}

/* The target's field at the current depth, or NULL. */
static const struct cf_field *
sg_target(const struct sg_src *s)
{
    return s->npath > 0 && (size_t)s->depth < s->npath ? s->path[s->depth] : NULL;
}

/* Whether the unit test's map must carry f: required fields, the target's
 * field at this depth, and one action for a route (a route without one is
 * refused). */
static bool
sg_needs(const struct sg_src *s, const struct cf_table *t, const struct cf_field *f)
{
    const struct cf_field *want = sg_target(s);
    if (f->required || f == want)
        return true;
    /* Without hosts a VirtualService is a delegate, which most fields do not fit. */
    if (strcmp(t->name, "struct cf_vs") == 0 && strcmp(f->key, "hosts") == 0)
        return true;
    if (strcmp(t->name, "struct conf_route") == 0 && strcmp(f->key, "route") == 0)
        return want == NULL || !sg_is_action(want->key);
    /* consistentHash needs exactly one key source beside its ring settings. */
    if (strcmp(f->key, "httpHeaderName") == 0)
        return want == NULL ||
               (strcmp(want->key, "httpCookie") != 0 && strcmp(want->key, "useSourceIp") != 0 &&
                strcmp(want->key, "httpQueryParameterName") != 0);
    if (strcmp(t->name, "struct conf_route") == 0 && strcmp(f->key, "mirror") == 0)
        return want != NULL && strncmp(want->key, "mirror", 6) == 0 &&
               strcmp(want->key, "mirrors") != 0 && strcmp(want->key, "mirror") != 0;
    /* A port-level traffic policy needs a setting besides its port. */
    if (strcmp(t->name, "struct cf_port_policy") == 0 && strcmp(f->key, "loadBalancer") == 0)
        return true;
    return false;
}

/* Emits one map of table t: in the unit test's mode the fields sg_needs
 * names, in the fuzzer's any subset; in an order the source picks. */
static void
sg_map(struct sg_out *o, struct sg_src *s, const struct cf_table *t, bool fuzz)
{
    size_t n = sg_nfields(t);
    size_t order[64];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 64; i++) {
        const struct cf_field *f = &t->fields[i];
        bool take;
        if (s->npath > 0)
            take = sg_needs(s, t, f);
        else
            take = f->required || (sg_pick(s, 3) == 0 && (fuzz || f->store != CF_ST_REFUSE));
        if (take)
            order[k++] = i;
    }
    /* A permutation chosen by the source (Fisher-Yates). */
    for (size_t i = k; i > 1; i--) {
        size_t j = sg_pick(s, (unsigned)i);
        size_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
    s->depth++;
    sg_puts(o, "{");
    for (size_t i = 0; i < k; i++) {
        const struct cf_field *f = &t->fields[order[i]];
        sg_printf(o, "%s%s: ", i > 0 ? ", " : "", f->key);
        sg_value(o, s, f, fuzz);
    }
    sg_puts(o, "}");
    s->depth--;
}

/* One document of kind ks. */
static void
sg_doc(struct sg_out *o, struct sg_src *s, const struct cf_kind_schema *ks, const char *name,
       bool fuzz)
{
    sg_printf(o,
              "---\n{apiVersion: networking.istio.io/v1, kind: %s, metadata: {name: %s}, "
              "spec: ",
              ks->kind, name);
    if (ks->spec != NULL)
        sg_map(o, s, ks->spec, fuzz);
    else
        sg_puts(o, "{}");
    sg_puts(o, "}\n");
}

/* The objects every generated document may refer to: mobile-api with v1 and
 * v2, and the Gateway "edge". kind is left out (the document under test
 * stands for it). */
static void
sg_base(struct sg_out *o, const char *skip_kind)
{
    static const struct {
        const char *kind;
        const char *doc;
    } base[] = {
        {"ServiceEntry",
         "{apiVersion: networking.istio.io/v1, kind: ServiceEntry, metadata: {name: base-se}, "
         "spec: {hosts: [mobile-api], ports: [{number: 80, name: http, protocol: HTTP}], "
         "resolution: STATIC, endpoints: [{address: 127.0.0.1, ports: {http: 9001}, labels: "
         "{version: v1}}, {address: 127.0.0.1, ports: {http: 9002}, labels: {version: v2}}]}}"},
        {"DestinationRule",
         "{apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: base-dr}, "
         "spec: {host: mobile-api, subsets: [{name: v1, labels: {version: v1}}, {name: v2, "
         "labels: {version: v2}}]}}"},
        /* What http[].delegate's sample names. */
        {"VirtualService",
         "{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: "
         "base-delegate}, spec: {http: [{route: [{destination: {host: mobile-api, subset: "
         "v1}}]}]}}"},
        {"Gateway", "{apiVersion: networking.istio.io/v1, kind: Gateway, metadata: {name: edge}, "
                    "spec: {servers: [{port: {number: 18080, name: http, protocol: HTTP}, "
                    "hosts: [\"*\"]}]}}"},
    };
    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
        /* A second DestinationRule for mobile-api would stand beside the
         * one under test; the other kinds do not collide. */
        if (skip_kind != NULL && strcmp(skip_kind, "DestinationRule") == 0 &&
            strcmp(base[i].kind, skip_kind) == 0)
            continue;
        sg_printf(o, "---\n%s\n", base[i].doc);
    }
}

#endif /* CANARYD_TESTS_SCHEMA_GEN_H */
