/*
 * conf_policy_ext.c: DestinationRule traffic-policy fields beyond the core
 * tables of conf_kinds.c: slow start (loadBalancer.warmup and the older
 * warmupDurationSecs) and the deprecated outlierDetection.consecutiveErrors,
 * with Istio's precedence rules, at every level a trafficPolicy has (host,
 * subset, portLevelSettings item). Load time only; the handlers warn only
 * while a document is parsed (c->cur set), never when called again later.
 */
#include "canaryd/common.h"
#include "canaryd/conf/conf_internal.h"

#include <stdlib.h>
#include <string.h>

#define WARMUP_MIN_WEIGHT_DEFAULT 0.1 /* minimumPercent 10, as Istio and Envoy */
#define WARMUP_AGGRESSION_DEFAULT 1.0 /* linear ramp */

static bool
is_parsing(const struct cf_ctx *c)
{
    return c->cur != NULL;
}

/* ---- loadBalancer.warmup ---- */

static int
h_warmup_duration(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    if (cf_h_dur(c, f, n, p) == -1)
        return -1;
    if (*(uint32_t *)p == 0) {
        cf_err(c, n, "warmup duration must be at least 1ms");
        return -1;
    }
    return 0;
}

static int
h_warmup_min(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    double v;
    if (cf_parse_number(c, n, &v) == -1)
        return -1;
    if (!(v >= 0.0 && v <= 100.0)) {
        cf_err(c, n, "minimumPercent must be between 0 and 100 (got %s)", n->str);
        return -1;
    }
    *(double *)p = v / 100.0;
    return 0;
}

static int
h_warmup_aggression(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *p)
{
    (void)f;
    double v;
    if (cf_parse_number(c, n, &v) == -1)
        return -1;
    if (!(v >= 1.0 && v <= 1e6)) {
        cf_err(c, n, "aggression must be at least 1 (got %s)", n->str);
        return -1;
    }
    *(double *)p = v;
    return 0;
}

static const struct cf_field warmup_fields[] = {
    {.key = "duration",
     .type = CF_T_STR,
     .store = CF_ST_SLOT,
     .required = true,
     .fn.put = h_warmup_duration,
     CF__SLOT(struct conf_warmup, duration_ms, uint32_t),
     .sample = "1.5s"},
    {.key = "minimumPercent",
     .type = CF_T_NUM,
     .store = CF_ST_SLOT,
     .fn.put = h_warmup_min,
     CF__SLOT(struct conf_warmup, min_weight, double),
     .sample = "12.5"},
    {.key = "aggression",
     .type = CF_T_NUM,
     .store = CF_ST_SLOT,
     .fn.put = h_warmup_aggression,
     CF__SLOT(struct conf_warmup, aggression, double),
     .sample = "2"},
    CF_END,
};
const struct cf_table cf_warmup_tab = CF_TABLE(struct conf_warmup, warmup_fields);

int
cf_h_warmup(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    (void)f;
    struct conf_warmup *wu = &((struct conf_policy *)obj)->warmup;
    wu->has_warmup = true;
    wu->duration_ms = 0;
    wu->min_weight = WARMUP_MIN_WEIGHT_DEFAULT;
    wu->aggression = WARMUP_AGGRESSION_DEFAULT;
    return CF_WALK(c, n, &cf_warmup_tab, wu);
}

int
cf_h_warmup_secs(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    const char *why = NULL;
    uint32_t ms;
    (void)f;
    if (cf_parse_duration(n->str, n->len, &ms, &why) == -1) {
        cf_err(c, n, "invalid duration \"%s\": %s", n->str, why);
        return -1;
    }
    ((struct conf_policy *)obj)->warmup.legacy_ms = ms;
    return 0;
}

int
cf_lb_warmup_resolve(struct cf_ctx *c, const struct ast_node *n, struct conf_policy *p)
{
    struct conf_warmup *wu = &p->warmup;
    if (wu->has_warmup) {
        wu->window_ms = wu->duration_ms;
    } else {
        wu->window_ms = wu->legacy_ms;
        wu->min_weight = WARMUP_MIN_WEIGHT_DEFAULT;
        wu->aggression = WARMUP_AGGRESSION_DEFAULT;
    }
    if (wu->window_ms == 0 || !is_parsing(c))
        return 0;
    if (p->lb == LB_RANDOM || p->lb == LB_HASH) {
        /* Istio configures slow start for ROUND_ROBIN and LEAST_REQUEST only. */
        cf_warn(c, n,
                "warmup applies to ROUND_ROBIN and LEAST_REQUEST only; new endpoints of this "
                "%s policy take their full share at once",
                p->lb == LB_RANDOM ? "RANDOM" : "consistentHash");
    }
    return 0;
}

/* ---- outlierDetection: consecutiveErrors and what overrides it ---- */

int
cf_h_outlier_5xx(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n, void *obj)
{
    struct conf_outlier *o = obj;
    if (cf_h_u32(c, f, n, &o->consecutive_5xx) == -1)
        return -1;
    o->has_5xx = true;
    return 0;
}

int
cf_h_outlier_gateway(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                     void *obj)
{
    struct conf_outlier *o = obj;
    if (cf_h_u32(c, f, n, &o->consecutive_gateway) == -1)
        return -1;
    o->has_gateway = true;
    return 0;
}

/* Istio turns consecutiveErrors N (N > 0) into a consecutive gateway-failure
 * threshold of N and switches the consecutive 5xx ejection off; the explicit
 * consecutiveGatewayErrors and consecutive5xxErrors override that. */
int
cf_h_consecutive_errors(struct cf_ctx *c, const struct cf_field *f, const struct ast_node *n,
                        void *obj)
{
    struct conf_outlier *o = obj;
    if (cf_h_u32(c, f, n, &o->consecutive_errors) == -1)
        return -1;
    if (o->consecutive_errors == 0)
        return 0;
    if (!o->has_gateway)
        o->consecutive_gateway = o->consecutive_errors;
    if (!o->has_5xx)
        o->consecutive_5xx = 0;
    if (is_parsing(c))
        cf_warn(c, n,
                "consecutiveErrors is deprecated; applied as Istio does: ejection after %u "
                "consecutive gateway errors (502, 503, 504, connect failures), no consecutive "
                "5xx ejection unless consecutive5xxErrors is set",
                o->consecutive_errors);
    return 0;
}
