/*
 * Group coordinator tests with a clock of their own: a real broker (its
 * loop never runs) whose coordinator is driven by direct calls, with held
 * JoinGroup/SyncGroup requests recorded by test waiters, and time moved
 * by group_run_due / group_offsets_expire. Covers the partition function,
 * the string map, session and pending-member expiry, abandoned requests,
 * the sync timeout, offset expiry (retention, deleted topics) and reload
 * from __consumer_offsets. Ends by freeing everything (ASan's leak check).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/internal.h"
#include "check.h"
#include "core/config.h"
#include "core/log.h"
#include "group/group_internal.h"

#define SESSION_MS 6000
#define US_PER_MS 1000ULL
#define TEST_ARENA_BYTES (1024 * 1024)

/* ------------------------------------------------------------ recorders */

struct rec {
    struct group_waiter w;
    bool answered;
    int16_t error;
    int32_t generation;
    char member_id[256];
    char leader[256];
    uint32_t members;
    bool skip;
};

static void copy_kstr(char *dst, size_t cap, struct kstr s) {
    size_t n = s.len > 0 ? (size_t)s.len : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, s.ptr, n);
    dst[n] = 0;
}

static void rec_join(struct group_waiter *w, const struct group_join_reply *r) {
    struct rec *x = (struct rec *)w;
    x->answered = true;
    x->error = r->error;
    x->generation = r->generation;
    copy_kstr(x->member_id, sizeof(x->member_id), r->member_id);
    copy_kstr(x->leader, sizeof(x->leader), r->leader);
    x->members = r->members_of ? group_member_count(r->members_of) : 0;
    x->skip = r->skip_assignment;
}

static void rec_sync(struct group_waiter *w, const struct group_sync_reply *r) {
    struct rec *x = (struct rec *)w;
    x->answered = true;
    x->error = r->error;
}

static void rec_reset(struct rec *x) {
    memset(x, 0, sizeof(*x));
    x->w.join_done = rec_join;
    x->w.sync_done = rec_sync;
    x->error = -2;
}

/* ------------------------------------------------------------ a broker */

static char data_root[] = "/tmp/gregor-test-group-XXXXXX";
static char data_dir[sizeof(data_root) + 16];
static int dir_count;

/* Each test gets its own data directory; a restart reuses the current one. */
static void fresh_dir(void) { snprintf(data_dir, sizeof(data_dir), "%s/%d", data_root, ++dir_count); }

static struct broker *start_broker(void) {
    struct broker_config cfg;
    config_defaults(&cfg);
    char err[256];
    const char *kv[][2] = {
        {"listeners", "PLAINTEXT://127.0.0.1:0"},
        {"log.dirs", data_dir},
        {"group.initial.rebalance.delay.ms", "0"},
        {"group.min.session.timeout.ms", "1000"},
        {"offsets.topic.num.partitions", "3"},
        {"log.level", "warn"},
    };
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) CHECK_EQ_INT(config_set(&cfg, kv[i][0], kv[i][1], err, sizeof(err)), 0);
    CHECK_EQ_INT(config_finish(&cfg, err, sizeof(err)), 0);
    log_set_level(LOG_LEVEL_WARN);
    struct broker *b = broker_create(&cfg);
    CHECK(b != NULL);
    return b;
}

static struct topic *make_topic(struct broker *b, const char *name, int32_t partitions) {
    struct topic_create_spec spec = {.name = name, .partitions = partitions};
    struct topic *t = NULL;
    const char *msg = NULL;
    CHECK_EQ_INT(topic_create(b, &spec, false, &t, &msg), KAFKA_ERR_NONE);
    return t;
}

/* ConsumerProtocolSubscription v0: topics ["t"], null user data. */
static struct kafka_join_group_request_join_group_request_protocol range_protocol = {
    {"range", 5}, {(const uint8_t *)"\0\0" "\0\0\0\1" "\0\1t" "\xff\xff\xff\xff", 13}};

/* The rebalance timeout joins ask for (the sync deadline follows it). */
static int32_t rebalance_ms = SESSION_MS;

static void join(struct group_coordinator *c, struct rec *x, const char *group, const char *member,
                 const char *instance, int16_t version) {
    struct kafka_join_group_request req;
    kafka_join_group_request_init(&req);
    req.group_id = kstr_c(group);
    req.session_timeout_ms = SESSION_MS;
    req.rebalance_timeout_ms = rebalance_ms;
    req.member_id = kstr_c(member);
    req.group_instance_id = instance ? kstr_c(instance) : (struct kstr){NULL, -1};
    req.protocol_type = kstr_c("consumer");
    req.protocols = &range_protocol;
    req.protocols_count = 1;
    struct group_client client = {kstr_c("unit"), "/127.0.0.1"};
    rec_reset(x);
    group_join(c, &req, version, &client, &x->w);
}

/* The v4+ two-step join; returns with the real join answered or held. */
static void join_new(struct group_coordinator *c, struct rec *x, const char *group) {
    join(c, x, group, "", NULL, 5);
    CHECK(x->answered);
    CHECK_EQ_INT(x->error, KAFKA_ERR_MEMBER_ID_REQUIRED);
    char id[256];
    memcpy(id, x->member_id, sizeof(id));
    join(c, x, group, id, NULL, 5);
}

static void sync_(struct group_coordinator *c, struct rec *x, const char *group, int32_t gen, const char *member,
                  bool leader) {
    struct kafka_sync_group_request req;
    kafka_sync_group_request_init(&req);
    struct kafka_sync_group_request_sync_group_request_assignment as = {kstr_c(member), {(const uint8_t *)"a", 1}};
    req.group_id = kstr_c(group);
    req.generation_id = gen;
    req.member_id = kstr_c(member);
    req.assignments = leader ? &as : NULL;
    req.assignments_count = leader ? 1 : 0;
    rec_reset(x);
    group_sync(c, &req, 3, &x->w);
}

static int16_t heartbeat(struct group_coordinator *c, const char *group, int32_t gen, const char *member) {
    struct kafka_heartbeat_request req;
    kafka_heartbeat_request_init(&req);
    req.group_id = kstr_c(group);
    req.generation_id = gen;
    req.member_id = kstr_c(member);
    return group_heartbeat(c, &req);
}

/* Commits one offset (generation -1: no group management). */
static int16_t commit(struct group_coordinator *c, const char *group, const char *topic, int32_t partition,
                      int64_t offset) {
    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct kafka_offset_commit_request_offset_commit_request_partition p;
    kafka_offset_commit_request_offset_commit_request_partition_init(&p);
    p.partition_index = partition;
    p.committed_offset = offset;
    struct kafka_offset_commit_request_offset_commit_request_topic t;
    kafka_offset_commit_request_offset_commit_request_topic_init(&t);
    t.name = kstr_c(topic);
    t.partitions = &p;
    t.partitions_count = 1;
    struct kafka_offset_commit_request req;
    kafka_offset_commit_request_init(&req);
    req.group_id = kstr_c(group);
    req.topics = &t;
    req.topics_count = 1;
    struct kafka_offset_commit_response resp;
    CHECK_EQ_INT(group_offset_commit(c, &req, 8, &a, &resp), 0);
    int16_t err = resp.topics[0].partitions[0].error_code;
    arena_free(&a);
    return err;
}

static int64_t committed(struct group_coordinator *c, const char *group, const char *topic, int32_t partition) {
    struct group *g = group_find(c, kstr_c(group));
    struct group_offset *o = g ? group_offset_find(g, kstr_c(topic), partition) : NULL;
    return o ? o->offset : -1;
}

/* --------------------------------------------------------------- tests */

static void test_partition_for(void) {
    /* Reference values: Java's String.hashCode, then Kafka's Utils.abs. */
    CHECK_EQ_INT(group_partition_for(kstr_c("my-group"), 50), 12);
    CHECK_EQ_INT(group_partition_for(kstr_c(""), 50), 0);
    CHECK_EQ_INT(group_partition_for(kstr_c("polygenelubricants"), 50), 0); /* hashCode is Integer.MIN_VALUE */
    CHECK_EQ_INT(group_partition_for(kstr_c("gr\xc3\xbcppe"), 50), 12);
    CHECK_EQ_INT(group_partition_for(kstr_c("g\xf0\x9f\x98\x80"), 50), 32); /* a surrogate pair */
    CHECK_EQ_INT(group_partition_for(kstr_c("console-consumer-12345"), 50), 6);
    CHECK_EQ_INT(group_partition_for(kstr_c("\xff"), 50), 65533 % 50); /* malformed: U+FFFD */
}

static void test_strmap(void) {
    struct strmap m;
    strmap_init(&m);
    static char keys[2000][16];
    for (int i = 0; i < 2000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        CHECK_EQ_INT(strmap_put(&m, keys[i], strlen(keys[i]), keys[i]), 0);
    }
    CHECK_EQ_INT(m.count, 2000);
    for (int i = 0; i < 2000; i += 2) CHECK(strmap_del(&m, keys[i], strlen(keys[i])) == keys[i]);
    CHECK(strmap_del(&m, "k0", 2) == NULL);
    for (int i = 0; i < 2000; i++)
        CHECK(strmap_get(&m, keys[i], strlen(keys[i])) == (i % 2 ? keys[i] : NULL));
    uint32_t pos = 0, n = 0;
    void *v;
    while (strmap_next(&m, &pos, &v)) n++;
    CHECK_EQ_INT(n, 1000);
    /* Keys with NUL bytes and prefixes of each other are distinct. */
    CHECK_EQ_INT(strmap_put(&m, "a\0b", 3, keys[1]), 0);
    CHECK(strmap_get(&m, "a", 1) == NULL);
    CHECK(strmap_get(&m, "a\0b", 3) == keys[1]);
    for (int i = 1; i < 2000; i += 2) strmap_del(&m, keys[i], strlen(keys[i]));
    strmap_del(&m, "a\0b", 3);
    CHECK_EQ_INT(m.count, 0);
    strmap_free(&m);
}

static void test_session_expiry_rebalances(void) {
    fresh_dir();
    struct broker *b = start_broker();
    struct group_coordinator *c = b->groups;
    struct rec m1, m2, s;
    join_new(c, &m1, "g");
    /* The first join of an empty group completes on the timer (initial delay 0). */
    group_run_due(c, group_now_us());
    group_run_due(c, group_now_us());
    CHECK(m1.answered);
    CHECK_EQ_INT(m1.error, KAFKA_ERR_NONE);
    CHECK_EQ_INT(m1.generation, 1);
    CHECK_EQ_INT(m1.members, 1);
    sync_(c, &s, "g", 1, m1.member_id, true);
    CHECK(s.answered && s.error == KAFKA_ERR_NONE);
    CHECK_EQ_INT(heartbeat(c, "g", 1, m1.member_id), KAFKA_ERR_NONE);
    /* A second member: held until the first rejoins or is gone. */
    join_new(c, &m2, "g");
    CHECK(!m2.answered);
    CHECK_EQ_INT(c->held_requests, 1);
    CHECK_EQ_INT(heartbeat(c, "g", 1, m1.member_id), KAFKA_ERR_REBALANCE_IN_PROGRESS);
    /* m1 never rejoins and stops heartbeating: its session ends. */
    uint64_t later = group_now_us() + (SESSION_MS + 100) * US_PER_MS;
    group_run_due(c, later);
    CHECK(m2.answered);
    CHECK_EQ_INT(m2.error, KAFKA_ERR_NONE);
    CHECK_EQ_INT(m2.generation, 2);
    CHECK(strcmp(m2.leader, m2.member_id) == 0);
    CHECK_EQ_INT(heartbeat(c, "g", 1, m1.member_id), KAFKA_ERR_UNKNOWN_MEMBER_ID);
    sync_(c, &s, "g", 2, m2.member_id, true);
    CHECK(s.answered && s.error == KAFKA_ERR_NONE);
    struct group *g = group_find(c, kstr_c("g"));
    CHECK(g && g->state == GROUP_STABLE);
    /* Then m2 goes silent too: the group ends Empty, a generation later. */
    group_run_due(c, later + (2 * SESSION_MS + 100) * US_PER_MS);
    CHECK_EQ_INT(g->state, GROUP_EMPTY);
    CHECK_EQ_INT(g->generation, 3);
    CHECK_EQ_INT(g->member_count, 0);
    CHECK_EQ_INT(c->held_requests, 0);
    broker_destroy(b);
}

static void test_pending_member_expires(void) {
    fresh_dir();
    struct broker *b = start_broker();
    struct group_coordinator *c = b->groups;
    struct rec x;
    join(c, &x, "pending", "", NULL, 5);
    CHECK_EQ_INT(x.error, KAFKA_ERR_MEMBER_ID_REQUIRED);
    struct group *g = group_find(c, kstr_c("pending"));
    CHECK(g && g->pending.count == 1);
    CHECK_EQ_INT(c->member_count, 1);
    group_run_due(c, group_now_us() + (SESSION_MS + 100) * US_PER_MS);
    /* Nothing left worth keeping: the group is gone. */
    CHECK(group_find(c, kstr_c("pending")) == NULL);
    CHECK_EQ_INT(c->member_count, 0);
    /* Its id is no good any more. */
    join(c, &x, "pending", "made-up", NULL, 5);
    CHECK_EQ_INT(x.error, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    broker_destroy(b);
}

static void test_abandoned_join_and_sync_timeout(void) {
    fresh_dir();
    struct broker *b = start_broker();
    struct group_coordinator *c = b->groups;
    struct rec m1, m2, s1;
    rebalance_ms = SESSION_MS / 3;
    join_new(c, &m1, "ab");
    group_run_due(c, group_now_us());
    group_run_due(c, group_now_us());
    sync_(c, &s1, "ab", 1, m1.member_id, true);
    join_new(c, &m2, "ab");
    CHECK(!m2.answered);
    /* m2's connection dies: its waiter is withdrawn, the member stays. */
    group_waiter_abandon(&m2.w);
    CHECK_EQ_INT(c->held_requests, 0);
    char id1[256];
    memcpy(id1, m1.member_id, sizeof(id1));
    join(c, &m1, "ab", id1, NULL, 5);
    CHECK(m1.answered);
    CHECK_EQ_INT(m1.error, KAFKA_ERR_NONE);
    CHECK_EQ_INT(m1.generation, 2);
    CHECK_EQ_INT(m1.members, 2);
    CHECK(!m2.answered);
    /* Only the leader syncs; m2 owes a SyncGroup and is removed after the
     * rebalance timeout, which starts another rebalance. */
    sync_(c, &s1, "ab", 2, m1.member_id, true);
    CHECK(s1.answered && s1.error == KAFKA_ERR_NONE);
    struct group *g = group_find(c, kstr_c("ab"));
    CHECK_EQ_INT(g->state, GROUP_STABLE);
    CHECK_EQ_INT(heartbeat(c, "ab", 2, m1.member_id), KAFKA_ERR_NONE);
    group_run_due(c, group_now_us() + (SESSION_MS / 3 + 100) * US_PER_MS);
    CHECK_EQ_INT(g->member_count, 1);
    CHECK(g->state == GROUP_PREPARING_REBALANCE || g->state == GROUP_COMPLETING_REBALANCE);
    CHECK_EQ_INT(heartbeat(c, "ab", 2, m1.member_id), KAFKA_ERR_REBALANCE_IN_PROGRESS);
    rebalance_ms = SESSION_MS;
    broker_destroy(b);
}

static void test_offset_expiry(void) {
    fresh_dir();
    struct broker *b = start_broker();
    struct group_coordinator *c = b->groups;
    make_topic(b, "t", 2);
    struct topic *gone = make_topic(b, "gone", 1);
    CHECK_EQ_INT(commit(c, "simple", "t", 0, 5), KAFKA_ERR_NONE);
    CHECK_EQ_INT(commit(c, "simple", "gone", 0, 7), KAFKA_ERR_NONE);
    CHECK_EQ_INT(commit(c, "simple", "missing", 0, 7), KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    CHECK_EQ_INT(committed(c, "simple", "t", 0), 5);
    int64_t now = group_wall_ms();
    /* Before retention nothing goes, but a deleted topic's offsets do. */
    CHECK_EQ_INT(topic_delete(b, gone), KAFKA_ERR_NONE);
    group_offsets_expire(c, now + 1000);
    CHECK_EQ_INT(committed(c, "simple", "t", 0), 5);
    CHECK_EQ_INT(committed(c, "simple", "gone", 0), -1);
    /* After retention (by commit time: no group management) all goes. */
    group_offsets_expire(c, now + c->retention_ms + 1000);
    CHECK(group_find(c, kstr_c("simple")) == NULL);
    CHECK_EQ_INT(c->offset_count, 0);
    /* An Empty consumer group expires by the time it became Empty. */
    struct rec m, s;
    join_new(c, &m, "cg");
    group_run_due(c, group_now_us());
    group_run_due(c, group_now_us());
    sync_(c, &s, "cg", 1, m.member_id, true);
    struct kafka_offset_commit_request_offset_commit_request_partition p;
    kafka_offset_commit_request_offset_commit_request_partition_init(&p);
    p.partition_index = 1;
    p.committed_offset = 9;
    struct kafka_offset_commit_request_offset_commit_request_topic t;
    kafka_offset_commit_request_offset_commit_request_topic_init(&t);
    t.name = kstr_c("t");
    t.partitions = &p;
    t.partitions_count = 1;
    struct kafka_offset_commit_request req;
    kafka_offset_commit_request_init(&req);
    req.group_id = kstr_c("cg");
    req.generation_id_or_member_epoch = 1;
    req.member_id = kstr_c(m.member_id);
    req.topics = &t;
    req.topics_count = 1;
    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct kafka_offset_commit_response resp;
    CHECK_EQ_INT(group_offset_commit(c, &req, 8, &a, &resp), 0);
    CHECK_EQ_INT(resp.topics[0].partitions[0].error_code, KAFKA_ERR_NONE);
    arena_free(&a);
    /* Stable and subscribed: kept however old. */
    group_offsets_expire(c, now + 10 * c->retention_ms);
    CHECK_EQ_INT(committed(c, "cg", "t", 1), 9);
    group_run_due(c, group_now_us() + (SESSION_MS + 100) * US_PER_MS);  /* the member times out */
    struct group *g = group_find(c, kstr_c("cg"));
    CHECK(g && g->state == GROUP_EMPTY);
    int64_t empty_since = g ? g->state_ms : now;
    group_offsets_expire(c, empty_since + c->retention_ms - 1000);
    CHECK_EQ_INT(committed(c, "cg", "t", 1), 9);
    group_offsets_expire(c, empty_since + c->retention_ms + 1000);
    CHECK(group_find(c, kstr_c("cg")) == NULL);
    broker_destroy(b);
}

static void test_reload(void) {
    fresh_dir();
    struct broker *b = start_broker();
    struct group_coordinator *c = b->groups;
    make_topic(b, "r", 3);
    struct rec m, s;
    join_new(c, &m, "rg");
    group_run_due(c, group_now_us());
    group_run_due(c, group_now_us());
    sync_(c, &s, "rg", 1, m.member_id, true);
    CHECK_EQ_INT(commit(c, "offsets-only", "r", 2, 77), KAFKA_ERR_NONE);
    CHECK_EQ_INT(commit(c, "offsets-only", "r", 2, 78), KAFKA_ERR_NONE);
    char member[256];
    memcpy(member, m.member_id, sizeof(member));
    broker_destroy(b);

    b = start_broker();
    c = b->groups;
    CHECK_EQ_INT(committed(c, "offsets-only", "r", 2), 78);
    struct group *g = group_find(c, kstr_c("rg"));
    CHECK(g != NULL);
    if (g) {
        /* The member comes back and may carry on at its generation. */
        CHECK_EQ_INT(g->state, GROUP_STABLE);
        CHECK_EQ_INT(g->generation, 1);
        CHECK_EQ_INT(heartbeat(c, "rg", 1, member), KAFKA_ERR_NONE);
        sync_(c, &s, "rg", 1, member, false);
        CHECK(s.answered && s.error == KAFKA_ERR_NONE);
        group_run_due(c, group_now_us() + (SESSION_MS + 100) * US_PER_MS);
        CHECK_EQ_INT(g->state, GROUP_EMPTY);
        CHECK_EQ_INT(g->generation, 2);
    }
    broker_destroy(b);
    b = start_broker();
    g = group_find(b->groups, kstr_c("rg"));
    CHECK(g && g->state == GROUP_EMPTY && g->generation == 2 && g->member_count == 0);
    broker_destroy(b);
}

int main(void) {
    if (!mkdtemp(data_root)) return 2;
    TEST_RUN(test_partition_for);
    TEST_RUN(test_strmap);
    TEST_RUN(test_session_expiry_rebalances);
    TEST_RUN(test_pending_member_expires);
    TEST_RUN(test_abandoned_join_and_sync_timeout);
    TEST_RUN(test_offset_expiry);
    TEST_RUN(test_reload);
    char cmd[sizeof(data_root) + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", data_root);
    if (system(cmd) != 0) return 2;
    TEST_EXIT();
}
