/*
 * main.c: command line and environment, start-up and shutdown wiring.
 * Owns nothing but the order in which modules start and stop:
 * options -> (-t: validate and exit) -> first snapshot + listeners ->
 * admin listener -> signals/watch -> workers -> main loop -> drain -> exit.
 */
#include "canaryd/common.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>

#include "canaryd/ops/admin.h"
#include "canaryd/conf/conf.h"
#include "canaryd/core/diag.h"
#include "canaryd/proxy/dns.h"
#include "canaryd/proxy/health.h"
#include "canaryd/core/log.h"
#include "canaryd/core/metrics.h"
#include "canaryd/ops/reload.h"
#include "canaryd/proxy/worker.h"

#define EXIT_BAD_CONFIG 1
#define EXIT_USAGE 2
#define EXIT_LISTEN 3
#define MAX_PATHS 64

struct opts {
    const char *paths[MAX_PATHS];
    size_t npaths;
    bool test_only;
    const char *listen;
    const char *admin;
    int workers;
    bool watch;
    double drain_timeout_s;
    double shutdown_delay_s;
    double header_timeout_s;
    double idle_timeout_s;
    double connect_timeout_s;
    const char *log_level;
    const char *access_log;
    const char *ns;         /* --namespace; NULL = the default */
    const char *labels_arg; /* --labels as given; NULL = none */
    struct conf_label labels[CONF_LABELS_MAX];
    size_t nlabels;
    char *labels_buf; /* owned: copy of labels_arg split in place; labels point into it */
    char *env_paths;  /* owned: copy of CANARYD_CONFIG split in place */
};

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: canaryd [-c PATH]... [-t] [-l ADDR] [-a ADDR] [-w N] [--watch]\n"
            "               [--drain-timeout SEC] [--shutdown-delay SEC] [--header-timeout SEC]\n"
            "               [--idle-timeout SEC] [--connect-timeout SEC] [--log-level LEVEL]\n"
            "               [--access-log on|off] [--namespace NS] [--labels K=V,...]\n"
            "               [-v] [-h]\n"
            "  -c, --config PATH      YAML file or directory (repeatable; env CANARYD_CONFIG,\n"
            "                         colon-separated; default /etc/canaryd)\n"
            "  -t, --test             validate the configuration, print a summary, exit\n"
            "  -l, --listen ADDR      listener when no Gateway is configured (0.0.0.0:8080)\n"
            "  -a, --admin ADDR       admin listener or 'off' (0.0.0.0:9901)\n"
            "  -w, --workers N        worker threads (number of CPUs)\n"
            "      --watch            reload when the configuration changes on disk\n"
            "      --drain-timeout S  longest graceful drain (25)\n"
            "      --shutdown-delay S keep accepting this long after SIGTERM (0)\n"
            "      --header-timeout S complete request head within (10)\n"
            "      --idle-timeout S   idle keep-alive connections close after (60)\n"
            "      --connect-timeout S upstream connect timeout (5)\n"
            "      --log-level L      debug, info, warn, error (info)\n"
            "      --access-log on|off JSON access log on stdout (on)\n"
            "      --namespace NS     canaryd's namespace, for sourceNamespace and exportTo\n"
            "                         (default)\n"
            "      --labels K=V,...   canaryd's workload labels, for sourceLabels (none)\n"
            "  -v, --version          print the version\n");
}

static int
parse_secs(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 86400 * 365)
        return -1;
    *out = v;
    return 0;
}

static int
parse_workers(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 1 || v > 256)
        return -1;
    *out = (int)v;
    return 0;
}

static void
defaults_from_env(struct opts *o)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->workers = ncpu > 0 ? (int)MIN(ncpu, 256) : 1;
    o->listen = "0.0.0.0:8080";
    o->admin = "0.0.0.0:9901";
    o->drain_timeout_s = 25;
    o->header_timeout_s = 10;
    o->idle_timeout_s = 60;
    o->connect_timeout_s = 5;
    o->log_level = "info";
    o->access_log = "on";
    const char *e;
    if ((e = getenv("CANARYD_LISTEN")) != NULL && *e)
        o->listen = e;
    if ((e = getenv("CANARYD_ADMIN")) != NULL && *e)
        o->admin = e;
    if ((e = getenv("CANARYD_LOG_LEVEL")) != NULL && *e)
        o->log_level = e;
    if ((e = getenv("CANARYD_ACCESS_LOG")) != NULL && *e)
        o->access_log = e;
    if ((e = getenv("CANARYD_NAMESPACE")) != NULL && *e)
        o->ns = e;
    if ((e = getenv("CANARYD_LABELS")) != NULL && *e)
        o->labels_arg = e;
    if ((e = getenv("CANARYD_WATCH")) != NULL && strcmp(e, "1") == 0)
        o->watch = true;
}

/* Numeric environment variables are checked like flags. */
static int
numbers_from_env(struct opts *o)
{
    static const struct {
        const char *name;
        size_t off;
    } secs[] = {
        {"CANARYD_DRAIN_TIMEOUT", offsetof(struct opts, drain_timeout_s)},
        {"CANARYD_SHUTDOWN_DELAY", offsetof(struct opts, shutdown_delay_s)},
        {"CANARYD_HEADER_TIMEOUT", offsetof(struct opts, header_timeout_s)},
        {"CANARYD_IDLE_TIMEOUT", offsetof(struct opts, idle_timeout_s)},
        {"CANARYD_CONNECT_TIMEOUT", offsetof(struct opts, connect_timeout_s)},
    };
    for (size_t i = 0; i < countof(secs); i++) {
        const char *e = getenv(secs[i].name);
        if (e != NULL && *e && parse_secs(e, (double *)(void *)((char *)o + secs[i].off)) == -1) {
            fprintf(stderr, "canaryd: %s=%s: expected seconds\n", secs[i].name, e);
            return -1;
        }
    }
    const char *e = getenv("CANARYD_WORKERS");
    if (e != NULL && *e && parse_workers(e, &o->workers) == -1) {
        fprintf(stderr, "canaryd: CANARYD_WORKERS=%s: expected 1..256\n", e);
        return -1;
    }
    return 0;
}

static int
env_config_paths(struct opts *o)
{
    const char *e = getenv("CANARYD_CONFIG");
    if (e == NULL || *e == '\0') {
        o->paths[o->npaths++] = "/etc/canaryd";
        return 0;
    }
    o->env_paths = strdup(e);
    if (o->env_paths == NULL)
        return -1;
    char *save = NULL;
    for (char *p = strtok_r(o->env_paths, ":", &save); p != NULL; p = strtok_r(NULL, ":", &save)) {
        if (o->npaths == MAX_PATHS)
            return -1;
        o->paths[o->npaths++] = p;
    }
    return 0;
}

enum {
    OPT_WATCH = 256,
    OPT_DRAIN,
    OPT_DELAY,
    OPT_HEADER,
    OPT_IDLE,
    OPT_CONNECT,
    OPT_LOGLEVEL,
    OPT_ACCESS,
    OPT_NAMESPACE,
    OPT_LABELS,
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"test", no_argument, NULL, 't'},
    {"listen", required_argument, NULL, 'l'},
    {"admin", required_argument, NULL, 'a'},
    {"workers", required_argument, NULL, 'w'},
    {"watch", no_argument, NULL, OPT_WATCH},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN},
    {"shutdown-delay", required_argument, NULL, OPT_DELAY},
    {"header-timeout", required_argument, NULL, OPT_HEADER},
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT},
    {"log-level", required_argument, NULL, OPT_LOGLEVEL},
    {"access-log", required_argument, NULL, OPT_ACCESS},
    {"namespace", required_argument, NULL, OPT_NAMESPACE},
    {"labels", required_argument, NULL, OPT_LABELS},
    {"version", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Returns -1 to continue, else an exit status. */
static int
parse_opt(struct opts *o, int c, const char *arg)
{
    double *secs = NULL;
    switch (c) {
    case 'c':
        if (o->npaths == MAX_PATHS) {
            fprintf(stderr, "canaryd: too many -c (max %d)\n", MAX_PATHS);
            return EXIT_USAGE;
        }
        o->paths[o->npaths++] = arg;
        return -1;
    case 't':
        o->test_only = true;
        return -1;
    case 'l':
        o->listen = arg;
        return -1;
    case 'a':
        o->admin = arg;
        return -1;
    case 'w':
        if (parse_workers(arg, &o->workers) == -1) {
            fprintf(stderr, "canaryd: -w %s: expected 1..256\n", arg);
            return EXIT_USAGE;
        }
        return -1;
    case OPT_WATCH:
        o->watch = true;
        return -1;
    case OPT_DRAIN:
        secs = &o->drain_timeout_s;
        break;
    case OPT_DELAY:
        secs = &o->shutdown_delay_s;
        break;
    case OPT_HEADER:
        secs = &o->header_timeout_s;
        break;
    case OPT_IDLE:
        secs = &o->idle_timeout_s;
        break;
    case OPT_CONNECT:
        secs = &o->connect_timeout_s;
        break;
    case OPT_LOGLEVEL:
        o->log_level = arg;
        return -1;
    case OPT_ACCESS:
        o->access_log = arg;
        return -1;
    case OPT_NAMESPACE:
        o->ns = arg;
        return -1;
    case OPT_LABELS:
        o->labels_arg = arg;
        return -1;
    case 'v':
        printf("canaryd %s\n", CANARYD_VERSION);
        return 0;
    case 'h':
        usage(stdout);
        return 0;
    default:
        usage(stderr);
        return EXIT_USAGE;
    }
    if (parse_secs(arg, secs) == -1) {
        fprintf(stderr, "canaryd: %s: expected a number of seconds\n", arg);
        return EXIT_USAGE;
    }
    return -1;
}

/* --namespace and --labels: canaryd's identity for sourceLabels, sourceNamespace
 * and exportTo. */
static int
check_identity(struct opts *o)
{
    if (o->ns != NULL && !conf_is_dns_label(o->ns)) {
        fprintf(stderr, "canaryd: --namespace %s: expected a DNS-1123 label (a-z, 0-9, '-')\n",
                o->ns);
        return -1;
    }
    if (o->labels_arg == NULL)
        return 0;
    const char *why = NULL;
    o->labels_buf = strdup(o->labels_arg);
    if (o->labels_buf == NULL) {
        fprintf(stderr, "canaryd: out of memory\n");
        return -1;
    }
    if (conf_labels_parse(o->labels_buf, o->labels, CONF_LABELS_MAX, &o->nlabels, &why) == -1) {
        fprintf(stderr, "canaryd: --labels %s: %s\n", o->labels_arg, why);
        return -1;
    }
    return 0;
}

static int
parse_args(struct opts *o, int argc, char **argv)
{
    defaults_from_env(o);
    if (numbers_from_env(o) == -1)
        return EXIT_USAGE;
    int c;
    while ((c = getopt_long(argc, argv, "c:tl:a:w:vh", long_opts, NULL)) != -1) {
        int rc = parse_opt(o, c, optarg);
        if (rc >= 0)
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, "canaryd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (o->npaths == 0 && env_config_paths(o) == -1) {
        fprintf(stderr, "canaryd: CANARYD_CONFIG: too many paths\n");
        return EXIT_USAGE;
    }
    int lvl = log_level_parse(o->log_level);
    if (lvl < 0) {
        fprintf(stderr, "canaryd: --log-level %s: expected debug, info, warn or error\n",
                o->log_level);
        return EXIT_USAGE;
    }
    log_set_level((enum log_level)lvl);
    if (check_identity(o) == -1)
        return EXIT_USAGE;
    if (strcmp(o->access_log, "on") != 0 && strcmp(o->access_log, "off") != 0) {
        fprintf(stderr, "canaryd: --access-log %s: expected on or off\n", o->access_log);
        return EXIT_USAGE;
    }
    return -1;
}

static int
run_test(const struct opts *o)
{
    struct diag_list dl;
    diag_list_init(&dl);
    struct conf_opts copts = {
        .listen_addr = o->listen, .ns = o->ns, .labels = o->labels, .nlabels = o->nlabels};
    struct conf *c = conf_build(o->paths, o->npaths, &copts, &dl);
    if (c != NULL)
        conf_print_summary(c, stdout);
    diag_list_print(&dl, stderr);
    int rc = c != NULL ? 0 : EXIT_BAD_CONFIG;
    if (c != NULL)
        printf("canaryd: configuration ok (%zu warning%s)\n", dl.nwarnings,
               dl.nwarnings == 1 ? "" : "s");
    else
        fprintf(stderr, "canaryd: configuration invalid (%zu error%s)\n", dl.nerrors,
                dl.nerrors == 1 ? "" : "s");
    conf_unref(&c);
    diag_list_fini(&dl);
    return rc;
}

static void
raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static uint32_t
to_ms(double s)
{
    return (uint32_t)(s * 1000.0 + 0.5);
}

static int
serve(const struct opts *o)
{
    worker_opts.nworkers = o->workers;
    worker_opts.header_timeout_ms = to_ms(o->header_timeout_s);
    worker_opts.idle_timeout_ms = to_ms(o->idle_timeout_s);
    worker_opts.connect_timeout_ms = to_ms(o->connect_timeout_s);
    log_access_set_enabled(strcmp(o->access_log, "on") == 0);
    raise_nofile();
    log_event(LOG_LEVEL_INFO, "start",
              LOG_FIELDS(LOG_F_STR("version", CANARYD_VERSION), LOG_F_I64("workers", o->workers),
                         LOG_F_STR("listen", o->listen), LOG_F_STR("admin", o->admin)),
              "canaryd starting");
    struct reload_opts ro = {
        .paths = o->paths,
        .npaths = o->npaths,
        .listen_addr = o->listen,
        .ns = o->ns,
        .labels = o->labels,
        .nlabels = o->nlabels,
        .drain_timeout_s = o->drain_timeout_s,
        .shutdown_delay_s = o->shutdown_delay_s,
        .watch = o->watch,
    };
    struct event_base *base = event_base_new();
    if (base == NULL || dns_init(base) == -1) {
        log_err("main: cannot create the event loop");
        return EXIT_FAILURE;
    }
    int rc = reload_start(&ro);
    if (rc != 0) {
        dns_fini();
        event_base_free(base);
        return rc;
    }
    char err[256];
    if (strcmp(o->admin, "off") != 0 && admin_start(base, o->admin, err, sizeof(err)) == -1) {
        log_event(LOG_LEVEL_ERROR, "listen", NULL, 0, "%s", err);
        return EXIT_LISTEN;
    }
    if (reload_install(base) == -1 || worker_start_all() == -1) {
        log_err_errno("main: start-up failed");
        return EXIT_FAILURE;
    }
    log_event(LOG_LEVEL_INFO, "listen", LOG_FIELDS(LOG_F_STR("admin", o->admin)), "serving");
    event_base_dispatch(base);
    worker_stop_all();
    reload_fini();
    admin_stop();
    dns_fini();
    health_fini();
    event_base_free(base);
    log_event(LOG_LEVEL_INFO, "exit", NULL, 0, "canaryd stopped");
    return 0;
}

int
main(int argc, char **argv)
{
    struct opts o;
    memset(&o, 0, sizeof(o));
    signal(SIGPIPE, SIG_IGN);
    int rc = parse_args(&o, argc, argv);
    if (rc < 0)
        rc = o.test_only ? run_test(&o) : serve(&o);
    free(o.env_paths);
    free(o.labels_buf);
    return rc;
}
