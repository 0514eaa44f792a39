/*
 * The topic registry: topics by name and by id, their partitions and the
 * partition logs behind them. Changes are written to the metadata log
 * first and applied second, so what a client was told exists survives a
 * crash.
 */
#include "broker/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"
#include "core/log.h"
#include "protocol/record_batch.h"
#include "storage/fileio.h"
#include "storage/log_summary.h"
#include "storage/prefetch.h"
#include "storage/producer_state.h"
#include "storage/storage_limits.h"

static uint32_t hash_bytes(const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t h = 2166136261u;  /* FNV-1a: short keys, no adversarial concern here */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static uint32_t name_bucket(const char *name, size_t len) { return hash_bytes(name, len) & (TOPIC_BUCKETS - 1); }
static uint32_t id_bucket(const struct kuuid *id) { return hash_bytes(id->bytes, 16) & (TOPIC_BUCKETS - 1); }

struct topic *topic_find(struct broker *b, struct kstr name) {
    if (name.len <= 0) return NULL;
    for (struct topic *t = b->topic_buckets[name_bucket(name.ptr, (size_t)name.len)]; t; t = t->next_in_bucket)
        if (strlen(t->name) == (size_t)name.len && memcmp(t->name, name.ptr, (size_t)name.len) == 0) return t;
    return NULL;
}

struct topic *topic_find_id(struct broker *b, const struct kuuid *id) {
    for (struct topic *t = b->topic_id_buckets[id_bucket(id)]; t; t = t->next_in_id_bucket)
        if (memcmp(t->id.bytes, id->bytes, 16) == 0) return t;
    return NULL;
}

struct partition *partition_find(struct topic *t, int32_t index) {
    if (!t || index < 0 || index >= t->partition_count) return NULL;
    return t->partitions[index];
}

void topic_each(struct broker *b, topic_visit_fn fn, void *ctx) {
    for (size_t i = 0; i < TOPIC_BUCKETS; i++) {
        struct topic *t = b->topic_buckets[i];
        while (t) {
            struct topic *next = t->next_in_bucket;  /* fn may delete t */
            fn(ctx, t);
            t = next;
        }
    }
}

const char *topic_name_invalid(struct kstr name) {
    if (name.len <= 0) return "Topic name is empty";
    if (name.len > LIMIT_TOPIC_NAME_LEN_MAX) return "Topic name is longer than 249 characters";
    if ((name.len == 1 && name.ptr[0] == '.') || (name.len == 2 && name.ptr[0] == '.' && name.ptr[1] == '.'))
        return "Topic name cannot be \".\" or \"..\"";
    for (int32_t i = 0; i < name.len; i++) {
        char c = name.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        if (!ok) return "Topic name contains characters other than ASCII alphanumerics, '.', '_' and '-'";
    }
    return NULL;
}

/* ------------------------------------------------------------ registration */

static struct topic *topic_new(const char *name, const struct kuuid *id) {
    struct topic *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->name = strdup(name);
    if (!t->name) {
        free(t);
        return NULL;
    }
    t->id = *id;
    t->internal = strcmp(name, "__consumer_offsets") == 0 || strcmp(name, "__transaction_state") == 0;
    return t;
}

static void topic_link(struct broker *b, struct topic *t) {
    uint32_t nb = name_bucket(t->name, strlen(t->name));
    t->next_in_bucket = b->topic_buckets[nb];
    b->topic_buckets[nb] = t;
    uint32_t ib = id_bucket(&t->id);
    t->next_in_id_bucket = b->topic_id_buckets[ib];
    b->topic_id_buckets[ib] = t;
    b->topic_count++;
}

static void topic_unlink(struct broker *b, struct topic *t) {
    struct topic **pp = &b->topic_buckets[name_bucket(t->name, strlen(t->name))];
    while (*pp && *pp != t) pp = &(*pp)->next_in_bucket;
    if (*pp) *pp = t->next_in_bucket;
    pp = &b->topic_id_buckets[id_bucket(&t->id)];
    while (*pp && *pp != t) pp = &(*pp)->next_in_id_bucket;
    if (*pp) *pp = t->next_in_id_bucket;
    b->topic_count--;
}

static void topic_free(struct topic *t) {
    for (int32_t i = 0; i < t->partition_count; i++) free(t->partitions[i]);
    free(t->partitions);
    for (size_t i = 0; i < TOPIC_CONFIG_KEYS_MAX; i++) free(t->config.overrides[i]);
    free(t->name);
    free(t);
}

/* Grows the partition table to `count` empty slots-filled entries. */
static int topic_grow(struct topic *t, int32_t count) {
    if (count <= t->partition_count) return 0;
    struct partition **parts = realloc(t->partitions, sizeof(*parts) * (size_t)count);
    if (!parts) return -1;
    t->partitions = parts;
    for (int32_t i = t->partition_count; i < count; i++) {
        parts[i] = calloc(1, sizeof(**parts));
        if (!parts[i]) {
            t->partition_count = i;
            return -1;
        }
        parts[i]->topic = t;
        parts[i]->index = i;
    }
    t->partition_count = count;
    return 0;
}

/* -------------------------------------------------- applying metadata records */

int topic_apply_record(struct broker *b, const char *name, const struct kuuid *id) {
    if (topic_find_id(b, id)) return 0;
    struct topic *t = topic_new(name, id);
    if (!t) return -1;
    topic_config_apply(b, t);
    topic_link(b, t);
    return 0;
}

int topic_apply_partition(struct broker *b, const struct kuuid *id, int32_t index, int32_t leader_epoch) {
    struct topic *t = topic_find_id(b, id);
    if (!t || index < 0 || index >= LIMIT_PARTITIONS_PER_TOPIC_MAX) return -1;
    if (topic_grow(t, index + 1) != 0) return -1;
    t->partitions[index]->leader_epoch = leader_epoch < 0 ? 0 : leader_epoch;
    return 0;
}

int topic_apply_remove(struct broker *b, const struct kuuid *id) {
    struct topic *t = topic_find_id(b, id);
    if (!t) return 0;
    topic_unlink(b, t);
    topic_free(t);
    return 0;
}

/* ------------------------------------------------------------ partition logs */

int partition_dir(const struct broker *b, const struct partition *p, char *buf, size_t len) {
    int n = snprintf(buf, len, "%s/%s-%d", b->data_dir, p->topic->name, p->index);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

struct replay_ctx {
    struct producer_state *ps;
};

/* Rebuilds producer state from batches appended after the last snapshot. */
static int replay_producer_batch(void *opaque, const uint8_t *batch, uint32_t len) {
    struct replay_ctx *rc = opaque;
    struct rb_header h;
    if (rb_parse_header(batch, len, &h) != 0) return 0;
    if (h.producer_id >= 0 && !(h.attributes & RB_ATTR_CONTROL))
        pstate_record(rc->ps, h.producer_id, h.producer_epoch, h.base_sequence, h.last_offset_delta + 1,
                      h.base_offset, h.max_timestamp);
    return 0;
}

/* Producer state: the newest snapshot, then the batches after it. */
static int partition_load_producers(struct partition *p, const char *dir) {
    p->producers = pstate_create();
    if (!p->producers) return -ENOMEM;
    int64_t end = plog_end_offset(p->log);
    int64_t snap = 0;
    bool loaded = pstate_snapshot_load(p->producers, dir, end, &snap) == 0;
    if (!loaded) {
        /* No usable snapshot: rebuild from the whole log. */
        pstate_destroy(p->producers);
        p->producers = pstate_create();
        if (!p->producers) return -ENOMEM;
        snap = plog_start_offset(p->log);
    }
    if (snap < end) {
        struct replay_ctx rctx = {p->producers};
        plog_scan(p->log, snap, replay_producer_batch, &rctx);
    }
    p->last_snapshot_offset = loaded ? snap : -1;
    return 0;
}

/* Producer state kept in the start-up summary: none, or its bytes; -1
 * when it is in the snapshot file only (too large) or does not decode. */
static int partition_producers_from_summary(struct partition *p, const struct log_summary_producers *saved) {
    if (saved->count > 0 && !saved->state) return -1;
    p->producers = pstate_create();
    if (!p->producers) return -1;
    if (saved->state && pstate_snapshot_decode(p->producers, saved->state, saved->state_len,
                                               plog_end_offset(p->log)) != 0) {
        log_warn("storage", "start-up summary producer state unusable, reading snapshot topic=%s partition=%d",
                 p->topic->name, p->index);
        pstate_destroy(p->producers);
        p->producers = NULL;
        return -1;
    }
    p->last_snapshot_offset = saved->snapshot_offset;
    return 0;
}

/* Opens from the start-up summary when `saved` is given and usable, else
 * by recovery. From the summary (producer state included), the partition
 * opens without a single read. */
static int partition_open_saved(struct broker *b, struct partition *p, const struct log_summary_entry *saved) {
    char dir[PATH_MAX];
    if (partition_dir(b, p, dir, sizeof(dir)) != 0) return -ENAMETOOLONG;
    int rc = saved ? plog_open_summarized(dir, &p->topic->config.log, saved, &p->log) : -ENOENT;
    if (saved && rc != 0)
        log_warn("storage", "start-up summary entry unusable, recovering partition topic=%s partition=%d error=%s",
                 p->topic->name, p->index, strerror(-rc));
    bool from_summary = rc == 0;
    if (!from_summary) {
        struct log_recovery_report report = {0};
        rc = plog_open(dir, &p->topic->config.log, &p->log, &report);
        if (rc != 0) {
            log_error("storage", "cannot open partition log topic=%s partition=%d dir=%s error=%s", p->topic->name,
                      p->index, dir, strerror(-rc));
            return rc;
        }
        if (report.truncated_bytes || report.indexes_rebuilt || report.stray_files_removed)
            log_warn("storage", "recovered partition topic=%s partition=%d truncated_bytes=%llu indexes_rebuilt=%u stray_files_removed=%u",
                     p->topic->name, p->index, (unsigned long long)report.truncated_bytes, report.indexes_rebuilt,
                     report.stray_files_removed);
    }
    plog_set_leader_epoch(p->log, p->leader_epoch);
    p->high_watermark = plog_end_offset(p->log);
    if (from_summary && partition_producers_from_summary(p, &saved->producers) == 0) return 0;
    return partition_load_producers(p, dir);
}

int partition_open(struct broker *b, struct partition *p) { return partition_open_saved(b, p, NULL); }

/* Written even when empty, so producers that expired do not come back
 * from an older snapshot at the next start; skipped when the last one
 * still holds (a partition idle since the start), which makes stopping a
 * broker of 100,000 mostly idle partitions fast. */
static void partition_snapshot_producers(struct broker *b, struct partition *p) {
    char dir[PATH_MAX];
    if (!p->log || !p->producers) return;
    int64_t end = plog_end_offset(p->log);
    if (end == p->last_snapshot_offset && !p->producers_expired) return;
    if (partition_dir(b, p, dir, sizeof(dir)) == 0 && pstate_snapshot_write(p->producers, dir, end) == 0) {
        p->last_snapshot_offset = end;
        p->producers_expired = false;
    }
}

enum partition_close_mode {
    PARTITION_CLOSE_KEEP,    /* snapshot, seal, clean-shutdown marker */
    PARTITION_CLOSE_REMOVE,  /* the topic is gone: remove the files */
    PARTITION_CLOSE_PREPARED /* shutdown: snapshot and seal done by close_all */
};

/* 0 when the log was closed with its clean-shutdown marker on disk. */
static int partition_close(struct broker *b, struct partition *p, enum partition_close_mode mode, bool durable) {
    fetch_drop_partition(b, p);
    int rc = -ENOENT;
    if (p->log) {
        if (mode == PARTITION_CLOSE_REMOVE) {
            plog_remove(p->log);
        } else if (mode == PARTITION_CLOSE_PREPARED && !durable) {
            plog_close_unclean(p->log);
        } else {
            if (mode == PARTITION_CLOSE_KEEP) partition_snapshot_producers(b, p);
            rc = plog_close(p->log);
        }
        p->log = NULL;
    }
    if (p->producers) pstate_destroy(p->producers);
    p->producers = NULL;
    return rc;
}

/* Directories of partitions that the metadata log no longer has: left by
 * a crash between a topic's removal record and its files' removal. */
static void remove_orphan_dirs(struct broker *b) {
    DIR *d = opendir(b->data_dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *dash = strrchr(e->d_name, '-');
        if (!dash || dash == e->d_name || e->d_name[0] == '.') continue;
        if (strcmp(e->d_name, METADATA_TOPIC_NAME "-0") == 0) continue;
        char *end;
        long idx = strtol(dash + 1, &end, 10);
        if (*end || end == dash + 1 || idx < 0) continue;
        struct kstr name = {e->d_name, (int32_t)(dash - e->d_name)};
        struct topic *t = topic_find(b, name);
        if (t && idx < t->partition_count) continue;
        char path[PATH_MAX];
        int n = snprintf(path, sizeof(path), "%s/%s", b->data_dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof(path)) continue;
        struct plog *log = NULL;
        struct log_config cfg = b->cfg.log;
        if (plog_open(path, &cfg, &log, NULL) == 0) {
            log_warn("storage", "removing partition directory of a deleted topic dir=%s", path);
            plog_remove(log);
        }
    }
    closedir(d);
}

/* Every partition to open at start, in one order shared by the opener and
 * the warm-up threads reading ahead of it (storage/prefetch.h). */
struct open_list {
    struct broker *b;
    struct partition **parts;
    char **dirs;
    uint32_t count, cap;
    bool failed;
    uint32_t from_summary, summary_failed; /* opened at once from the start-up summary */
};

/* The partition's directory name under the data directory. */
static const char *partition_dir_name(const struct broker *b, const char *path) {
    return path + strlen(b->data_dir) + 1;
}

/* A partition the start-up summary describes opens now, with no I/O; the
 * others are listed for the read-ahead threads and the opener. */
static bool open_from_summary(struct open_list *ol, struct partition *p) {
    char dir[PATH_MAX];
    struct log_summary_entry e;
    if (!ol->b->summary || partition_dir(ol->b, p, dir, sizeof(dir)) != 0 ||
        !log_summary_find(ol->b->summary, partition_dir_name(ol->b, dir), &e))
        return false;
    if (partition_open_saved(ol->b, p, &e) == 0) ol->from_summary++;
    else ol->summary_failed++;
    return true;
}

static void list_topic_partitions(void *opaque, struct topic *t) {
    struct open_list *ol = opaque;
    for (int32_t i = 0; i < t->partition_count && !ol->failed; i++) {
        struct partition *p = t->partitions[i];
        if (p->log || open_from_summary(ol, p)) continue;
        if (ol->count == ol->cap) {
            uint32_t cap = ol->cap ? ol->cap * 2 : 1024;
            struct partition **parts = realloc(ol->parts, cap * sizeof(*parts));
            if (parts) ol->parts = parts;
            char **dirs = realloc(ol->dirs, cap * sizeof(*dirs));
            if (dirs) ol->dirs = dirs;
            if (!parts || !dirs) {
                ol->failed = true;
                return;
            }
            ol->cap = cap;
        }
        char dir[PATH_MAX];
        if (partition_dir(ol->b, p, dir, sizeof(dir)) != 0 || !(ol->dirs[ol->count] = strdup(dir))) {
            ol->failed = true;
            return;
        }
        ol->parts[ol->count++] = p;
    }
}

int topics_open_all(struct broker *b) {
    b->data_dir_fd = open(b->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    remove_orphan_dirs(b);
    struct open_list ol = {.b = b};
    topic_each(b, list_topic_partitions, &ol);
    if (b->summary)
        log_info("storage", "partitions opened from start-up summary summarized=%u opened_by_recovery=%u",
                 ol.from_summary, ol.count);
    log_summary_free(b->summary);
    b->summary = NULL;
    uint32_t failed = ol.failed + ol.summary_failed;
    struct log_prefetch *warm =
        failed ? NULL : log_prefetch_start((const char *const *)ol.dirs, ol.count, b->cfg.recovery_threads);
    for (uint32_t i = 0; i < ol.count && !ol.failed; i++) {
        if (partition_open(b, ol.parts[i]) != 0) failed++;
        log_prefetch_progress(warm, i);
    }
    log_prefetch_finish(warm);
    for (uint32_t i = 0; i < ol.count; i++) free(ol.dirs[i]);
    free(ol.dirs);
    free(ol.parts);
    return failed ? -1 : 0;
}

static void prepare_topic_close(void *opaque, struct topic *t) {
    struct broker *b = opaque;
    for (int32_t i = 0; i < t->partition_count; i++) {
        struct partition *p = t->partitions[i];
        partition_snapshot_producers(b, p);
        if (p->log) plog_close_prepare(p->log);
    }
}

struct close_all_ctx {
    struct broker *b;
    bool durable;
    struct log_summary_writer *summary; /* NULL: no start-up summary this time */
};

/* Records the partition in the start-up summary before its close (which
 * frees the log), and takes it out again if the close left no marker. Its
 * producer state goes in whole, so that the next start need not read the
 * snapshot file. */
static void close_partition_summarized(struct close_all_ctx *cc, struct partition *p) {
    char dir[PATH_MAX];
    bool added = false;
    if (cc->summary && p->log && p->producers && partition_dir(cc->b, p, dir, sizeof(dir)) == 0) {
        struct log_summary_producers prod = {p->last_snapshot_offset, (uint32_t)pstate_producer_count(p->producers),
                                             NULL, 0};
        size_t len = 0;
        uint8_t *state = prod.count > 0 ? pstate_snapshot_encode(p->producers, plog_end_offset(p->log), &len) : NULL;
        if (state && len <= STORAGE_SUMMARY_PRODUCER_BYTES_MAX) {
            prod.state = state;
            prod.state_len = (uint32_t)len;
        }
        added = log_summary_writer_add(cc->summary, partition_dir_name(cc->b, dir), p->log, &prod) == 0;
        free(state);
    }
    int rc = partition_close(cc->b, p, PARTITION_CLOSE_PREPARED, cc->durable);
    if (added && rc != 0) log_summary_writer_drop_last(cc->summary);
}

static void close_topic(void *opaque, struct topic *t) {
    struct close_all_ctx *cc = opaque;
    for (int32_t i = 0; i < t->partition_count; i++) close_partition_summarized(cc, t->partitions[i]);
    topic_unlink(cc->b, t);
    topic_free(t);
}

/* Written last, once every marker it vouches for is durable. */
static void write_summary(struct broker *b, struct log_summary_writer *w) {
    uint64_t t0 = net_now_us();
    int rc = log_summary_writer_commit(w, b->data_dir);
    if (rc >= 0)
        log_info("storage", "start-up summary written partitions=%d ms=%llu", rc,
                 (unsigned long long)((net_now_us() - t0) / 1000));
    else log_error("storage", "cannot write start-up summary, the next start recovers every partition error=%s",
                   strerror(-rc));
}

/* Shutdown: every partition's snapshot and seal, then one file-system sync,
 * then every clean-shutdown marker, then one more sync (storage/fileio.h,
 * plog_close_prepare). A marker is only written once what it vouches for
 * is durable. */
void topics_close_all(struct broker *b) {
    /* Without a descriptor that saw every write, or on a kernel whose
     * syncfs hides writeback errors, each log syncs its own files. */
    bool bulk = b->data_dir_fd >= 0 && fio_syncfs_reports_errors();
    fio_defer_syncs(bulk);
    topic_each(b, prepare_topic_close, b);
    fio_defer_syncs(false);
    int rc = bulk ? fio_syncfs(b->data_dir_fd) : 0;
    if (rc != 0) log_error("storage", "sync at shutdown failed, partitions will be checked at the next start error=%s",
                           strerror(-rc));
    struct close_all_ctx cc = {b, rc == 0, rc == 0 ? log_summary_writer_create() : NULL};
    fio_defer_syncs(bulk);
    topic_each(b, close_topic, &cc);
    fio_defer_syncs(false);
    if (bulk && cc.durable && (rc = fio_syncfs(b->data_dir_fd)) != 0)
        log_error("storage", "sync of clean-shutdown markers failed error=%s", strerror(-rc));
    /* None when nothing was opened (a start that failed early): it would only say so. */
    if (cc.summary && rc == 0 && log_summary_writer_count(cc.summary) > 0) write_summary(b, cc.summary);
    log_summary_writer_free(cc.summary);
    if (b->data_dir_fd >= 0) close(b->data_dir_fd);
    b->data_dir_fd = -1;
}

/* ------------------------------------------------------------ admin changes */

/* Grows t to new_total partitions (already recorded in the metadata log) and opens their logs. */
static int16_t partitions_open_new(struct broker *b, struct topic *t, int32_t new_total, const char **msg) {
    int32_t from = t->partition_count;
    if (topic_grow(t, new_total) != 0) return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    for (int32_t i = from; i < new_total; i++) {
        if (partition_open(b, t->partitions[i]) != 0) {
            *msg = "Cannot create the partition log";
            return KAFKA_ERR_KAFKA_STORAGE_ERROR;
        }
    }
    return KAFKA_ERR_NONE;
}

int16_t topic_create(struct broker *b, const struct topic_create_spec *spec, bool validate_only,
                     struct topic **out, const char **msg) {
    struct kstr name = kstr_c(spec->name);
    const char *why = topic_name_invalid(name);
    if (why) {
        *msg = why;
        return KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
    }
    if (strcmp(spec->name, METADATA_TOPIC_NAME) == 0) {
        *msg = "The metadata log's name is reserved";
        return KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
    }
    if (topic_find(b, name)) {
        *msg = "Topic already exists";
        return KAFKA_ERR_TOPIC_ALREADY_EXISTS;
    }
    int32_t partitions = spec->partitions == -1 ? b->cfg.num_partitions : spec->partitions;
    if (partitions <= 0 || partitions > LIMIT_PARTITIONS_PER_TOPIC_MAX) {
        *msg = "Number of partitions must be larger than 0 and at most 100000";
        return KAFKA_ERR_INVALID_PARTITIONS;
    }
    for (int32_t i = 0; i < spec->config_count; i++) {
        int idx = topic_config_index(spec->config_keys[i]);
        if (idx < 0) {
            *msg = "Unknown topic config name";
            return KAFKA_ERR_INVALID_CONFIG;
        }
        if (topic_config_keys[idx].validate(spec->config_values[i], msg) != 0) return KAFKA_ERR_INVALID_CONFIG;
    }
    if (validate_only) return KAFKA_ERR_NONE;

    struct kuuid id;
    do uuid_random(&id);
    while (topic_find_id(b, &id));
    struct topic *t = topic_new(spec->name, &id);
    if (!t) return KAFKA_ERR_UNKNOWN_SERVER_ERROR;
    /* Topic, configs and partitions reach the log as one batch: a crash
     * leaves either the whole topic or none of it. */
    mlog_begin(b);
    int rc = mlog_append_topic(b, t);
    for (int32_t i = 0; i < spec->config_count && rc == 0; i++)
        rc = mlog_append_config(b, t, spec->config_keys[i], spec->config_values[i]);
    if (rc == 0) rc = mlog_append_partitions(b, t, 0, partitions);
    if (rc == 0) rc = mlog_commit(b);
    else mlog_abort(b);
    if (rc != 0) {
        topic_free(t);
        *msg = "Cannot write the metadata log";
        return KAFKA_ERR_KAFKA_STORAGE_ERROR;
    }
    topic_link(b, t);
    for (int32_t i = 0; i < spec->config_count; i++)
        topic_config_set(b, t, spec->config_keys[i], spec->config_values[i], false, false, msg);
    topic_config_apply(b, t);
    int16_t err = partitions_open_new(b, t, partitions, msg);
    if (err == KAFKA_ERR_NONE) {
        log_info("broker", "topic created topic=%s partitions=%d", t->name, partitions);
        if (out) *out = t;
    }
    return err;
}

int16_t topic_add_partitions(struct broker *b, struct topic *t, int32_t new_total, bool validate_only,
                             const char **msg) {
    if (new_total <= t->partition_count || new_total > LIMIT_PARTITIONS_PER_TOPIC_MAX) {
        *msg = new_total <= t->partition_count ? "Topic already has at least that many partitions"
                                               : "Too many partitions";
        return KAFKA_ERR_INVALID_PARTITIONS;
    }
    if (validate_only) return KAFKA_ERR_NONE;
    mlog_begin(b);
    int rc = mlog_append_partitions(b, t, t->partition_count, new_total);
    if (rc == 0) rc = mlog_commit(b);
    else mlog_abort(b);
    if (rc != 0) {
        *msg = "Cannot write the metadata log";
        return KAFKA_ERR_KAFKA_STORAGE_ERROR;
    }
    return partitions_open_new(b, t, new_total, msg);
}

int16_t topic_delete(struct broker *b, struct topic *t) {
    if (mlog_append_remove_topic(b, t) != 0) return KAFKA_ERR_KAFKA_STORAGE_ERROR;
    log_info("broker", "topic deleted topic=%s partitions=%d", t->name, t->partition_count);
    for (int32_t i = 0; i < t->partition_count; i++) partition_close(b, t->partitions[i], PARTITION_CLOSE_REMOVE, false);
    topic_unlink(b, t);
    topic_free(t);
    return KAFKA_ERR_NONE;
}

struct topic *topic_auto_create(struct broker *b, struct kstr name, int16_t *err) {
    if (!b->cfg.auto_create_topics_enable) {
        *err = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        return NULL;
    }
    char buf[LIMIT_TOPIC_NAME_LEN_MAX + 1];
    if (topic_name_invalid(name)) {
        *err = KAFKA_ERR_INVALID_TOPIC_EXCEPTION;
        return NULL;
    }
    memcpy(buf, name.ptr, (size_t)name.len);
    buf[name.len] = 0;
    struct topic_create_spec spec = {.name = buf, .partitions = -1};
    struct topic *t = NULL;
    const char *msg = NULL;
    *err = topic_create(b, &spec, false, &t, &msg);
    return t;
}
