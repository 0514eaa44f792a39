/*
 * Fuzzes the properties parser and the value checks: any bytes given as a
 * configuration file must be refused with a message or accepted, never
 * crash, read out of bounds or leak. The parser reads files, so the input
 * goes through a temporary file like a real one would.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

static char path[64];

static void remove_temp(void) { unlink(path); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    log_set_level(LOG_LEVEL_ERROR); /* unknown-key warnings would flood the run */
    /* A file rewritten per input: tmpfs keeps that off the disk and triples the rate. */
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof(path), "%s/gregor-fuzz-config-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) abort();
    close(fd);
    atexit(remove_temp);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    struct broker_config cfg;
    char err[512] = "";
    config_defaults(&cfg);
    if (config_load_file(&cfg, path, err, sizeof(err)) == 0 && config_finish(&cfg, err, sizeof(err)) == 0) {
        /* Whatever was accepted must satisfy the documented ranges. */
        if (cfg.log.segment_bytes < 1024 || cfg.num_partitions < 1 || cfg.listen_port < 0 ||
            cfg.listen_port > 65535 || cfg.advertised_host[0] == '\0' || cfg.log_dirs[0] == '\0')
            abort();
        if (memchr(cfg.listeners, '\0', sizeof(cfg.listeners)) == NULL) abort();
    } else if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL) {
        abort(); /* a refusal always says why */
    }
    return 0;
}
