/*
 * Codec tests: every generated message at every valid version is filled
 * with sample values, encoded, decoded and encoded again (the bytes must
 * match), and every truncation of the encoding must fail to decode. Hand
 * written byte vectors from the protocol spec pin the wire format itself,
 * since a round trip alone would accept an encoder and decoder that agree
 * on the wrong format. Wire primitives are tested at their edges.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/arena.h"
#include "core/limits.h"
#include "core/obuf.h"
#include "gen/kafka_samples.c"
#include "protocol/gen/kafka_errors.h"
#include "protocol/gen/kafka_msgs.h"
#include "protocol/wire.h"

/* Enough for the largest sample message several times over. */
#define TEST_ARENA_BYTES (16 * 1024 * 1024)
#define TEST_OBUF_BYTES (16 * 1024 * 1024)

static bool bytes_eq(const struct obuf *ob, const uint8_t *want, size_t n) {
    return ob->len == n && (n == 0 || memcmp(ob->data, want, n) == 0);
}

/* ------------------------------------------------------------ round trips */

static int roundtrip_versions;
static int roundtrip_messages;

/* One message, one version, one sample variant. Returns false on failure. */
static bool roundtrip_one(const struct ksample_entry *e, int16_t v, bool nulls) {
    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct obuf ob1, ob2;
    obuf_init(&ob1, TEST_OBUF_BYTES);
    obuf_init(&ob2, TEST_OBUF_BYTES);
    bool ok = true;

    void *m = arena_alloc(&a, e->size);
    void *d = arena_alloc(&a, e->size);
    struct ksample s = {.n = (uint32_t)v * 7, .nulls = nulls};
    e->fill(m, v, &a, &s);
    if (e->encode(m, &ob1, v) != 0) {
        fprintf(stderr, "%s v%d%s: encode failed\n", e->name, v, nulls ? " (nulls)" : "");
        ok = false;
        goto out;
    }
    struct kreader r;
    kreader_init(&r, ob1.data, ob1.len);
    if (e->decode(d, &r, v, &a) != 0 || r.err || r.p != r.end) {
        fprintf(stderr, "%s v%d%s: decode failed (%zu of %zu bytes left)\n", e->name, v,
                nulls ? " (nulls)" : "", kr_remaining(&r), ob1.len);
        ok = false;
        goto out;
    }
    if (e->encode(d, &ob2, v) != 0 || !bytes_eq(&ob2, ob1.data, ob1.len)) {
        fprintf(stderr, "%s v%d%s: re-encoding differs (%zu vs %zu bytes)\n", e->name, v,
                nulls ? " (nulls)" : "", ob2.len, ob1.len);
        ok = false;
        goto out;
    }
    /* Every strict prefix is short by at least one byte the decoder needs. */
    for (size_t n = 0; n < ob1.len; n++) {
        struct arena ta;
        arena_init(&ta, TEST_ARENA_BYTES);
        void *t = arena_alloc(&ta, e->size);
        /* A copy of exactly n bytes, so ASan catches any read past the end. */
        uint8_t *copy = arena_alloc(&ta, n ? n : 1);
        memcpy(copy, ob1.data, n);
        kreader_init(&r, copy, n);
        int rc = e->decode(t, &r, v, &ta);
        arena_free(&ta);
        if (rc == 0) {
            fprintf(stderr, "%s v%d%s: a %zu-byte prefix of %zu decoded\n", e->name, v,
                    nulls ? " (nulls)" : "", n, ob1.len);
            ok = false;
            break;
        }
    }
out:
    obuf_free(&ob1);
    obuf_free(&ob2);
    arena_free(&a);
    return ok;
}

static void test_roundtrip_every_message_every_version(void) {
    CHECK(ksample_count >= 245);
    for (size_t i = 0; i < ksample_count; i++) {
        const struct ksample_entry *e = &ksample_table[i];
        bool all = true;
        for (int v = e->min_version; v <= e->max_version; v++) {
            bool ok = roundtrip_one(e, (int16_t)v, false) && roundtrip_one(e, (int16_t)v, true);
            CHECK(ok);
            all = all && ok;
            if (ok) roundtrip_versions++;
        }
        if (all) roundtrip_messages++;
    }
    printf("round-tripped %d messages, %d message versions (each with sample values and with nulls)\n",
           roundtrip_messages, roundtrip_versions);
}

static void test_versions_out_of_range(void) {
    for (size_t i = 0; i < ksample_count; i++) {
        const struct ksample_entry *e = &ksample_table[i];
        struct arena a;
        arena_init(&a, TEST_ARENA_BYTES);
        struct obuf ob;
        obuf_init(&ob, TEST_OBUF_BYTES);
        void *m = arena_alloc(&a, e->size);
        e->init(m);
        int16_t bad[2] = {(int16_t)(e->min_version - 1), (int16_t)(e->max_version + 1)};
        for (int k = 0; k < 2; k++) {
            CHECK_EQ_INT(e->encode(m, &ob, bad[k]), -1);
            struct kreader r;
            kreader_init(&r, NULL, 0);
            CHECK_EQ_INT(e->decode(m, &r, bad[k], &a), -1);
        }
        CHECK_EQ_INT(ob.len, 0);
        obuf_free(&ob);
        arena_free(&a);
    }
}

/* A struct straight from init encodes at every version: defaults never
 * violate nullability. */
static void test_defaults_encode(void) {
    for (size_t i = 0; i < ksample_count; i++) {
        const struct ksample_entry *e = &ksample_table[i];
        for (int v = e->min_version; v <= e->max_version; v++) {
            struct arena a;
            arena_init(&a, TEST_ARENA_BYTES);
            struct obuf ob;
            obuf_init(&ob, TEST_OBUF_BYTES);
            void *m = arena_alloc(&a, e->size);
            e->init(m);
            int rc = e->encode(m, &ob, (int16_t)v);
            if (rc != 0) fprintf(stderr, "%s v%d: default struct does not encode\n", e->name, v);
            CHECK_EQ_INT(rc, 0);
            obuf_free(&ob);
            arena_free(&a);
        }
    }
}

/* ------------------------------------------------------------ golden bytes */

static void test_golden_api_versions_request_v3(void) {
    static const uint8_t in[] = {
        0x0b, 'l', 'i', 'b', 'r', 'd', 'k', 'a', 'f', 'k', 'a', /* compact string, len 10 */
        0x06, '2', '.', '3', '.', '0',                          /* compact string, len 5 */
        0x00,                                                   /* no tagged fields */
    };
    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct kreader r;
    kreader_init(&r, in, sizeof(in));
    struct kafka_api_versions_request m;
    CHECK_EQ_INT(kafka_api_versions_request_decode(&m, &r, 3, &a), 0);
    CHECK(r.p == r.end);
    CHECK(kstr_eq(m.client_software_name, "librdkafka"));
    CHECK(kstr_eq(m.client_software_version, "2.3.0"));
    CHECK(m.client_software_name.ptr == (const char *)in + 1); /* points into the frame */
    char *dup = kstr_dup(&a, m.client_software_version);
    CHECK(dup && strcmp(dup, "2.3.0") == 0);

    struct obuf ob;
    obuf_init(&ob, TEST_OBUF_BYTES);
    CHECK_EQ_INT(kafka_api_versions_request_encode(&m, &ob, 3), 0);
    CHECK(bytes_eq(&ob, in, sizeof(in)));
    obuf_free(&ob);

    /* v0-2 have no body at all. */
    kreader_init(&r, in, 0);
    CHECK_EQ_INT(kafka_api_versions_request_decode(&m, &r, 2, &a), 0);
    CHECK_EQ_INT(m.client_software_name.len, 0);
    arena_free(&a);
}

static void test_golden_request_header_v2(void) {
    static const uint8_t in[] = {
        0x00, 0x12,             /* api key 18 */
        0x00, 0x03,             /* api version 3 */
        0x00, 0x00, 0x00, 0x07, /* correlation id */
        0x00, 0x06, 'c', 'l', 'i', 'e', 'n', 't', /* client id: int16 length, never compact */
        0x02,                   /* two tagged fields, both unknown to us */
        0x05, 0x02, 'x', 'y',   /* tag 5, 2 bytes */
        0x81, 0x01, 0x00,       /* tag 129 (two-byte varint), 0 bytes */
        0xAA,                   /* start of the body: must not be consumed */
    };
    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct kreader r;
    kreader_init(&r, in, sizeof(in));
    struct kafka_request_header h;
    CHECK_EQ_INT(kafka_request_header_decode(&h, &r, 2, &a), 0);
    CHECK_EQ_INT(h.request_api_key, 18);
    CHECK_EQ_INT(h.request_api_version, 3);
    CHECK_EQ_INT(h.correlation_id, 7);
    CHECK(kstr_eq(h.client_id, "client"));
    CHECK_EQ_INT(kr_remaining(&r), 1);
    CHECK_EQ_INT(kr_i8(&r), (int8_t)0xAA);

    /* Re-encoding drops the unknown tags. */
    static const uint8_t out[] = {0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07,
                                  0x00, 0x06, 'c', 'l', 'i', 'e', 'n', 't', 0x00};
    struct obuf ob;
    obuf_init(&ob, TEST_OBUF_BYTES);
    CHECK_EQ_INT(kafka_request_header_encode(&h, &ob, 2), 0);
    CHECK(bytes_eq(&ob, out, sizeof(out)));
    obuf_free(&ob);

    /* v1: null client id, no tag section. */
    static const uint8_t v1[] = {0x00, 0x03, 0x00, 0x01, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff};
    kreader_init(&r, v1, sizeof(v1));
    CHECK_EQ_INT(kafka_request_header_decode(&h, &r, 1, &a), 0);
    CHECK(r.p == r.end);
    CHECK_EQ_INT(h.correlation_id, -2);
    CHECK_EQ_INT(h.client_id.len, -1);
    CHECK(kstr_dup(&a, h.client_id) == NULL);

    /* v0 (ControlledShutdown v0 only): no client id. */
    kreader_init(&r, v1, 8);
    CHECK_EQ_INT(kafka_request_header_decode(&h, &r, 0, &a), 0);
    CHECK(r.p == r.end);
    CHECK_EQ_INT(h.client_id.len, 0); /* no JSON default: the empty string */

    /* A tag whose size runs past the end fails. */
    static const uint8_t bad[] = {0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x07,
                                  0xff, 0xff, 0x01, 0x05, 0x09, 'x'};
    kreader_init(&r, bad, sizeof(bad));
    CHECK_EQ_INT(kafka_request_header_decode(&h, &r, 2, &a), -1);
    arena_free(&a);
}

static void test_golden_metadata_request_v12(void) {
    static const uint8_t in[] = {
        0x03,                                           /* compact array: 2 topics */
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, /* topic id */
        0x04, 'f', 'o', 'o',                            /* compact nullable string */
        0x00,                                           /* topic tags */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* zero topic id */
        0x00,                                           /* null name (nullable in v10+) */
        0x00,
        0x00,                                           /* allow auto topic creation: false */
        0x01,                                           /* include topic authorized operations */
        0x00,                                           /* tags */
    };
    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct kreader r;
    kreader_init(&r, in, sizeof(in));
    struct kafka_metadata_request m;
    CHECK_EQ_INT(kafka_metadata_request_decode(&m, &r, 12, &a), 0);
    CHECK(r.p == r.end);
    CHECK_EQ_INT(m.topics_count, 2);
    CHECK_EQ_INT(m.topics[0].topic_id.bytes[0], 1);
    CHECK_EQ_INT(m.topics[0].topic_id.bytes[15], 16);
    CHECK(kstr_eq(m.topics[0].name, "foo"));
    CHECK(kuuid_is_zero(m.topics[1].topic_id));
    CHECK_EQ_INT(m.topics[1].name.len, -1);
    CHECK(!m.allow_auto_topic_creation);
    CHECK(m.include_topic_authorized_operations);
    CHECK(!m.include_cluster_authorized_operations); /* absent in v12 */

    struct obuf ob;
    obuf_init(&ob, TEST_OBUF_BYTES);
    CHECK_EQ_INT(kafka_metadata_request_encode(&m, &ob, 12), 0);
    CHECK(bytes_eq(&ob, in, sizeof(in)));
    obuf_free(&ob);

    /* A null topic list means "all topics" from v1 on; an empty list is not null. */
    static const uint8_t all_v1[] = {0xff, 0xff, 0xff, 0xff};
    kreader_init(&r, all_v1, sizeof(all_v1));
    CHECK_EQ_INT(kafka_metadata_request_decode(&m, &r, 1, &a), 0);
    CHECK_EQ_INT(m.topics_count, -1);
    CHECK(m.allow_auto_topic_creation); /* default true: field absent before v4 */
    kreader_init(&r, all_v1, sizeof(all_v1));
    CHECK_EQ_INT(kafka_metadata_request_decode(&m, &r, 0, &a), -1); /* not nullable in v0 */
    arena_free(&a);
}

static void test_golden_api_versions_response_v3(void) {
    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct kafka_api_versions_response m;
    kafka_api_versions_response_init(&m);
    CHECK_EQ_INT(m.finalized_features_epoch, -1);
    struct kafka_api_versions_response_api_version keys[1];
    kafka_api_versions_response_api_version_init(&keys[0]);
    keys[0].api_key = 18;
    keys[0].min_version = 0;
    keys[0].max_version = 4;
    m.api_keys = keys;
    m.api_keys_count = 1;
    m.finalized_features_epoch = 5;
    static const uint8_t want[] = {
        0x00, 0x00,                                     /* error code */
        0x02, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00, /* one api key + its tags */
        0x00, 0x00, 0x00, 0x00,                         /* throttle time */
        0x01,                                           /* one tagged field: */
        0x01, 0x08, 0, 0, 0, 0, 0, 0, 0, 5,             /* tag 1, 8 bytes: epoch 5 */
    };
    struct obuf ob;
    obuf_init(&ob, TEST_OBUF_BYTES);
    CHECK_EQ_INT(kafka_api_versions_response_encode(&m, &ob, 3), 0);
    CHECK(bytes_eq(&ob, want, sizeof(want)));

    /* Back at the default, the tagged field is not written. */
    m.finalized_features_epoch = -1;
    obuf_free(&ob);
    obuf_init(&ob, TEST_OBUF_BYTES);
    CHECK_EQ_INT(kafka_api_versions_response_encode(&m, &ob, 3), 0);
    CHECK_EQ_INT(ob.len, 15);
    CHECK_EQ_INT(ob.data[14], 0);

    /* v0: int32 array length, no throttle time, no tags. */
    static const uint8_t v0[] = {0x00, 0x23, 0x00, 0x00, 0x00, 0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x04};
    obuf_free(&ob);
    obuf_init(&ob, TEST_OBUF_BYTES);
    m.error_code = KAFKA_ERR_UNSUPPORTED_VERSION;
    CHECK_EQ_INT(kafka_api_versions_response_encode(&m, &ob, 0), 0);
    CHECK(bytes_eq(&ob, v0, sizeof(v0)));
    obuf_free(&ob);

    /* A decoder sees known tags in their members. */
    struct kreader r;
    kreader_init(&r, want, sizeof(want));
    CHECK_EQ_INT(kafka_api_versions_response_decode(&m, &r, 3, &a), 0);
    CHECK_EQ_INT(m.finalized_features_epoch, 5);
    CHECK_EQ_INT(m.api_keys_count, 1);
    CHECK_EQ_INT(m.api_keys[0].max_version, 4);
    CHECK_EQ_INT(m.supported_features_count, 0);
    arena_free(&a);
}

static void test_golden_produce_request_v3(void) {
    static const uint8_t in[] = {
        0xff, 0xff,             /* transactional id: null */
        0xff, 0xff,             /* acks -1 */
        0x00, 0x00, 0x75, 0x30, /* timeout 30000 */
        0x00, 0x00, 0x00, 0x01, /* one topic */
        0x00, 0x01, 't',        /* name */
        0x00, 0x00, 0x00, 0x01, /* one partition */
        0x00, 0x00, 0x00, 0x02, /* index 2 */
        0x00, 0x00, 0x00, 0x03, 0xAA, 0xBB, 0xCC, /* records: int32 length */
    };
    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct kreader r;
    kreader_init(&r, in, sizeof(in));
    struct kafka_produce_request m;
    CHECK_EQ_INT(kafka_produce_request_decode(&m, &r, 3, &a), 0);
    CHECK(r.p == r.end);
    CHECK_EQ_INT(m.transactional_id.len, -1);
    CHECK_EQ_INT(m.acks, -1);
    CHECK_EQ_INT(m.timeout_ms, 30000);
    CHECK_EQ_INT(m.topic_data_count, 1);
    CHECK(kstr_eq(m.topic_data[0].name, "t"));
    CHECK_EQ_INT(m.topic_data[0].partition_data_count, 1);
    struct krecords rec = m.topic_data[0].partition_data[0].records;
    CHECK_EQ_INT(m.topic_data[0].partition_data[0].index, 2);
    CHECK_EQ_INT(rec.len, 3);
    CHECK(rec.ptr == in + sizeof(in) - 3);
    CHECK_EQ_INT(rec.fd, -1);
    arena_free(&a);
}

/* Records with an fd are spliced as a file range, not copied. */
static void test_records_from_file(void) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    struct kafka_fetch_response_partition_data p;
    kafka_fetch_response_partition_data_init(&p);
    CHECK_EQ_INT(p.records.len, -1);
    CHECK_EQ_INT(p.records.fd, -1);
    CHECK_EQ_INT(p.last_stable_offset, -1);
    CHECK_EQ_INT(p.preferred_read_replica, -1);
    p.records = (struct krecords){NULL, 1000, fd, 4096};
    struct kafka_fetch_response_fetchable_topic_response t;
    kafka_fetch_response_fetchable_topic_response_init(&t);
    t.topic = kstr_c("t");
    t.partitions = &p;
    t.partitions_count = 1;
    struct kafka_fetch_response m;
    kafka_fetch_response_init(&m);
    m.responses = &t;
    m.responses_count = 1;
    struct obuf ob;
    obuf_init(&ob, TEST_OBUF_BYTES);
    CHECK_EQ_INT(kafka_fetch_response_encode(&m, &ob, 4), 0);
    CHECK_EQ_INT(ob.files_len, 1);
    CHECK_EQ_INT(ob.files[0].fd, fd);
    CHECK_EQ_INT(ob.files[0].file_pos, 4096);
    CHECK_EQ_INT(ob.files[0].len, 1000);
    CHECK_EQ_INT(ob.files[0].mem_pos, ob.len); /* records are last in v4 */
    /* The int32 length prefix sits right before the range. */
    CHECK_EQ_INT(ob.data[ob.len - 4], 0);
    CHECK_EQ_INT(ob.data[ob.len - 2], 0x03);
    CHECK_EQ_INT(ob.data[ob.len - 1], 0xe8);
    CHECK_EQ_INT(obuf_total(&ob), ob.len + 1000);
    obuf_free(&ob); /* closes fd */
}

/* Tagged struct fields are written only when they differ from defaults. */
static void test_tagged_struct_defaults(void) {
    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct kafka_fetch_response_leader_id_and_epoch leader;
    kafka_fetch_response_leader_id_and_epoch_init(&leader);
    CHECK_EQ_INT(leader.leader_id, -1);
    struct kafka_fetch_response_partition_data p;
    kafka_fetch_response_partition_data_init(&p);
    p.records = (struct krecords){NULL, 0, -1, 0};
    p.current_leader = &leader;
    struct obuf ob1, ob2;
    obuf_init(&ob1, TEST_OBUF_BYTES);
    obuf_init(&ob2, TEST_OBUF_BYTES);
    struct kafka_fetch_response_fetchable_topic_response t;
    kafka_fetch_response_fetchable_topic_response_init(&t);
    t.partitions = &p;
    t.partitions_count = 1;
    struct kafka_fetch_response m;
    kafka_fetch_response_init(&m);
    m.responses = &t;
    m.responses_count = 1;
    CHECK_EQ_INT(kafka_fetch_response_encode(&m, &ob1, 12), 0);
    p.current_leader = NULL;
    CHECK_EQ_INT(kafka_fetch_response_encode(&m, &ob2, 12), 0);
    CHECK(bytes_eq(&ob2, ob1.data, ob1.len)); /* default struct == absent */
    obuf_free(&ob2);
    obuf_init(&ob2, TEST_OBUF_BYTES);
    leader.leader_id = 3;
    leader.leader_epoch = 9;
    p.current_leader = &leader;
    CHECK_EQ_INT(kafka_fetch_response_encode(&m, &ob2, 12), 0);
    CHECK_EQ_INT(ob2.len, ob1.len + 1 + 1 + 4 + 4 + 1); /* tag, size, two int32, struct tags */
    struct kreader r;
    kreader_init(&r, ob2.data, ob2.len);
    struct kafka_fetch_response d;
    CHECK_EQ_INT(kafka_fetch_response_decode(&d, &r, 12, &a), 0);
    CHECK(d.responses[0].partitions[0].current_leader != NULL);
    CHECK_EQ_INT(d.responses[0].partitions[0].current_leader->leader_epoch, 9);
    CHECK(d.responses[0].partitions[0].diverging_epoch == NULL);
    obuf_free(&ob1);
    obuf_free(&ob2);
    arena_free(&a);
}

/* Encoding refuses nulls the version cannot carry. */
static void test_encode_rejects_invalid_null(void) {
    struct kafka_produce_request_topic_produce_data t;
    kafka_produce_request_topic_produce_data_init(&t);
    t.name = kstr_c(NULL);
    struct kafka_produce_request m;
    kafka_produce_request_init(&m);
    m.topic_data = &t;
    m.topic_data_count = 1;
    struct obuf ob;
    obuf_init(&ob, TEST_OBUF_BYTES);
    CHECK_EQ_INT(kafka_produce_request_encode(&m, &ob, 9), -1);
    obuf_free(&ob);
    t.name = kstr_c("x");
    m.topic_data = NULL; /* count without elements */
    obuf_init(&ob, TEST_OBUF_BYTES);
    CHECK_EQ_INT(kafka_produce_request_encode(&m, &ob, 9), -1);
    obuf_free(&ob);
    m.topic_data_count = -1; /* null array, never nullable here */
    obuf_init(&ob, TEST_OBUF_BYTES);
    CHECK_EQ_INT(kafka_produce_request_encode(&m, &ob, 3), -1);
    obuf_free(&ob);
}

/* ------------------------------------------------------------ primitives */

static void test_varints(void) {
    static const uint32_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, 0x7fffffff, 0xffffffff};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        struct obuf ob;
        obuf_init(&ob, 64);
        kw_uvarint(&ob, vals[i]);
        kw_varint(&ob, (int32_t)vals[i]);
        kw_varlong(&ob, -(int64_t)vals[i]);
        kw_varlong(&ob, INT64_MIN + (int64_t)vals[i]);
        struct obuf one;
        obuf_init(&one, 16);
        kw_uvarint(&one, vals[i]);
        CHECK_EQ_INT(kw_uvarint_size(vals[i]), one.len);
        obuf_free(&one);
        struct kreader r;
        kreader_init(&r, ob.data, ob.len);
        CHECK_EQ_INT(kr_uvarint(&r), vals[i]);
        CHECK_EQ_INT(kr_varint(&r), (int32_t)vals[i]);
        CHECK_EQ_INT(kr_varlong(&r), -(int64_t)vals[i]);
        CHECK(kr_varlong(&r) == INT64_MIN + (int64_t)vals[i]);
        CHECK(!r.err && r.p == r.end);
        obuf_free(&ob);
    }
    /* Zigzag: -1 is 1, 1 is 2. */
    struct obuf ob;
    obuf_init(&ob, 64);
    kw_varint(&ob, -1);
    kw_varint(&ob, 1);
    kw_uvarint(&ob, 300);
    static const uint8_t want[] = {0x01, 0x02, 0xac, 0x02};
    CHECK(bytes_eq(&ob, want, sizeof(want)));
    obuf_free(&ob);

    static const uint8_t max32[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
    static const uint8_t over32[] = {0xff, 0xff, 0xff, 0xff, 0x1f};
    static const uint8_t long32[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
    static const uint8_t cut[] = {0x80, 0x80};
    struct kreader r;
    kreader_init(&r, max32, sizeof(max32));
    CHECK_EQ_INT(kr_uvarint(&r), 0xffffffffu);
    CHECK(!r.err);
    kreader_init(&r, over32, sizeof(over32));
    CHECK_EQ_INT(kr_uvarint(&r), 0);
    CHECK(r.err);
    kreader_init(&r, long32, sizeof(long32));
    kr_uvarint(&r);
    CHECK(r.err);
    kreader_init(&r, cut, sizeof(cut));
    kr_uvarint(&r);
    CHECK(r.err);
    static const uint8_t max64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t over64[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    kreader_init(&r, max64, sizeof(max64));
    CHECK(kr_uvarlong(&r) == UINT64_MAX && !r.err);
    kreader_init(&r, over64, sizeof(over64));
    kr_uvarlong(&r);
    CHECK(r.err);
}

static void test_fixed_and_sticky(void) {
    struct obuf ob;
    obuf_init(&ob, 64);
    kw_i8(&ob, -2);
    kw_i16(&ob, -3);
    kw_i32(&ob, 0x01020304);
    kw_i64(&ob, -5);
    kw_u16(&ob, 0xfffe);
    kw_u32(&ob, 0xfffffffd);
    kw_f64(&ob, 1.5);
    kw_bool(&ob, true);
    struct kuuid u = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
    kw_uuid(&ob, u);
    CHECK_EQ_INT(ob.len, 1 + 2 + 4 + 8 + 2 + 4 + 8 + 1 + 16);
    CHECK_EQ_INT(ob.data[3], 1);
    CHECK_EQ_INT(ob.data[6], 4);
    struct kreader r;
    kreader_init(&r, ob.data, ob.len);
    CHECK_EQ_INT(kr_i8(&r), -2);
    CHECK_EQ_INT(kr_i16(&r), -3);
    CHECK_EQ_INT(kr_i32(&r), 0x01020304);
    CHECK_EQ_INT(kr_i64(&r), -5);
    CHECK_EQ_INT(kr_u16(&r), 0xfffe);
    CHECK_EQ_INT(kr_u32(&r), 0xfffffffdu);
    CHECK(kr_f64(&r) == 1.5);
    CHECK(kr_bool(&r));
    struct kuuid u2 = kr_uuid(&r);
    CHECK(memcmp(u.bytes, u2.bytes, 16) == 0);
    CHECK(!r.err && r.p == r.end);
    /* Past the end: zero values and a sticky error. */
    CHECK_EQ_INT(kr_i32(&r), 0);
    CHECK(r.err);
    kreader_init(&r, ob.data, ob.len);
    r.err = true;
    CHECK_EQ_INT(kr_i8(&r), 0); /* nothing is read after an error */
    CHECK(r.p == ob.data);
    obuf_free(&ob);

    /* Writers stop at the obuf limit and stay failed. */
    obuf_init(&ob, 3);
    kw_i32(&ob, 1);
    CHECK(obuf_failed(&ob));
    kw_i8(&ob, 1);
    CHECK_EQ_INT(ob.len, 0);
    obuf_free(&ob);
}

static void test_strings_and_bytes(void) {
    struct kreader r;
    /* Length beyond the bytes left. */
    static const uint8_t s1[] = {0x00, 0x05, 'a', 'b'};
    kreader_init(&r, s1, sizeof(s1));
    struct kstr s = kr_string(&r, false, false);
    CHECK(r.err);
    CHECK_EQ_INT(s.len, 0);
    /* Null where not nullable. */
    static const uint8_t s2[] = {0xff, 0xff};
    kreader_init(&r, s2, sizeof(s2));
    kr_string(&r, false, false);
    CHECK(r.err);
    kreader_init(&r, s2, sizeof(s2));
    s = kr_string(&r, false, true);
    CHECK(!r.err && s.len == -1);
    /* Negative lengths other than -1. */
    static const uint8_t s3[] = {0xff, 0xfe, 0, 0};
    kreader_init(&r, s3, sizeof(s3));
    kr_string(&r, false, true);
    CHECK(r.err);
    static const uint8_t b1[] = {0xff, 0xff, 0xff, 0xfe};
    kreader_init(&r, b1, sizeof(b1));
    kr_bytes(&r, false, true);
    CHECK(r.err);
    /* Compact: 0 is null, 1 is empty. */
    static const uint8_t c1[] = {0x00, 0x01, 0x03, 'h', 'i'};
    kreader_init(&r, c1, sizeof(c1));
    CHECK_EQ_INT(kr_string(&r, true, true).len, -1);
    CHECK_EQ_INT(kr_string(&r, true, false).len, 0);
    CHECK(kstr_eq(kr_string(&r, true, false), "hi"));
    CHECK(!r.err && r.p == r.end);
    /* Compact strings are capped like classic ones. */
    static const uint8_t c2[] = {0x81, 0x80, 0x02}; /* length 32768 */
    kreader_init(&r, c2, sizeof(c2));
    kr_string(&r, true, false);
    CHECK(r.err);

    struct obuf ob;
    obuf_init(&ob, 1 << 20);
    kw_string(&ob, kstr_c("hi"), false, false);
    kw_string(&ob, kstr_c(NULL), true, true);
    kw_bytes(&ob, (struct kbytes){(const uint8_t *)"xyz", 3}, true, false);
    kw_bytes(&ob, (struct kbytes){NULL, -1}, false, true);
    static const uint8_t want[] = {0x00, 0x02, 'h', 'i', 0x00, 0x04, 'x', 'y', 'z', 0xff, 0xff, 0xff, 0xff};
    CHECK(bytes_eq(&ob, want, sizeof(want)));
    kw_string(&ob, kstr_c(NULL), false, false);
    CHECK(obuf_failed(&ob));
    obuf_free(&ob);
    static char big[KWIRE_STRING_LEN_MAX + 2];
    memset(big, 'a', sizeof(big) - 1);
    obuf_init(&ob, 1 << 20);
    kw_string(&ob, kstr_c(big), true, false);
    CHECK(obuf_failed(&ob));
    obuf_free(&ob);

    CHECK(kstr_eq(kstr_c(""), ""));
    CHECK(!kstr_eq(kstr_c(""), NULL));
    CHECK(kstr_eq(kstr_c(NULL), NULL));
    CHECK(!kstr_eq((struct kstr){"abc", 2}, "abc"));
    CHECK(kstr_eq((struct kstr){"abc", 2}, "ab"));
}

static void test_array_counts_checked_before_allocation(void) {
    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct kreader r;
    int32_t n;
    /* A billion elements claimed with ten bytes left. */
    static const uint8_t big[] = {0x3b, 0x9a, 0xca, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    kreader_init(&r, big, sizeof(big));
    CHECK(kr_array(&r, &a, false, false, 1, 64, &n) == NULL);
    CHECK(r.err);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(a.used_total, 0);
    /* Ten int32 need 40 bytes, not 10. */
    static const uint8_t ten[] = {0x00, 0x00, 0x00, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    kreader_init(&r, ten, sizeof(ten));
    kr_array(&r, &a, false, false, 4, 4, &n);
    CHECK(r.err);
    kreader_init(&r, ten, sizeof(ten));
    CHECK(kr_array(&r, &a, false, false, 1, 1, &n) != NULL);
    CHECK_EQ_INT(n, 10);
    /* Compact: 0 is null, 1 is empty; beyond the limit fails. */
    static const uint8_t c[] = {0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f};
    kreader_init(&r, c, sizeof(c));
    CHECK_EQ_INT(kr_array_len(&r, true, true, 1), -1);
    CHECK_EQ_INT(kr_array_len(&r, true, false, 1), 0);
    CHECK(!r.err);
    CHECK_EQ_INT(kr_array_len(&r, true, false, 0), 0);
    CHECK(r.err);
    /* Arena exhausted: the decode fails instead of allocating. */
    struct arena tiny;
    arena_init(&tiny, 16);
    kreader_init(&r, ten, sizeof(ten));
    CHECK(kr_array(&r, &tiny, false, false, 1, 8, &n) == NULL);
    CHECK(r.err);
    arena_free(&tiny);
    /* A whole message: topics claiming 2^24 entries in a short frame. */
    static const uint8_t meta[] = {0x01, 0x00, 0x00, 0x00, 0x00, 0x01};
    struct kafka_metadata_request m;
    kreader_init(&r, meta, sizeof(meta));
    CHECK_EQ_INT(kafka_metadata_request_decode(&m, &r, 1, &a), -1);
    arena_free(&a);
}

static void test_tag_sections(void) {
    struct obuf ob;
    obuf_init(&ob, 1 << 20);
    kw_uvarint(&ob, 2);
    size_t at = kw_tag_begin(&ob, 3);
    kw_i32(&ob, 7);
    kw_tag_end(&ob, at);
    at = kw_tag_begin(&ob, 200);
    static uint8_t body[300];
    memset(body, 0x5a, sizeof(body));
    obuf_put(&ob, body, sizeof(body));
    kw_tag_end(&ob, at);
    kw_i8(&ob, 0x11);
    CHECK(!obuf_failed(&ob));
    CHECK_EQ_INT(ob.len, 1 + (1 + 1 + 4) + (2 + 2 + 300) + 1);
    CHECK_EQ_INT(ob.data[2], 4);    /* size of the first body */
    CHECK_EQ_INT(ob.data[7], 0xc8); /* tag 200: two-byte varint */
    CHECK_EQ_INT(ob.data[9], 0xac); /* size 300: two-byte varint */
    CHECK_EQ_INT(ob.data[10], 0x02);
    struct kreader r, b;
    kreader_init(&r, ob.data, ob.len);
    CHECK_EQ_INT(kr_tag_count(&r), 2);
    uint32_t tag;
    CHECK(kr_tag_next(&r, &tag, &b));
    CHECK_EQ_INT(tag, 3);
    CHECK_EQ_INT(kr_i32(&b), 7);
    CHECK(kr_tag_next(&r, &tag, &b));
    CHECK_EQ_INT(tag, 200);
    CHECK_EQ_INT(kr_remaining(&b), 300);
    CHECK_EQ_INT(kr_i8(&r), 0x11);
    kreader_init(&r, ob.data, ob.len);
    kr_skip_tagged_fields(&r);
    CHECK_EQ_INT(kr_remaining(&r), 1);
    /* More tags claimed than bytes could hold. */
    static const uint8_t many[] = {0x7f, 0x00, 0x00};
    kreader_init(&r, many, sizeof(many));
    kr_skip_tagged_fields(&r);
    CHECK(r.err);
    obuf_free(&ob);
}

/* ------------------------------------------------------------ tables */

static void test_api_table(void) {
    const struct kafka_api_info *p = kafka_api_lookup(KAFKA_API_PRODUCE);
    CHECK(p && strcmp(p->name, "Produce") == 0);
    CHECK(p && p->min_version == 0 && p->flexible_min_version == 9);
    CHECK(kafka_api_lookup(-1) == NULL);
    CHECK(kafka_api_lookup(KAFKA_API_KEY_END) == NULL);
    CHECK(kafka_api_lookup(INT16_MAX) == NULL);
    CHECK_EQ_INT(KAFKA_API_FETCH, 1);
    CHECK_EQ_INT(KAFKA_API_METADATA, 3);
    CHECK_EQ_INT(KAFKA_API_API_VERSIONS, 18);
    const struct kafka_api_info *av = kafka_api_lookup(KAFKA_API_API_VERSIONS);
    CHECK(av && av->flexible_min_version == 3 && strcmp(av->name, "ApiVersions") == 0);
    CHECK_EQ_INT(kafka_request_header_version(KAFKA_API_PRODUCE, 8), 1);
    CHECK_EQ_INT(kafka_request_header_version(KAFKA_API_PRODUCE, 9), 2);
    CHECK_EQ_INT(kafka_request_header_version(KAFKA_API_CONTROLLED_SHUTDOWN, 0), 0);
    CHECK_EQ_INT(kafka_request_header_version(KAFKA_API_CONTROLLED_SHUTDOWN, 1), 1);
    CHECK_EQ_INT(kafka_request_header_version(KAFKA_API_API_VERSIONS, 3), 2);
    CHECK_EQ_INT(kafka_response_header_version(KAFKA_API_API_VERSIONS, 3), 0);
    CHECK_EQ_INT(kafka_response_header_version(KAFKA_API_METADATA, 9), 1);
    CHECK_EQ_INT(kafka_response_header_version(KAFKA_API_METADATA, 8), 0);
    CHECK_EQ_INT(kafka_request_header_version(-1, 0), -1);
    int apis = 0;
    for (int k = 0; k < KAFKA_API_KEY_END; k++) {
        const struct kafka_api_info *i = kafka_api_lookup((int16_t)k);
        if (!i) continue;
        apis++;
        CHECK_EQ_INT(i->api_key, k);
        CHECK(i->min_version <= i->max_version);
    }
    CHECK(apis >= 80);

    struct arena a;
    arena_init(&a, TEST_ARENA_BYTES);
    struct kreader r;
    kreader_init(&r, NULL, 0);
    CHECK_EQ_INT(kafka_request_decode_any(KAFKA_API_API_VERSIONS, 0, &r, &a), 0);
    CHECK_EQ_INT(kafka_request_decode_any(KAFKA_API_API_VERSIONS, 9, &r, &a), -1);
    CHECK_EQ_INT(kafka_request_decode_any(-5, 0, &r, &a), -1);
    CHECK_EQ_INT(kafka_response_decode_any(KAFKA_API_API_VERSIONS, 0, &r, &a), -1); /* short */
    arena_free(&a);
}

static void test_error_table(void) {
    CHECK_EQ_INT(KAFKA_ERR_NONE, 0);
    CHECK_EQ_INT(KAFKA_ERR_UNKNOWN_SERVER_ERROR, -1);
    CHECK_EQ_INT(KAFKA_ERR_OFFSET_OUT_OF_RANGE, 1);
    CHECK_EQ_INT(KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION, 3);
    CHECK_EQ_INT(KAFKA_ERR_NOT_LEADER_OR_FOLLOWER, 6);
    CHECK_EQ_INT(KAFKA_ERR_UNSUPPORTED_VERSION, 35);
    CHECK(strcmp(kafka_error_name(0), "NONE") == 0);
    CHECK(strcmp(kafka_error_name(3), "UNKNOWN_TOPIC_OR_PARTITION") == 0);
    CHECK(strcmp(kafka_error_name(-1), "UNKNOWN_SERVER_ERROR") == 0);
    CHECK(strcmp(kafka_error_name(30000), "UNKNOWN_ERROR_CODE") == 0);
    CHECK(kafka_error_retriable(KAFKA_ERR_NOT_LEADER_OR_FOLLOWER));
    CHECK(!kafka_error_retriable(KAFKA_ERR_UNSUPPORTED_VERSION));
}

int main(void) {
    TEST_RUN(test_varints);
    TEST_RUN(test_fixed_and_sticky);
    TEST_RUN(test_strings_and_bytes);
    TEST_RUN(test_array_counts_checked_before_allocation);
    TEST_RUN(test_tag_sections);
    TEST_RUN(test_golden_api_versions_request_v3);
    TEST_RUN(test_golden_request_header_v2);
    TEST_RUN(test_golden_metadata_request_v12);
    TEST_RUN(test_golden_api_versions_response_v3);
    TEST_RUN(test_golden_produce_request_v3);
    TEST_RUN(test_records_from_file);
    TEST_RUN(test_tagged_struct_defaults);
    TEST_RUN(test_encode_rejects_invalid_null);
    TEST_RUN(test_api_table);
    TEST_RUN(test_error_table);
    TEST_RUN(test_versions_out_of_range);
    TEST_RUN(test_defaults_encode);
    TEST_RUN(test_roundtrip_every_message_every_version);
    TEST_EXIT();
}
