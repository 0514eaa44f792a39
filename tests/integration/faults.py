"""Fault-injection helpers for the integration tests: the LD_PRELOAD shim
(tests/faultshim/faultshim.c, built as build/faultshim.so) and the power-cut
tool that rolls a data directory back to what the broker made durable.

    shim = FaultShim()
    with Broker(env=shim.env) as b:
        shim.set("pwrite .log ENOSPC")      # every append to a segment fails
        ...
        shim.clear()                        # the disk has room again
        b.kill9(); report = power_cut(b.data_dir, shim.events_path)

The power cut models a machine that loses its page cache: every file keeps
only the bytes up to its last successful fsync/fdatasync, and every name
that no synced directory listing holds disappears. It is the strictest
state a POSIX file system may come back in (writes never synced are all
gone), so anything that survives it survives a real power loss of a
correctly behaving disk.
"""

import os
import shutil
import tempfile
import time

from harness import ROOT

SHIM = os.path.join(ROOT, "build", "faultshim.so")


class FaultShim:
    """The control and event files of one broker run under the shim."""

    def __init__(self):
        if not os.path.exists(SHIM):
            raise AssertionError("fault shim not built: make %s" % os.path.relpath(SHIM, ROOT))
        self.dir = tempfile.mkdtemp(prefix="gregor-shim-")
        self.ctl_path = os.path.join(self.dir, "ctl")
        self.events_path = os.path.join(self.dir, "events")
        self._generation = 0
        self.set("")

    @property
    def env(self):
        return {"LD_PRELOAD": SHIM, "FAULTSHIM_CTL": self.ctl_path, "FAULTSHIM_EVENTS": self.events_path}

    def set(self, *rules):
        """Replaces the active rules ("<op> <path-substring> <ERRNO> [count]")."""
        self._generation += 1
        # The comment line changes the size and content even when the rules
        # repeat, so the shim's mtime+size check always sees a new file.
        text = "# generation %d\n%s\n" % (self._generation, "\n".join(rules))
        tmp = self.ctl_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.ctl_path)

    def clear(self):
        self.set()

    def faults_fired(self, op=None):
        """The injected faults so far: [(op, errno, path)]."""
        out = []
        for line in self._event_lines():
            parts = line.split(" ", 3)
            if parts[0] == "fault" and len(parts) == 4 and (op is None or parts[1] == op):
                out.append((parts[1], int(parts[2]), parts[3]))
        return out

    def _event_lines(self):
        try:
            with open(self.events_path, "r", errors="replace") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# A process's resident memory and descriptor count, for the bounded-resource checks.
def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def durable_state(events_path):
    """(size by inode, listing by directory inode) from the shim's events."""
    sizes = {}
    listings = {}
    with open(events_path, "r", errors="replace") as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        parts = lines[i].split(" ")
        i += 1
        kind = parts[0]
        if kind == "sync":
            sizes[int(parts[1])] = int(parts[2])
        elif kind == "trunc":
            ino, size = int(parts[1]), int(parts[2])
            if ino in sizes:
                sizes[ino] = min(sizes[ino], size)
        elif kind == "unlink":
            sizes.pop(int(parts[1]), None)
        elif kind == "dirsync":
            dir_ino, count = int(parts[1]), int(parts[2])
            entries = set()
            for line in lines[i:i + count]:
                _, ino, name = line.split(" ", 2)
                entries.add((name, int(ino)))
            listings[dir_ino] = entries
            i += count
    return sizes, listings


class PowerCutReport:
    def __init__(self):
        self.truncated = []      # (path, old size, new size)
        self.removed = []        # paths whose name was never made durable
        self.unrestorable = []   # names replaced by an unsynced rename: old content is gone

    def __str__(self):
        return "power cut: %d files cut back, %d names removed, %d unrestorable" % (
            len(self.truncated), len(self.removed), len(self.unrestorable))


def power_cut(data_dir, events_path):
    """Rolls data_dir back to its durable state (call after kill -9)."""
    sizes, listings = durable_state(events_path)
    report = PowerCutReport()
    for dirpath, dirnames, filenames in os.walk(data_dir, topdown=True):
        dir_ino = os.lstat(dirpath).st_ino
        listing = listings.get(dir_ino, set())
        durable_names = {name for name, _ in listing}
        for name in list(dirnames) + list(filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if (name, st.st_ino) in listing:
                continue
            if name in durable_names:
                # The durable entry pointed at a file that no longer exists
                # (replaced by rename before the directory was synced).
                report.unrestorable.append(path)
                continue
            report.removed.append(path)
            if name in dirnames:
                shutil.rmtree(path)
                dirnames.remove(name)
            else:
                os.unlink(path)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.lexists(path):
                continue
            st = os.lstat(path)
            keep = sizes.get(st.st_ino, 0)
            if st.st_size > keep:
                os.truncate(path, keep)
                report.truncated.append((path, st.st_size, keep))
    return report


# ---- a producer that keeps writing while faults happen ----

class ContinuousProducer:
    """An idempotent acks=all confluent-kafka producer writing numbered
    values round-robin over partitions from a thread until stopped.
    Value "<partition>:<seq>"; seq counts up per partition, so the log of
    each partition must hold increasing seqs with no repeats."""

    def __init__(self, bootstrap, topic, partitions, value_bytes=100, rate_pause_s=0.0, first_seq=0, **conf):
        import threading
        from clients import producer
        c = {"enable.idempotence": True, "acks": "all", "linger.ms": 2, "message.timeout.ms": 120000,
             "retry.backoff.ms": 50, "reconnect.backoff.max.ms": 200}
        c.update(conf)
        self.p = producer(bootstrap, **c)
        self.topic, self.partitions = topic, partitions
        self.pad = b"x" * max(0, value_bytes - 16)
        self.pause = rate_pause_s
        # A later producer on the same topic starts above every earlier seq,
        # so the log stays increasing per partition across producers.
        self.first_seq = first_seq
        self.acked = {p: [] for p in range(partitions)}  # partition -> [(offset, seq)]
        self.errors = []
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_delivery(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
            return
        part, seq = msg.value().split(b"|", 1)[0].split(b":")
        self.acked[int(part)].append((msg.offset(), int(seq)))

    def _run(self):
        seqs = [self.first_seq] * self.partitions
        while not self._stop.is_set():
            part = self.sent % self.partitions
            value = b"%d:%d|%s" % (part, seqs[part], self.pad)
            try:
                self.p.produce(self.topic, value=value, partition=part, on_delivery=self._on_delivery)
            except BufferError:
                self.p.poll(0.05)
                continue
            seqs[part] += 1
            self.sent += 1
            self.p.poll(0)
            if self.pause:
                time.sleep(self.pause)
        self.p.poll(0)

    def acked_count(self):
        return sum(len(v) for v in self.acked.values())

    def stop(self, flush_timeout=150):
        """Stops producing and waits for every outstanding delivery report."""
        self._stop.set()
        self._thread.join(30)
        left = self.p.flush(flush_timeout)
        return left

    def stop_now(self):
        """Stops producing without waiting: what is unacknowledged stays so
        (purged, so no retry reaches a restarted broker)."""
        self._stop.set()
        self._thread.join(30)
        self.p.purge(in_queue=True, in_flight=True)
        self.p.flush(5)


def read_log_kafka_python(bootstrap, topic, partitions, timeout=120):
    """Every record of each partition, via kafka-python (which checks batch
    CRCs): {partition: [(offset, value)]}."""
    from kafka import KafkaConsumer, TopicPartition as KTP
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                      check_crcs=True, consumer_timeout_ms=1000, api_version_auto_timeout_ms=30000)
    try:
        tps = [KTP(topic, p) for p in range(partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        ends = c.end_offsets(tps)
        out = {p: [] for p in range(partitions)}
        deadline = time.monotonic() + timeout
        todo = {tp.partition for tp in tps if ends[tp] > 0 and c.position(tp) < ends[tp]}
        while todo:
            if time.monotonic() > deadline:
                raise AssertionError("kafka-python read of %s timed out: have %s of %s"
                                     % (topic, {p: len(out[p]) for p in out}, ends))
            for tp, msgs in c.poll(timeout_ms=500).items():
                for m in msgs:
                    out[tp.partition].append((m.offset, m.value))
                if c.position(tp) >= ends[tp]:
                    todo.discard(tp.partition)
        return out
    finally:
        c.close()


def check_exactly_once(acked, log):
    """acked: {p: [(offset, seq)]}; log: {p: [(offset, value)]}. Every
    acknowledged seq is in the log at its acknowledged offset, and each
    partition holds increasing seqs with no duplicates. Returns the number
    of unacknowledged records found in the log (allowed)."""
    extra = 0
    for p, entries in acked.items():
        by_offset = {}
        last_seq = -1
        for off, value in log.get(p, []):
            part, seq = value.split(b"|", 1)[0].split(b":")
            seq = int(seq)
            assert int(part) == p, (p, off, value[:40])
            assert seq > last_seq, "partition %d: seq %d at offset %d after seq %d (duplicate or reorder)" % (
                p, seq, off, last_seq)
            last_seq = seq
            by_offset[off] = seq
        acked_offsets = set()
        for off, seq in entries:
            assert by_offset.get(off) == seq, "partition %d: acked seq %d at offset %d, log has %r" % (
                p, seq, off, by_offset.get(off))
            acked_offsets.add(off)
        extra += len(set(by_offset) - acked_offsets)
    return extra


# ---- a consumer group member committing while faults happen ----

class Committer:
    """A kafka-python group member that consumes a little and commits
    synchronously; remembers the commits the broker acknowledged."""

    def __init__(self, bootstrap, topic, group, partitions):
        self.bootstrap, self.topic, self.group, self.partitions = bootstrap, topic, group, partitions
        self.acked = {}  # partition -> highest acknowledged committed offset
        self.c = None
        self.commits = 0
        self.failures = 0

    def _consumer(self):
        from kafka import KafkaConsumer
        if self.c is None:
            self.c = KafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=self.group,
                                   enable_auto_commit=False, auto_offset_reset="earliest",
                                   session_timeout_ms=10000, heartbeat_interval_ms=1000,
                                   request_timeout_ms=11000, api_version_auto_timeout_ms=10000,
                                   reconnect_backoff_max_ms=200)
        return self.c

    def round(self, budget_s):
        from kafka import TopicPartition as KTP
        from kafka.structs import OffsetAndMetadata
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            try:
                c = self._consumer()
                c.poll(timeout_ms=300, max_records=200)
                offsets = {}
                for p in range(self.partitions):
                    tp = KTP(self.topic, p)
                    if tp in c.assignment():
                        offsets[tp] = OffsetAndMetadata(c.position(tp), "")
                if not offsets:
                    continue
                c.commit(offsets)
                self.commits += 1
                for tp, om in offsets.items():
                    self.acked[tp.partition] = max(self.acked.get(tp.partition, 0), om.offset)
            except Exception:  # noqa: B902 - the broker dies under us by design
                self.failures += 1
                time.sleep(0.1)

    def close(self):
        if self.c is not None:
            try:
                self.c.close(autocommit=False)
            except Exception:  # noqa: B902
                pass


def committed_offsets(bootstrap, topic, group, partitions):
    from confluent_kafka import TopicPartition
    from clients import consumer
    c = consumer(bootstrap, **{"group.id": group})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()
