"""Hostile and careless clients over the network, while a well-behaved
confluent-kafka client keeps producing and consuming on its own connection:

- size prefixes of 2 GiB (and 2 GiB - 1): the connection is closed, nothing
  is allocated for the claimed size;
- slowloris: frames dribbled a byte at a time; a connection must complete a
  request within connections.max.idle.ms or be closed;
- thousands of idle connections up to max.connections, then more: those
  beyond are refused at once; the broker's RSS cost per idle connection is
  measured and printed;
- a client that sends requests and never reads the answers: the output it
  pins is bounded (8 MiB, LIMIT_CONN_OUTPUT_BYTES_MAX) and the connection is
  closed once nothing could be written for connections.max.idle.ms.

The well-behaved client's produce and produce-to-consume latencies are
printed against a quiet baseline (no timing asserts here; make soak records
them). --soak scales the connection count to 10,000.
"""

import os
import resource
import select
import socket
import statistics
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from clients import consumer, create_topic, health_check, producer, unique_topic  # noqa: E402
from faults import fd_count, rss_kib  # noqa: E402
from confluent_kafka import TopicPartition  # noqa: E402
from harness import BIN, ROOT, Broker, main, test, wait_for  # noqa: E402

SOAK = "--soak" in sys.argv
if SOAK:
    sys.argv.remove("--soak")
IDLE_CONNS = 10000 if SOAK else 2000
IDLE_MS = 3000
TCP_ESTABLISHED = "01"
# Memory is measured on the release build: ASan's quarantine and shadow
# memory would swamp the numbers.
RELEASE_BIN = os.path.join(ROOT, "build", "gregor")
MEASURE_BIN = RELEASE_BIN if os.access(RELEASE_BIN, os.X_OK) else BIN


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def broker_side_state(broker_port, client_port):
    """The TCP state of the broker's end of a loopback connection, or None."""
    want_local = ":%04X" % broker_port
    want_remote = ":%04X" % client_port
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].endswith(want_local) and parts[2].endswith(want_remote):
                        return parts[3]
        except OSError:
            pass
    return None


def metadata_request(corr):
    """Metadata v1 for all topics, hand-encoded (header v1)."""
    body = struct.pack(">i", -1)
    hdr = struct.pack(">hhi", 3, 1, corr) + struct.pack(">h", 6) + b"never1"
    payload = hdr + body
    return struct.pack(">i", len(payload)) + payload


class LatencyProbe:
    """A well-behaved client: produce one message (acks=all), wait for it,
    then consume it; records both latencies."""

    def __init__(self, bootstrap, topic):
        self.p = producer(bootstrap, **{"acks": "all", "linger.ms": 0})
        self.c = consumer(bootstrap, **{"fetch.wait.max.ms": 10})
        self.c.assign([TopicPartition(topic, 0, 0)])
        self.topic = topic
        self.n = 0
        self.sample(10)  # warm up: connections, metadata, first fetch

    def sample(self, count):
        produce_ms, e2e_ms = [], []
        for _ in range(count):
            self.n += 1
            t0 = time.monotonic()
            done = []
            self.p.produce(self.topic, value=b"probe-%d" % self.n, partition=0,
                           on_delivery=lambda err, msg: done.append(err))
            self.p.flush(30)
            assert done == [None], done
            t1 = time.monotonic()
            while True:
                m = self.c.poll(10)
                assert m is not None, "probe message not consumed within 10s"
                if m.error() is None and m.value() == b"probe-%d" % self.n:
                    break
            t2 = time.monotonic()
            produce_ms.append((t1 - t0) * 1000)
            e2e_ms.append((t2 - t0) * 1000)
        return statistics.median(produce_ms), statistics.median(e2e_ms)

    def close(self):
        self.c.close()


def report_latency(what, quiet, loaded):
    print("  latency under %s: produce p50 %.2f ms (quiet %.2f, x%.2f), produce->consume p50 %.2f ms "
          "(quiet %.2f, x%.2f)" % (what, loaded[0], quiet[0], loaded[0] / max(quiet[0], 1e-6),
                                   loaded[1], quiet[1], loaded[1] / max(quiet[1], 1e-6)), flush=True)


# Descriptors the broker opens and closes on its own while a test counts.
FD_SLACK = 20

@test
def two_gib_size_prefix_closed():
    with Broker() as b:
        for size in (0x7FFFFFFF, 0x80000000, 0xFFFFFFFF):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
            s.sendall(struct.pack(">I", size) + b"\0" * 64)
            assert s.recv(16) == b"", "connection with size prefix %#x not closed" % size
            s.close()
        assert rss_kib(b.proc.pid) < 1024 * 1024, "RSS grew by gigabytes"
        b.assert_alive()
        health_check(b.bootstrap)


@test(timeout=240)
def slowloris_closed_others_unaffected():
    with Broker(overrides={"connections.max.idle.ms": IDLE_MS}) as b:
        topic = create_topic(b.bootstrap, unique_topic("slow"), 1)
        probe = LatencyProbe(b.bootstrap, topic)
        quiet = probe.sample(30)
        frame = metadata_request(1)
        socks = [socket.create_connection(("127.0.0.1", b.port), timeout=10) for _ in range(50)]
        stop = threading.Event()

        def dribble():
            i = 0
            while not stop.is_set() and i < len(frame):
                for s in socks:
                    try:
                        s.send(frame[i:i + 1])
                    except OSError:
                        pass
                i += 1
                stop.wait(0.5)
        t = threading.Thread(target=dribble, daemon=True)
        t.start()
        t0 = time.monotonic()
        loaded = probe.sample(30)
        report_latency("50 slowloris connections", quiet, loaded)
        ports = [s.getsockname()[1] for s in socks]
        # Closed within the idle timeout plus a sweep, long before the frame
        # (30 bytes at 2 bytes/s) could have completed.
        wait_for(lambda: all(broker_side_state(b.port, p) != TCP_ESTABLISHED for p in ports),
                 timeout=IDLE_MS / 1000 * 4, what="slowloris connections closed")
        print("  50 slowloris connections closed after %.1fs (connections.max.idle.ms=%d)"
              % (time.monotonic() - t0, IDLE_MS), flush=True)
        stop.set()
        t.join(5)
        for s in socks:
            s.close()
        probe.close()
        health_check(b.bootstrap)


@test(timeout=400)
def idle_connections_bounded_and_refused_beyond_max():
    n = IDLE_CONNS
    raise_nofile(n * 2 + 1000)
    with Broker(overrides={"max.connections": n}, binary=MEASURE_BIN) as b:
        topic = create_topic(b.bootstrap, unique_topic("idle"), 1)
        probe = LatencyProbe(b.bootstrap, topic)  # its 3 connections count too
        quiet = probe.sample(30)
        pid = b.proc.pid
        rss0, fds0 = rss_kib(pid), fd_count(pid)
        socks = []
        for _ in range(n - 10):
            s = socket.socket()
            s.connect(("127.0.0.1", b.port))
            socks.append(s)
        # Slack: descriptors counted in fds0 (a fetch's file range, a cached
        # segment, a client's reconnect) may have closed meanwhile.
        wait_for(lambda: fd_count(pid) >= fds0 + len(socks) - FD_SLACK, timeout=60,
                 what="broker accepted all connections")
        rss1 = rss_kib(pid)
        per_conn = (rss1 - rss0) * 1024.0 / len(socks)
        print("  %d idle connections: broker RSS %d -> %d KiB, %.0f bytes per connection (%s)"
              % (len(socks), rss0, rss1, per_conn, os.path.relpath(MEASURE_BIN, ROOT)), flush=True)
        loaded = probe.sample(30)
        report_latency("%d idle connections" % len(socks), quiet, loaded)
        # Past max.connections: accepted by the kernel, closed by the broker at once.
        extra = []
        for _ in range(30):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
            s.settimeout(1.0)  # the few that still fit under the limit stay open
            extra.append(s)
        t_refuse = time.monotonic()
        refused = 0
        for s in extra:
            try:
                if s.recv(1) == b"":
                    refused += 1
            except (ConnectionResetError, socket.timeout):
                refused += 1 if isinstance(sys.exc_info()[1], ConnectionResetError) else 0
        print("  %d of 30 connections past max.connections closed at once (%.1fs)"
              % (refused, time.monotonic() - t_refuse), flush=True)
        assert refused >= 20, "only %d of 30 connections past max.connections were closed" % refused
        assert "too many connections" in b.log_text(), b.log_tail()
        for s in socks + extra:
            s.close()
        wait_for(lambda: fd_count(pid) <= fds0 + FD_SLACK, timeout=60, what="descriptors released")
        probe.close()
        health_check(b.bootstrap)


@test(timeout=240)
def never_reading_client_bounded_and_closed():
    with Broker(overrides={"connections.max.idle.ms": IDLE_MS}, binary=MEASURE_BIN) as b:
        topic = create_topic(b.bootstrap, unique_topic("noread"), 1)
        probe = LatencyProbe(b.bootstrap, topic)
        quiet = probe.sample(30)
        pid = b.proc.pid
        rss0 = rss_kib(pid)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", b.port))
        s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 20
        # Pipeline Metadata requests until the broker stops reading them
        # (its output bound) and our send buffer fills up too.
        while time.monotonic() < deadline:
            try:
                s.send(metadata_request(sent))
                sent += 1
            except BlockingIOError:
                r, w, _ = select.select([], [s], [], 1.0)
                if not w:
                    break
        loaded = probe.sample(30)
        report_latency("a client that never reads", quiet, loaded)
        rss1 = rss_kib(pid)
        print("  never-reading client: %d requests sent before backpressure; broker RSS +%d KiB"
              % (sent, rss1 - rss0), flush=True)
        # One connection's queued output is capped at 8 MiB (LIMIT_CONN_OUTPUT_BYTES_MAX).
        assert rss1 - rss0 < 16 * 1024, "RSS grew by %d KiB" % (rss1 - rss0)
        port = s.getsockname()[1]
        t0 = time.monotonic()
        wait_for(lambda: broker_side_state(b.port, port) != TCP_ESTABLISHED,
                 timeout=IDLE_MS / 1000 * 5, what="never-reading connection closed")
        print("  never-reading connection closed %.1fs after it stopped making progress" % (time.monotonic() - t0),
              flush=True)
        s.close()
        probe.close()
        health_check(b.bootstrap)


if __name__ == "__main__":
    main()
