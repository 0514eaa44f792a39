"""Disk faults at run time: ENOSPC and EIO injected (LD_PRELOAD fault
shim) on segment appends, index writes, segment rolls and fsync, and a
genuinely full tmpfs. In every case:

- the producer gets an error (KAFKA_STORAGE_ERROR through librdkafka with
  retries off; kafka-python sees the same code),
- fetches keep working and return exactly what was acknowledged, CRC-clean
  (kafka-python and librdkafka both check CRCs),
- once the fault is cleared (space freed) appends resume without a restart,
  except after a failed fsync: that partition refuses appends until the
  broker restarts (the kernel may have dropped the unsynced pages, so the
  log cannot vouch for its tail), while its other partitions carry on,
- a clean restart afterwards finds nothing to repair.
"""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import KafkaError  # noqa: E402

from clients import create_topic, produce_all, producer, read_partitions, unique_topic  # noqa: E402
from faults import FaultShim, read_log_kafka_python  # noqa: E402
from harness import Broker, Skip, main, test  # noqa: E402


def produce_no_retry(bootstrap, topic, values, partition=0):
    """confluent-kafka, acks=all, no retries: {value: error code or None}."""
    p = producer(bootstrap, **{"acks": "all", "retries": 0, "enable.idempotence": False, "linger.ms": 0,
                               "message.timeout.ms": 10000})
    out = {}

    def on_delivery(err, msg):
        out[msg.value()] = err.code() if err is not None else None
    for v in values:
        p.produce(topic, value=v, partition=partition, on_delivery=on_delivery)
        p.flush(15)  # one request per message: each meets the fault alone
    assert len(out) == len(values), out
    return out


def produce_kafka_python_no_retry(bootstrap, topic, value, partition=0):
    """kafka-python, acks=all, no retries: None or the error."""
    from kafka import KafkaProducer
    kp = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0, api_version_auto_timeout_ms=30000)
    try:
        kp.send(topic, value=value, partition=partition).get(timeout=15)
        return None
    except Exception as e:  # noqa: B902 - the error class is what we inspect
        return repr(e)
    finally:
        kp.close(5)


def values_in_log(bootstrap, topic, partitions=1):
    """Both clients read the partition(s) with CRC checks; they must agree."""
    kp = read_log_kafka_python(bootstrap, topic, partitions)
    ck = read_partitions(bootstrap, topic, partitions, **{"check.crcs": True})
    for p in range(partitions):
        a = [v for _, v in kp[p]]
        b = [m.value() for m in ck[p]]
        assert a == b, "clients disagree on partition %d: %d vs %d records" % (p, len(a), len(b))
        offsets = [o for o, _ in kp[p]]
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets))) if offsets else True, offsets[:20]
    return {p: [v for _, v in kp[p]] for p in range(partitions)}


def fault_round(rule, overrides=None, fired_op=None, before=20, during=5, volume_per_msg=1):
    """Writes `before` records, switches `rule` on, checks `during` produces
    fail with a storage error and reads still work, clears the fault,
    checks appends resume, restarts and checks nothing needed repair."""
    shim = FaultShim()
    try:
        with Broker(env=shim.env, overrides=overrides or {}) as b:
            topic = create_topic(b.bootstrap, unique_topic("df"), 1)
            first = [b"before-%d-%s" % (i, b"p" * volume_per_msg) for i in range(before)]
            d = produce_all(producer(b.bootstrap, **{"acks": "all"}), topic, [{"value": v} for v in first])
            assert not d.errors, d.errors
            shim.set(rule)
            failing = [b"during-%d-%s" % (i, b"p" * volume_per_msg) for i in range(during)]
            results = produce_no_retry(b.bootstrap, topic, failing)
            assert set(results.values()) == {KafkaError.KAFKA_STORAGE_ERROR}, results
            kp_err = produce_kafka_python_no_retry(b.bootstrap, topic, b"during-kafka-python")
            # kafka-python 2.0.2 predates error 56 and reports it as unknown.
            assert kp_err is not None, "kafka-python produce succeeded under %s" % rule
            assert shim.faults_fired(fired_op), "the fault never fired: %s" % rule
            # Reads keep working while the disk is failing.
            assert values_in_log(b.bootstrap, topic)[0] == first
            shim.clear()
            after = [b"after-%d" % i for i in range(20)]
            d = produce_all(producer(b.bootstrap, **{"acks": "all", "enable.idempotence": True}), topic,
                            [{"value": v} for v in after])
            assert not d.errors, d.errors
            assert values_in_log(b.bootstrap, topic)[0] == first + after
            b.restart()
            assert "repaired" not in b.log_text() and "truncat" not in b.log_text(), b.log_tail()
            assert values_in_log(b.bootstrap, topic)[0] == first + after
            return b.log_text()
    finally:
        shim.cleanup()


@test
def append_enospc_then_resume():
    fault_round("pwrite .log ENOSPC", fired_op="pwrite")


@test
def append_eio_then_resume():
    fault_round("pwrite .log EIO", fired_op="pwrite")


@test
def index_write_eio_then_resume():
    # An index entry for every batch, so each failing append writes one.
    fault_round("pwrite .index EIO", overrides={"log.index.interval.bytes": 1}, fired_op="pwrite")


@test
def timeindex_write_enospc_then_resume():
    fault_round("pwrite .timeindex ENOSPC", overrides={"log.index.interval.bytes": 1}, fired_op="pwrite")


@test
def roll_enospc_then_resume():
    # Each record fills a segment, so every append rolls; creating the new
    # segment's files fails.
    fault_round("open 0000 ENOSPC", overrides={"log.segment.bytes": 1024}, fired_op="open", volume_per_msg=1100)


def fence_round(rule, overrides, volume=0):
    """A failed fsync: the partition refuses appends (even once the fault
    is gone) until a restart; its neighbour and all reads carry on."""
    shim = FaultShim()
    try:
        with Broker(env=shim.env, overrides=overrides) as b:
            topic = create_topic(b.bootstrap, unique_topic("dfs"), 2)
            pad = b"p" * volume
            first = [b"before-%d%s" % (i, pad) for i in range(3)]
            produce_all(producer(b.bootstrap, **{"acks": "all"}), topic,
                        [{"value": v, "partition": 0} for v in first])
            shim.set(rule % topic)
            results = produce_no_retry(b.bootstrap, topic, [b"lost-1" + pad])
            assert results[b"lost-1" + pad] == KafkaError.KAFKA_STORAGE_ERROR, results
            assert shim.faults_fired(), "the fault never fired: %s" % rule
            shim.clear()
            results = produce_no_retry(b.bootstrap, topic, [b"refused-1"])
            assert results[b"refused-1"] == KafkaError.KAFKA_STORAGE_ERROR, results
            results = produce_no_retry(b.bootstrap, topic, [b"other-1"], partition=1)
            assert results[b"other-1"] is None, results
            assert values_in_log(b.bootstrap, topic, 2)[0] == first
            assert "log refuses appends until reopened" in b.log_text(), b.log_tail()
            b.restart()
            results = produce_no_retry(b.bootstrap, topic, [b"after-1"])
            assert results[b"after-1"] is None, results
            assert values_in_log(b.bootstrap, topic, 2) == {0: first + [b"after-1"], 1: [b"other-1"]}
    finally:
        shim.cleanup()


@test
def fsync_eio_fences_partition_until_restart():
    fence_round("fdatasync %s-0/ EIO 1", {"log.flush.interval.messages": 1})


@test
def roll_seal_fsync_eio_fences_partition_until_restart():
    # Each record fills a segment; sealing the full one before the roll fails.
    fence_round("fdatasync %s-0/ EIO 1", {"log.segment.bytes": 1024}, volume=1100)


@test
def roll_dir_fsync_eio_fences_partition_until_restart():
    fence_round("fsync %s-0 EIO 1", {"log.segment.bytes": 1024}, volume=1100)


@test
def metadata_log_enospc_then_resume():
    """CreateTopics while the metadata log cannot be written: refused with
    KAFKA_STORAGE_ERROR, nothing half-created, and creates work again once
    the fault clears; a restart agrees."""
    from confluent_kafka import KafkaException
    from kafka import KafkaAdminClient
    shim = FaultShim()
    try:
        with Broker(env=shim.env) as b:
            ok1 = create_topic(b.bootstrap, unique_topic("meta"), 1)
            shim.set("pwrite __cluster_metadata ENOSPC")
            bad = unique_topic("meta-bad")
            try:
                create_topic(b.bootstrap, bad, 3, timeout=15)
                raise AssertionError("CreateTopics succeeded with the metadata log failing")
            except KafkaException as e:
                assert e.args[0].code() == KafkaError.KAFKA_STORAGE_ERROR, e
            assert shim.faults_fired("pwrite")
            shim.clear()
            ok2 = create_topic(b.bootstrap, unique_topic("meta"), 2)
            b.restart()
            kp = KafkaAdminClient(bootstrap_servers=b.bootstrap, api_version_auto_timeout_ms=30000)
            try:
                names = set(kp.list_topics())
            finally:
                kp.close()
            assert ok1 in names and ok2 in names and bad not in names, names
    finally:
        shim.cleanup()


@test
def offset_commit_enospc_then_resume():
    """OffsetCommit (librdkafka) while __consumer_offsets cannot be written:
    the commit fails, the committed offset (read by both clients) stays the
    old one, and commits work once the fault clears, also after a restart."""
    from confluent_kafka import KafkaException, TopicPartition
    from clients import consumer

    def kafka_python_committed(b, group, topic):
        from kafka import KafkaConsumer, TopicPartition as KTP
        kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=group, enable_auto_commit=False,
                           api_version_auto_timeout_ms=30000)
        try:
            return kc.committed(KTP(topic, 0))
        finally:
            kc.close(autocommit=False)
    shim = FaultShim()
    try:
        with Broker(env=shim.env, overrides={"offsets.topic.num.partitions": 1}) as b:
            topic = create_topic(b.bootstrap, unique_topic("oc"), 1)
            group = unique_topic("oc-group")
            c = consumer(b.bootstrap, **{"group.id": group})
            try:
                c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
                shim.set("pwrite __consumer_offsets ENOSPC")
                try:
                    c.commit(offsets=[TopicPartition(topic, 0, 9)], asynchronous=False)
                    raise AssertionError("librdkafka commit succeeded with __consumer_offsets failing")
                except KafkaException:
                    pass
                assert shim.faults_fired("pwrite")
                got = c.committed([TopicPartition(topic, 0)], timeout=30)[0].offset
                assert got == 5, got
                assert kafka_python_committed(b, group, topic) == 5
                shim.clear()
                c.commit(offsets=[TopicPartition(topic, 0, 13)], asynchronous=False)
                assert c.committed([TopicPartition(topic, 0)], timeout=30)[0].offset == 13
            finally:
                c.close()
            b.restart()
            assert kafka_python_committed(b, group, topic) == 13
    finally:
        shim.cleanup()


@test(timeout=240)
def real_tmpfs_full_then_space_freed():
    """A genuinely full file system (tmpfs), no shim: fill it, see storage
    errors, free space, appends resume without a restart."""
    mnt = tempfile.mkdtemp(prefix="gregor-tmpfs-")
    size_mib = 24
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mib, "tmpfs", mnt],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        os.rmdir(mnt)
        raise Skip("cannot mount a tmpfs here (%s); the shim tests cover ENOSPC" % r.stderr.decode().strip())
    try:
        data = os.path.join(mnt, "data")
        with Broker(data_dir=data, overrides={"log.segment.bytes": 4 << 20}) as b:
            topic = create_topic(b.bootstrap, unique_topic("full"), 1)
            filler = os.path.join(mnt, "filler")
            with open(filler, "wb") as f:
                f.write(b"\0" * ((size_mib - 8) << 20))
            # Fill the rest with acknowledged records until the disk says no.
            p = producer(b.bootstrap, **{"acks": "all", "retries": 0, "linger.ms": 0, "message.timeout.ms": 10000})
            acked, errors = [], []

            def on_delivery(err, msg):
                (errors if err is not None else acked).append(err.code() if err is not None else msg.value())
            i = 0
            while not errors and i < 20000:
                for _ in range(20):
                    p.produce(topic, value=b"%08d" % i + b"f" * 16000, on_delivery=on_delivery)
                    i += 1
                p.flush(30)
            assert errors, "the tmpfs never filled"
            assert set(errors) == {KafkaError.KAFKA_STORAGE_ERROR}, set(errors)
            got = values_in_log(b.bootstrap, topic)[0]
            assert got == acked, (len(got), len(acked))
            os.unlink(filler)
            d = produce_all(producer(b.bootstrap, **{"acks": "all", "enable.idempotence": True}), topic,
                            [{"value": b"after-%d" % j} for j in range(50)])
            assert not d.errors, d.errors
            got = values_in_log(b.bootstrap, topic)[0]
            assert got == acked + [b"after-%d" % j for j in range(50)], (len(got), len(acked))
            print("  filled tmpfs after %d records of 16 KiB; resumed after freeing space" % len(acked), flush=True)
    finally:
        subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


if __name__ == "__main__":
    main()
