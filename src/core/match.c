/*
 * match.c: Istio StringMatch evaluation (see match.h).
 * On the request path: route.c calls match_test for every field of every
 * match entry it tries, so the common cases (exact, prefix) are plain memcmp
 * and a regex costs one JIT-compiled pcre2_match with thread-local match data.
 */
#include "canaryd/common.h"
#include "canaryd/core/match.h"

#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Enough for any sane header regex; a catastrophic pattern gives up quickly. */
#define MATCH_LIMIT 200000u
#define MATCH_DEPTH_LIMIT 5000u
#define MATCH_HEAP_LIMIT_KIB 1024u

static _Thread_local pcre2_match_data *tl_md;      /* owned by the thread, never freed */
static _Thread_local pcre2_match_context *tl_mctx; /* owned by the thread, never freed */
static atomic_ulong limit_hits;

int
match_init_regex(struct match *m, const char *pattern, size_t len, char *err, size_t errlen,
                 size_t *erroffset)
{
    memset(m, 0, sizeof(*m));
    m->kind = MATCH_REGEX;
    m->str = pattern;
    m->len = len;
    if (len > MATCH_REGEX_MAX_LEN) {
        snprintf(err, errlen, "regex is %zu characters long, more than the limit of %d", len,
                 MATCH_REGEX_MAX_LEN);
        *erroffset = MATCH_REGEX_MAX_LEN;
        return -1;
    }
    int ecode;
    PCRE2_SIZE eoff;
    /* ANCHORED|ENDANCHORED at compile time is full-match semantics, and JIT
     * supports both when given at compile time. */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                                   &ecode, &eoff, NULL);
    if (re == NULL) {
        PCRE2_UCHAR buf[256];
        if (pcre2_get_error_message(ecode, buf, sizeof(buf)) < 0)
            snprintf((char *)buf, sizeof(buf), "error %d", ecode);
        snprintf(err, errlen, "%s", (const char *)buf);
        *erroffset = eoff;
        return -1;
    }
    /* JIT failure (no executable memory) is not fatal: the interpreter obeys
     * the same limits, only slower. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    m->re = re;
    return 0;
}

void
match_fini(struct match *m)
{
    if (m->re != NULL) {
        pcre2_code_free(m->re);
        m->re = NULL;
    }
}

static bool
thread_init(void)
{
    if (tl_md != NULL)
        return true;
    pcre2_match_context *mctx = pcre2_match_context_create(NULL);
    if (mctx == NULL)
        return false;
    pcre2_set_match_limit(mctx, MATCH_LIMIT);
    pcre2_set_depth_limit(mctx, MATCH_DEPTH_LIMIT);
    pcre2_set_heap_limit(mctx, MATCH_HEAP_LIMIT_KIB);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (md == NULL) {
        pcre2_match_context_free(mctx);
        return false;
    }
    tl_mctx = mctx;
    tl_md = md;
    return true;
}

static bool
regex_test(const struct match *m, const char *s, size_t len)
{
    if (unlikely(!thread_init()))
        return false;
    int rc = pcre2_match(m->re, (PCRE2_SPTR)s, len, 0, 0, tl_md, tl_mctx);
    if (rc >= 0)
        return true;
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT)
        atomic_fetch_add_explicit(&limit_hits, 1, memory_order_relaxed);
    return false;
}

bool
match_test(const struct match *m, const char *s, size_t len)
{
    if (s == NULL)
        return false;
    switch (m->kind) {
    case MATCH_PRESENT:
        return true;
    case MATCH_EXACT:
        if (len != m->len)
            return false;
        return m->ignore_case ? strncasecmp(s, m->str, len) == 0 : memcmp(s, m->str, len) == 0;
    case MATCH_PREFIX:
        if (len < m->len)
            return false;
        return m->ignore_case ? strncasecmp(s, m->str, m->len) == 0
                              : memcmp(s, m->str, m->len) == 0;
    case MATCH_REGEX:
        return regex_test(m, s, len);
    }
    return false;
}

void
match_thread_fini(void)
{
    pcre2_match_data_free(tl_md);
    pcre2_match_context_free(tl_mctx);
    tl_md = NULL;
    tl_mctx = NULL;
}

unsigned long
match_limit_hits(void)
{
    return atomic_load_explicit(&limit_hits, memory_order_relaxed);
}
