"""The start-up summary (<data>/clean-shutdown-summary, docs/STORAGE.md):
written at a clean stop, used by the next start to open partitions without
reading their directories, and never able to bring back stale state. Data
is produced and read back with confluent-kafka (librdkafka) and
kafka-python; the broker log says whether the summary was used:
  "start-up summary loaded ... partitions=N" and
  "partitions opened from start-up summary summarized=N opened_by_recovery=M",
or why not: "start-up summary absent" / "start-up summary ignored ... reason=R"."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import TopicPartition  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer  # noqa: E402
from kafka import TopicPartition as KTopicPartition  # noqa: E402

from clients import (admin, consumer, create_topic, kp_read_to_end, produce_all, producer, read_partitions,  # noqa: E402
                     unique_topic, wait_topic_visible)
from faults import FaultShim, power_cut  # noqa: E402
from harness import Broker, BrokerError, main, test  # noqa: E402

SUMMARY = "clean-shutdown-summary"
TIMEOUT_MS = 30000
KAFKA_PYTHON_API = (2, 5, 0)


def summarized(b):
    """(partitions opened from the summary, partitions recovered) of this run, or None if it was not used."""
    m = re.search(r"partitions opened from start-up summary summarized=(\d+) opened_by_recovery=(\d+)", b.log_text())
    return (int(m.group(1)), int(m.group(2))) if m else None


def ignored_reason(b):
    m = re.search(r"start-up summary ignored.* reason=(\w+)", b.log_text())
    return m.group(1) if m else None


def written(b_log_before_start):
    m = re.findall(r"start-up summary written partitions=(\d+)", b_log_before_start)
    return int(m[-1]) if m else None


def stop_and_read_log(b):
    """Stops cleanly; returns the stopped run's log (log_text is reset by the next start)."""
    b.stop()
    return b.log_text()


def kp_producer(b, **kw):
    return KafkaProducer(bootstrap_servers=b.bootstrap, api_version=KAFKA_PYTHON_API,
                         request_timeout_ms=TIMEOUT_MS, **kw)


def kp_produce(b, topic, partition, values):
    """kafka-python: sends values to one partition; returns their offsets."""
    p = kp_producer(b, acks="all")
    try:
        futs = [p.send(topic, key=b"k%d" % i, value=v, partition=partition) for i, v in enumerate(values)]
        p.flush(timeout=60)
        return [f.get(timeout=60).offset for f in futs]
    finally:
        p.close(timeout=10)


def kp_read(b, topic, partitions, timeout_s=60):
    """kafka-python: {partition: [values]} from the log start to the current end."""
    c = KafkaConsumer(bootstrap_servers=b.bootstrap, api_version=KAFKA_PYTHON_API, enable_auto_commit=False,
                      group_id=None, request_timeout_ms=TIMEOUT_MS + 5000)
    try:
        got = kp_read_to_end(c, [KTopicPartition(topic, p) for p in range(partitions)], timeout_s)
        return {p: [r.value for r in recs] for p, recs in got.items()}
    finally:
        c.close()


def ck_read(b, topic, partitions):
    got = read_partitions(b.bootstrap, topic, partitions)
    return {p: [m.value() for m in msgs] for p, msgs in got.items()}


def ck_produce(b, topic, partitions, tag, per_partition, **conf):
    p = producer(b.bootstrap, acks="all", **conf)
    msgs = [{"key": b"%s-%d" % (tag, i), "value": b"%s-%d-%d" % (tag, part, i), "partition": part}
            for part in range(partitions) for i in range(per_partition)]
    d = produce_all(p, topic, msgs)
    assert not d.errors, d.errors[:3]
    return d


def end_offsets(b, topic, partitions):
    c = consumer(b.bootstrap)
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=30, cached=False)[1]
                for p in range(partitions)]
    finally:
        c.close()


def expect_same_with_both_clients(b, topic, partitions, expected):
    ck = ck_read(b, topic, partitions)
    kp = kp_read(b, topic, partitions)
    for p in range(partitions):
        assert ck[p] == expected[p], "confluent-kafka partition %d: %r != %r" % (p, ck[p][:5], expected[p][:5])
        assert kp[p] == expected[p], "kafka-python partition %d: %r != %r" % (p, kp[p][:5], expected[p][:5])


@test(timeout=300)
def summary_used_after_clean_stop_and_data_continues():
    """Several partitions, small segments (several per partition, most left
    unloaded by the summarized open), an idempotent producer, a committed
    group offset: all read back identically by both clients after a start
    from the summary, and new appends continue the offsets."""
    with Broker(name="summary_used") as b:
        topic = create_topic(b.bootstrap, unique_topic("sum"), 4, config={"segment.bytes": "2048"})
        expected = {p: [] for p in range(4)}
        ck_produce(b, topic, 4, b"a", 40, **{"enable.idempotence": True})
        for p in range(4):
            expected[p] += [b"a-%d-%d" % (p, i) for i in range(40)]
        for p in range(4):
            values = [b"kp-%d-%d" % (p, i) for i in range(10)]
            kp_produce(b, topic, p, values)
            expected[p] += values
        ends_before = end_offsets(b, topic, 4)
        group = "g-" + topic
        c = consumer(b.bootstrap, **{"group.id": group})
        c.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
        c.close()

        log = stop_and_read_log(b)
        n_written = written(log)
        assert n_written is not None and n_written >= 4, "no summary written at stop:\n" + log[-2000:]
        assert os.path.exists(os.path.join(b.data_dir, SUMMARY))
        b.start()
        used = summarized(b)
        assert used is not None and used[0] == n_written and used[1] == 0, (used, n_written, b.log_tail())
        # Taken at start: a crash from now on finds none.
        assert not os.path.exists(os.path.join(b.data_dir, SUMMARY))

        assert end_offsets(b, topic, 4) == ends_before
        expect_same_with_both_clients(b, topic, 4, expected)
        c = consumer(b.bootstrap, **{"group.id": group})
        committed = c.committed([TopicPartition(topic, 0)], timeout=30)
        c.close()
        assert committed[0].offset == 7, committed

        # Timestamp lookups reach the unloaded segments.
        c = consumer(b.bootstrap)
        found = c.offsets_for_times([TopicPartition(topic, 1, 0)], timeout=30)
        c.close()
        assert found[0].offset == 0, found

        # New appends continue where the log ended, with both clients.
        d = ck_produce(b, topic, 4, b"b", 5, **{"enable.idempotence": True})
        for p in range(4):
            offs = sorted(o for (part, o, _) in d.ok if part == p)
            assert offs == list(range(ends_before[p], ends_before[p] + 5)), (p, offs, ends_before)
            expected[p] += [b"b-%d-%d" % (p, i) for i in range(5)]
        offs = kp_produce(b, topic, 2, [b"kp2-%d" % i for i in range(3)])
        assert offs == list(range(ends_before[2] + 5, ends_before[2] + 8)), offs
        expected[2] += [b"kp2-%d" % i for i in range(3)]

        # Another clean cycle: the second summary describes the new appends.
        b.restart()
        assert summarized(b) is not None, b.log_tail()
        expect_same_with_both_clients(b, topic, 4, expected)


@test(timeout=300)
def kill9_after_summarized_start_recovers_normally():
    with Broker(name="summary_kill9") as b:
        topic = create_topic(b.bootstrap, unique_topic("k9"), 3)
        ck_produce(b, topic, 3, b"a", 20)
        b.restart()
        assert summarized(b) is not None, b.log_tail()
        ck_produce(b, topic, 3, b"b", 20)
        kp_produce(b, topic, 1, [b"kp-%d" % i for i in range(5)])
        b.kill9()
        assert not os.path.exists(os.path.join(b.data_dir, SUMMARY))
        b.start()
        assert summarized(b) is None, b.log_tail()
        assert "start-up summary absent" in b.log_text(), b.log_tail()
        expected = {p: [b"a-%d-%d" % (p, i) for i in range(20)] + [b"b-%d-%d" % (p, i) for i in range(20)]
                    for p in range(3)}
        expected[1] += [b"kp-%d" % i for i in range(5)]
        expect_same_with_both_clients(b, topic, 3, expected)
        assert end_offsets(b, topic, 3) == [40, 45, 40]


def damage_and_restart(b, damage):
    b.stop()
    path = os.path.join(b.data_dir, SUMMARY)
    with open(path, "r+b") as f:
        damage(f, os.path.getsize(path))
    b.start()
    assert not os.path.exists(path), "a damaged summary must be removed too"
    assert summarized(b) is None, b.log_tail()
    return ignored_reason(b)


def flip_body_byte(f, size):
    f.seek(size - 3)
    c = f.read(1)
    f.seek(size - 3)
    f.write(bytes([c[0] ^ 0x40]))


def truncate(f, size):
    f.truncate(size - 9)


def bump_version(f, size):
    f.seek(9)
    f.write(b"\x07")


@test(timeout=300)
def damaged_summary_is_ignored():
    with Broker(name="summary_damaged") as b:
        topic = create_topic(b.bootstrap, unique_topic("dmg"), 2)
        ck_produce(b, topic, 2, b"a", 30)
        expected = {p: [b"a-%d-%d" % (p, i) for i in range(30)] for p in range(2)}
        for damage, reason in ((flip_body_byte, "crc_mismatch"), (truncate, "bad_length"),
                               (bump_version, "unknown_version")):
            got = damage_and_restart(b, damage)
            assert got == reason, (damage.__name__, got, b.log_tail())
            expect_same_with_both_clients(b, topic, 2, expected)
        # A file too short to hold a header.
        b.stop()
        with open(os.path.join(b.data_dir, SUMMARY), "wb") as f:
            f.write(b"GRGR")
        b.start()
        assert ignored_reason(b) == "bad_size", b.log_tail()
        expect_same_with_both_clients(b, topic, 2, expected)


@test(timeout=300)
def data_dir_listing_change_ignores_summary():
    with Broker(name="summary_listing") as b:
        topic = create_topic(b.bootstrap, unique_topic("lst"), 2)
        ck_produce(b, topic, 2, b"a", 10)
        b.stop()
        os.mkdir(os.path.join(b.data_dir, "operator-notes"))
        b.start()
        assert ignored_reason(b) == "data_dir_listing_changed", b.log_tail()
        expected = {p: [b"a-%d-%d" % (p, i) for i in range(10)] for p in range(2)}
        expect_same_with_both_clients(b, topic, 2, expected)
        # The next clean stop records the new listing: used again.
        b.restart()
        assert summarized(b) is not None, b.log_tail()
        expect_same_with_both_clients(b, topic, 2, expected)


@test(timeout=300)
def stale_summary_from_before_other_writes_is_not_trusted():
    """A summary that outlived a run which did not take it (a broker
    version without summary support, or one started with the file moved
    away) describes partitions that changed since: their directories'
    identity (inode, ctime) no longer matches, so they are recovered from
    their files and nothing written in between is lost."""
    with Broker(name="summary_stale") as b:
        topic = create_topic(b.bootstrap, unique_topic("stale"), 3)
        ck_produce(b, topic, 3, b"a", 10)
        b.stop()
        path = os.path.join(b.data_dir, SUMMARY)
        kept = path + ".kept"
        os.rename(path, kept)
        b.start()  # no summary: as an older broker would run
        assert "start-up summary absent" in b.log_text(), b.log_tail()
        ck_produce(b, topic, 2, b"b", 7)  # partitions 0 and 1 only
        kp_produce(b, topic, 1, [b"kp-%d" % i for i in range(3)])
        b.stop()
        os.replace(kept, path)  # the stale summary is back
        b.start()
        m = re.search(r"start-up summary loaded .* changed=(\d+)", b.log_text())
        assert m and int(m.group(1)) == 2, b.log_tail()
        used = summarized(b)
        assert used is not None and used[1] == 2, (used, b.log_tail())
        expected = {p: [b"a-%d-%d" % (p, i) for i in range(10)] for p in range(3)}
        for p in range(2):
            expected[p] += [b"b-%d-%d" % (p, i) for i in range(7)]
        expected[1] += [b"kp-%d" % i for i in range(3)]
        expect_same_with_both_clients(b, topic, 3, expected)
        assert end_offsets(b, topic, 3) == [17, 20, 10]


@test(timeout=300)
def deleted_and_recreated_topic_has_no_stale_state():
    """A topic deleted through the admin API and created again under the
    same name (fewer partitions) starts empty after summarized starts: the
    summary never describes directories that no longer hold that data."""
    with Broker(name="summary_delete") as b:
        name = unique_topic("del")
        create_topic(b.bootstrap, name, 3)
        ck_produce(b, name, 3, b"old", 25)
        keep = create_topic(b.bootstrap, unique_topic("keep"), 1)
        ck_produce(b, keep, 1, b"keep", 4)
        b.restart()
        assert summarized(b) is not None, b.log_tail()
        a = admin(b.bootstrap)
        a.delete_topics([name], operation_timeout=30)[name].result(timeout=30)
        deadline = time.monotonic() + 30
        while name in a.list_topics(timeout=10).topics:
            assert time.monotonic() < deadline, "topic still listed after delete"
            time.sleep(0.2)
        b.restart()
        assert summarized(b) is not None, b.log_tail()
        assert name not in admin(b.bootstrap).list_topics(timeout=10).topics
        assert not any(d.startswith(name + "-") for d in os.listdir(b.data_dir)), os.listdir(b.data_dir)
        create_topic(b.bootstrap, name, 2)
        wait_topic_visible(admin(b.bootstrap), name, 2)
        assert end_offsets(b, name, 2) == [0, 0]
        kp_produce(b, name, 0, [b"new-0"])
        ck_produce(b, name, 2, b"new", 2)
        b.restart()
        assert summarized(b) is not None, b.log_tail()
        expected = {0: [b"new-0", b"new-0-0", b"new-0-1"], 1: [b"new-1-0", b"new-1-1"]}
        expect_same_with_both_clients(b, name, 2, expected)
        expect_same_with_both_clients(b, keep, 1, {0: [b"keep-0-%d" % i for i in range(4)]})


@test(timeout=300)
def power_cut_after_clean_stop_keeps_summary_and_data():
    """Everything the summary vouches for (seals, snapshots, markers) and
    the summary itself are durable when the stop ends: a power cut right
    after it changes nothing, and the next start uses the summary."""
    shim = FaultShim()
    try:
        with Broker(name="summary_powercut", env=shim.env) as b:
            topic = create_topic(b.bootstrap, unique_topic("pc"), 3)
            ck_produce(b, topic, 3, b"a", 30)
            kp_produce(b, topic, 2, [b"kp-%d" % i for i in range(4)])
            b.stop()
            report = power_cut(b.data_dir, shim.events_path)
            b.start()
            used = summarized(b)
            assert used is not None and used[1] == 0, (used, report, b.log_tail())
            expected = {p: [b"a-%d-%d" % (p, i) for i in range(30)] for p in range(3)}
            expected[2] += [b"kp-%d" % i for i in range(4)]
            expect_same_with_both_clients(b, topic, 3, expected)
    finally:
        shim.cleanup()


@test(timeout=300)
def summary_write_or_removal_failing_is_safe():
    """A summary that cannot be written leaves none (the next start
    recovers); one that cannot be removed at start stops the start (a crash
    later would leave it describing changed files)."""
    shim = FaultShim()
    try:
        with Broker(name="summary_faults", env=shim.env) as b:
            topic = create_topic(b.bootstrap, unique_topic("flt"), 2)
            ck_produce(b, topic, 2, b"a", 10)
            shim.set("pwrite %s ENOSPC" % SUMMARY)
            b.stop()
            shim.clear()
            assert "cannot write start-up summary" in b.log_text(), b.log_tail()
            assert not os.path.exists(os.path.join(b.data_dir, SUMMARY))
            assert not os.path.exists(os.path.join(b.data_dir, SUMMARY + ".tmp"))
            b.start()
            assert "start-up summary absent" in b.log_text(), b.log_tail()
            expected = {p: [b"a-%d-%d" % (p, i) for i in range(10)] for p in range(2)}
            expect_same_with_both_clients(b, topic, 2, expected)

            b.stop()  # a summary now; its removal's directory sync fails once
            assert os.path.exists(os.path.join(b.data_dir, SUMMARY))
            shim.set("fsync %s EIO 1" % b.data_dir)
            try:
                b.start()
                raise AssertionError("started although the summary could not be removed durably")
            except BrokerError:
                pass
            assert "cannot remove start-up summary, refusing to start" in b.log_text(), b.log_tail()
            shim.clear()
            b.start()
            assert summarized(b) is None, b.log_tail()
            expect_same_with_both_clients(b, topic, 2, expected)
    finally:
        shim.cleanup()


if __name__ == "__main__":
    main()
