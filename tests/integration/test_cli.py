"""The `gregor` command line against a real broker: every subcommand, in
both output formats, cross-checked with independent clients
(confluent-kafka, kafka-python, kcat). The CLI runs from the sanitizer
build (GREGOR_BIN), so its leaks and UB fail the test like the broker's.

Checked: exit codes (0 ok, 1 Kafka error, 2 usage, 3 unreachable), error
names and hints, the lag numbers of `group describe` against offsets
produced and committed by confluent-kafka, `group reset-offsets` dry run
versus --execute through offsets read by kafka-python, and docs/CLI.md
being what `gregor help --markdown` prints.
"""

import json
import os
import pty
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import ConfigResource  # noqa: E402
from kafka import KafkaAdminClient, KafkaConsumer  # noqa: E402
from kafka import TopicPartition as KTopicPartition  # noqa: E402

from clients import BASE_CONF, admin, create_topic, produce_all, producer, unique_topic  # noqa: E402
from harness import BIN, ROOT, SANITIZER_MARKERS, Broker, free_port, kcat, main, test, wait_for  # noqa: E402

CLI_TIMEOUT_S = 120
API_VERSION = (2, 5, 0)  # pinned for kafka-python, as in test_groups_kafka_python.py
BROKER_CONF = {
    "group.initial.rebalance.delay.ms": 0,
    "group.min.session.timeout.ms": 1000,
    "offsets.topic.num.partitions": 3,
}


class Result:
    def __init__(self, p):
        self.rc = p.returncode
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)


def cli(b, *args, input=None, rc=0, env=None):
    """Runs `gregor ARGS -b BROKER`; checks the exit code and that the
    sanitizers stayed quiet."""
    cmd = [BIN] + list(args)
    if b is not None:
        cmd += ["-b", b.bootstrap]
    e = dict(os.environ)
    e.pop("GREGOR_BROKERS", None)
    e.update(env or {})
    try:
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=CLI_TIMEOUT_S, env=e)
    except subprocess.TimeoutExpired:
        raise AssertionError("timed out: %s" % " ".join(cmd))
    r = Result(p)
    for marker in SANITIZER_MARKERS:
        assert marker not in r.err, "sanitizer report from %s:\n%s" % (" ".join(cmd), r.err[-4000:])
    if rc is not None:
        assert r.rc == rc, "%s exited %d, expected %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), r.rc, rc, r.out[-2000:], r.err[-2000:])
    return r


def kp_admin(b):
    return KafkaAdminClient(bootstrap_servers=b.bootstrap, api_version=API_VERSION, request_timeout_ms=30000)


def kp_committed(b, group):
    """{(topic, partition): offset} as kafka-python reads them."""
    a = kp_admin(b)
    try:
        return {(tp.topic, tp.partition): om.offset for tp, om in a.list_consumer_group_offsets(group).items()}
    finally:
        a.close()


def confluent_commit(b, group, offsets):
    """Commits {(topic, partition): offset} for group without joining it."""
    c = Consumer(dict(BASE_CONF, **{"bootstrap.servers": b.bootstrap, "group.id": group,
                                    "enable.auto.commit": False}))
    try:
        c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
    finally:
        c.close()


def table_rows(out):
    """An aligned table as a list of dicts keyed by its header words."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    head = lines[0].split()
    return [dict(zip(head, ln.split())) for ln in lines[1:]]


# ---- help, docs, usage errors ----

@test
def help_and_docs():
    with open(os.path.join(ROOT, "docs", "CLI.md")) as f:
        committed = f.read()
    r = cli(None, "help", "--markdown")
    assert r.out == committed, "docs/CLI.md is stale: run `build/gregor help --markdown > docs/CLI.md`"
    overview = cli(None, "help").out
    names = [ln.strip().split("  ")[0] for ln in overview.splitlines()
             if ln.startswith("  ") and ln[2] != " " and not ln.strip()[0].isdigit()]
    names = [n for n in names if n not in ("broker", "bench", "help [COMMAND]")]
    assert len(names) >= 13, names
    for n in names:
        h = cli(None, *n.split(), "--help").out
        assert h.startswith("usage: gregor %s" % n), h[:200]
        assert "--brokers" in h and "--format" in h, h
        assert cli(None, "help", *n.split()).out == h
    assert "Subcommands" in cli(None, "topic", "--help").out
    r = cli(None, "topic", rc=2)
    assert "Subcommands" in r.err
    r = cli(None, "frobnicate", rc=2)
    assert "unknown command" in r.err
    r = cli(None, "topic", "create", rc=2)
    assert "hint: see 'gregor topic create --help'" in r.err, r.err
    r = cli(None, "topic", "list", "--bogus", rc=2)
    assert "bogus" in r.err
    cli(None, "topic", "list", "--format", "yaml", rc=2)
    cli(None, "group", "reset-offsets", "--group", "g", "--all-topics", rc=2)  # no target
    cli(None, "consume", "t", "--group", "g", "--offset", "5", rc=2)
    cli(None, "produce", rc=2)
    # Bad values are refused before anything is sent.
    for bad in (["topic", "list", "-b", ""], ["topic", "create", "x", "-p", "0"],
                ["topic", "create", "x", "-c", "novalue"], ["topic", "alter-config", "x", "--delete", ""],
                ["topic", "alter-config", "x", "--set", "k" * 300 + "=v"],
                ["topic", "add-partitions", "x", "-p", "-1"], ["topic", "list", "--timeout", "0"],
                ["group", "reset-offsets", "--group", "g", "--all-topics", "--to-datetime", "2026-13-45T99:00:00Z"],
                ["group", "reset-offsets", "--group", "g", "--all-topics", "--to-offset", "-5"],
                ["group", "reset-offsets", "--group", "g", "--all-topics", "--to-earliest", "--to-latest"],
                ["consume", "t", "--from-time", "garbage"], ["consume", "t", "-p", "x"], ["consume", "t", "-n", "0"],
                ["produce", "t", "-H", "=v"], ["produce", "t", "-k", ""], ["produce", "t", "--compression", "nope"],
                ["topic", "list", "--prop", "no.such.property=1"]):
        r = cli(None, *bad, rc=2)
        assert "hint: see 'gregor" in r.err, (bad, r.err)


@test
def unreachable_cluster_and_env():
    port = free_port()
    r = cli(None, "topic", "list", "-b", "127.0.0.1:%d" % port, "--timeout", "1500", rc=3)
    assert "cannot reach the cluster" in r.err and "GREGOR_BROKERS" in r.err, r.err
    r = cli(None, "group", "list", "--timeout", "1500", rc=3, env={"GREGOR_BROKERS": "127.0.0.1:%d" % port})
    assert "127.0.0.1:%d" % port in r.err
    with Broker() as b:
        topic = unique_topic("env")
        cli(None, "topic", "create", topic, "-p", "2", env={"GREGOR_BROKERS": b.bootstrap})
        listed = cli(None, "topic", "list", "--format", "json", env={"GREGOR_BROKERS": b.bootstrap}).json()
        assert {"topic": topic, "partitions": 2, "replication_factor": 1} in listed, listed


# ---- topics ----

def confluent_overrides(b, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    a = admin(b.bootstrap)  # kept alive until the result is in
    entries = a.describe_configs([res])[res].result(timeout=30)
    return {k: e.value for k, e in entries.items() if not e.is_default}


@test
def topic_commands():
    with Broker() as b:
        t1, t2 = unique_topic("cli"), unique_topic("cli")
        r = cli(b, "topic", "create", t1, "--partitions", "3", "--config", "retention.ms=3600000")
        assert r.out.strip() == "created topic %s" % t1, r.out
        r = cli(b, "topic", "create", t2, "-p", "1", "--format", "json")
        assert r.json() == {"created": [t2]}
        md = admin(b.bootstrap).list_topics(timeout=30)
        assert len(md.topics[t1].partitions) == 3 and len(md.topics[t2].partitions) == 1

        r = cli(b, "topic", "create", t1, rc=1)
        assert "TOPIC_ALREADY_EXISTS" in r.err and "hint:" in r.err, r.err
        cli(b, "topic", "create", t1, "--if-not-exists")
        r = cli(b, "topic", "create", unique_topic("bad"), "-c", "cleanup.policy=sideways", rc=1)
        assert "INVALID_CONFIG" in r.err, r.err
        cli(b, "topic", "create", "bad/name", rc=1)
        v = unique_topic("validate")
        cli(b, "topic", "create", v, "--validate-only")
        assert v not in admin(b.bootstrap).list_topics(timeout=30).topics

        rows = table_rows(cli(b, "topic", "list").out)
        assert {"TOPIC": t1, "PARTITIONS": "3", "REPLICATION-FACTOR": "1"} in rows, rows
        listed = cli(b, "topic", "list", "--format", "json").json()
        assert {"topic": t2, "partitions": 1, "replication_factor": 1} in listed

        # Data so that describe shows log end offsets.
        d = produce_all(producer(b.bootstrap), t1, [{"value": b"x", "partition": i % 3} for i in range(7)])
        assert not d.errors
        desc = cli(b, "topic", "describe", t1, "--format", "json").json()
        assert len(desc) == 1 and desc[0]["topic"] == t1
        parts = desc[0]["partitions"]
        assert [p["partition"] for p in parts] == [0, 1, 2]
        assert [p["log_end_offset"] for p in parts] == [3, 2, 2], parts
        assert all(p["log_start_offset"] == 0 and p["leader"] == 1 for p in parts)
        assert {"config": "retention.ms", "value": "3600000", "source": "DYNAMIC_TOPIC_CONFIG"} in desc[0]["configs"]
        text = cli(b, "topic", "describe", t1).out
        assert "LOG-END-OFFSET" in text and "retention.ms" in text and "3600000" in text, text
        allc = cli(b, "topic", "describe", t1, "--all-configs", "--format", "json").json()[0]["configs"]
        assert any(c["config"] == "segment.bytes" for c in allc)
        missing = unique_topic("missing")
        r = cli(b, "topic", "describe", missing, rc=1)
        assert "UNKNOWN_TOPIC_OR_PART" in r.err, r.err
        assert missing not in admin(b.bootstrap).list_topics(timeout=30).topics  # not auto-created

        # alter-config keeps the overrides it does not touch.
        cli(b, "topic", "alter-config", t1, "--set", "cleanup.policy=compact")
        assert confluent_overrides(b, t1) == {"retention.ms": "3600000", "cleanup.policy": "compact"}
        r = cli(b, "topic", "alter-config", t1, "--set", "max.message.bytes=2000000", "--delete", "retention.ms",
                "--format", "json")
        assert r.json()["set"] == {"max.message.bytes": "2000000"} and r.json()["deleted"] == ["retention.ms"]
        assert confluent_overrides(b, t1) == {"cleanup.policy": "compact", "max.message.bytes": "2000000"}
        r = cli(b, "topic", "alter-config", t1, "--set", "cleanup.policy=sideways", rc=1)
        assert "INVALID_CONFIG" in r.err
        assert confluent_overrides(b, t1)["cleanup.policy"] == "compact"
        cli(b, "topic", "alter-config", t1, rc=2)

        r = cli(b, "topic", "add-partitions", t1, "--partitions", "5")
        assert "5 partitions" in r.out
        wait_for(lambda: len(admin(b.bootstrap).list_topics(topic=t1, timeout=30).topics[t1].partitions) == 5,
                 what="5 partitions")
        r = cli(b, "topic", "add-partitions", t1, "--partitions", "2", rc=1)
        assert "INVALID_PARTITIONS" in r.err, r.err
        assert cli(b, "topic", "add-partitions", t2, "-p", "2", "--format", "json").json() == \
            {"topic": t2, "partitions": 2}

        r = cli(b, "topic", "delete", t1, t2)
        assert r.out.split("\n")[:2] == ["deleted topic %s" % t1, "deleted topic %s" % t2]
        wait_for(lambda: t1 not in admin(b.bootstrap).list_topics(timeout=30).topics, what="topic gone")
        r = cli(b, "topic", "delete", t1, rc=1)
        assert "UNKNOWN_TOPIC_OR_PART" in r.err
        assert cli(b, "topic", "delete", t1, "--if-exists", "--format", "json").json() == {"deleted": [t1]}


@test
def cluster_info():
    with Broker() as b:
        create_topic(b.bootstrap, unique_topic("ci"), 4)
        md = admin(b.bootstrap).list_topics(timeout=30)
        info = cli(b, "cluster", "info", "--format", "json").json()
        assert info["cluster_id"] == md.cluster_id and info["controller_id"] == md.controller_id, info
        assert info["partitions"] == sum(len(t.partitions) for t in md.topics.values())
        assert info["brokers"] == [{"id": 1, "host": "127.0.0.1", "port": b.port, "controller": "yes"}], info
        text = cli(b, "cluster", "info").out
        assert md.cluster_id in text and str(b.port) in text


# ---- produce and consume ----

@test
def produce_read_by_other_clients():
    with Broker() as b:
        topic = create_topic(b.bootstrap, unique_topic("prod"), 3)
        n = 3000
        lines = "".join("key%d:value-%d ü\n" % (i, i) for i in range(n)).encode()
        r = cli(b, "produce", topic, "-k", ":", "-H", "source=gregor", "-H", "kind=test", "--compression", "gzip",
                "--format", "json", input=lines)
        assert r.json()["records"] == n and r.json()["failed"] == 0, r.out

        kc = KafkaConsumer(bootstrap_servers=b.bootstrap, api_version=API_VERSION, auto_offset_reset="earliest",
                           enable_auto_commit=False, consumer_timeout_ms=5000)
        kc.assign([KTopicPartition(topic, p) for p in range(3)])
        kc.seek_to_beginning()
        seen = {}
        deadline = time.monotonic() + 60
        while len(seen) < n and time.monotonic() < deadline:
            for recs in kc.poll(timeout_ms=500).values():
                for rec in recs:
                    seen[rec.key] = (rec.value, rec.headers, rec.partition)
        kc.close()
        assert len(seen) == n, len(seen)
        assert seen[b"key7"][0] == "value-7 ü".encode()
        assert seen[b"key7"][1] == [("source", b"gregor"), ("kind", b"test")], seen[b"key7"]
        # Same key, same partition (the default partitioner hashes keys).
        parts = {k: v[2] for k, v in seen.items()}
        assert len(set(parts.values())) == 3

        # kcat reads the same records; a file input and --partition too.
        path = os.path.join(b.tmp, "input.txt")
        with open(path, "w") as f:
            f.write("no key here\nsecond line\n")
        r = cli(b, "produce", topic, "--file", path, "--partition", "2", "-k", "|")
        assert "produced 2 records" in r.out, r.out
        out = kcat(["-C", "-b", b.bootstrap, "-t", topic, "-p", "2", "-e", "-q", "-f", "%k|%s\n",
                    "-X", "log_level=3"]).stdout.decode()
        assert out.splitlines()[-2:] == ["|no key here", "|second line"], out[-300:]
        total = sum(1 for _ in kcat(["-C", "-b", b.bootstrap, "-t", topic, "-e", "-q", "-f", "%o\n",
                                     "-X", "log_level=3"]).stdout.splitlines())
        assert total == n + 2

        # On a terminal, a progress bar goes to stderr; stdout keeps only the summary.
        master, slave = pty.openpty()
        try:
            p = subprocess.run([BIN, "produce", topic, "-b", b.bootstrap, "--progress", "--file", path],
                               stdout=subprocess.PIPE, stderr=slave, timeout=CLI_TIMEOUT_S)
            os.close(slave)
            slave = -1
            tty = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO once the writer is gone
                    break
                if not chunk:
                    break
                tty += chunk
        finally:
            os.close(master)
            if slave >= 0:
                os.close(slave)
        assert p.returncode == 0 and b"produced 2 records" in p.stdout, (p.returncode, p.stdout)
        assert b"[" in tty and b"100%" in tty and b"2 records" in tty, tty
        for marker in SANITIZER_MARKERS:
            assert marker.encode() not in tty

        # Per-line headers in Kafka's console-producer syntax, read back by kafka-python.
        ht = create_topic(b.bootstrap, unique_topic("hdr"), 1)
        # A line without the delimiter is an error, as in Kafka's console
        # producer: reported, counted as failed, not sent; the others are.
        r = cli(b, "produce", ht, "-k", ":", "--parse-headers", "-H", "fixed=f", "--format", "json", rc=1,
                input=b"a:1,b:2\tk1:v1\nplain:v2\nnull\t:v3\n")
        assert r.json()["records"] == 2 and r.json()["failed"] == 1, r.out
        assert "line 2 has no headers delimiter" in r.err, r.err
        cli(b, "produce", ht, "--headers-delimiter", "|", input=b"x:y|just a value\n")
        kc = KafkaConsumer(bootstrap_servers=b.bootstrap, api_version=API_VERSION, auto_offset_reset="earliest",
                           enable_auto_commit=False, consumer_timeout_ms=5000)
        kc.assign([KTopicPartition(ht, 0)])
        recs = []
        deadline = time.monotonic() + 60
        while len(recs) < 3 and time.monotonic() < deadline:
            for batch in kc.poll(timeout_ms=500).values():
                recs.extend(batch)
        kc.close()
        assert [(r.key, r.value, r.headers) for r in recs] == [
            (b"k1", b"v1", [("fixed", b"f"), ("a", b"1"), ("b", b"2")]),
            (b"", b"v3", [("fixed", b"f"), ("null", None)]),
            (None, b"just a value", [("x", b"y")])], recs

        # Records the broker refuses: exit 1, the Kafka error name, a hint, the count.
        small = create_topic(b.bootstrap, unique_topic("small"), 1, config={"max.message.bytes": "1000"})
        r = cli(b, "produce", small, "--format", "json", rc=1, input=b"x" * 5000 + b"\n")
        assert r.json()["records"] == 0 and r.json()["failed"] == 1, r.out
        assert "MSG_SIZE_TOO_LARGE" in r.err and "max.message.bytes" in r.err, r.err

        # An over-long line stops the command: a usage error (2) only if
        # nothing was sent yet, else a partial failure (1).
        huge = b"x" * (16 * 1024 * 1024 + 1) + b"\n"
        r = cli(b, "produce", topic, "--format", "json", rc=1, input=b"first\n" + huge)
        assert r.json()["records"] == 1 and "longer than" in r.err, (r.out, r.err)
        cli(b, "produce", topic, rc=2, input=huge)

        r = cli(b, "produce", topic, "--partition", "9", rc=1, input=b"x\n")
        assert "UNKNOWN_PARTITION" in r.err
        cli(b, "produce", topic, "--file", os.path.join(b.tmp, "nope"), rc=2)


@test
def consume_reads_confluent_data():
    with Broker() as b:
        topic = create_topic(b.bootstrap, unique_topic("cons"), 2)
        t0 = int(time.time() * 1000) - 100000
        msgs = [{"key": b"k%d" % i, "value": ("v%d\t\"q\"" % i).encode(), "partition": i % 2,
                 "headers": [("h", b"x%d" % i)], "timestamp": t0 + i * 1000} for i in range(20)]
        msgs.append({"value": b"\xff\xfe raw", "partition": 0, "timestamp": t0 + 50000})
        d = produce_all(producer(b.bootstrap), topic, msgs)
        assert not d.errors

        lines = cli(b, "consume", topic, "--format", "json").out.splitlines()
        recs = [json.loads(ln) for ln in lines]
        assert len(recs) == 21
        by_key = {r["key"]: r for r in recs}
        r5 = by_key["k5"]
        assert r5["value"] == "v5\t\"q\"" and r5["partition"] == 1 and r5["offset"] == 2, r5
        assert r5["headers"] == [{"key": "h", "value": "x5"}] and r5["timestamp"] == t0 + 5000
        assert by_key[None]["value"] == "\u00ff\u00fe raw"  # invalid UTF-8 escaped, still JSON

        out = cli(b, "consume", topic, "-p", "1", "-t", "%t|%p|%o|%k|%v|%h|%T|%K|%V").out.splitlines()
        assert len(out) == 10
        assert out[0] == "%s|1|0|k1|v1\t\"q\"|h=x1|%d|2|6" % (topic, t0 + 1000), out[0]
        assert cli(b, "consume", topic, "-p", "1", "-o", "8", "-t", "%k").out.split() == ["k17", "k19"]
        assert cli(b, "consume", topic, "-p", "0", "-o", "latest").out == ""
        assert cli(b, "consume", topic, "-p", "1", "-o", "-2", "-t", "%k").out.split() == ["k17", "k19"]
        assert cli(b, "consume", topic, "-p", "1", "-o", "-50", "-t", "%k").out.split() == \
            ["k%d" % i for i in range(1, 20, 2)]
        assert len(cli(b, "consume", topic, "--num", "3").out.splitlines()) == 3
        got = cli(b, "consume", topic, "--from-time", str(t0 + 15500), "-t", "%k").out.split()
        assert sorted(k for k in got if k) == ["k16", "k17", "k18", "k19"], got
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((t0 + 18000) / 1000)) + ".%03dZ" % ((t0 + 18000) % 1000)
        got = cli(b, "consume", topic, "--from-time", iso, "-t", "%k").out.split()
        assert sorted(k for k in got if k) == ["k18", "k19"], (iso, got)
        r = cli(b, "consume", topic, "-p", "7", rc=1)
        assert "UNKNOWN_PARTITION" in r.err
        missing = unique_topic("missing")
        r = cli(b, "consume", missing, rc=1)
        assert "UNKNOWN_TOPIC_OR_PART" in r.err, r.err
        assert missing not in admin(b.bootstrap).list_topics(timeout=30).topics


@test
def consume_group_commits():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("grp"), 1)
        d = produce_all(producer(b.bootstrap), topic, [{"value": b"m%d" % i} for i in range(10)])
        assert not d.errors
        group = unique_topic("g")
        assert cli(b, "consume", topic, "--group", group, "--num", "4").out.split() == ["m0", "m1", "m2", "m3"]
        assert kp_committed(b, group) == {(topic, 0): 4}
        assert cli(b, "consume", topic, "--group", group).out.split() == ["m%d" % i for i in range(4, 10)]
        assert kp_committed(b, group) == {(topic, 0): 10}
        assert cli(b, "consume", topic, "--group", group).out == ""
        # --follow waits for new records until Ctrl-C, then commits what it printed.
        follower = unique_topic("g")
        proc = subprocess.Popen([BIN, "consume", topic, "-b", b.bootstrap, "--group", follower, "--follow",
                                 "-t", "%o:%v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            got = [proc.stdout.readline().decode().strip() for _ in range(10)]
            assert got == ["%d:m%d" % (i, i) for i in range(10)], got
            d = produce_all(producer(b.bootstrap), topic, [{"value": b"late%d" % i} for i in range(3)])
            assert not d.errors
            got = [proc.stdout.readline().decode().strip() for _ in range(3)]
            assert got == ["10:late0", "11:late1", "12:late2"], got
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, (proc.returncode, err[-2000:])
        assert not any(m.encode() in err for m in SANITIZER_MARKERS), err[-3000:]
        assert kp_committed(b, follower) == {(topic, 0): 13}

        # A reader that goes away (`| head -1`): exit 1, and the commit
        # covers no record that failed to reach the output.
        big = create_topic(b.bootstrap, unique_topic("pipe"), 1)
        n = 5000
        d = produce_all(producer(b.bootstrap), big, [{"value": b"%06d" % i + b"." * 200} for i in range(n)])
        assert not d.errors
        closer = unique_topic("g")
        proc = subprocess.Popen([BIN, "consume", big, "-b", b.bootstrap, "--group", closer],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            first = proc.stdout.readline()
            proc.stdout.close()
            err = proc.stderr.read()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert first.startswith(b"000000"), first
        assert proc.returncode == 1, (proc.returncode, err[-2000:])
        assert b"writing the output failed" in err, err[-2000:]
        assert not any(m.encode() in err for m in SANITIZER_MARKERS), err[-3000:]
        committed = kp_committed(b, closer).get((big, 0), -1)
        assert committed < n, committed

        # Another member holds the only partition: without --follow there is
        # no end to reach; exit 1 with a message saying so (not "cannot
        # reach the cluster", 3). The holder's client id sorts first, so
        # the assignors (range, roundrobin) keep the partition with it.
        holder_group = unique_topic("g")
        holder = subprocess.Popen([BIN, "consume", topic, "-b", b.bootstrap, "--group", holder_group, "--follow",
                                   "--prop", "client.id=aaa-holder"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert holder.stdout.readline().strip() == b"m0"
            r = cli(b, "consume", topic, "--group", holder_group, "--timeout", "5000", rc=1)
            assert "other members of group" in r.err and "cannot reach" not in r.err, r.err
            assert r.out == "", r.out
        finally:
            holder.send_signal(signal.SIGINT)
            try:
                holder.communicate(timeout=60)
            finally:
                if holder.poll() is None:
                    holder.kill()
                    holder.wait()

        other = unique_topic("g")
        assert cli(b, "consume", topic, "--group", other, "--offset", "latest").out == ""
        cli(b, "consume", topic, "--group", other, "--no-commit", "--num", "2")
        assert kp_committed(b, other) in ({}, {(topic, 0): -1}), kp_committed(b, other)


# ---- groups ----

@test
def group_describe_lag():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("lag"), 3)
        counts = {0: 12, 1: 7, 2: 4}
        d = produce_all(producer(b.bootstrap), topic,
                        [{"value": b"x", "partition": p} for p, n in counts.items() for _ in range(n)])
        assert not d.errors
        group = unique_topic("lag")
        committed = {(topic, 0): 5, (topic, 1): 7}
        confluent_commit(b, group, committed)

        desc = cli(b, "group", "describe", group, "--format", "json").json()
        assert len(desc) == 1 and desc[0]["group"] == group and desc[0]["state"] == "Empty", desc
        rows = {r["partition"]: r for r in desc[0]["partitions"]}
        assert set(rows) == {0, 1}, rows  # no commit, no assignment: not listed (as Kafka's tool)
        assert desc[0]["member_list"] == []
        for p in (0, 1):
            assert rows[p]["current_offset"] == committed[(topic, p)]
            assert rows[p]["log_end_offset"] == counts[p]
            assert rows[p]["lag"] == counts[p] - committed[(topic, p)]
            assert rows[p]["consumer_id"] is None and rows[p]["host"] is None
        text = cli(b, "group", "describe", group).out
        assert "state Empty" in text
        trows = table_rows(text.split("\n\n", 1)[1])
        assert {(r["PARTITION"], r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"]) for r in trows} == \
            {("0", "5", "12", "7"), ("1", "7", "7", "0")}, trows

        # An active confluent member: its partitions show its id, host and client id.
        c = Consumer(dict(BASE_CONF, **{"bootstrap.servers": b.bootstrap, "group.id": group,
                                        "client.id": "lag-member", "enable.auto.commit": False,
                                        "session.timeout.ms": 6000, "auto.offset.reset": "earliest"}))
        try:
            c.subscribe([topic])

            def assigned():
                c.poll(0.2)
                return len(c.assignment()) == 3
            wait_for(assigned, timeout=60, what="3 partitions assigned")

            def stable():
                c.poll(0.1)
                g = cli(b, "group", "describe", group, "--format", "json").json()[0]
                return g if g["state"] == "Stable" and len(g["partitions"]) == 3 else None
            g = wait_for(stable, timeout=60, what="Stable group with 3 partitions")
            assert g["members"] == 1
            for r in g["partitions"]:
                assert r["client_id"] == "lag-member" and r["consumer_id"] and r["host"], r
            assert len(g["member_list"]) == 1, g
            m = g["member_list"][0]
            assert m["client_id"] == "lag-member" and m["partitions"] == 3, m
            assert m["assignment"] == "%s:0,1,2" % topic and m["consumer_id"] == g["partitions"][0]["consumer_id"]
            mrows = table_rows(cli(b, "group", "describe", group, "--members").out.split("\n\n", 1)[1])
            assert [(r["CLIENT-ID"], r["PARTITIONS"]) for r in mrows] == [("lag-member", "3")], mrows
            p2 = [r for r in g["partitions"] if r["partition"] == 2][0]
            assert p2["current_offset"] is None and p2["lag"] is None and p2["log_end_offset"] == 4
            r = cli(b, "group", "reset-offsets", "--group", group, "--all-topics", "--to-earliest", rc=1)
            assert "active member" in r.err, r.err
            r = cli(b, "group", "delete", group, rc=1)
            assert "NON_EMPTY_GROUP" in r.err, r.err
        finally:
            c.close()
        topics = [t["topic"] for t in cli(b, "topic", "list", "--format", "json").json()]
        assert "__consumer_offsets" in topics and topic in topics, topics
        topics = [t["topic"] for t in cli(b, "topic", "list", "--exclude-internal", "--format", "json").json()]
        assert "__consumer_offsets" not in topics and topic in topics, topics
        listed = cli(b, "group", "list", "--format", "json").json()
        assert any(g["group"] == group for g in listed), listed
        assert group in cli(b, "group", "list").out


@test
def group_reset_offsets():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("reset"), 2)
        t0 = int(time.time() * 1000) - 100000
        d = produce_all(producer(b.bootstrap), topic,
                        [{"value": b"x", "partition": p, "timestamp": t0 + i * 1000} for p in (0, 1) for i in range(10)])
        assert not d.errors
        group = unique_topic("reset")
        confluent_commit(b, group, {(topic, 0): 6, (topic, 1): 3})

        plan = cli(b, "group", "reset-offsets", "--group", group, "--all-topics", "--to-earliest",
                   "--format", "json")
        assert "dry run" in plan.err
        assert plan.json() == {"group": group, "executed": False, "partitions": [
            {"group": group, "topic": topic, "partition": 0, "current_offset": 6, "new_offset": 0},
            {"group": group, "topic": topic, "partition": 1, "current_offset": 3, "new_offset": 0}]}, plan.out
        assert kp_committed(b, group) == {(topic, 0): 6, (topic, 1): 3}  # dry run: unchanged

        def reset(*target, **kw):
            r = cli(b, "group", "reset-offsets", "--group", group, *target, "--execute", "--format", "json", **kw)
            assert r.json()["executed"] is True
            return {(p["topic"], p["partition"]): p["new_offset"] for p in r.json()["partitions"]}

        assert reset("--all-topics", "--to-earliest") == {(topic, 0): 0, (topic, 1): 0}
        assert kp_committed(b, group) == {(topic, 0): 0, (topic, 1): 0}
        assert reset("--topic", topic + ":1", "--to-offset", "4") == {(topic, 1): 4}
        assert kp_committed(b, group) == {(topic, 0): 0, (topic, 1): 4}
        assert reset("--topic", topic, "--shift-by", "-2") == {(topic, 0): 0, (topic, 1): 2}  # clamped at 0
        assert reset("--topic", topic, "--shift-by", "5") == {(topic, 0): 5, (topic, 1): 7}
        assert reset("--topic", topic, "--to-offset", "99") == {(topic, 0): 10, (topic, 1): 10}  # clamped at the end
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((t0 + 3000) // 1000 + 1))
        got = reset("--topic", topic + ":0", "--to-datetime", str(t0 + 3000))
        assert got == {(topic, 0): 3}, got
        got = reset("--topic", topic + ":1", "--to-datetime", iso)
        assert got[(topic, 1)] in (3, 4), (iso, got)
        assert reset("--all-topics", "--to-latest") == {(topic, 0): 10, (topic, 1): 10}
        assert kp_committed(b, group) == {(topic, 0): 10, (topic, 1): 10}

        text = cli(b, "group", "reset-offsets", "--group", group, "--topic", topic, "--to-earliest").out
        rows = table_rows(text)
        assert [(r["PARTITION"], r["CURRENT-OFFSET"], r["NEW-OFFSET"]) for r in rows] == \
            [("0", "10", "0"), ("1", "10", "0")], text
        r = cli(b, "group", "reset-offsets", "--group", group, "--topic", unique_topic("nope"), "--to-earliest", rc=1)
        assert "UNKNOWN_TOPIC_OR_PART" in r.err, r.err

        # delete: the group goes, and a second delete names the error.
        assert cli(b, "group", "delete", group, "--format", "json").json() == {"deleted": [group]}
        assert not any(g["group"] == group for g in cli(b, "group", "list", "--format", "json").json())
        r = cli(b, "group", "delete", group, rc=1)
        assert "GROUP_ID_NOT_FOUND" in r.err, r.err
        r = cli(b, "group", "describe", group, rc=1)
        assert "GROUP_ID_NOT_FOUND" in r.err


if __name__ == "__main__":
    main()
