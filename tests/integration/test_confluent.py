"""confluent_kafka (Python 1.7 binding on librdkafka 2.0.2) against gregor:
the admin API, the idempotent producer under every codec, consumers that
assign and seek, time lookups, watermarks, and durability across a clean
restart and across kill -9 in the middle of producing."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import confluent_kafka  # noqa: E402
from confluent_kafka import KafkaError, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import (CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, AdminClient, ConfigResource, NewPartitions,  # noqa: E402
                                  NewTopic)

from clients import (admin, consumer, create_topic, produce_all, producer, read_partitions,  # noqa: E402
                     unique_topic, wait_topic_visible)
from harness import Broker, Skip, main, test  # noqa: E402

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
TIMEOUT = 30


def error_code(future, timeout=TIMEOUT):
    """The KafkaError code a future failed with, or None on success."""
    try:
        future.result(timeout=timeout)
        return None
    except KafkaException as e:
        return e.args[0].code()


def source_of(entry):
    return int(getattr(entry.source, "value", entry.source))


def topic_names(a):
    return set(a.list_topics(timeout=TIMEOUT).topics)


def describe_topic_configs(a, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return a.describe_configs([res], request_timeout=TIMEOUT)[res].result(timeout=TIMEOUT)


# ---- admin ----

@test
def create_and_list_topics():
    with Broker() as b:
        a = admin(b.bootstrap)
        names = [unique_topic("c1"), unique_topic("c2")]
        fs = a.create_topics([NewTopic(names[0], 3, 1), NewTopic(names[1], 1, 1, config={"retention.ms": "60000"})],
                             operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
        for n in names:
            assert error_code(fs[n]) is None
        md0 = wait_topic_visible(a, names[0], 3)
        wait_topic_visible(a, names[1], 1)
        assert sorted(md0.partitions) == [0, 1, 2]
        md = a.list_topics(timeout=TIMEOUT)
        assert len(md.brokers) == 1, md.brokers
        broker = list(md.brokers.values())[0]
        assert (broker.host, broker.port) == ("127.0.0.1", b.port), broker
        for p in md0.partitions.values():
            assert p.leader == broker.id and list(p.replicas) == [broker.id] and list(p.isrs) == [broker.id], p
        assert set(names) <= set(md.topics)


@test
def create_topic_validate_only():
    with Broker() as b:
        a = admin(b.bootstrap)
        name = unique_topic("vo")
        fs = a.create_topics([NewTopic(name, 2, 1)], validate_only=True,
                             operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
        assert error_code(fs[name]) is None
        time.sleep(0.5)
        assert name not in topic_names(a), "validate_only created the topic"
        # Validation still refuses what a real create would.
        fs = a.create_topics([NewTopic(name, 0, 1)], validate_only=True, request_timeout=TIMEOUT)
        assert error_code(fs[name]) == KafkaError.INVALID_PARTITIONS


@test
def create_topic_bad_names_refused():
    with Broker() as b:
        a = admin(b.bootstrap)
        bad = ["bad name", "bad/name", "..", ".", "x" * 250, "b\u00e4d"]
        fs = a.create_topics([NewTopic(n, 1, 1) for n in bad], request_timeout=TIMEOUT)
        for n in bad:
            assert error_code(fs[n]) == KafkaError.TOPIC_EXCEPTION, (n, error_code(fs[n]))
        assert not (set(bad) & topic_names(a))
        # The longest legal name is accepted.
        ok = "y" * 249
        assert error_code(a.create_topics([NewTopic(ok, 1, 1)], request_timeout=TIMEOUT)[ok]) is None


@test
def create_topic_bad_arguments_refused():
    with Broker() as b:
        a = admin(b.bootstrap)
        n1, n2, n3 = unique_topic("p0"), unique_topic("rf3"), unique_topic("cfg")
        fs = a.create_topics([NewTopic(n1, 0, 1), NewTopic(n2, 1, 3),
                              NewTopic(n3, 1, 1, config={"retention.ms": "soon"})], request_timeout=TIMEOUT)
        assert error_code(fs[n1]) == KafkaError.INVALID_PARTITIONS
        # One broker cannot hold three replicas.
        assert error_code(fs[n2]) == KafkaError.INVALID_REPLICATION_FACTOR
        assert error_code(fs[n3]) == KafkaError.INVALID_CONFIG


@test
def create_existing_topic_refused():
    with Broker() as b:
        a = admin(b.bootstrap)
        name = create_topic(b.bootstrap, unique_topic("dup"), 2)
        fs = a.create_topics([NewTopic(name, 2, 1)], request_timeout=TIMEOUT)
        assert error_code(fs[name]) == KafkaError.TOPIC_ALREADY_EXISTS
        fs = a.create_topics([NewTopic(name, 2, 1)], validate_only=True, request_timeout=TIMEOUT)
        assert error_code(fs[name]) == KafkaError.TOPIC_ALREADY_EXISTS


@test
def describe_topic_and_broker_configs():
    with Broker() as b:
        a = admin(b.bootstrap)
        name = create_topic(b.bootstrap, unique_topic("dc"), 1, config={"retention.ms": "3600000"})
        cfg = describe_topic_configs(a, name)
        assert cfg["retention.ms"].value == "3600000", cfg["retention.ms"]
        assert source_of(cfg["retention.ms"]) == CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, cfg["retention.ms"]
        assert not cfg["retention.ms"].is_default
        # Unset keys report the broker's defaults.
        assert cfg["cleanup.policy"].value == "delete", cfg["cleanup.policy"]
        assert cfg["segment.bytes"].value == "1073741824", cfg["segment.bytes"]
        assert cfg["retention.bytes"].value == "-1", cfg["retention.bytes"]
        assert cfg["message.timestamp.type"].value == "CreateTime"
        assert source_of(cfg["segment.bytes"]) != CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG, cfg["segment.bytes"]

        md = a.list_topics(timeout=TIMEOUT)
        broker_id = str(list(md.brokers)[0])
        res = ConfigResource(ConfigResource.Type.BROKER, broker_id)
        bcfg = a.describe_configs([res], request_timeout=TIMEOUT)[res].result(timeout=TIMEOUT)
        assert bcfg["num.partitions"].value == "1", bcfg.get("num.partitions")
        assert bcfg["log.segment.bytes"].value == "1073741824", bcfg.get("log.segment.bytes")

        missing = ConfigResource(ConfigResource.Type.TOPIC, unique_topic("nope"))
        code = error_code(a.describe_configs([missing], request_timeout=TIMEOUT)[missing])
        assert code == KafkaError.UNKNOWN_TOPIC_OR_PART, code


@test
def alter_topic_configs():
    with Broker() as b:
        a = admin(b.bootstrap)
        name = create_topic(b.bootstrap, unique_topic("ac"), 1)
        res = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"retention.ms": "1000", "segment.bytes": "1048576"})
        assert error_code(a.alter_configs([res], request_timeout=TIMEOUT)[res]) is None
        cfg = describe_topic_configs(a, name)
        assert cfg["retention.ms"].value == "1000" and cfg["segment.bytes"].value == "1048576", cfg

        # AlterConfigs (not incremental) replaces the whole set: retention.ms
        # goes back to the default when left out.
        res = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"segment.bytes": "2097152"})
        assert error_code(a.alter_configs([res], request_timeout=TIMEOUT)[res]) is None
        cfg = describe_topic_configs(a, name)
        assert cfg["segment.bytes"].value == "2097152", cfg["segment.bytes"]
        assert cfg["retention.ms"].value == "604800000", cfg["retention.ms"]

        # validate_only changes nothing.
        res = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"segment.bytes": "4194304"})
        assert error_code(a.alter_configs([res], validate_only=True, request_timeout=TIMEOUT)[res]) is None
        assert describe_topic_configs(a, name)["segment.bytes"].value == "2097152"

        for bad in ({"retention.ms": "abc"}, {"no.such.config": "1"}, {"cleanup.policy": "shred"}):
            res = ConfigResource(ConfigResource.Type.TOPIC, name, set_config=bad)
            code = error_code(a.alter_configs([res], request_timeout=TIMEOUT)[res])
            assert code == KafkaError.INVALID_CONFIG, (bad, code)
        assert describe_topic_configs(a, name)["segment.bytes"].value == "2097152"

        missing = ConfigResource(ConfigResource.Type.TOPIC, unique_topic("nope"), set_config={"retention.ms": "1"})
        code = error_code(a.alter_configs([missing], request_timeout=TIMEOUT)[missing])
        assert code == KafkaError.UNKNOWN_TOPIC_OR_PART, code


@test
def incremental_alter_configs():
    if not hasattr(AdminClient, "incremental_alter_configs"):
        raise Skip("confluent_kafka %s has no incremental_alter_configs (added in 2.2)" % confluent_kafka.version()[0])
    with Broker() as b:
        a = admin(b.bootstrap)
        from confluent_kafka.admin import AlterConfigOpType, ConfigEntry
        name = create_topic(b.bootstrap, unique_topic("iac"), 1)
        res = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
            ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
        a.incremental_alter_configs([res])[res].result(timeout=TIMEOUT)
        res = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
            ConfigEntry("segment.bytes", "1048576", incremental_operation=AlterConfigOpType.SET)])
        a.incremental_alter_configs([res])[res].result(timeout=TIMEOUT)
        cfg = describe_topic_configs(a, name)
        assert cfg["retention.ms"].value == "1000" and cfg["segment.bytes"].value == "1048576"
        res = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
            ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
        a.incremental_alter_configs([res])[res].result(timeout=TIMEOUT)
        assert describe_topic_configs(a, name)["retention.ms"].value == "604800000"


@test
def create_partitions():
    with Broker() as b:
        a = admin(b.bootstrap)
        name = create_topic(b.bootstrap, unique_topic("cp"), 1)
        fs = a.create_partitions([NewPartitions(name, 3)], request_timeout=TIMEOUT)
        assert error_code(fs[name]) is None
        wait_topic_visible(a, name, 3)
        # The new partition takes writes and reads.
        d = produce_all(producer(b.bootstrap), name, [{"value": b"p2", "partition": 2}])
        assert not d.errors and d.ok[0][:2] == (2, 0), (d.ok, d.errors)
        fs = a.create_partitions([NewPartitions(name, 2)], request_timeout=TIMEOUT)
        assert error_code(fs[name]) == KafkaError.INVALID_PARTITIONS
        fs = a.create_partitions([NewPartitions(name, 3)], request_timeout=TIMEOUT)
        assert error_code(fs[name]) == KafkaError.INVALID_PARTITIONS
        missing = unique_topic("nope")
        fs = a.create_partitions([NewPartitions(missing, 3)], request_timeout=TIMEOUT)
        assert error_code(fs[missing]) == KafkaError.UNKNOWN_TOPIC_OR_PART


@test
def delete_topics():
    with Broker(overrides={"auto.create.topics.enable": "false"}) as b:
        a = admin(b.bootstrap)
        name = create_topic(b.bootstrap, unique_topic("del"), 2)
        produce_all(producer(b.bootstrap), name, [{"value": b"x", "partition": 1}])
        fs = a.delete_topics([name], operation_timeout=TIMEOUT, request_timeout=TIMEOUT)
        assert error_code(fs[name]) is None
        deadline = time.monotonic() + TIMEOUT
        while name in topic_names(a):
            assert time.monotonic() < deadline, "deleted topic still listed"
            time.sleep(0.2)
        fs = a.delete_topics([name], request_timeout=TIMEOUT)
        assert error_code(fs[name]) == KafkaError.UNKNOWN_TOPIC_OR_PART
        # The name can be reused, and the new topic starts empty.
        create_topic(b.bootstrap, name, 1)
        got = read_partitions(b.bootstrap, name, 1)
        assert got[0] == [], [m.value() for m in got[0]]


@test
def delete_records():
    if not hasattr(AdminClient, "delete_records"):
        raise Skip("confluent_kafka %s has no delete_records (added in 2.4)" % confluent_kafka.version()[0])
    with Broker() as b:
        a = admin(b.bootstrap)
        name = create_topic(b.bootstrap, unique_topic("dr"), 1)
        produce_all(producer(b.bootstrap), name, [{"value": b"%d" % i} for i in range(100)])
        tp = TopicPartition(name, 0, 40)
        r = a.delete_records([tp])[tp].result(timeout=TIMEOUT)
        assert r.offset == 40, r
        c = consumer(b.bootstrap)
        try:
            assert c.get_watermark_offsets(TopicPartition(name, 0), timeout=TIMEOUT, cached=False) == (40, 100)
        finally:
            c.close()


# ---- producing and consuming ----

def keyed_messages(n, partitions, tag=b""):
    return [{"key": b"k%d" % i, "value": b"v%06d-%s-%s" % (i, tag, b"x" * (i % 97)),
             "headers": [("idx", b"%d" % i), ("tag", tag)], "partition": i % partitions} for i in range(n)]


def check_partitions(got, n, partitions, tag=b""):
    """Every message 0..n-1 exactly once, in production order per partition."""
    seen = set()
    for p in range(partitions):
        msgs = got[p]
        assert [m.offset() for m in msgs] == list(range(len(msgs))), "partition %d offsets not contiguous" % p
        expect = [i for i in range(n) if i % partitions == p]
        idx = [int(m.key()[1:]) for m in msgs]
        assert idx == expect, "partition %d: order/content differs, first difference at %r" % (
            p, next(((j, a, e) for j, (a, e) in enumerate(zip(idx, expect)) if a != e), (len(idx), len(expect))))
        for m in msgs:
            i = int(m.key()[1:])
            assert m.value() == b"v%06d-%s-%s" % (i, tag, b"x" * (i % 97)), m.value()
            assert m.headers() == [("idx", b"%d" % i), ("tag", tag)], m.headers()
            seen.add(i)
    assert len(seen) == n


def idempotent_round_trip(codec):
    with Broker() as b:
        name = create_topic(b.bootstrap, unique_topic("idem-" + codec), 3)
        p = producer(b.bootstrap, **{"enable.idempotence": True, "acks": "all", "compression.type": codec})
        d = produce_all(p, name, keyed_messages(5000, 3, codec.encode()))
        assert not d.errors, d.errors[:5]
        assert len(d.ok) == 5000
        check_partitions(read_partitions(b.bootstrap, name, 3), 5000, 3, codec.encode())


def _register_codec_tests():
    for codec in CODECS:
        def fn(codec=codec):
            idempotent_round_trip(codec)
        fn.__name__ = "idempotent_produce_%s" % codec
        test(timeout=300)(fn)


_register_codec_tests()


@test
def assign_and_seek():
    with Broker() as b:
        name = create_topic(b.bootstrap, unique_topic("seek"), 2)
        produce_all(producer(b.bootstrap), name, keyed_messages(200, 2))
        c = consumer(b.bootstrap)
        try:
            c.assign([TopicPartition(name, 0, 10)])
            m = next_message(c)
            assert (m.partition(), m.offset(), m.key()) == (0, 10, b"k20"), (m.partition(), m.offset(), m.key())
            c.seek(TopicPartition(name, 0, 75))
            m = next_message(c)
            assert (m.offset(), m.key()) == (75, b"k150"), (m.offset(), m.key())
            c.seek(TopicPartition(name, 0, 0))
            m = next_message(c)
            assert m.offset() == 0
            # Assigning at the high watermark sees only what is produced afterwards.
            low, high = c.get_watermark_offsets(TopicPartition(name, 1), timeout=TIMEOUT, cached=False)
            assert (low, high) == (0, 100), (low, high)
            c.assign([TopicPartition(name, 1, high)])
            produce_all(producer(b.bootstrap), name, [{"key": b"late", "value": b"late", "partition": 1}])
            m = next_message(c)
            assert (m.partition(), m.offset(), m.key()) == (1, 100, b"late")
        finally:
            c.close()


def next_message(c, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            raise KafkaException(m.error())
        return m
    raise AssertionError("no message within %ds" % timeout)


@test
def offsets_for_times():
    with Broker() as b:
        name = create_topic(b.bootstrap, unique_topic("oft"), 1)
        base = 1_600_000_000_000
        msgs = [{"value": b"%d" % i, "timestamp": base + 1000 * i} for i in range(10)]
        produce_all(producer(b.bootstrap), name, msgs)
        c = consumer(b.bootstrap)
        try:
            def lookup(ts):
                return c.offsets_for_times([TopicPartition(name, 0, ts)], timeout=TIMEOUT)[0].offset
            found = [lookup(ts) for ts in (base, base + 2500, base + 9000, 0, base + 9001)]
            # The last: no record that late, so OFFSET_END (-1).
            assert found == [0, 3, 9, 0, -1], found
            c.assign([TopicPartition(name, 0, lookup(base + 4000))])
            m = next_message(c)
            assert m.value() == b"4" and m.timestamp() == (1, base + 4000), (m.value(), m.timestamp())
        finally:
            c.close()


@test
def log_append_time_topic():
    with Broker() as b:
        name = create_topic(b.bootstrap, unique_topic("lat"), 1, config={"message.timestamp.type": "LogAppendTime"})
        before = int(time.time() * 1000)
        produce_all(producer(b.bootstrap), name, [{"value": b"a", "timestamp": 1000}])
        after = int(time.time() * 1000)
        m = read_partitions(b.bootstrap, name, 1)[0][0]
        kind, ts = m.timestamp()
        assert kind == 2, m.timestamp()  # TIMESTAMP_LOG_APPEND_TIME
        assert before - 1000 <= ts <= after + 1000, (before, ts, after)


@test
def watermark_offsets():
    with Broker() as b:
        name = create_topic(b.bootstrap, unique_topic("wm"), 2)
        produce_all(producer(b.bootstrap), name, [{"value": b"x", "partition": 0} for _ in range(10)])
        c = consumer(b.bootstrap)
        try:
            assert c.get_watermark_offsets(TopicPartition(name, 0), timeout=TIMEOUT, cached=False) == (0, 10)
            assert c.get_watermark_offsets(TopicPartition(name, 1), timeout=TIMEOUT, cached=False) == (0, 0)
        finally:
            c.close()


@test(timeout=300)
def messages_survive_clean_restart():
    with Broker() as b:
        name = create_topic(b.bootstrap, unique_topic("rs"), 3)
        p = producer(b.bootstrap, **{"enable.idempotence": True, "acks": "all", "compression.type": "lz4"})
        d = produce_all(p, name, keyed_messages(3000, 3))
        assert not d.errors
        del p
        b.restart()
        wait_topic_visible(admin(b.bootstrap), name, 3)
        check_partitions(read_partitions(b.bootstrap, name, 3), 3000, 3)
        # Writes continue after the last offset.
        d = produce_all(producer(b.bootstrap), name, [{"key": b"after", "value": b"after", "partition": 0}])
        assert d.ok[0][:2] == (0, 1000), d.ok


@test(timeout=400)
def acked_messages_survive_kill9():
    """kill -9 while an idempotent acks=all producer is busy: after restart,
    every acknowledged message is in the log exactly once, in order."""
    total = 20000
    with Broker() as b:
        name = create_topic(b.bootstrap, unique_topic("k9"), 3)
        p = producer(b.bootstrap, **{"enable.idempotence": True, "acks": "all", "message.timeout.ms": 120000,
                                     "linger.ms": 2, "batch.num.messages": 200})
        acked = {}
        failed = []

        def on_delivery(err, msg):
            if err is not None:
                failed.append((err, msg.key()))
            else:
                acked[int(msg.key()[1:])] = (msg.partition(), msg.offset())

        killed = False
        fatal = None
        for i in range(total):
            while fatal is None:
                try:
                    p.produce(name, key=b"k%d" % i, value=b"v%d" % i, partition=i % 3, on_delivery=on_delivery)
                    break
                except BufferError:
                    p.poll(0.05)
                except KafkaException as e:  # a fatal idempotence error: check what was acked anyway
                    fatal = e
            if fatal is not None:
                break
            if i % 100 == 0:
                p.poll(0.005)
            if not killed and len(acked) >= 5000:
                b.kill9()
                killed = True
                b.start()
        assert killed or fatal, "producer finished before the kill point"
        left = p.flush(180)
        assert left == 0, "%d messages never delivered" % left
        # With idempotence on, librdkafka may fail the whole producer on a
        # sequence error rather than risk duplicates; that is allowed, losing
        # or duplicating an acknowledged message is not.
        got = read_partitions(b.bootstrap, name, 3)
        positions = {}
        for part, msgs in got.items():
            last = -1
            for m in msgs:
                i = int(m.key()[1:])
                assert m.value() == b"v%d" % i
                assert i % 3 == part
                assert i not in positions, "message %d present twice" % i
                assert i > last, "partition %d out of order: %d after %d" % (part, i, last)
                last = i
                positions[i] = (part, m.offset())
        lost = [i for i in acked if i not in positions]
        assert not lost, "%d acknowledged messages lost, e.g. %s" % (len(lost), sorted(lost)[:10])
        moved = [i for i in acked if positions[i] != acked[i]]
        assert not moved, "acknowledged at one offset, found at another: %s" % [(i, acked[i], positions[i])
                                                                              for i in moved[:5]]
        sys.stderr.write("kill9: %d acked, %d failed, %d in log\n" % (len(acked), len(failed), len(positions)))
        assert fatal is None, "producer hit a fatal error after the restart: %s" % fatal


if __name__ == "__main__":
    main()
