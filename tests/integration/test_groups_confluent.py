"""Consumer groups with real clients (confluent_kafka 1.7 on librdkafka 2.0.2):
three consumers share six partitions and survive kill -9 of one; a restart
of the broker and of the consumers resumes from the committed offsets;
cooperative-sticky moves only what a new member takes; a static member
restarted within its session keeps its partitions without a rebalance.

Consumers that must die by SIGKILL run as child processes of this file
(`--consumer`), reporting what they see as JSON lines on stdout; the
others run on threads here. No assertion depends on timing: every wait is
for a state, bounded by a timeout."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import Consumer, KafkaError, TopicPartition  # noqa: E402

from clients import create_topic, produce_all, producer, unique_topic  # noqa: E402
from harness import Broker, main, test, wait_for  # noqa: E402

TIMEOUT = 60
SESSION_MS = 6000
BROKER_CONF = {
    "group.initial.rebalance.delay.ms": 0,
    "group.min.session.timeout.ms": 1000,
    "offsets.topic.num.partitions": 5,
}


def consumer_conf(bootstrap, group, **extra):
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": SESSION_MS,
        "heartbeat.interval.ms": 500,
        "log_level": 3,
    }
    conf.update(extra)
    return conf


# ---------------------------------------------------------------- child mode

def run_child(bootstrap, topic, group, name):
    """A consumer that commits after each batch it processes and reports
    assignments and messages on stdout until killed or told to stop."""
    out_lock = threading.Lock()

    def emit(**kv):
        with out_lock:
            sys.stdout.write(json.dumps(kv) + "\n")
            sys.stdout.flush()

    def on_assign(c, parts):
        emit(ev="assign", parts=sorted(p.partition for p in parts))

    def on_revoke(c, parts):
        emit(ev="revoke", parts=sorted(p.partition for p in parts))

    c = Consumer(consumer_conf(bootstrap, group, **{"client.id": name}))
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    while not stop:
        msgs = c.consume(200, 0.2)
        batch = []
        for m in msgs:
            if m.error():
                continue
            batch.append([m.partition(), m.offset(), m.value().decode()])
        if batch:
            emit(ev="msgs", msgs=batch)
            try:
                c.commit(asynchronous=False)
            except Exception as e:  # a rebalance may refuse the commit: the messages come again
                emit(ev="commit_failed", error=str(e))
    c.close()
    emit(ev="closed")


class Child:
    """A consumer process and what it reported so far."""

    def __init__(self, bootstrap, topic, group, name):
        self.name = name
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--consumer", bootstrap, topic,
                                      group, name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.assignment = []
        self.msgs = []
        self.events = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            with self.lock:
                self.events.append(ev)
                if ev["ev"] == "assign":
                    self.assignment = ev["parts"]
                elif ev["ev"] == "revoke":
                    self.assignment = []
                elif ev["ev"] == "msgs":
                    self.msgs.extend(tuple(m) for m in ev["msgs"])

    def snapshot(self):
        with self.lock:
            return list(self.assignment), list(self.msgs)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=30)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def produce_values(bootstrap, topic, partitions, start, count):
    """count messages spread evenly over the partitions, values "p:n"."""
    p = producer(bootstrap, acks="all")
    msgs = [{"partition": i % partitions, "value": ("%d:%d" % (i % partitions, start + i)).encode()}
            for i in range(count)]
    d = produce_all(p, topic, msgs)
    assert not d.errors, d.errors
    return {(part, off): v.decode() for part, off, v in d.ok}


def check_in_order(children_msgs):
    """Each consumer read each partition in order: every next offset is the
    one after, or an earlier one (a re-read from the committed offset after
    a rebalance), never a skip forward."""
    for name, msgs in children_msgs.items():
        per_part = {}
        for part, off, _ in msgs:
            per_part.setdefault(part, []).append(off)
        for part, offs in per_part.items():
            for a, b in zip(offs, offs[1:]):
                assert b == a + 1 or b <= a, "%s partition %d jumped from %d to %d" % (name, part, a, b)


# ---------------------------------------------------------------- tests

@test(timeout=300)
def three_consumers_survive_kill9():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("k9"), 6)
        group = "k9-group"
        produced = produce_values(b.bootstrap, topic, 6, 0, 600)
        kids = [Child(b.bootstrap, topic, group, "c%d" % i) for i in range(3)]
        try:
            def balanced(n):
                assigns = [k.snapshot()[0] for k in kids if k.proc.poll() is None]
                flat = sorted(p for a in assigns for p in a)
                return len(assigns) == n and flat == list(range(6)) and all(len(a) == 6 // n for a in assigns)

            wait_for(lambda: balanced(3), timeout=TIMEOUT, what="three consumers with two partitions each")
            # Everything produced so far is read before the kill.
            wait_for(lambda: len({(p, o) for k in kids for p, o, _ in k.snapshot()[1]}) >= 600, timeout=TIMEOUT,
                     what="the first 600 messages consumed")
            victim = kids[0]
            victim.kill9()
            produced.update(produce_values(b.bootstrap, topic, 6, 600, 600))
            kids_alive = kids[1:]
            wait_for(lambda: sorted(p for k in kids_alive for p in k.snapshot()[0]) == list(range(6)) and
                     all(len(k.snapshot()[0]) == 3 for k in kids_alive),
                     timeout=SESSION_MS / 1000 + TIMEOUT, what="the survivors owning all six partitions")
            wait_for(lambda: {(p, o) for k in kids for p, o, _ in k.snapshot()[1]} >= set(produced),
                     timeout=TIMEOUT, what="every message processed")
            seen = {}
            for k in kids:
                for p, o, v in k.snapshot()[1]:
                    assert produced[(p, o)] == v, (p, o, v)
                    seen[(p, o)] = v
            assert set(seen) == set(produced)
            check_in_order({k.name: k.snapshot()[1] for k in kids})
        finally:
            for k in kids:
                k.stop()


@test(timeout=300)
def restart_resumes_from_committed_offsets():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("resume"), 4)
        group = "resume-group"
        produce_values(b.bootstrap, topic, 4, 0, 400)
        # Read about half and commit exactly what was read, per partition.
        c = Consumer(consumer_conf(b.bootstrap, group))
        c.subscribe([topic])
        read = {}
        deadline = time.monotonic() + TIMEOUT
        while sum(len(v) for v in read.values()) < 200 and time.monotonic() < deadline:
            for m in c.consume(50, 0.5):
                if not m.error():
                    read.setdefault(m.partition(), []).append(m.offset())
        assert sum(len(v) for v in read.values()) >= 200, read
        commits = [TopicPartition(topic, p, max(offs) + 1) for p, offs in read.items()]
        c.commit(offsets=commits, asynchronous=False)
        committed = {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(4)],
                                                                    timeout=TIMEOUT)}
        for tp in commits:
            assert committed[tp.partition] == tp.offset, (committed, commits)
        c.close()
        b.restart()
        produce_values(b.bootstrap, topic, 4, 400, 100)
        # A new consumer process of the group starts exactly at the commits.
        c = Consumer(consumer_conf(b.bootstrap, group))
        c.subscribe([topic])
        first = {}
        got = set()
        deadline = time.monotonic() + TIMEOUT
        total = 500  # 400 before the restart, 100 after
        resume_at = {p: max(committed.get(p, 0), 0) for p in range(4)}
        while len(got) < total - sum(resume_at.values()) and time.monotonic() < deadline:
            for m in c.consume(100, 0.5):
                if m.error():
                    continue
                first.setdefault(m.partition(), m.offset())
                got.add((m.partition(), m.offset()))
        c.close()
        for p in range(4):
            assert first.get(p) == resume_at[p], "partition %d restarted at %s, committed %s" % (
                p, first.get(p), resume_at[p])
        hw = {}
        cons = Consumer(consumer_conf(b.bootstrap, "wm"))
        for p in range(4):
            hw[p] = cons.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT)[1]
        cons.close()
        expected = {(p, o) for p in range(4) for o in range(resume_at[p], hw[p])}
        assert got == expected, (len(got), len(expected))


class ThreadConsumer:
    """A consumer polled on its own thread; records its assignment changes."""

    def __init__(self, bootstrap, topic, group, **extra):
        self.c = Consumer(consumer_conf(bootstrap, group, **extra))
        self.assigned = set()
        self.rebalances = 0
        self.lock = threading.Lock()
        self.running = True
        self.error = None
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _on_assign(self, c, parts):
        with self.lock:
            self.rebalances += 1
            self.assigned |= {p.partition for p in parts}

    def _on_revoke(self, c, parts):
        with self.lock:
            self.rebalances += 1
            self.assigned -= {p.partition for p in parts}

    def _run(self):
        while self.running:
            for m in self.c.consume(100, 0.2):
                if m.error() and m.error().code() != KafkaError._PARTITION_EOF and m.error().fatal():
                    self.error = m.error()

    def state(self):
        with self.lock:
            return set(self.assigned), self.rebalances

    def close(self):
        self.running = False
        self.t.join(timeout=30)
        self.c.close()


@test(timeout=300)
def cooperative_sticky_moves_only_what_the_new_member_takes():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("coop"), 8)
        group = "coop-group"
        conf = {"partition.assignment.strategy": "cooperative-sticky"}
        members = [ThreadConsumer(b.bootstrap, topic, group, **conf) for _ in range(3)]
        try:
            def settled(ms, sizes):
                st = [m.state()[0] for m in ms]
                flat = sorted(p for s in st for p in s)
                return flat == list(range(8)) and sorted(len(s) for s in st) == sizes

            wait_for(lambda: settled(members, [2, 3, 3]), timeout=TIMEOUT, what="three members sharing 8 partitions")
            before = [m.state()[0] for m in members]
            newcomer = ThreadConsumer(b.bootstrap, topic, group, **conf)
            members.append(newcomer)
            wait_for(lambda: settled(members, [2, 2, 2, 2]), timeout=TIMEOUT, what="four members with two each")
            after = [m.state()[0] for m in members]
            moved = set()
            for old, new in zip(before, after[:3]):
                assert new <= old, "a member gained partitions it did not have: %s -> %s" % (old, new)
                moved |= old - new
            assert moved == after[3], (moved, after[3])
            assert len(moved) == 2, moved
            assert all(m.error is None for m in members), [m.error for m in members]
        finally:
            for m in members:
                m.close()


@test(timeout=300)
def static_member_restart_keeps_partitions_without_rebalance():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("static"), 6)
        group = "static-group"

        def member(i):
            return ThreadConsumer(b.bootstrap, topic, group, **{"group.instance.id": "instance-%d" % i})

        members = [member(i) for i in range(3)]
        try:
            wait_for(lambda: sorted(p for m in members for p in m.state()[0]) == list(range(6)) and
                     all(len(m.state()[0]) == 2 for m in members), timeout=TIMEOUT,
                     what="three static members with two partitions each")
            rebalances_before = b.log_text().count("preparing to rebalance group=%s" % group)
            others_before = [m.state() for m in members[1:]]
            kept = members[0].state()[0]
            # librdkafka sends no LeaveGroup for a static member: the broker
            # keeps its place for the session timeout.
            members[0].close()
            members[0] = member(0)
            wait_for(lambda: members[0].state()[0] == kept, timeout=TIMEOUT,
                     what="the restarted member getting its partitions back")
            assert [m.state() for m in members[1:]] == others_before, "the other members were rebalanced"
            assert b.log_text().count("preparing to rebalance group=%s" % group) == rebalances_before
            assert "static member replaced group=%s" % group in b.log_text()
        finally:
            for m in members:
                m.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--consumer"]:
        run_child(*sys.argv[2:6])
    else:
        main()
