/*
 * match.h: Istio StringMatch (exact, prefix, regex, presence) on byte strings.
 * Regexes are PCRE2, compiled once with JIT, and must match the whole value
 * (full match, as Istio/Envoy do). Match and depth limits make a runaway
 * pattern a non-match instead of a stalled worker. Safe to call from several
 * threads at once on the same compiled matcher. Library module: never logs.
 */
#ifndef CANARYD_MATCH_H
#define CANARYD_MATCH_H

#include <stdbool.h>
#include <stddef.h>

struct pcre2_real_code_8;

#define MATCH_REGEX_MAX_LEN 1024

enum match_kind {
    MATCH_PRESENT = 0, /* {} or regex "*": the value exists, whatever it is */
    MATCH_EXACT,
    MATCH_PREFIX,
    MATCH_REGEX,
};

struct match {
    enum match_kind kind;
    bool ignore_case; /* exact/prefix only: ASCII case-insensitive comparison */
    const char *str;  /* borrowed: conf arena; exact/prefix text or the regex source */
    size_t len;
    struct pcre2_real_code_8 *re; /* owned: freed by match_fini; NULL unless MATCH_REGEX */
};

/* Compiles pattern[0..len) into m (kind MATCH_REGEX, str/len point at pattern,
 * which must outlive m). On failure returns -1 and writes PCRE2's message to
 * err and the offset inside the pattern to *erroffset; a pattern longer than
 * MATCH_REGEX_MAX_LEN fails with offset MATCH_REGEX_MAX_LEN. */
int match_init_regex(struct match *m, const char *pattern, size_t len, char *err, size_t errlen,
                     size_t *erroffset);

/* Releases the compiled regex, if any. */
void match_fini(struct match *m);

/* Tests value s[0..len). s == NULL means "absent": only never matches then
 * (PRESENT included). A regex that hits the match limit is a non-match and
 * bumps the counter returned by match_limit_hits(). */
bool match_test(const struct match *m, const char *s, size_t len);

/* Frees the calling thread's regex match data (call before a thread that
 * used match_test exits). */
void match_thread_fini(void);

/* Number of regex evaluations stopped by the match/depth limits, process-wide. */
unsigned long match_limit_hits(void);

#endif /* CANARYD_MATCH_H */
