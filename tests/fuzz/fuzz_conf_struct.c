/*
 * fuzz_conf_struct.c: structure-aware libFuzzer target for the configuration
 * loader and compiler. The input bytes do not become YAML themselves: they
 * choose, through the schema tables (tests/unit/conf/schema_gen.h), how many
 * documents there are, each one's kind, which fields every map gets, in which
 * key order, and whether each value is the field's valid one or a hostile
 * one. Most generated configurations therefore parse cleanly and reach the
 * compile step, with every field in every position; ASan/UBSan catch memory
 * errors on the way.
 */
#include "canaryd/common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/diag.h"
#include "../unit/conf/schema_gen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* CANARYD_FUZZ_STATS=1: how many inputs compiled to a snapshot, printed at
 * exit, to show that the generated documents reach the compile step. */
static unsigned long nruns, nbuilt;

static void
print_stats(void)
{
    fprintf(stderr, "fuzz_conf_struct: %lu inputs, %lu compiled to a snapshot (%.1f%%)\n", nruns,
            nbuilt, nruns ? 100.0 * (double)nbuilt / (double)nruns : 0.0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"a", "b", "edge", "mobile-api"};
    struct sg_src s = {.p = data, .n = size};
    struct sg_out o = {0};
    bool fuzz = sg_pick(&s, 4) == 0;
    if (sg_pick(&s, 4) != 0)
        sg_base(&o, NULL);
    unsigned ndocs = 1 + sg_pick(&s, 4);
    for (unsigned i = 0; i < ndocs; i++) {
        const struct cf_kind_schema *ks = &cf_kind_schemas[sg_pick(&s, (unsigned)cf_nkind_schemas)];
        sg_doc(&o, &s, ks, names[sg_pick(&s, countof(names))], fuzz);
    }
    if (o.oom) {
        free(o.buf);
        return 0;
    }
    struct diag_list dl;
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    diag_list_init(&dl);
    struct conf *c = conf_build_buffer("struct.yaml", o.buf, o.len, &opts, &dl);
    if (nruns++ == 0 && getenv("CANARYD_FUZZ_STATS") != NULL)
        atexit(print_stats);
    nbuilt += c != NULL;
    if (c != NULL) {
        BUG_ON(diag_has_errors(&dl));
        char *sum = c->summary;
        BUG_ON(sum == NULL);
    }
    conf_unref(&c);
    diag_list_fini(&dl);
    free(o.buf);
    return 0;
}
