"""Power loss, simulated: the broker runs under the fault shim, which
records what each fsync made durable; after kill -9 the data directory is
rolled back to exactly that state (every unsynced byte and unsynced name
dropped) and the broker restarted on it.

- log.flush.interval.messages=1: every acknowledged message survives
  (idempotent acks=all producer, several partitions, segments rolling).
- default flush settings: acknowledged messages since the last flush may
  be lost (the guarantee rests on the page cache); what survives is a
  prefix of each partition, CRC-clean, and the broker takes new writes.

Writes by confluent-kafka (librdkafka), reads by kafka-python (CRC-checked)
and confluent-kafka.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from clients import create_topic, health_check, read_partitions, unique_topic  # noqa: E402
from faults import ContinuousProducer, FaultShim, check_exactly_once, power_cut, read_log_kafka_python  # noqa: E402
from harness import Broker, main, test, wait_for  # noqa: E402

SOAK = "--soak" in sys.argv
if SOAK:
    sys.argv.remove("--soak")
PARTITIONS = 3
ROUNDS = 5 if SOAK else 1
ACKED_BEFORE_CUT = 3000 if SOAK else 800


def produce_then_cut(b, shim, topic):
    """Writes until ACKED_BEFORE_CUT are acknowledged, then kill -9 and roll
    the data dir back to its durable state. Returns the producer's acks."""
    prod = ContinuousProducer(b.bootstrap, topic, PARTITIONS, value_bytes=200)
    try:
        wait_for(lambda: prod.acked_count() >= ACKED_BEFORE_CUT, timeout=120, what="acks before the cut")
        b.kill9()
    finally:
        prod.stop_now()
    # Reports that arrive after the kill are failures; the acks are final.
    acked = {p: list(v) for p, v in prod.acked.items()}
    report = power_cut(b.data_dir, shim.events_path)
    print("  %s; acked %d" % (report, sum(len(v) for v in acked.values())), flush=True)
    for path in report.removed + report.unrestorable:
        print("    dropped: %s" % os.path.relpath(path, b.data_dir), flush=True)
    return acked, report


@test(timeout=400)
def flush_every_message_survives_power_loss():
    shim = FaultShim()
    try:
        # Small segments so rolls (a new segment, its directory entry, the
        # sealed one's indexes) happen around the cut.
        with Broker(env=shim.env, overrides={"log.flush.interval.messages": 1, "log.segment.bytes": 32768}) as b:
            topic = create_topic(b.bootstrap, unique_topic("pl"), PARTITIONS)
            all_acked = {p: [] for p in range(PARTITIONS)}
            for rnd in range(ROUNDS):
                acked, report = produce_then_cut(b, shim, topic)
                for p in acked:
                    all_acked[p].extend(acked[p])
                b.start()
                log = read_log_kafka_python(b.bootstrap, topic, PARTITIONS)
                extra = check_exactly_once(all_acked, log)
                segs = len([f for f in os.listdir(os.path.join(b.data_dir, topic + "-0")) if f.endswith(".log")])
                print("  round %d: every acked message present; %d unacked present; %d segments in p0"
                      % (rnd, extra, segs), flush=True)
                assert segs > 1, "no roll happened; raise the volume"
            # confluent-kafka (librdkafka, check.crcs) reads the same log.
            got = read_partitions(b.bootstrap, topic, PARTITIONS, **{"check.crcs": True})
            assert all(len(got[p]) == len(log[p]) for p in range(PARTITIONS)), \
                ({p: len(got[p]) for p in got}, {p: len(log[p]) for p in log})
            health_check(b.bootstrap)
    finally:
        shim.cleanup()


@test(timeout=300)
def default_flush_loses_only_unsynced_suffix():
    shim = FaultShim()
    try:
        with Broker(env=shim.env, overrides={"log.segment.bytes": 65536}) as b:
            topic = create_topic(b.bootstrap, unique_topic("pld"), PARTITIONS)
            acked, report = produce_then_cut(b, shim, topic)
            b.start()
            log = read_log_kafka_python(b.bootstrap, topic, PARTITIONS)
            lost = 0
            for p in range(PARTITIONS):
                # What survives is exactly a prefix of what was acknowledged:
                # no holes, no reordering, nothing invented.
                survived = [(off, int(v.split(b"|", 1)[0].split(b":")[1])) for off, v in log[p]]
                n = len(survived)
                assert survived == sorted(acked[p])[:n] or not acked[p], (p, survived[:5], sorted(acked[p])[:5])
                lost += len(acked[p]) - n
            total = sum(len(v) for v in acked.values())
            print("  default flush: %d of %d acknowledged messages lost to the power cut (%s)"
                  % (lost, total, report), flush=True)
            # The new log end takes writes and the idempotent producer's state
            # (its snapshot may be newer than the log) does not block them.
            health_check(b.bootstrap)
            prod = ContinuousProducer(b.bootstrap, topic, PARTITIONS)
            wait_for(lambda: prod.acked_count() >= 50, timeout=60, what="acks after restart")
            assert prod.stop() == 0 and not prod.errors, prod.errors[:5]
    finally:
        shim.cleanup()


@test(timeout=300)
def flush_interval_ms_bounds_the_loss_window():
    """log.flush.interval.ms=200: what was acknowledged more than the
    interval plus the one-second flush tick before the cut survives."""
    shim = FaultShim()
    try:
        with Broker(env=shim.env, overrides={"log.flush.interval.ms": 200, "log.segment.bytes": 1 << 20}) as b:
            topic = create_topic(b.bootstrap, unique_topic("plms"), PARTITIONS)
            prod = ContinuousProducer(b.bootstrap, topic, PARTITIONS, value_bytes=200)
            wait_for(lambda: prod.acked_count() >= 500, timeout=120, what="acks")
            assert prod.stop() == 0 and not prod.errors, prod.errors[:5]
            acked = {p: list(v) for p, v in prod.acked.items()}
            time.sleep(0.2 + 1.0 + 1.0)  # the interval, the tick period, and slack
            b.kill9()
            report = power_cut(b.data_dir, shim.events_path)
            b.start()
            log = read_log_kafka_python(b.bootstrap, topic, PARTITIONS)
            check_exactly_once(acked, log)
            print("  flush.ms=200: all %d acknowledged messages survived a cut 2.2s later (%s)"
                  % (sum(len(v) for v in acked.values()), report), flush=True)
    finally:
        shim.cleanup()


if __name__ == "__main__":
    main()
