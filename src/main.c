/*
 * The gregor command: `gregor broker [--config FILE] [--override key=value ...]`
 * starts a broker; `gregor bench` is the benchmark (src/cli/bench.c); every
 * other command is a client command dispatched by cli_main (src/cli/).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "cli/bench.h"
#include "cli/cli_common.h"
#include "core/config.h"
#include "core/log.h"

static struct broker *volatile running;
/* A signal can arrive while the broker is still starting (listening,
 * replaying the metadata log): remember it and stop as soon as it runs. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
    struct broker *b = running;
    if (b) broker_stop(b);
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: gregor broker [--config FILE] [--override key=value ...]\n"
            "\n"
            "Starts a Gregor broker speaking the Kafka protocol. The config file uses\n"
            "Kafka's property names (see config/server.properties); --override sets\n"
            "one property after the file is read and may be repeated.\n");
}

static enum log_level parse_level(const char *s) {
    if (strcmp(s, "debug") == 0) return LOG_LEVEL_DEBUG;
    if (strcmp(s, "warn") == 0) return LOG_LEVEL_WARN;
    if (strcmp(s, "error") == 0) return LOG_LEVEL_ERROR;
    return LOG_LEVEL_INFO;
}

static int apply_override(struct broker_config *cfg, const char *kv) {
    char err[256];
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        fprintf(stderr, "gregor: --override expects key=value, got \"%s\"\n", kv);
        return -1;
    }
    char key[256];
    snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
    int rc = config_set(cfg, key, eq + 1, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "gregor: %s\n", err);
        return -1;
    }
    if (rc > 0) log_warn("config", "unknown config key ignored key=%s", key);
    return 0;
}

static int run_broker(int argc, char **argv) {
    struct broker_config cfg;
    config_defaults(&cfg);
    char err[512];
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            if (config_load_file(&cfg, argv[++i], err, sizeof(err)) != 0) {
                fprintf(stderr, "gregor: %s\n", err);
                return 2;
            }
        } else if (strcmp(argv[i], "--override") == 0 && i + 1 < argc) {
            if (apply_override(&cfg, argv[++i]) != 0) return 2;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "gregor: unknown argument \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (config_finish(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "gregor: %s\n", err);
        return 2;
    }
    log_set_level(parse_level(cfg.log_level));
    config_log(&cfg);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct broker *b = broker_create(&cfg);
    if (!b) return stop_requested ? 0 : 1;
    running = b;
    if (stop_requested) broker_stop(b);
    int rc = broker_run(b);
    running = NULL;
    broker_destroy(b);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: gregor COMMAND [options]; see 'gregor help'\n");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "broker") == 0) return run_broker(argc - 2, argv + 2);
    if (strcmp(argv[1], "bench") == 0) return bench_main(argc - 1, argv + 1);
    int rc = cli_main(argc - 1, argv + 1);
    if (rc >= 0) return rc;
    fprintf(stderr, "gregor: unknown command \"%s\"; see 'gregor help'\n", argv[1]);
    return CLI_EXIT_USAGE;
}
