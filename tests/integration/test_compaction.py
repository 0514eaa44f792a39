#!/usr/bin/python3
"""Log compaction (issue 6) through real clients: python3-confluent-kafka
(librdkafka) and python3-kafka read compacted topics from the beginning;
tombstones and delete.retention.ms; keyless records refused; kill -9 in
the middle of cleans; __consumer_offsets kept bounded.

The cleaner runs from the broker's 1 s housekeeping timer; tests wait (with
bounds) for cleaner-offset-checkpoint to reach the active segment, i.e. for
every closed segment to be cleaned."""

import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import KafkaError, TopicPartition  # noqa: E402
from confluent_kafka.admin import ConfigResource  # noqa: E402
import kafka.codec  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer  # noqa: E402
from kafka import TopicPartition as KTopicPartition  # noqa: E402
from kafka.errors import KafkaError as KafkaPythonError  # noqa: E402
from kafka.structs import OffsetAndMetadata  # noqa: E402

from clients import admin, consumer, create_topic, produce_all, producer, read_partitions, unique_topic  # noqa: E402
from harness import Broker, main, test, wait_for  # noqa: E402

ALL_CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
FAST_CLEANER = {"log.cleaner.backoff.ms": 100, "offsets.topic.num.partitions": 1}


# ---- helpers ----

def kp_can_read(codec):
    return {"none": lambda: True, "gzip": kafka.codec.has_gzip, "snappy": kafka.codec.has_snappy,
            "lz4": kafka.codec.has_lz4, "zstd": kafka.codec.has_zstd}[codec]()


def part_dir(b, topic, p=0):
    return os.path.join(b.data_dir, "%s-%d" % (topic, p))


def log_files(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".log") and len(f) == 24)


def log_bytes(d):
    return sum(os.path.getsize(os.path.join(d, f)) for f in log_files(d))


def first_dirty(d):
    try:
        with open(os.path.join(d, "cleaner-offset-checkpoint")) as f:
            return int(f.read().split("\n")[1])
    except FileNotFoundError:
        return None


def active_base(d):
    return int(log_files(d)[-1][:20])


def fully_cleaned(d):
    fd = first_dirty(d)
    leftovers = [f for f in os.listdir(d) if f.endswith(".cleaned") or f.endswith(".swap")]
    return fd is not None and fd >= active_base(d) and not leftovers


def wait_cleaned(b, d, timeout=60):
    wait_for(lambda: (b.assert_alive(), fully_cleaned(d))[1], timeout=timeout, interval=0.2,
             what="cleaner to reach the active segment of %s" % d)


def alter_topic(b, topic, config):
    """Legacy AlterConfigs replaces the topic's whole set, so config is all of it."""
    a = admin(b.bootstrap)
    fs = a.alter_configs([ConfigResource(ConfigResource.Type.TOPIC, topic, set_config=config)])
    for f in fs.values():
        f.result(timeout=30)


def kp_read(b, topic):
    """Reads partition 0 from the beginning to the current end with kafka-python."""
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, enable_auto_commit=False, group_id=None,
                      auto_offset_reset="earliest", request_timeout_ms=35000, max_poll_records=5000)
    try:
        tp = KTopicPartition(topic, 0)
        c.assign([tp])
        end = c.end_offsets([tp])[tp]
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + 60
        while end > 0 and (not out or out[-1].offset < end - 1):
            assert time.monotonic() < deadline, "kafka-python read of %s timed out at %s" % (topic, out[-1:])
            for recs in c.poll(timeout_ms=1000).values():
                out.extend(recs)
        return out
    finally:
        c.close()


def ck_read(b, topic):
    return read_partitions(b.bootstrap, topic, 1)[0]


def as_tuples(msgs, lib):
    """(offset, key, value, headers dict) from either client's messages."""
    out = []
    for m in msgs:
        if lib == "ck":
            out.append((m.offset(), m.key(), m.value(), dict(m.headers() or [])))
        else:
            out.append((m.offset, m.key, m.value, dict(m.headers or [])))
    return out


def check_compacted(recs, expected, first_dirty_offset, what):
    """Offsets ascend, each key's last value is the latest produced, and
    below the cleaned point each key appears exactly once."""
    offsets = [r[0] for r in recs]
    assert offsets == sorted(set(offsets)), "%s: offsets not strictly ascending" % what
    last = {}
    for off, k, v, _ in recs:
        last[k] = v
    assert last == expected, "%s: %d keys differ from the latest produced, e.g. %r" % (
        what, sum(1 for k in expected if last.get(k) != expected[k]),
        [(k, last.get(k), expected[k]) for k in expected if last.get(k) != expected[k]][:3])
    cleaned_keys = [k for off, k, _, _ in recs if off < first_dirty_offset]
    assert len(cleaned_keys) == len(set(cleaned_keys)), "%s: a key appears twice in the cleaned part" % what


# ---- tests ----

def produce_updates(b, topic, codecs, n, keys):
    """n updates over `keys` keys, an equal share under each codec, with a
    header; returns {key: latest value}."""
    expected = {}
    i = 0
    for codec in codecs:
        p = producer(b.bootstrap, **{"compression.codec": codec, "linger.ms": 20, "enable.idempotence": True,
                                     "queue.buffering.max.messages": 200000, "batch.num.messages": 500})
        msgs = []
        for _ in range(n // len(codecs)):
            k = b"key-%04d" % (i % keys)
            v = b"%s:%d:%s" % (codec.encode(), i, b"x" * (i % 37))
            msgs.append({"key": k, "value": v, "headers": [("seq", str(i).encode())]})
            expected[k] = v
            i += 1
        d = produce_all(p, topic, msgs)
        assert not d.errors, d.errors[:3]
    return expected


@test(timeout=300)
def compaction_all_codecs_both_clients():
    # kafka-python reads only the codecs whose Python library is installed
    # (here not lz4 nor zstd): those go to a topic of their own, read by
    # librdkafka only. 40,000 updates per codec, 200,000 in all.
    plan = [(tuple(c for c in ALL_CODECS if kp_can_read(c)), 0), (tuple(c for c in ALL_CODECS if not kp_can_read(c)), 0)]
    plan = [(codecs, 40000 * len(codecs)) for codecs, _ in plan if codecs]
    with Broker(overrides=FAST_CLEANER) as b:
        config = {"cleanup.policy": "compact", "segment.bytes": "131072", "min.cleanable.dirty.ratio": "0.01"}
        runs = []
        for codecs, n in plan:
            topic = unique_topic("compact-" + codecs[-1])
            # Nothing is cleanable while producing, so the size before cleaning is measurable.
            create_topic(b.bootstrap, topic, 1, config=dict(config, **{"min.compaction.lag.ms": "3600000"}))
            runs.append((topic, codecs, n, produce_updates(b, topic, codecs, n, 1000)))
        time.sleep(1.5)  # a housekeeping pass: no clean may happen (min lag)
        sizes = {}
        for topic, codecs, n, expected in runs:
            d = part_dir(b, topic)
            assert first_dirty(d) is None, "cleaned despite min.compaction.lag.ms"
            sizes[topic] = (log_bytes(d), len(log_files(d)))
            alter_topic(b, topic, config)
        for topic, codecs, n, expected in runs:
            d = part_dir(b, topic)
            wait_cleaned(b, d, timeout=120)
            before, segs_before = sizes[topic]
            after, fd = log_bytes(d), first_dirty(d)
            print("INFO %s: %d updates, 1000 keys: %d -> %d bytes, %d -> %d segments, first_dirty=%d" % (
                "+".join(codecs), n, before, after, segs_before, len(log_files(d)), fd), flush=True)
            # 1000 survivors plus at most one active segment of 128 KiB.
            assert after < before / 4, (before, after)
            assert len(log_files(d)) < segs_before, "small cleaned segments were not merged"
            readers = [("ck", ck_read)]
            if all(kp_can_read(c) for c in codecs):
                readers.append(("kp", kp_read))
            for lib, read in readers:
                recs = as_tuples(read(b, topic), lib)
                check_compacted(recs, expected, fd, "%s %s" % (lib, topic))
                for off, k, v, h in recs:
                    assert h.get("seq") == v.split(b":")[1], "%s: header lost at offset %d" % (lib, off)
                assert len(recs) < n / 10, len(recs)
        # The threads wrote the cleaned segments' indexes: none needed a rebuild.
        assert "indexes rebuilt" not in b.log_text()
        # A restart reads the cleaned logs (merged segments, gaps).
        b.restart()
        for topic, codecs, n, expected in runs:
            check_compacted(as_tuples(ck_read(b, topic), "ck"), expected, first_dirty(part_dir(b, topic)),
                            "after restart")


@test(timeout=180)
def tombstones_kept_for_delete_retention_then_removed():
    with Broker(overrides=FAST_CLEANER) as b:
        topic = unique_topic("tomb")
        config = {"cleanup.policy": "compact", "segment.bytes": "16384", "min.cleanable.dirty.ratio": "0.01",
                  "delete.retention.ms": "3600000"}
        create_topic(b.bootstrap, topic, 1, config=config)
        p = producer(b.bootstrap, **{"linger.ms": 5, "batch.num.messages": 20})
        msgs = [{"key": b"k%03d" % i, "value": b"v%d" % i} for i in range(100)]
        msgs += [{"key": b"k%03d" % i, "value": None} for i in range(50)]
        msgs += [{"key": b"filler-%d" % (i % 20), "value": b"f" * 200} for i in range(400)]
        assert not produce_all(p, topic, msgs).errors
        d = part_dir(b, topic)
        wait_cleaned(b, d)
        # Inside delete.retention.ms: both clients see each deleted key's tombstone, once.
        for lib, read in (("ck", ck_read), ("kp", kp_read)):
            recs = as_tuples(read(b, topic), lib)
            by_key = {}
            for _, k, v, _ in recs:
                by_key.setdefault(k, []).append(v)
            for i in range(50):
                assert by_key.get(b"k%03d" % i) == [None], (lib, i, by_key.get(b"k%03d" % i))
            for i in range(50, 100):
                assert by_key.get(b"k%03d" % i) == [b"v%d" % i], (lib, i)
        # Past delete.retention.ms (now 0): the next clean removes them.
        alter_topic(b, topic, dict(config, **{"delete.retention.ms": "0"}))
        more = [{"key": b"filler-%d" % (i % 20), "value": b"g" * 200} for i in range(400)]
        assert not produce_all(p, topic, more).errors
        wait_for(lambda: fully_cleaned(d) and first_dirty(d) > 600, timeout=60, what="second clean")
        for lib, read in (("ck", ck_read), ("kp", kp_read)):
            recs = as_tuples(read(b, topic), lib)
            keys = {k for _, k, _, _ in recs}
            gone = [i for i in range(50) if b"k%03d" % i in keys]
            assert not gone, "%s: deleted keys still present: %s" % (lib, gone[:5])
            assert all(b"k%03d" % i in keys for i in range(50, 100)), lib


@test(timeout=120)
def compact_delete_retention_and_compaction_together():
    overrides = dict(FAST_CLEANER, **{"log.retention.check.interval.ms": 500})
    with Broker(overrides=overrides) as b:
        topic = unique_topic("compdel")
        config = {"cleanup.policy": "compact,delete", "segment.bytes": "8192", "retention.ms": "600000",
                  "min.cleanable.dirty.ratio": "0.01"}
        # No clean until retention has run: a clean may merge an hour-old
        # segment with a fresh one, which retention by time then keeps (as in Kafka).
        create_topic(b.bootstrap, topic, 1, config=dict(config, **{"min.compaction.lag.ms": "3600000"}))
        p = producer(b.bootstrap, **{"batch.num.messages": 10})
        hour_ago = int(time.time() * 1000) - 3600 * 1000
        old = [{"key": b"old-%d" % (i % 50), "value": b"o" * 100, "timestamp": hour_ago} for i in range(500)]
        assert not produce_all(p, topic, old).errors
        expected = {}
        fresh = []
        for i in range(1000):
            k, v = b"new-%d" % (i % 50), b"n%d:%s" % (i, b"y" * 80)
            fresh.append({"key": k, "value": v})
            expected[k] = v
        assert not produce_all(p, topic, fresh).errors
        d = part_dir(b, topic)
        c = consumer(b.bootstrap)
        try:
            # Retention by time drops the segments holding only hour-old records...
            wait_for(lambda: c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)[0] > 0,
                     timeout=60, what="retention to move the log start")
        finally:
            c.close()
        for lib, read in (("ck", ck_read), ("kp", kp_read)):
            old_left = {k for _, k, _, _ in as_tuples(read(b, topic), lib) if k.startswith(b"old-")}
            assert len(old_left) < 50, "%s: retention removed no hour-old key" % lib
        # ...and the cleaner compacts what remains.
        alter_topic(b, topic, config)
        wait_cleaned(b, d)
        fd = first_dirty(d)
        for lib, read in (("ck", ck_read), ("kp", kp_read)):
            recs = as_tuples(read(b, topic), lib)
            last = {}
            for _, k, v, _ in recs:
                last[k] = v
            assert all(last.get(k) == v for k, v in expected.items()), lib
            check_compacted([r for r in recs if r[1].startswith(b"new-")], expected, fd, lib)


@test(timeout=120)
def keyless_records_refused_on_compacted_topic():
    with Broker(overrides=FAST_CLEANER) as b:
        topic = unique_topic("nokey")
        create_topic(b.bootstrap, topic, 1, config={"cleanup.policy": "compact"})
        for codec in ("none", "lz4"):
            p = producer(b.bootstrap, **{"compression.codec": codec, "retries": 0})
            d = produce_all(p, topic, [{"key": b"a", "value": b"1"}, {"value": b"no key"}], timeout=30)
            assert d.errors, "keyless record accepted (%s)" % codec
            assert all(e.code() == KafkaError.INVALID_RECORD for e, _ in d.errors), d.errors
            d = produce_all(p, topic, [{"key": b"a", "value": b"2"}], timeout=30)
            assert not d.errors, d.errors
        kp = KafkaProducer(bootstrap_servers=b.bootstrap, retries=0)
        try:
            try:
                kp.send(topic, value=b"no key").get(timeout=30)
                raise AssertionError("kafka-python keyless record accepted")
            except AssertionError:
                raise
            except Exception as e:  # noqa: BLE001 - kafka-python 2.0.2 does not know code 87: UnknownError
                assert isinstance(e, KafkaPythonError), repr(e)
            kp.send(topic, key=b"b", value=b"ok").get(timeout=30)
        finally:
            kp.close()
        # Whether "a"="1" went in depends on it sharing the refused batch; nothing keyless did.
        keys = [k for _, k, _, _ in as_tuples(ck_read(b, topic), "ck")]
        assert None not in keys and keys[-1] == b"b" and keys.count(b"a") >= 2, keys
        # The compaction keys are described with Kafka's defaults.
        a = admin(b.bootstrap)  # kept referenced until the future resolves
        res = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
        described = list(res.values())[0].result(timeout=30)
        got = {k: described[k].value for k in ("cleanup.policy", "min.cleanable.dirty.ratio", "delete.retention.ms",
                                               "min.compaction.lag.ms", "max.compaction.lag.ms")}
        assert got == {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.5",
                       "delete.retention.ms": "86400000", "min.compaction.lag.ms": "0",
                       "max.compaction.lag.ms": "9223372036854775807"}, got
        # A delete-policy topic still takes keyless records.
        other = unique_topic("keyless-ok")
        create_topic(b.bootstrap, other, 1)
        assert not produce_all(producer(b.bootstrap), other, [{"value": b"fine"}]).errors


@test(timeout=400)
def kill9_during_clean_keeps_log_consistent():
    # A throttled cleaner makes each clean last long enough to be killed inside.
    overrides = dict(FAST_CLEANER, **{"log.cleaner.io.max.bytes.per.second": 4000000})
    rnd = random.Random(6)
    with Broker(overrides=overrides) as b:
        topic = unique_topic("crash")
        create_topic(b.bootstrap, topic, 1, config={"cleanup.policy": "compact", "segment.bytes": "65536",
                                                    "min.cleanable.dirty.ratio": "0.01"})
        d = part_dir(b, topic)
        expected = {}
        seq = 0
        killed_mid_clean = 0
        for rnd_i in range(10):
            p = producer(b.bootstrap, **{"acks": "all", "linger.ms": 10, "batch.num.messages": 100})
            msgs = []
            for _ in range(6000):
                k = b"k%03d" % rnd.randrange(300)
                v = b"%d:%d:%s" % (rnd_i, seq, b"y" * rnd.randrange(60))
                msgs.append({"key": k, "value": v})
                expected[k] = v
                seq += 1
            dl = produce_all(p, topic, msgs)
            assert not dl.errors, dl.errors[:3]
            # Kill at a random moment once a clean is under way (or after a bound).
            try:
                wait_for(lambda: any(f.endswith(".cleaned") for f in os.listdir(d)), timeout=5, interval=0.02)
                killed_mid_clean += 1
            except AssertionError:
                pass
            time.sleep(rnd.uniform(0, 0.3))
            b.kill9()
            b.start()
            # The cleaner may finish another clean while we read: take the
            # cleaned point first (a later clean only removes records).
            fd = first_dirty(d) or 0
            recs = as_tuples(ck_read(b, topic), "ck")
            check_compacted(recs, expected, fd, "round %d" % rnd_i)
        print("INFO kill9: %d of 10 kills landed while a .cleaned file was being written" % killed_mid_clean,
              flush=True)
        fd = first_dirty(d) or 0
        recs = as_tuples(kp_read(b, topic), "kp")
        check_compacted(recs, expected, fd, "kafka-python after kills")


@test(timeout=180)
def interrupted_swap_completed_and_cleaned_file_discarded_at_open():
    """The file states of a clean, set up by hand after a clean stop: a
    crash after the commit (the .swap exists, an old segment and a stale
    index of the new one are still there) is completed at open; a
    .cleaned file (no commit yet) is discarded."""
    with Broker(overrides=FAST_CLEANER) as b:
        topic = unique_topic("swap")
        create_topic(b.bootstrap, topic, 1, config={"cleanup.policy": "compact", "segment.bytes": "8192",
                                                    "min.cleanable.dirty.ratio": "0.01"})
        p = producer(b.bootstrap, **{"batch.num.messages": 10})
        msgs = [{"key": b"k%02d" % (i % 40), "value": b"v%d:%s" % (i, b"z" * 50)} for i in range(2000)]
        expected = {m["key"]: m["value"] for m in msgs}
        assert not produce_all(p, topic, msgs).errors
        d = part_dir(b, topic)
        wait_cleaned(b, d)
        fd = first_dirty(d)
        b.stop()
        files = log_files(d)
        assert len(files) >= 2, files
        first, nxt = files[0], files[1]
        base, end = int(first[:20]), int(nxt[:20])
        # After the commit: the new segment is still named .swap; one old
        # segment of its range (an empty stand-in here) and a stale index remain.
        swap = "%020d.%020d.log.swap" % (base, end)
        os.rename(os.path.join(d, first), os.path.join(d, swap))
        if base + 1 < end:
            open(os.path.join(d, "%020d.log" % (base + 1)), "wb").write(b"garbage that must go")
        open(os.path.join(d, "%020d.index" % base), "wb").write(b"\0" * 16)
        # A clean that never committed.
        open(os.path.join(d, "%020d.%020d.log.cleaned" % (end, end + 5)), "wb").write(b"partial")
        os.unlink(os.path.join(d, "clean-shutdown"))
        b.start()
        names = os.listdir(d)
        assert not [f for f in names if f.endswith(".swap") or f.endswith(".cleaned")], names
        assert first in names, names
        for lib, read in (("ck", ck_read), ("kp", kp_read)):
            check_compacted(as_tuples(read(b, topic), lib), expected, fd, "%s after swap recovery" % lib)
        assert "completed interrupted clean" in b.log_text()


def fill_for_slow_clean(b, topic):
    """A compacted topic of ~50 closed 64 KiB segments, produced with
    confluent-kafka; returns its partition directory."""
    create_topic(b.bootstrap, topic, 1, config={"cleanup.policy": "compact", "segment.bytes": "65536",
                                                "min.cleanable.dirty.ratio": "0.01"})
    p = producer(b.bootstrap, **{"linger.ms": 10, "batch.num.messages": 200})
    msgs = [{"key": b"k%03d" % (i % 200), "value": b"%d:%s" % (i, b"w" * 300)} for i in range(10000)]
    assert not produce_all(p, topic, msgs).errors
    return part_dir(b, topic)


@test(timeout=240)
def delete_topic_or_stop_during_clean_does_not_wait_for_the_cleaner():
    """DeleteTopics (confluent-kafka, then kafka-python) while a throttled
    clean is writing its .cleaned file: the request is answered, the
    cleaner thread removes its own files afterwards, the directory goes,
    and a topic of the same name starts empty (kafka-python reads it).
    Then a clean stop in the middle of a clean: no leak, no stray file
    after the next start."""
    from kafka.admin import KafkaAdminClient, NewTopic as KNewTopic
    # 1 MB/s: the map pass reads the ~3 MB in ~3 s, then the rewrite
    # (which writes the .cleaned files) lasts ~3 s more, past the deletion.
    overrides = dict(FAST_CLEANER, **{"log.cleaner.io.max.bytes.per.second": 1000000})
    with Broker(overrides=overrides) as b:
        for deleter in ("ck", "kp"):
            topic = unique_topic("del-" + deleter)
            d = fill_for_slow_clean(b, topic)
            wait_for(lambda: any(f.endswith(".cleaned") for f in os.listdir(d)), timeout=30, interval=0.05,
                     what="a clean of %s to start" % topic)
            if deleter == "ck":
                a = admin(b.bootstrap)  # kept referenced until the result is in
                a.delete_topics([topic])[topic].result(timeout=30)
            else:
                ka = KafkaAdminClient(bootstrap_servers=b.bootstrap)
                try:
                    ka.delete_topics([topic], timeout_ms=30000)
                finally:
                    ka.close()
            wait_for(lambda: not os.path.exists(d), timeout=30, interval=0.1,
                     what="%s's directory to go once its cleaner thread let go" % topic)
            b.assert_alive()
            ka = KafkaAdminClient(bootstrap_servers=b.bootstrap)
            try:
                wait_for(lambda: topic not in ka.list_topics(), timeout=30, interval=0.2,
                         what="%s to disappear from metadata" % topic)
                ka.create_topics([KNewTopic(topic, 1, 1, topic_configs={"cleanup.policy": "compact"})],
                                 timeout_ms=30000)
            finally:
                ka.close()
            kp = KafkaProducer(bootstrap_servers=b.bootstrap)
            try:
                kp.send(topic, key=b"fresh", value=b"only").get(timeout=30)
            finally:
                kp.close()
            recs = as_tuples(kp_read(b, topic), "kp")
            assert [(r[1], r[2]) for r in recs] == [(b"fresh", b"only")], recs[:3]
        topic = unique_topic("stop")
        d = fill_for_slow_clean(b, topic)
        expected = {b"k%03d" % (i % 200): b"%d:%s" % (i, b"w" * 300) for i in range(10000)}
        wait_for(lambda: any(f.endswith(".cleaned") for f in os.listdir(d)), timeout=30, interval=0.05,
                 what="a clean of %s to start" % topic)
        b.stop()  # checks the sanitizer log: an orphaned job is freed by its thread
        names = os.listdir(d)  # the stop joined the cleaner thread
        assert not [f for f in names if f.endswith(".cleaned") or f.endswith(".deleted")], names
        b.start()
        check_compacted(as_tuples(ck_read(b, topic), "ck"), expected, first_dirty(d) or 0, "ck after a stop")


@test(timeout=240)
def consumer_offsets_stay_bounded():
    overrides = dict(FAST_CLEANER, **{"offsets.topic.segment.bytes": 16384})
    with Broker(overrides=overrides) as b:
        topic = unique_topic("commits")
        create_topic(b.bootstrap, topic, 1)
        group = "busy-" + topic
        c = consumer(b.bootstrap, **{"group.id": group})
        try:
            for i in range(1, 2501):
                c.commit(offsets=[TopicPartition(topic, 0, i)], asynchronous=False)
        finally:
            c.close()
        kgroup = "busy-kp-" + topic
        kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=kgroup, enable_auto_commit=False)
        try:
            tp = KTopicPartition(topic, 0)
            kc.assign([tp])
            for i in range(1, 1501):
                kc.commit({tp: OffsetAndMetadata(i, "")})
        finally:
            kc.close()
        d = part_dir(b, "__consumer_offsets")
        wait_cleaned(b, d, timeout=90)
        size = log_bytes(d)
        print("INFO __consumer_offsets after 4000 commits: %d bytes in %d segments" % (size, len(log_files(d))),
              flush=True)
        # Two live offset keys plus group records; the active segment is at most 16 KiB.
        assert size < 3 * 16384, size
        b.restart()  # the group loader replays a log with gaps
        c = consumer(b.bootstrap, **{"group.id": group})
        try:
            got = c.committed([TopicPartition(topic, 0)], timeout=30)
            assert got[0].offset == 2500, got
        finally:
            c.close()
        kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=kgroup, enable_auto_commit=False)
        try:
            assert kc.committed(KTopicPartition(topic, 0)) == 1500
        finally:
            kc.close()


if __name__ == "__main__":
    main()
