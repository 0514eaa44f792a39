/*
 * libFuzzer target: the __consumer_offsets loader. The log hands the
 * loader whole batches (framing checked, contents not), so the input is
 *   byte 0   the __consumer_offsets partition the batches came from
 *   rest     record batches back to back; each is cut at its own length
 *            field and handed over as the log would
 * The keys and values are arbitrary: offset commits and group metadata
 * of any key/value version, tombstones, bad lengths, huge counts. Each
 * input gets a fresh coordinator on one shared broker; destroying it
 * must free everything it loaded (LeakSanitizer checks).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/internal.h"
#include "core/config.h"
#include "core/log.h"
#include "group/group_internal.h"
#include "net/net.h"
#include "protocol/record_batch.h"

static struct broker *broker;
static char data_dir[64];

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", data_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    log_set_level(LOG_LEVEL_ERROR); /* every skipped record would log a warning */
    snprintf(data_dir, sizeof(data_dir), "/tmp/gregor-fuzz-group-XXXXXX");
    if (!mkdtemp(data_dir)) abort();
    atexit(remove_dir);
    struct broker_config cfg;
    config_defaults(&cfg);
    char err[256];
    const char *kv[][2] = {{"listeners", "PLAINTEXT://127.0.0.1:0"}, {"log.dirs", data_dir}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
        if (config_set(&cfg, kv[i][0], kv[i][1], err, sizeof(err)) != 0) abort();
    if (config_finish(&cfg, err, sizeof(err)) != 0) abort();
    broker = broker_create(&cfg);
    if (!broker) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    struct group_coordinator *c = group_coordinator_create(broker);
    if (!c) abort();
    int32_t partition = data[0] % 50;
    size_t pos = 1;
    while (size - pos >= RB_HEADER_BYTES) {
        struct rb_header h;
        if (rb_parse_header(data + pos, size - pos, &h) != 0) break;
        uint64_t total = rb_total_bytes(&h);
        if (total < RB_HEADER_BYTES || total > size - pos) break;
        group_load_batch(c, partition, data + pos, (uint32_t)total);
        pos += total;
    }
    /* destroy expects the loop gone; here it lives on, so free the timer slot. */
    if (c->timer_id) net_timer_cancel(broker->loop, c->timer_id);
    group_coordinator_destroy(c);
    return 0;
}
