/*
 * conf_scope.c: what canaryd's own identity decides in a configuration. canaryd
 * stands where an Istio ingress gateway stands: a workload with labels
 * (--labels) in a namespace (--namespace). match[].sourceLabels and
 * sourceNamespace are decided against that identity once, at load time (a
 * match entry for another workload never holds), and spec.exportTo hides the
 * objects not exported to canaryd's namespace before anything refers to them,
 * as a DestinationRule workloadSelector hides the rules that do not select
 * canaryd. Load time only.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <string.h>

#include "canaryd/core/arena.h"
#include "canaryd/core/diag.h"

#define LABEL_NAME_MAX 63
#define LABEL_PREFIX_MAX 253

static bool
is_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

/* A label name or value: alphanumerics at both ends, '-', '_' or '.' inside. */
static bool
is_label_name(const char *s, size_t len)
{
    if (len == 0 || len > LABEL_NAME_MAX || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

/* A DNS-1123 subdomain: dot-separated lower-case labels. */
static bool
is_dns_subdomain(const char *s, size_t len)
{
    if (len == 0 || len > LABEL_PREFIX_MAX)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        char part[LABEL_NAME_MAX + 1];
        size_t pl = i - start;
        if (pl == 0 || pl > LABEL_NAME_MAX)
            return false;
        memcpy(part, s + start, pl);
        part[pl] = '\0';
        if (!conf_is_dns_label(part))
            return false;
        start = i + 1;
    }
    return true;
}

static bool
is_label_key(const char *s, size_t len)
{
    const char *slash = memchr(s, '/', len);
    if (slash == NULL)
        return is_label_name(s, len);
    size_t pl = (size_t)(slash - s);
    return is_dns_subdomain(s, pl) && is_label_name(slash + 1, len - pl - 1);
}

static bool
is_label_value(const char *s, size_t len)
{
    return len == 0 || is_label_name(s, len);
}

bool
conf_is_dns_label(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > LABEL_NAME_MAX || s[0] == '-' || s[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static int
label_one(char *item, struct conf_label *out, size_t n, const char **why)
{
    char *eq = strchr(item, '=');
    if (eq == NULL) {
        *why = "expected KEY=VALUE";
        return -1;
    }
    *eq = '\0';
    if (!is_label_key(item, strlen(item))) {
        *why = "invalid label key (expected [prefix/]name, name: 1-63 of A-Z a-z 0-9 - _ .)";
        return -1;
    }
    if (!is_label_value(eq + 1, strlen(eq + 1))) {
        *why = "invalid label value (expected up to 63 of A-Z a-z 0-9 - _ ., alphanumeric at "
               "both ends)";
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i].key, item) == 0) {
            *why = "a label key is given twice";
            return -1;
        }
    out[n] = (struct conf_label){.key = item, .value = eq + 1};
    return 0;
}

int
conf_labels_parse(char *s, struct conf_label *out, size_t cap, size_t *n, const char **why)
{
    *n = 0;
    if (*s == '\0')
        return 0;
    char *save = NULL;
    for (char *it = strtok_r(s, ",", &save); it != NULL; it = strtok_r(NULL, ",", &save)) {
        if (*n == cap) {
            *why = "too many labels";
            return -1;
        }
        if (label_one(it, out, *n, why) == -1)
            return -1;
        (*n)++;
    }
    return 0;
}

/* ---- match[].sourceLabels, sourceNamespace ---- */

static const char *
own_ns(const struct cf_ctx *c)
{
    return c->opts != NULL && c->opts->ns != NULL ? c->opts->ns : CONF_DEFAULT_NS;
}

static const char *
own_label(const struct cf_ctx *c, const char *key)
{
    for (size_t i = 0; c->opts != NULL && i < c->opts->nlabels; i++)
        if (strcmp(c->opts->labels[i].key, key) == 0)
            return c->opts->labels[i].value;
    return NULL;
}

/* The loader-only part of the match entry obj of the route being parsed. */
static struct cf_msrc *
msrc_of(struct cf_ctx *c, void *obj)
{
    BUG_ON(c->route == NULL || c->route->msrc == NULL);
    size_t i = (size_t)((struct conf_match *)obj - c->route->r->matches);
    BUG_ON(i >= c->route->r->nmatches);
    return &c->route->msrc[i];
}

static int
check_labels(struct cf_ctx *c, const struct ast_node *n)
{
    int rc = 0;
    for (size_t i = 0; i < n->npairs; i++) {
        const struct ast_pair *p = &n->pairs[i];
        size_t mark = cf_path_key(c, p->key->str);
        if (!is_label_key(p->key->str, p->key->len)) {
            cf_err(c, p->key, "invalid label key \"%s\"", p->key->str);
            rc = -1;
        } else if (!is_label_value(p->val->str, p->val->len)) {
            cf_err(c, p->val, "invalid label value \"%s\"", p->val->str);
            rc = -1;
        }
        cf_path_pop(c, mark);
    }
    return rc;
}

int
cf_h_source_labels(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct conf_match *m = obj;
    struct cf_msrc *s = msrc_of(c, obj);
    if (cf_h_labels(c, f, n, &s->labels) == -1 || check_labels(c, n) == -1)
        return -1;
    for (size_t i = 0; i < s->labels.n; i++) {
        const struct cf_label *l = &s->labels.v[i];
        const char *have = own_label(c, l->key);
        if (have != NULL && strcmp(have, l->val) == 0)
            continue;
        m->never = true;
        size_t mark = cf_path_key(c, l->key);
        cf_warn(c, n->pairs[i].val,
                "canaryd's labels (--labels) do not include %s=%s: this match entry never holds",
                l->key, l->val);
        cf_path_pop(c, mark);
    }
    return 0;
}

int
cf_h_source_ns(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct conf_match *m = obj;
    struct cf_msrc *s = msrc_of(c, obj);
    if (!conf_is_dns_label(n->str)) {
        cf_err(c, n, "invalid namespace \"%s\" (expected a DNS-1123 label)", n->str);
        return -1;
    }
    if (cf_h_tstr(c, f, n, &s->ns) == -1)
        return -1;
    if (strcmp(s->ns, own_ns(c)) != 0) {
        m->never = true;
        cf_warn(c, n,
                "canaryd's namespace is \"%s\" (--namespace), not \"%s\": this match entry "
                "never holds",
                own_ns(c), s->ns);
    }
    return 0;
}

/* ---- spec.exportTo ---- */

#define EXPORT_PRIVATE "."
#define EXPORT_PUBLIC "*"
#define EXPORT_NONE "~"

static int
check_export_entry(struct cf_ctx *c, const struct cf_str *e, bool is_se)
{
    if (strcmp(e->s, EXPORT_PRIVATE) == 0 || strcmp(e->s, EXPORT_PUBLIC) == 0)
        return 0;
    if (strcmp(e->s, EXPORT_NONE) == 0) {
        if (is_se)
            return 0;
        cf_err_at(c, &e->where, "exportTo ~ (none) is only allowed on a ServiceEntry");
        return -1;
    }
    if (conf_is_dns_label(e->s))
        return 0;
    cf_err_at(c, &e->where,
              "invalid exportTo entry \"%s\": expected \".\", \"*\"%s or a namespace name", e->s,
              is_se ? ", \"~\"" : "");
    return -1;
}

int
cf_h_export_to(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    (void)obj;
    struct cf_obj *o = c->cur;
    BUG_ON(o == NULL);
    if (cf_parse_strs(c, n, false, &o->export_to, &o->nexport_to) == -1)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < o->nexport_to; i++)
        if (check_export_entry(c, &o->export_to[i], o->kind == CF_SE) == -1)
            rc = -1;
    return rc;
}

/* The entry as a namespace: "." is the object's own. */
static const char *
export_ns(const struct cf_obj *o, const struct cf_str *e)
{
    return strcmp(e->s, EXPORT_PRIVATE) == 0 ? o->meta.ns : e->s;
}

/* The checks that need the object's namespace (known once it is parsed). */
static void
check_export_list(struct cf_ctx *c, const struct cf_obj *o)
{
    for (size_t i = 0; i < o->nexport_to; i++) {
        const struct cf_str *e = &o->export_to[i];
        bool special = strcmp(e->s, EXPORT_PUBLIC) == 0 || strcmp(e->s, EXPORT_NONE) == 0;
        if (special && o->nexport_to > 1) {
            cf_err_at(c, &e->where, "exportTo \"%s\" cannot be combined with other entries", e->s);
            return;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(export_ns(o, e), export_ns(o, &o->export_to[j])) != 0)
                continue;
            cf_err_at(c, &e->where, "exportTo names namespace \"%s\" twice", export_ns(o, e));
            return;
        }
    }
}

bool
cf_exported_to(const struct cf_obj *o, const char *ns)
{
    if (o->export_to == NULL)
        return true;
    for (size_t i = 0; i < o->nexport_to; i++) {
        const struct cf_str *e = &o->export_to[i];
        if (strcmp(e->s, EXPORT_PUBLIC) == 0 ||
            (strcmp(e->s, EXPORT_NONE) != 0 && strcmp(export_ns(o, e), ns) == 0))
            return true;
    }
    return false;
}

/* Moves the objects of kind k that canaryd's namespace does not see to hidden,
 * with a warning each. A VirtualService without hosts is a delegate: its
 * root's namespace must see it, not canaryd's (conf_delegate.c). */
static int
hide_kind(struct cf_ctx *c, enum cf_kind k, struct cf_vec *hidden)
{
    struct cf_vec *v = &c->objs[k];
    size_t keep = 0;
    for (size_t i = 0; i < v->n; i++) {
        struct cf_obj *o = v->v[i];
        /* An object with errors is checked no further (and stays, as it is). */
        if (!o->failed)
            check_export_list(c, o);
        if (o->failed || (k == CF_VS && o->u.vs.nhosts == 0) || cf_exported_to(o, own_ns(c))) {
            v->v[keep++] = o;
            continue;
        }
        cf_warn_at(c, &o->meta.name_where,
                   "%s %s/%s is not exported to namespace \"%s\" (canaryd's --namespace): "
                   "canaryd does not use it",
                   cf_kind_name(k), o->meta.ns, o->meta.name, own_ns(c));
        if (cf_vec_push(c->tmp, hidden, o) == -1)
            return cf_oom(c);
    }
    v->n = keep;
    return 0;
}

/* ---- DestinationRule workloadSelector ---- */

static bool
selects_canaryd(const struct cf_ctx *c, const struct cf_obj *o)
{
    const struct cf_labels *want = &o->u.dr.selector.labels;
    if (strcmp(o->meta.ns, own_ns(c)) != 0)
        return false; /* workload selectors do not apply across namespaces */
    for (size_t i = 0; i < want->n; i++) {
        const char *have = own_label(c, want->v[i].key);
        if (have == NULL || strcmp(have, want->v[i].val) != 0)
            return false;
    }
    return true;
}

/* The rule that selects canaryd for o's host, other than o; NULL = none. */
static const struct cf_obj *
selecting_rule(const struct cf_ctx *c, const struct cf_obj *o)
{
    for (size_t i = 0; i < c->objs[CF_DR].n; i++) {
        const struct cf_obj *d = c->objs[CF_DR].v[i];
        if (d != o && !d->failed && d->u.dr.selector.is_set && selects_canaryd(c, d) &&
            strcmp(d->meta.ns, o->meta.ns) == 0 && strcmp(d->u.dr.host, o->u.dr.host) == 0)
            return d;
    }
    return NULL;
}

/* Istio applies a DestinationRule with a workloadSelector only to the
 * workloads of its namespace whose labels match, and such a rule wins over
 * the host's rules without one; canaryd is the workload (--labels,
 * --namespace). Returns why canaryd does not use o, or NULL when it does. */
static const char *
dr_unused(struct cf_ctx *c, const struct cf_obj *o, const struct cf_obj **winner)
{
    *winner = NULL;
    if (o->u.dr.selector.is_set)
        return selects_canaryd(c, o) ? NULL : "its workloadSelector does not select canaryd";
    *winner = selecting_rule(c, o);
    return *winner != NULL ? "a rule whose workloadSelector selects canaryd takes precedence"
                           : NULL;
}

static int
hide_unselected_rules(struct cf_ctx *c, struct cf_vec *hidden)
{
    struct cf_vec *v = &c->objs[CF_DR];
    size_t keep = 0;
    const char **why = arena_alloc_array(c->tmp, v->n + 1, sizeof(*why));
    const struct cf_obj **winner = arena_alloc_array(c->tmp, v->n + 1, sizeof(*winner));
    if (why == NULL || winner == NULL)
        return cf_oom(c);
    /* Decided for every rule first: hiding one must not change another's fate. */
    for (size_t i = 0; i < v->n; i++)
        why[i] = ((struct cf_obj *)v->v[i])->failed ? NULL : dr_unused(c, v->v[i], &winner[i]);
    for (size_t i = 0; i < v->n; i++) {
        struct cf_obj *o = v->v[i];
        if (why[i] == NULL) {
            v->v[keep++] = o;
            continue;
        }
        if (winner[i] != NULL)
            cf_warn_at(c, &o->meta.name_where,
                       "DestinationRule %s/%s is not used for host \"%s\": %s (%s/%s at %s:%d)",
                       o->meta.ns, o->meta.name, o->u.dr.host, why[i], winner[i]->meta.ns,
                       winner[i]->meta.name, winner[i]->meta.name_where.loc.file,
                       winner[i]->meta.name_where.loc.line);
        else
            cf_warn_at(c, &o->u.dr.selector.where,
                       "DestinationRule %s/%s is not used: %s (canaryd's --labels and "
                       "--namespace \"%s\")",
                       o->meta.ns, o->meta.name, why[i], own_ns(c));
        if (cf_vec_push(c->tmp, hidden, o) == -1)
            return cf_oom(c);
    }
    v->n = keep;
    return 0;
}

int
cf_scope_hide(struct cf_ctx *c, struct cf_vec *hidden)
{
    static const enum cf_kind kinds[] = {CF_SE, CF_DR, CF_VS};
    for (size_t i = 0; i < countof(kinds); i++)
        if (hide_kind(c, kinds[i], hidden) == -1)
            return -1;
    return hide_unselected_rules(c, hidden);
}

const char *
cf_own_ns(const struct cf_ctx *c)
{
    return own_ns(c);
}
