"""kafka-python (2.0.x, pure Python) against gregor: KafkaProducer,
KafkaConsumer with assign/seek and offset lookups, KafkaAdminClient topic
and config management.

Protocol version: kafka-python guesses the broker's version from the
ApiVersions response unless told. We try that auto-detection first; if it
fails, or guesses a version older than 0.11 (which would make the producer
write the pre-v2 message format), we fall back to api_version=(2, 5, 0).
Which one was used is printed on stderr as "kafka-python api_version: ..."."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kafka.codec  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition  # noqa: E402
from kafka import errors as Errors  # noqa: E402
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic  # noqa: E402

from clients import kp_read_to_end, unique_topic  # noqa: E402
from harness import Broker, Skip, main, test  # noqa: E402

FALLBACK_API_VERSION = (2, 5, 0)
TIMEOUT_MS = 30000
_api_version = None  # decided on first use, then reused so each client skips the probe


def api_version(b):
    global _api_version
    if _api_version is None:
        try:
            a = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=TIMEOUT_MS,
                                 api_version_auto_timeout_ms=10000)
            detected = a.config["api_version"]
            a.close()
        except Exception as e:  # noqa: BLE001 - any failure to probe means "fall back"
            sys.stderr.write("kafka-python api_version: auto-detection failed (%r); using %s\n"
                             % (e, FALLBACK_API_VERSION))
            _api_version = FALLBACK_API_VERSION
        else:
            if detected < (0, 11, 0):
                sys.stderr.write("kafka-python api_version: auto-detected %s is older than 0.11; using %s\n"
                                 % (detected, FALLBACK_API_VERSION))
                _api_version = FALLBACK_API_VERSION
            else:
                sys.stderr.write("kafka-python api_version: auto-detected %s\n" % (detected,))
                _api_version = detected
    return _api_version


def admin_client(b):
    return KafkaAdminClient(bootstrap_servers=b.bootstrap, api_version=api_version(b), request_timeout_ms=TIMEOUT_MS)


def producer(b, **kw):
    return KafkaProducer(bootstrap_servers=b.bootstrap, api_version=api_version(b), request_timeout_ms=TIMEOUT_MS,
                         **kw)


def consumer(b, **kw):
    return KafkaConsumer(bootstrap_servers=b.bootstrap, api_version=api_version(b), enable_auto_commit=False,
                         group_id=None, request_timeout_ms=TIMEOUT_MS + 5000, **kw)


def create_topic(b, name, partitions=1, configs=None):
    a = admin_client(b)
    try:
        a.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})], timeout_ms=TIMEOUT_MS)
        deadline = time.monotonic() + 30
        while True:
            md = [t for t in a.describe_topics([name]) if t["topic"] == name]
            if md and md[0]["error_code"] == 0 and len(md[0]["partitions"]) == partitions:
                return name
            assert time.monotonic() < deadline, "topic %s not visible: %r" % (name, md)
            time.sleep(0.2)
    finally:
        a.close()


def read_all(b, topic, partitions, timeout_s=60):
    """{partition: [ConsumerRecord]} from the log start to the current end."""
    c = consumer(b)
    try:
        return kp_read_to_end(c, [TopicPartition(topic, p) for p in range(partitions)], timeout_s)
    finally:
        c.close()


def config_entries(a, topic):
    """{name: value} from DescribeConfigs for a topic."""
    resp = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    res = resp[0].resources[0]
    assert res[0] == 0, "describe_configs error %d: %s" % (res[0], res[1])
    return {e[0]: e[1] for e in res[4]}


@test
def api_version_negotiation():
    with Broker() as b:
        v = api_version(b)
        assert v >= (0, 11, 0), v
        a = admin_client(b)
        try:
            # check_version asks the broker itself (ApiVersions) and must agree on a usable version.
            probed = a._client.check_version(timeout=10)
            assert probed >= (0, 11, 0), probed
        finally:
            a.close()


def produce_consume(codec):
    if codec and not {"gzip": kafka.codec.has_gzip, "snappy": kafka.codec.has_snappy,
                      "lz4": kafka.codec.has_lz4, "zstd": kafka.codec.has_zstd}[codec]():
        raise Skip("kafka-python has no %s support here (python module missing)" % codec)
    with Broker() as b:
        name = create_topic(b, unique_topic("kp"), 3)
        p = producer(b, acks="all", compression_type=codec, linger_ms=5)
        futures = [p.send(name, key=b"k%d" % i, value=b"v%d" % i, partition=i % 3,
                          headers=[("idx", b"%d" % i)]) for i in range(3000)]
        p.flush(timeout=60)
        metas = [f.get(timeout=60) for f in futures]
        p.close(timeout=10)
        for i, m in enumerate(metas):
            assert m.partition == i % 3 and m.offset == i // 3, (i, m)
        got = read_all(b, name, 3)
        for part in range(3):
            recs = got[part]
            assert [r.offset for r in recs] == list(range(1000)), part
            for r in recs:
                i = int(r.key[1:])
                assert i % 3 == part and r.offset == i // 3, (part, r.offset, r.key)
                assert r.value == b"v%d" % i
                assert list(r.headers) == [("idx", b"%d" % i)], r.headers


@test(timeout=300)
def produce_consume_uncompressed():
    produce_consume(None)


@test(timeout=300)
def produce_consume_gzip():
    produce_consume("gzip")


@test(timeout=300)
def produce_consume_snappy():
    produce_consume("snappy")


@test(timeout=300)
def produce_consume_lz4():
    produce_consume("lz4")


@test(timeout=300)
def produce_consume_zstd():
    produce_consume("zstd")


@test
def assign_seek_and_offsets():
    with Broker() as b:
        name = create_topic(b, unique_topic("kps"), 1)
        base = 1_600_000_000_000
        p = producer(b, acks="all")
        for i in range(50):
            p.send(name, value=b"%d" % i, partition=0, timestamp_ms=base + 100 * i)
        p.flush(timeout=60)
        p.close(timeout=10)
        c = consumer(b)
        try:
            tp = TopicPartition(name, 0)
            assert c.beginning_offsets([tp]) == {tp: 0}
            assert c.end_offsets([tp]) == {tp: 50}
            found = c.offsets_for_times({tp: base + 1050})[tp]
            assert found is not None and (found.offset, found.timestamp) == (11, base + 1100), found
            assert c.offsets_for_times({tp: base + 100 * 50})[tp] is None
            c.assign([tp])
            c.seek(tp, 42)
            recs = poll_some(c, tp)
            assert recs[0].offset == 42 and recs[0].value == b"42" and recs[0].timestamp == base + 4200, recs[0]
            c.seek_to_beginning(tp)
            assert poll_some(c, tp)[0].offset == 0
            c.seek_to_end(tp)
            assert c.position(tp) == 50
        finally:
            c.close()


def poll_some(c, tp, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        recs = c.poll(timeout_ms=1000, max_records=10).get(tp)
        if recs:
            return recs
    raise AssertionError("no records within %ds" % timeout_s)


@test
def admin_create_describe_alter_delete():
    with Broker() as b:
        a = admin_client(b)
        try:
            name = unique_topic("kpa")
            a.create_topics([NewTopic(name, 2, 1, topic_configs={"retention.ms": "3600000"})], timeout_ms=TIMEOUT_MS)
            assert name in a.list_topics()
            try:
                a.create_topics([NewTopic(name, 2, 1)], timeout_ms=TIMEOUT_MS)
                raise AssertionError("creating an existing topic succeeded")
            except Errors.TopicAlreadyExistsError:
                pass
            try:
                a.create_topics([NewTopic("bad name", 1, 1)], timeout_ms=TIMEOUT_MS)
                raise AssertionError("an invalid topic name was accepted")
            except Errors.InvalidTopicError:
                pass

            cfg = config_entries(a, name)
            assert cfg["retention.ms"] == "3600000" and cfg["cleanup.policy"] == "delete", cfg

            resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs={"retention.ms": "1000"})])
            assert resp.resources[0][0] == 0, resp
            assert config_entries(a, name)["retention.ms"] == "1000"
            resp = a.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs={"retention.ms": "x"})])
            assert resp.resources[0][0] == Errors.InvalidConfigurationError.errno, resp

            a.create_partitions({name: NewPartitions(4)}, timeout_ms=TIMEOUT_MS)
            md = [t for t in a.describe_topics([name]) if t["topic"] == name][0]
            assert len(md["partitions"]) == 4, md

            a.delete_topics([name], timeout_ms=TIMEOUT_MS)
            deadline = time.monotonic() + 30
            while name in a.list_topics():
                assert time.monotonic() < deadline, "deleted topic still listed"
                time.sleep(0.2)
            try:
                a.delete_topics([name], timeout_ms=TIMEOUT_MS)
                raise AssertionError("deleting a missing topic succeeded")
            except Errors.UnknownTopicOrPartitionError:
                pass
        finally:
            a.close()


if __name__ == "__main__":
    main()
