/*
 * fuzz_conf.c: libFuzzer target for the configuration loader and compiler.
 * Feeds arbitrary bytes through conf_build_buffer (libyaml events -> AST ->
 * schema tables -> snapshot) and frees everything; ASan/UBSan catch memory
 * errors and leaks on every path, valid or not.
 */
#include "canaryd/common.h"

#include <stdint.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct diag_list dl;
    struct conf_opts opts = {.listen_addr = "127.0.0.1:8080"};
    diag_list_init(&dl);
    struct conf *c = conf_build_buffer("fuzz.yaml", (const char *)data, size, &opts, &dl);
    if (c != NULL) {
        char line[256];
        for (size_t i = 0; i < dl.n; i++)
            diag_format(&dl.v[i], line, sizeof(line));
        BUG_ON(diag_has_errors(&dl));
    }
    conf_unref(&c);
    diag_list_fini(&dl);
    return 0;
}
