"""Several event loops (num.network.threads): connections spread over the
loops, and everything that answers a request from another loop's thread
works through real clients: long-poll fetches parked by consumers (on
one loop) woken by producers' appends (on another), JoinGroup/SyncGroup
completed for members on different loops, and one loop still serves
everything. Clients: confluent-kafka (librdkafka), kafka-python, kcat."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import TopicPartition  # noqa: E402
from kafka import KafkaConsumer, KafkaProducer  # noqa: E402
from kafka import TopicPartition as KTopicPartition  # noqa: E402

from admin_client import scrape, series, value, wait_admin  # noqa: E402
from clients import consumer, create_topic, produce_all, producer, unique_topic  # noqa: E402
from harness import Broker, kcat, main, test, wait_for  # noqa: E402

TIMEOUT = 60
API_VERSION = (2, 5, 0)  # kafka-python: pinned, see test_kafka_python.py
LOOPS = 4
PARTITIONS = 4
PER_PRODUCER = 2000
GROUP_CONF = {
    "group.initial.rebalance.delay.ms": 0,
    "group.min.session.timeout.ms": 1000,
    "offsets.topic.num.partitions": 3,
}


def loop_connections(samples):
    """{loop index: connections open} from a /metrics scrape."""
    s = series(samples, "gregor_event_loop_connections")
    return {int(dict(lbl)["loop"]): int(v) for lbl, v in s.items()}


class Reader:
    """Reads every partition from the start on its own thread with long
    polls (5 s), so its fetches park on the broker; collects values."""

    def __init__(self, want):
        self.want = want
        self.seen = set()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        deadline = time.monotonic() + TIMEOUT
        while len(self.seen) < self.want and time.monotonic() < deadline:
            self.seen.update(self.poll())

    def join(self):
        self.t.join(TIMEOUT + 5)
        self.c.close()
        return self.seen


class LongPollReader(Reader):
    """confluent-kafka (librdkafka)."""

    def __init__(self, bootstrap, topic, want):
        self.c = consumer(bootstrap, **{"fetch.wait.max.ms": 5000, "fetch.min.bytes": 1})
        self.c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        super().__init__(want)

    def poll(self):
        return [m.value() for m in self.c.consume(num_messages=500, timeout=0.5) if not m.error()]


class KPReader(Reader):
    """kafka-python."""

    def __init__(self, bootstrap, topic, want):
        self.c = KafkaConsumer(bootstrap_servers=bootstrap, api_version=API_VERSION, fetch_max_wait_ms=5000,
                               enable_auto_commit=False, consumer_timeout_ms=500)
        parts = [KTopicPartition(topic, p) for p in range(PARTITIONS)]
        self.c.assign(parts)
        self.c.seek_to_beginning(*parts)
        super().__init__(want)

    def poll(self):
        return [r.value for records in self.c.poll(timeout_ms=500).values() for r in records]


@test
def parked_fetches_woken_across_loops():
    with Broker(overrides={"num.network.threads": LOOPS}) as b:
        assert "loops=%d" % LOOPS in b.log_text()
        wait_admin(b)
        topic = unique_topic("loops")
        create_topic(b.bootstrap, topic, partitions=PARTITIONS)
        want = 2 * PER_PRODUCER
        # Readers first: their fetches wait on the broker for data that the
        # producers' connections (other loops) append.
        readers = [LongPollReader(b.bootstrap, topic, want), KPReader(b.bootstrap, topic, want)]
        time.sleep(1)
        kp = KafkaProducer(bootstrap_servers=b.bootstrap, api_version=API_VERSION, acks=1, linger_ms=2)
        samples = scrape(b)
        per_loop = loop_connections(samples)
        assert len(per_loop) == LOOPS, per_loop
        assert sum(1 for n in per_loop.values() if n > 0) >= 2, per_loop
        assert sum(per_loop.values()) == value(samples, "gregor_connections"), per_loop
        p = producer(b.bootstrap, **{"linger.ms": 2})
        done = threading.Event()

        def kp_send():
            for i in range(PER_PRODUCER):
                kp.send(topic, value=b"kp-%d" % i, partition=i % PARTITIONS)
            kp.flush(TIMEOUT)
            done.set()

        t = threading.Thread(target=kp_send)
        t.start()
        d = produce_all(p, topic, ({"value": b"ck-%d" % i, "partition": i % PARTITIONS} for i in range(PER_PRODUCER)))
        assert not d.errors, d.errors[:3]
        t.join(TIMEOUT)
        assert done.is_set()
        kp.close()
        expected = {b"kp-%d" % i for i in range(PER_PRODUCER)} | {b"ck-%d" % i for i in range(PER_PRODUCER)}
        for r in readers:
            seen = r.join()
            assert seen == expected, "reader %s missed %d" % (type(r).__name__, len(expected - seen))
        # Every loop read requests: the work spread.
        reqs = series(scrape(b), "gregor_event_loop_requests_total")
        assert sum(1 for v in reqs.values() if v > 0) >= 2, reqs


@test
def group_members_on_different_loops():
    conf = dict(GROUP_CONF, **{"num.network.threads": LOOPS})
    with Broker(overrides=conf) as b:
        topic = unique_topic("loopgrp")
        create_topic(b.bootstrap, topic, partitions=PARTITIONS)
        p = producer(b.bootstrap)
        n = 400
        produce_all(p, topic, ({"value": b"%d" % i, "partition": i % PARTITIONS} for i in range(n)))
        group = "g-" + topic
        seen = []
        lock = threading.Lock()
        stop = threading.Event()

        def ck_member():
            c = consumer(b.bootstrap, **{"group.id": group, "auto.offset.reset": "earliest",
                                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                                         "enable.auto.commit": True, "auto.commit.interval.ms": 200})
            c.subscribe([topic])
            while not stop.is_set():
                for m in c.consume(num_messages=100, timeout=0.3):
                    if not m.error():
                        with lock:
                            seen.append(m.value())
            c.close()

        def kp_member():
            c = KafkaConsumer(topic, bootstrap_servers=b.bootstrap, group_id=group, api_version=API_VERSION,
                              auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=500,
                              auto_commit_interval_ms=200)
            while not stop.is_set():
                for records in c.poll(timeout_ms=300).values():
                    with lock:
                        seen.extend(r.value for r in records)
            c.close()

        threads = [threading.Thread(target=f) for f in (ck_member, ck_member, kp_member)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(set(seen)) >= n, timeout=TIMEOUT, what="the group to read every record")
        finally:
            stop.set()
            for t in threads:
                t.join(TIMEOUT)
        assert set(seen) == {b"%d" % i for i in range(n)}
        # Members were spread: the group's JoinGroup/SyncGroup answers
        # crossed loops (kcat checks the broker still serves afterwards).
        out = kcat(["-b", b.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q"])
        assert len(out.stdout.splitlines()) == n // PARTITIONS


@test
def one_loop_serves_everything():
    with Broker(overrides={"num.network.threads": 1}) as b:
        assert "loops=1" in b.log_text()
        topic = unique_topic("oneloop")
        kcat(["-b", b.bootstrap, "-P", "-t", topic, "-p", "0"], input=b"".join(b"m%d\n" % i for i in range(100)))
        kp = KafkaConsumer(topic, bootstrap_servers=b.bootstrap, api_version=API_VERSION,
                           auto_offset_reset="earliest", consumer_timeout_ms=5000)
        got = [r.value for r in kp]
        kp.close()
        assert got == [b"m%d" % i for i in range(100)], got[:5]


if __name__ == "__main__":
    main()
