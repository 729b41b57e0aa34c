/*
 * bench/conf_load.c: loads and compiles a configuration like `canaryd -t`
 * (conf_build, conf_print_summary, diag_list_print) and reports the build's
 * wall time, the process's CPU time (user + system), the snapshot's arena
 * bytes and the process's max RSS on stderr.
 * Built by bench/conf_load.sh against build/libcanaryd.a; not part of CI.
 * Usage: conf_load [-q] PATH...   (-q: no summary)
 */
#include "canaryd/common.h"

#include <sys/resource.h>
#include <string.h>
#include <time.h>

#include "canaryd/conf/conf.h"
#include "canaryd/core/diag.h"

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    bool quiet = argc > 1 && strcmp(argv[1], "-q") == 0;
    int first = quiet ? 2 : 1;
    struct diag_list dl;
    struct conf_opts opts = {.listen_addr = "0.0.0.0:8080"};
    diag_list_init(&dl);
    double t0 = now_s();
    struct conf *c = conf_build((const char *const *)argv + first, (size_t)(argc - first), &opts,
                                &dl);
    double t1 = now_s();
    diag_list_print(&dl, stderr);
    if (c != NULL && !quiet)
        conf_print_summary(c, stdout);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    fprintf(stderr,
            "conf_load: %s in %.3f s (process CPU %.3f s), routes=%zu clusters=%zu arena=%.1f MiB, "
            "max RSS %.1f MiB\n",
            c != NULL ? "ok" : "FAILED", t1 - t0, cpu, c ? c->nroutes : 0, c ? c->nclusters : 0,
            c ? (double)c->mem_bytes / 1048576.0 : 0.0, (double)ru.ru_maxrss / 1024.0);
    int rc = c != NULL ? 0 : 1;
    conf_unref(&c);
    diag_list_fini(&dl);
    return rc;
}
