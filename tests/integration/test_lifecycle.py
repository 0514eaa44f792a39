"""Broker start-up and shutdown: configuration errors refuse start with the
key named, unknown keys are warned about, --override applies, and SIGTERM
exits 0 at any moment, even straight after start or with clients connected."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import TopicPartition  # noqa: E402

from clients import admin, consumer, create_topic, produce_all, producer, unique_topic, wait_topic_visible  # noqa: E402
from harness import BIN, Broker, SANITIZER_MARKERS, free_port, main, test  # noqa: E402


def run_refused(config_lines, overrides=(), timeout=30):
    """Runs the broker with a config that must be refused; returns (rc, stderr)."""
    with tempfile.TemporaryDirectory(prefix="gregor-it-") as tmp:
        path = os.path.join(tmp, "server.properties")
        with open(path, "w") as f:
            f.write("listeners=PLAINTEXT://127.0.0.1:%d\nlog.dirs=%s/data\n" % (free_port(), tmp))
            f.write("".join(line + "\n" for line in config_lines))
        cmd = [BIN, "broker", "--config", path]
        for o in overrides:
            cmd += ["--override", o]
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise AssertionError("broker kept running with a bad configuration: %r %r" % (config_lines, overrides))
        err = p.stderr.decode("utf-8", "replace")
        assert not any(m in err for m in SANITIZER_MARKERS), err
        return p.returncode, err


@test
def bad_value_in_file_refuses_start():
    rc, err = run_refused(["log.segment.bytes=abc"])
    assert rc != 0, rc
    assert "log.segment.bytes" in err and "abc" in err, err[-2000:]


@test
def bad_override_refuses_start():
    rc, err = run_refused([], ["num.partitions=0"])
    assert rc != 0, rc
    assert "num.partitions" in err, err[-2000:]
    rc, err = run_refused([], ["auto.create.topics.enable=maybe"])
    assert rc != 0 and "auto.create.topics.enable" in err, (rc, err[-2000:])


@test
def missing_config_file_refuses_start():
    p = subprocess.run([BIN, "broker", "--config", "/nonexistent/gregor.properties"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    assert p.returncode != 0
    assert b"/nonexistent/gregor.properties" in p.stderr, p.stderr[-2000:]


@test
def unknown_keys_warned_kafka_keys_accepted():
    with Broker(overrides={"no.such.key": "1", "zookeeper.connect": "localhost:2181", "num.io.threads": "8"}) as b:
        log = b.log_text()
        assert "unknown config key ignored key=no.such.key" in log, b.log_tail()
        warned = [ln for ln in log.splitlines() if "WARN" in ln and ("zookeeper" in ln or "num.io" in ln)]
        assert not warned, warned


@test
def cli_override_applies():
    with Broker(cli_overrides={"num.partitions": "5"}) as b:
        assert "num.partitions=5" in b.log_text(), b.log_tail()
        # Auto-creation by a producer uses num.partitions.
        topic = unique_topic("ovr")
        produce_all(producer(b.bootstrap), topic, [{"value": b"x"}])
        wait_topic_visible(admin(b.bootstrap), topic, 5)


@test
def sigterm_right_after_start():
    """The broker accepts connections, so it must also honour SIGTERM then."""
    with Broker() as b:
        for _ in range(5):
            b.restart()  # stop() checks exit code 0


@test
def sigterm_as_soon_as_listening():
    """SIGTERM the moment the port accepts (polled every millisecond): the
    broker is visible to clients from then on, so it must shut down cleanly
    from then on too, exit 0, even while still finishing start-up."""
    with Broker() as b:
        b.stop()
        bad = []
        for attempt in range(20):
            b._spawn()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and b.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", b.port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.001)
            b.proc.send_signal(signal.SIGTERM)
            rc = b.proc.wait(timeout=30)
            text = b.log_text()
            if rc != 0:
                lines = [ln for ln in text.splitlines() if ln.strip()]
                bad.append("attempt %d: exit %d; last log line: %s" % (attempt, rc, lines[-1] if lines else ""))
            b.check_log()
        assert not bad, "\n".join(bad)


@test
def sigterm_with_clients_connected():
    with Broker() as b:
        topic = create_topic(b.bootstrap, unique_topic("conn"), 1)
        socks = [socket.create_connection(("127.0.0.1", b.port), timeout=10) for _ in range(5)]
        try:
            socks[0].sendall(b"\x00\x00\x00\x10\x00\x12")  # a frame left half sent
            c = consumer(b.bootstrap)
            c.assign([TopicPartition(topic, 0, 0)])
            c.poll(1.0)  # a fetch long-poll is likely in flight now
            b.stop()
            c.close()
        finally:
            for s in socks:
                s.close()


if __name__ == "__main__":
    main()
