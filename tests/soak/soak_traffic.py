"""Mixed-traffic soak (make soak; not in make test): for SOAK_MINUTES
(default 30) an idempotent producer (confluent-kafka) writes to several
partitions, a kafka-python consumer group of two members consumes and
commits, a third member joins and leaves every minute (rebalances), and
short-lived clients connect and go away. The broker's RSS and descriptor
count are sampled every SOAK_SAMPLE_S seconds.

Fails if either keeps growing: the last fifth of the run's median RSS must
not exceed the median of the second fifth by more than 25% + 16 MiB, and
the descriptor count by more than 32. Prints the samples' summary (and
writes all of them to build/test-logs/soak_traffic.samples.tsv).
"""

import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from clients import admin, create_topic, produce_all, producer, unique_topic  # noqa: E402
from faults import ContinuousProducer, fd_count, rss_kib  # noqa: E402
from harness import LOG_DIR, ROOT, Broker, main, test  # noqa: E402

MINUTES = float(os.environ.get("SOAK_MINUTES", "30"))
SAMPLE_S = float(os.environ.get("SOAK_SAMPLE_S", "10"))
PARTITIONS = 6
RELEASE_BIN = os.path.join(ROOT, "build", "gregor")


class GroupMember(threading.Thread):
    """A kafka-python group member consuming and committing until stopped."""

    def __init__(self, bootstrap, topic, group, stop):
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.group, self.stop_event = bootstrap, topic, group, stop
        self.consumed = 0
        self.errors = 0

    def run(self):
        from kafka import KafkaConsumer
        c = KafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=self.group,
                          enable_auto_commit=False, auto_offset_reset="earliest", session_timeout_ms=10000,
                          heartbeat_interval_ms=1000, max_poll_records=500)
        try:
            while not self.stop_event.is_set():
                got = c.poll(timeout_ms=500)
                self.consumed += sum(len(v) for v in got.values())
                if got:
                    try:
                        c.commit()
                    except Exception:  # noqa: B902 - a rebalance in between is normal
                        self.errors += 1
        finally:
            c.close()


def short_lived_clients(bootstrap, topic):
    a = admin(bootstrap)
    assert topic in a.list_topics(timeout=30).topics
    p = producer(bootstrap, **{"acks": "all"})
    d = produce_all(p, topic, [{"value": b"short-lived", "partition": 0}], timeout=60)
    assert not d.errors, d.errors
    del p, a  # librdkafka handles close their connections when destroyed


def growth_check(samples):
    n = len(samples)
    if n < 10:
        return "too few samples (%d) to judge growth" % n
    second = samples[n // 5: 2 * n // 5]
    last = samples[4 * n // 5:]
    rss_a = statistics.median(s[1] for s in second)
    rss_b = statistics.median(s[1] for s in last)
    fd_a = max(s[2] for s in second)
    fd_b = statistics.median(s[2] for s in last)
    msg = "RSS median %d KiB -> %d KiB; fds %d -> %d" % (rss_a, rss_b, fd_a, fd_b)
    assert rss_b <= rss_a * 1.25 + 16 * 1024, "RSS keeps growing: " + msg
    assert fd_b <= fd_a + 32, "descriptors keep growing: " + msg
    return msg


@test(timeout=int(MINUTES * 60 + 600))
def mixed_traffic_flat_rss_and_fds():
    binary = RELEASE_BIN if os.access(RELEASE_BIN, os.X_OK) else None
    with Broker(binary=binary, overrides={"log.segment.bytes": 8 << 20, "log.retention.bytes": 64 << 20,
                                          "log.retention.check.interval.ms": 10000,
                                          "offsets.topic.num.partitions": 4}) as b:
        topic = create_topic(b.bootstrap, unique_topic("soak"), PARTITIONS)
        pid = b.proc.pid
        prod = ContinuousProducer(b.bootstrap, topic, PARTITIONS, value_bytes=512, rate_pause_s=0.0002)
        stop = threading.Event()
        group = unique_topic("soak-group")
        members = [GroupMember(b.bootstrap, topic, group, stop) for _ in range(2)]
        for m in members:
            m.start()
        samples = []
        t0 = time.monotonic()
        end = t0 + MINUTES * 60
        next_churn = t0 + 60
        churn = None
        churn_stop = None
        try:
            while time.monotonic() < end:
                time.sleep(SAMPLE_S)
                b.assert_alive()
                samples.append((time.monotonic() - t0, rss_kib(pid), fd_count(pid), prod.acked_count(),
                                sum(m.consumed for m in members)))
                s = samples[-1]
                print("  t=%5.0fs rss=%6d KiB fds=%4d acked=%9d consumed=%9d" % s, flush=True)
                if time.monotonic() >= next_churn:
                    # A member joins and, a minute later, leaves: two rebalances.
                    if churn is None:
                        churn_stop = threading.Event()
                        churn = GroupMember(b.bootstrap, topic, group, churn_stop)
                        churn.start()
                    else:
                        churn_stop.set()
                        churn.join(30)
                        churn = None
                    # Short-lived clients: connect, fetch metadata, produce one
                    # record, leave (no new topics: those would add files).
                    short_lived_clients(b.bootstrap, topic)
                    next_churn = time.monotonic() + 60
        finally:
            stop.set()
            if churn_stop:
                churn_stop.set()
            for m in members + ([churn] if churn else []):
                m.join(30)
            prod.stop(flush_timeout=60)
        os.makedirs(LOG_DIR, exist_ok=True)
        with open(os.path.join(LOG_DIR, "soak_traffic.samples.tsv"), "w") as f:
            f.write("t_s\trss_kib\tfds\tacked\tconsumed\n")
            for s in samples:
                f.write("%.0f\t%d\t%d\t%d\t%d\n" % s)
        assert not prod.errors, prod.errors[:5]
        assert prod.acked_count() > 0 and sum(m.consumed for m in members) > 0
        print("  %.1f min: %d produced, %d consumed; %s" % (MINUTES, prod.acked_count(),
                                                           sum(m.consumed for m in members), growth_check(samples)),
              flush=True)


if __name__ == "__main__":
    main()
