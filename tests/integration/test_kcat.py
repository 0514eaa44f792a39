"""kcat (librdkafka 2.0 based) against gregor: metadata listing, and
produce/consume round trips of 100k keyed messages with headers under
every codec, checking count, order and content per partition."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Broker, kcat, main, test  # noqa: E402
from clients import create_topic, unique_topic  # noqa: E402

N_MESSAGES = 100_000
PARTITIONS = 3
FORMAT = r"%p\t%o\t%k\t%s\t%h\n"


def value_for(i):
    # Varying lengths and repetition so every codec has something to do.
    return "value-%06d-%s" % (i, "abcdefgh"[: i % 9] * (i % 7))


def make_input(n):
    return "".join("key%06d:%s\n" % (i, value_for(i)) for i in range(n)).encode()


def produce(b, topic, data, codec, extra=()):
    args = ["-P", "-b", b.bootstrap, "-t", topic, "-K:", "-z", codec,
            "-H", "source=kcat", "-H", "codec=%s" % codec,
            "-X", "acks=all", "-X", "linger.ms=10", "-X", "log_level=3"] + list(extra)
    p = kcat(args, input=data, timeout=240)
    err = p.stderr.decode("utf-8", "replace")
    assert "Delivery failed" not in err and "ERROR" not in err, err[-3000:]


def consume(b, topic, extra=(), timeout=240):
    args = ["-C", "-b", b.bootstrap, "-t", topic, "-e", "-q", "-f", FORMAT,
            "-X", "log_level=3"] + list(extra)
    p = kcat(args, timeout=timeout)
    return [ln.split("\t") for ln in p.stdout.decode().split("\n") if ln]


def check_round_trip(rows, n, codec):
    assert len(rows) == n, "consumed %d rows, produced %d" % (len(rows), n)
    per_part = {}
    for row in rows:
        assert len(row) == 5, "unexpected kcat line %r" % (row,)
        part, off, key, value, headers = row
        per_part.setdefault(int(part), []).append((int(off), key, value, headers))
    seen = set()
    for part, msgs in per_part.items():
        offsets = [m[0] for m in msgs]
        assert offsets == list(range(len(msgs))), \
            "partition %d offsets not contiguous from 0: first bad at %r" % (
                part, next((i, o) for i, o in enumerate(offsets) if o != i))
        last = -1
        for off, key, value, headers in msgs:
            i = int(key[3:])
            assert key == "key%06d" % i, (part, off, key)
            assert value == value_for(i), (part, off, key, value)
            assert headers == "source=kcat,codec=%s" % codec, (part, off, headers)
            assert i > last, "partition %d out of order at offset %d: %d after %d" % (part, off, i, last)
            last = i
            assert i not in seen, "duplicate message %d" % i
            seen.add(i)
    assert len(seen) == n


@test
def metadata_lists_broker_and_topic():
    with Broker() as b:
        topic = create_topic(b.bootstrap, unique_topic("meta"), 4)
        md = json.loads(kcat(["-L", "-J", "-b", b.bootstrap, "-X", "log_level=3"], timeout=60).stdout)
        brokers = md["brokers"]
        assert len(brokers) == 1, brokers
        assert brokers[0]["name"] == "127.0.0.1:%d" % b.port, brokers
        topics = {t["topic"]: t for t in md["topics"]}
        assert topic in topics, sorted(topics)
        t = topics[topic]
        assert "error" not in t or not t["error"], t
        parts = sorted(p["partition"] for p in t["partitions"])
        assert parts == [0, 1, 2, 3], parts
        bid = brokers[0]["id"]
        for p in t["partitions"]:
            assert p["leader"] == bid, p
        # -L -t asks about one topic only.
        md1 = json.loads(kcat(["-L", "-J", "-b", b.bootstrap, "-t", topic, "-X", "log_level=3"], timeout=60).stdout)
        assert [t["topic"] for t in md1["topics"]] == [topic], md1["topics"]


@test
def producing_auto_creates_topic():
    with Broker(overrides={"num.partitions": 2}) as b:
        topic = unique_topic("auto")
        produce(b, topic, make_input(10), "none")
        rows = consume(b, topic)
        assert sorted(int(r[3].split("-")[1]) for r in rows) == list(range(10)), rows
        md = json.loads(kcat(["-L", "-J", "-b", b.bootstrap, "-t", topic, "-X", "log_level=3"], timeout=60).stdout)
        assert len(md["topics"][0]["partitions"]) == 2, md


def round_trip(codec):
    with Broker() as b:
        topic = create_topic(b.bootstrap, unique_topic("rt-" + codec), PARTITIONS)
        produce(b, topic, make_input(N_MESSAGES), codec)
        check_round_trip(consume(b, topic), N_MESSAGES, codec)


@test(timeout=600)
def round_trip_100k_none():
    round_trip("none")


@test(timeout=600)
def round_trip_100k_gzip():
    round_trip("gzip")


@test(timeout=600)
def round_trip_100k_snappy():
    round_trip("snappy")


@test(timeout=600)
def round_trip_100k_lz4():
    round_trip("lz4")


@test(timeout=600)
def round_trip_100k_zstd():
    round_trip("zstd")


@test
def consume_from_offsets():
    with Broker() as b:
        topic = create_topic(b.bootstrap, unique_topic("off"), 1)
        produce(b, topic, make_input(1000), "none")
        rows = consume(b, topic, ["-p", "0", "-o", "500", "-c", "10"])
        assert [int(r[1]) for r in rows] == list(range(500, 510)), rows
        assert rows[0][2] == "key000500", rows[0]
        # A negative offset counts back from the end.
        rows = consume(b, topic, ["-p", "0", "-o", "-10"])
        assert [int(r[1]) for r in rows] == list(range(990, 1000)), rows
        rows = consume(b, topic, ["-p", "0", "-o", "end"])
        assert rows == [], rows


if __name__ == "__main__":
    main()
