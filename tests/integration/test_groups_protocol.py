"""The group coordinator at the wire level, with a small Kafka encoder of
its own (independent of the broker's generated codecs): FindCoordinator
(single and batched keys), the join/sync/heartbeat/leave protocol with
MEMBER_ID_REQUIRED, generations and fencing, static members and impostors,
commits and fetches of every kind, OffsetDelete, DeleteGroups, ListGroups
with filters, DescribeGroups, the on-disk format of __consumer_offsets, and
bad input: Kafka's error codes back, nothing corrupted, the broker serving."""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import Consumer, TopicPartition  # noqa: E402

from kafka.record.default_records import DefaultRecordBatchBuilder  # noqa: E402

from clients import create_topic, health_check, unique_topic  # noqa: E402
from harness import Broker, main, test  # noqa: E402

TIMEOUT = 30
CLIENT_ID = b"group-test"

# Kafka error codes used below.
NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
OFFSET_METADATA_TOO_LARGE = 12
COORDINATOR_NOT_AVAILABLE = 15
ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
INVALID_GROUP_ID = 24
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
INVALID_REQUEST = 42
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
GROUP_MAX_SIZE_REACHED = 81
FENCED_INSTANCE_ID = 82
GROUP_SUBSCRIBED_TO_TOPIC = 86

BROKER_CONF = {
    "group.initial.rebalance.delay.ms": 0,
    "group.min.session.timeout.ms": 1000,
    "offsets.topic.num.partitions": 7,
}

# ---------------------------------------------------------------- encoding
#
# A message is a list of fields (name, type, first_version, last_version);
# a type is a primitive name or a list of fields (an array of structs) or
# ("array", primitive). Flexible versions use compact lengths and tagged
# fields, as in Kafka's JSON definitions.


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def put(w, typ, val, flex):
    if typ == "i8":
        w += struct.pack(">b", val)
    elif typ == "i16":
        w += struct.pack(">h", val)
    elif typ == "i32":
        w += struct.pack(">i", val)
    elif typ == "i64":
        w += struct.pack(">q", val)
    elif typ == "bool":
        w += b"\x01" if val else b"\x00"
    elif typ in ("str", "nstr"):
        if val is None:
            w += uvarint(0) if flex else struct.pack(">h", -1)
        else:
            b = val.encode() if isinstance(val, str) else val
            w += (uvarint(len(b) + 1) if flex else struct.pack(">h", len(b))) + b
    elif typ in ("bytes", "nbytes"):
        if val is None:
            w += uvarint(0) if flex else struct.pack(">i", -1)
        else:
            w += (uvarint(len(val) + 1) if flex else struct.pack(">i", len(val))) + val
    elif isinstance(typ, tuple):  # ("array", elem) with elem primitive
        if val is None:
            w += uvarint(0) if flex else struct.pack(">i", -1)
        else:
            w += uvarint(len(val) + 1) if flex else struct.pack(">i", len(val))
            for x in val:
                put(w, typ[1], x, flex)
    else:  # array of structs
        raise AssertionError("use put_fields")


def put_fields(w, fields, obj, v, flex):
    for name, typ, lo, hi in fields:
        if v < lo or (hi is not None and v > hi):
            continue
        val = obj.get(name)
        if isinstance(typ, list):
            if val is None:
                w += uvarint(0) if flex else struct.pack(">i", -1)
                continue
            w += uvarint(len(val) + 1) if flex else struct.pack(">i", len(val))
            for el in val:
                put_fields(w, typ, el, v, flex)
        else:
            put(w, typ, val, flex)
    if flex:
        w += uvarint(0)


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, n):
        if self.p + n > len(self.d):
            raise AssertionError("response too short")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def uvarint(self):
        shift = n = 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7

    def get(self, typ, flex):
        if typ == "i8":
            return struct.unpack(">b", self.take(1))[0]
        if typ == "i16":
            return struct.unpack(">h", self.take(2))[0]
        if typ == "i32":
            return struct.unpack(">i", self.take(4))[0]
        if typ == "i64":
            return struct.unpack(">q", self.take(8))[0]
        if typ == "bool":
            return self.take(1) != b"\x00"
        if typ in ("str", "nstr"):
            n = self.uvarint() - 1 if flex else struct.unpack(">h", self.take(2))[0]
            return None if n < 0 else self.take(n).decode()
        if typ in ("bytes", "nbytes"):
            n = self.uvarint() - 1 if flex else struct.unpack(">i", self.take(4))[0]
            return None if n < 0 else self.take(n)
        if isinstance(typ, tuple):
            n = self.uvarint() - 1 if flex else struct.unpack(">i", self.take(4))[0]
            return None if n < 0 else [self.get(typ[1], flex) for _ in range(n)]
        raise AssertionError(typ)

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    def fields(self, fields, v, flex):
        out = {}
        for name, typ, lo, hi in fields:
            if v < lo or (hi is not None and v > hi):
                continue
            if isinstance(typ, list):
                n = self.uvarint() - 1 if flex else struct.unpack(">i", self.take(4))[0]
                out[name] = None if n < 0 else [self.fields(typ, v, flex) for _ in range(n)]
            else:
                out[name] = self.get(typ, flex)
        if flex:
            self.skip_tags()
        return out


# api key: (first flexible version, request fields, response fields)
APIS = {}


def api(key, flex_from, req, resp):
    APIS[key] = (flex_from, req, resp)
    return key


FIND_COORDINATOR = api(10, 3, [
    ("key", "str", 0, 3), ("key_type", "i8", 1, None), ("keys", ("array", "str"), 4, None),
], [
    ("throttle", "i32", 1, None), ("error", "i16", 0, 3), ("message", "nstr", 1, 3),
    ("node_id", "i32", 0, 3), ("host", "str", 0, 3), ("port", "i32", 0, 3),
    ("coordinators", [("key", "str", 4, None), ("node_id", "i32", 4, None), ("host", "str", 4, None),
                      ("port", "i32", 4, None), ("error", "i16", 4, None), ("message", "nstr", 4, None)], 4, None),
])
JOIN_GROUP = api(11, 6, [
    ("group_id", "str", 0, None), ("session_timeout", "i32", 0, None), ("rebalance_timeout", "i32", 1, None),
    ("member_id", "str", 0, None), ("instance_id", "nstr", 5, None), ("protocol_type", "str", 0, None),
    ("protocols", [("name", "str", 0, None), ("metadata", "bytes", 0, None)], 0, None),
    ("reason", "nstr", 8, None),
], [
    ("throttle", "i32", 2, None), ("error", "i16", 0, None), ("generation", "i32", 0, None),
    ("protocol_type", "nstr", 7, None), ("protocol_name", "nstr", 0, None), ("leader", "str", 0, None),
    ("skip_assignment", "bool", 9, None), ("member_id", "str", 0, None),
    ("members", [("member_id", "str", 0, None), ("instance_id", "nstr", 5, None),
                 ("metadata", "bytes", 0, None)], 0, None),
])
SYNC_GROUP = api(14, 4, [
    ("group_id", "str", 0, None), ("generation", "i32", 0, None), ("member_id", "str", 0, None),
    ("instance_id", "nstr", 3, None), ("protocol_type", "nstr", 5, None), ("protocol_name", "nstr", 5, None),
    ("assignments", [("member_id", "str", 0, None), ("assignment", "bytes", 0, None)], 0, None),
], [
    ("throttle", "i32", 1, None), ("error", "i16", 0, None), ("protocol_type", "nstr", 5, None),
    ("protocol_name", "nstr", 5, None), ("assignment", "bytes", 0, None),
])
HEARTBEAT = api(12, 4, [
    ("group_id", "str", 0, None), ("generation", "i32", 0, None), ("member_id", "str", 0, None),
    ("instance_id", "nstr", 3, None),
], [("throttle", "i32", 1, None), ("error", "i16", 0, None)])
LEAVE_GROUP = api(13, 4, [
    ("group_id", "str", 0, None), ("member_id", "str", 0, 2),
    ("members", [("member_id", "str", 3, None), ("instance_id", "nstr", 3, None), ("reason", "nstr", 5, None)],
     3, None),
], [
    ("throttle", "i32", 1, None), ("error", "i16", 0, None),
    ("members", [("member_id", "str", 3, None), ("instance_id", "nstr", 3, None), ("error", "i16", 3, None)],
     3, None),
])
OFFSET_COMMIT = api(8, 8, [
    ("group_id", "str", 0, None), ("generation", "i32", 1, None), ("member_id", "str", 1, None),
    ("instance_id", "nstr", 7, None), ("retention", "i64", 2, 4),
    ("topics", [("name", "str", 0, None),
                ("partitions", [("index", "i32", 0, None), ("offset", "i64", 0, None),
                                ("leader_epoch", "i32", 6, None), ("timestamp", "i64", 1, 1),
                                ("metadata", "nstr", 0, None)], 0, None)], 0, None),
], [
    ("throttle", "i32", 3, None),
    ("topics", [("name", "str", 0, None), ("partitions", [("index", "i32", 0, None), ("error", "i16", 0, None)],
                                           0, None)], 0, None),
])
_FETCH_PARTS = [("index", "i32", 0, None), ("offset", "i64", 0, None), ("leader_epoch", "i32", 5, None),
                ("metadata", "nstr", 0, None), ("error", "i16", 0, None)]
OFFSET_FETCH = api(9, 6, [
    ("group_id", "str", 0, 7),
    ("topics", [("name", "str", 0, 7), ("partitions", ("array", "i32"), 0, 7)], 0, 7),
    ("groups", [("group_id", "str", 8, None), ("member_id", "nstr", 9, None), ("member_epoch", "i32", 9, None),
                ("topics", [("name", "str", 8, None), ("partitions", ("array", "i32"), 8, None)], 8, None)],
     8, None),
    ("require_stable", "bool", 7, None),
], [
    ("throttle", "i32", 3, None),
    ("topics", [("name", "str", 0, 7), ("partitions", _FETCH_PARTS, 0, 7)], 0, 7),
    ("error", "i16", 2, 7),
    ("groups", [("group_id", "str", 8, None),
                ("topics", [("name", "str", 8, None), ("partitions", [
                    ("index", "i32", 8, None), ("offset", "i64", 8, None), ("leader_epoch", "i32", 8, None),
                    ("metadata", "nstr", 8, None), ("error", "i16", 8, None)], 8, None)], 8, None),
                ("error", "i16", 8, None)], 8, None),
])
LIST_GROUPS = api(16, 3, [
    ("states", ("array", "str"), 4, None), ("types", ("array", "str"), 5, None),
], [
    ("throttle", "i32", 1, None), ("error", "i16", 0, None),
    ("groups", [("group_id", "str", 0, None), ("protocol_type", "str", 0, None), ("state", "str", 4, None),
                ("type", "str", 5, None)], 0, None),
])
DESCRIBE_GROUPS = api(15, 5, [
    ("groups", ("array", "str"), 0, None), ("include_ops", "bool", 3, None),
], [
    ("throttle", "i32", 1, None),
    ("groups", [("error", "i16", 0, None), ("group_id", "str", 0, None), ("state", "str", 0, None),
                ("protocol_type", "str", 0, None), ("protocol_data", "str", 0, None),
                ("members", [("member_id", "str", 0, None), ("instance_id", "nstr", 4, None),
                             ("client_id", "str", 0, None), ("client_host", "str", 0, None),
                             ("metadata", "bytes", 0, None), ("assignment", "bytes", 0, None)], 0, None),
                ("ops", "i32", 3, None)], 0, None),
])
DELETE_GROUPS = api(42, 2, [("groups", ("array", "str"), 0, None)], [
    ("throttle", "i32", 0, None), ("results", [("group_id", "str", 0, None), ("error", "i16", 0, None)], 0, None),
])
OFFSET_DELETE = api(47, 99, [
    ("group_id", "str", 0, None),
    ("topics", [("name", "str", 0, None), ("partitions", [("index", "i32", 0, None)], 0, None)], 0, None),
], [
    ("error", "i16", 0, None), ("throttle", "i32", 0, None),
    ("topics", [("name", "str", 0, None), ("partitions", [("index", "i32", 0, None), ("error", "i16", 0, None)],
                                           0, None)], 0, None),
])


class Conn:
    """One connection; send() and recv() apart so that held requests can overlap."""

    def __init__(self, bootstrap):
        host, port = bootstrap.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        self.corr = 0
        self.sent = {}

    def close(self):
        self.s.close()

    def send_raw(self, key, v, body, flex):
        self.corr += 1
        hdr = struct.pack(">hhi", key, v, self.corr) + struct.pack(">h", len(CLIENT_ID)) + CLIENT_ID
        if flex:
            hdr += uvarint(0)
        frame = hdr + body
        self.s.sendall(struct.pack(">i", len(frame)) + frame)
        self.sent[self.corr] = (key, v)
        return self.corr

    def send(self, api_key, api_version, **obj):
        flex_from, req, _ = APIS[api_key]
        body = bytearray()
        put_fields(body, req, obj, api_version, api_version >= flex_from)
        return self.send_raw(api_key, api_version, bytes(body), api_version >= flex_from)

    def _read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by the broker")
            buf += chunk
        return buf

    def recv(self):
        size = struct.unpack(">i", self._read_exact(4))[0]
        r = Reader(self._read_exact(size))
        corr = r.get("i32", False)
        key, v = self.sent.pop(corr)
        flex_from, _, resp = APIS[key]
        flex = v >= flex_from
        if flex:
            r.skip_tags()
        out = r.fields(resp, v, flex)
        assert r.p == len(r.d), "%d trailing bytes in the response to api %d v%d" % (len(r.d) - r.p, key, v)
        return out

    def call(self, api_key, api_version, **obj):
        self.send(api_key, api_version, **obj)
        return self.recv()


# ---------------------------------------------------------------- helpers

def consumer_subscription(topics, version=0):
    """ConsumerProtocolSubscription v0: topics, null user data."""
    w = bytearray(struct.pack(">h", version))
    put(w, ("array", "str"), topics, False)
    put(w, "nbytes", None, False)
    return bytes(w)


def consumer_assignment(parts):
    """ConsumerProtocolAssignment v0: {topic: [partitions]}, null user data."""
    w = bytearray(struct.pack(">hi", 0, len(parts)))
    for t, ps in parts.items():
        put(w, "str", t, False)
        put(w, ("array", "i32"), ps, False)
    put(w, "nbytes", None, False)
    return bytes(w)


def join(conn, group, member="", instance=None, v=5, session=6000, topics=("t",), protocols=None, **kw):
    protos = protocols if protocols is not None else [{"name": "range", "metadata": consumer_subscription(list(topics))}]
    args = dict(group_id=group, session_timeout=session, rebalance_timeout=kw.pop("rebalance", 10000),
                member_id=member, instance_id=instance, protocol_type=kw.pop("ptype", "consumer"),
                protocols=protos, reason=None)
    args.update(kw)
    return conn.call(JOIN_GROUP, v, **args)


def join_new(conn, group, **kw):
    """The two-step join of v4+: MEMBER_ID_REQUIRED, then the real join."""
    r = join(conn, group, **kw)
    assert r["error"] == MEMBER_ID_REQUIRED, r
    assert r["member_id"], r
    return join(conn, group, member=r["member_id"], **kw)


def sync(conn, group, gen, member, assignments=None, instance=None, v=3):
    return conn.call(SYNC_GROUP, v, group_id=group, generation=gen, member_id=member, instance_id=instance,
                     protocol_type="consumer", protocol_name="range", assignments=assignments or [])


def heartbeat(conn, group, gen, member, instance=None, v=3):
    return conn.call(HEARTBEAT, v, group_id=group, generation=gen, member_id=member, instance_id=instance)["error"]


def commit(conn, group, topic, offsets, gen=-1, member="", instance=None, v=7, epoch=-1, metadata=None):
    """offsets: {partition: offset}; returns {partition: error}."""
    r = conn.call(OFFSET_COMMIT, v, group_id=group, generation=gen, member_id=member, instance_id=instance,
                  retention=-1, topics=[{"name": topic, "partitions": [
                      {"index": p, "offset": o, "leader_epoch": epoch, "timestamp": -1, "metadata": metadata}
                      for p, o in sorted(offsets.items())]}])
    return {p["index"]: p["error"] for t in r["topics"] for p in t["partitions"]}


def fetch_offsets(conn, group, topic, partitions, v=7):
    r = conn.call(OFFSET_FETCH, v, group_id=group, topics=[{"name": topic, "partitions": partitions}],
                  require_stable=False)
    assert r.get("error", 0) == NONE, r
    return {p["index"]: (p["offset"], p.get("leader_epoch", -1), p["metadata"], p["error"])
            for t in r["topics"] for p in t["partitions"]}


def describe(conn, group, v=5):
    return conn.call(DESCRIBE_GROUPS, v, groups=[group], include_ops=True)["groups"][0]


def java_hash(s):
    """Java's String.hashCode: over UTF-16 code units, in 32-bit arithmetic."""
    b = s.encode("utf-16-be")
    h = 0
    for unit in struct.unpack(">%dH" % (len(b) // 2), b):
        h = (31 * h + unit) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def partition_for(group, n):
    h = java_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % n


# ---------------------------------------------------------------- tests

@test
def find_coordinator_all_versions():
    with Broker(overrides=BROKER_CONF) as b:
        c = Conn(b.bootstrap)
        for v in range(0, 4):
            r = c.call(FIND_COORDINATOR, v, key="g", key_type=0)
            assert r["error"] == NONE, (v, r)
            assert (r["host"], r["port"]) == ("127.0.0.1", b.port), r
        r = c.call(FIND_COORDINATOR, 1, key="txn", key_type=1)
        assert r["error"] == COORDINATOR_NOT_AVAILABLE and r["node_id"] == -1, r
        r = c.call(FIND_COORDINATOR, 2, key="x", key_type=9)
        assert r["error"] == INVALID_REQUEST, r
        for v in (4, 5, 6):
            r = c.call(FIND_COORDINATOR, v, key_type=0, keys=["a", "b", "c"])
            assert [x["key"] for x in r["coordinators"]] == ["a", "b", "c"], r
            assert all(x["error"] == NONE and x["port"] == b.port for x in r["coordinators"]), r
        r = c.call(FIND_COORDINATOR, 4, key_type=1, keys=["t1", "t2"])
        assert all(x["error"] == COORDINATOR_NOT_AVAILABLE for x in r["coordinators"]), r
        # The first FindCoordinator created the offsets topic with the configured partitions.
        cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "md", "log_level": 3})
        md = cons.list_topics("__consumer_offsets", timeout=TIMEOUT).topics["__consumer_offsets"]
        cons.close()
        assert len(md.partitions) == 7, md


@test
def join_sync_heartbeat_generations():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("gen"), 2)
        a, bb = Conn(b.bootstrap), Conn(b.bootstrap)
        g = "gen-group"
        r1 = join_new(a, g, topics=[topic])
        assert r1["error"] == NONE and r1["generation"] == 1, r1
        m1 = r1["member_id"]
        assert r1["leader"] == m1 and [m["member_id"] for m in r1["members"]] == [m1], r1
        assert r1["members"][0]["metadata"] == consumer_subscription([topic]), r1
        assign1 = consumer_assignment({topic: [0, 1]})
        s = sync(a, g, 1, m1, [{"member_id": m1, "assignment": assign1}])
        assert s["error"] == NONE and s["assignment"] == assign1, s
        assert heartbeat(a, g, 1, m1) == NONE
        assert heartbeat(a, g, 0, m1) == ILLEGAL_GENERATION
        assert heartbeat(a, g, 1, "someone-else") == UNKNOWN_MEMBER_ID
        assert heartbeat(a, "no-such-group", 1, m1) == UNKNOWN_MEMBER_ID
        assert heartbeat(a, "", 1, m1) == INVALID_GROUP_ID
        assert sync(a, g, 7, m1)["error"] == ILLEGAL_GENERATION
        # Commits: the member at its generation; stale or foreign ones refused.
        assert commit(a, g, topic, {0: 5, 1: 6}, gen=1, member=m1) == {0: NONE, 1: NONE}
        assert commit(a, g, topic, {0: 9}, gen=0, member=m1) == {0: ILLEGAL_GENERATION}
        assert commit(a, g, topic, {0: 9}, gen=1, member="intruder") == {0: UNKNOWN_MEMBER_ID}
        assert commit(a, g, topic, {0: 9}) == {0: UNKNOWN_MEMBER_ID}  # simple commit to a live group
        assert commit(a, "never-seen", topic, {0: 9}, gen=3, member="m") == {0: ILLEGAL_GENERATION}
        assert fetch_offsets(a, g, topic, [0, 1]) == {0: (5, -1, "", NONE), 1: (6, -1, "", NONE)}

        # A second member: the group rebalances and the first must rejoin.
        r = join(bb, g, topics=[topic])
        assert r["error"] == MEMBER_ID_REQUIRED, r
        m2 = r["member_id"]
        bb.send(JOIN_GROUP, 5, group_id=g, session_timeout=6000, rebalance_timeout=10000, member_id=m2,
                instance_id=None, protocol_type="consumer",
                protocols=[{"name": "range", "metadata": consumer_subscription([topic])}])
        deadline = time.monotonic() + TIMEOUT
        while heartbeat(a, g, 1, m1) != REBALANCE_IN_PROGRESS:
            assert time.monotonic() < deadline, "the group never started rebalancing"
            time.sleep(0.05)
        # A commit during the join phase is still taken (Kafka allows it).
        assert commit(a, g, topic, {0: 7}, gen=1, member=m1) == {0: NONE}
        r1 = join(a, g, member=m1, topics=[topic])
        r2 = bb.recv()
        assert r1["error"] == NONE and r2["error"] == NONE, (r1, r2)
        assert r1["generation"] == r2["generation"] == 2, (r1, r2)
        leader = r1["leader"]
        assert r2["leader"] == leader and leader in (m1, m2)
        lconn, fconn, lid, fid = (a, bb, m1, m2) if leader == m1 else (bb, a, m2, m1)
        lresp = r1 if leader == m1 else r2
        fresp = r2 if leader == m1 else r1
        assert sorted(m["member_id"] for m in lresp["members"]) == sorted([m1, m2]), lresp
        assert fresp["members"] == [], fresp
        # Commits are refused until the sync completes.
        assert commit(a, g, topic, {0: 8}, gen=2, member=m1) == {0: REBALANCE_IN_PROGRESS}
        # The follower's sync waits for the leader's.
        fconn.send(SYNC_GROUP, 3, group_id=g, generation=2, member_id=fid, instance_id=None, assignments=[])
        la, fa = consumer_assignment({topic: [0]}), consumer_assignment({topic: [1]})
        s = sync(lconn, g, 2, lid, [{"member_id": lid, "assignment": la}, {"member_id": fid, "assignment": fa},
                                    {"member_id": "not-a-member", "assignment": b"x"}])
        assert s["error"] == NONE and s["assignment"] == la, s
        s = fconn.recv()
        assert s["error"] == NONE and s["assignment"] == fa, s
        d = describe(a, g)
        assert d["state"] == "Stable" and d["protocol_data"] == "range", d
        assert sorted(m["member_id"] for m in d["members"]) == sorted([m1, m2]), d
        assert all(m["client_host"] == "/127.0.0.1" and m["client_id"] == "group-test" for m in d["members"]), d
        assert {m["member_id"]: m["assignment"] for m in d["members"]} == {lid: la, fid: fa}, d
        assert d["ops"] != -(1 << 31), d

        # LeaveGroup v3: both members at once.
        r = a.call(LEAVE_GROUP, 3, group_id=g, members=[{"member_id": m1, "instance_id": None},
                                                         {"member_id": m2, "instance_id": None},
                                                         {"member_id": "ghost", "instance_id": None}])
        assert r["error"] == NONE, r
        assert [m["error"] for m in r["members"]] == [NONE, NONE, UNKNOWN_MEMBER_ID], r
        d = describe(a, g)
        assert d["state"] == "Empty" and d["members"] == [] and d["protocol_type"] == "consumer", d
        # A left member is unknown now; the offsets stay.
        assert heartbeat(a, g, 2, m1) == UNKNOWN_MEMBER_ID
        r = a.call(LEAVE_GROUP, 1, group_id=g, member_id=m1)
        assert r["error"] == UNKNOWN_MEMBER_ID, r
        assert fetch_offsets(a, g, topic, [0, 1])[0][0] == 7
        a.close()
        bb.close()


@test
def newest_versions_member_life_cycle():
    """JoinGroup v9, SyncGroup v5, Heartbeat v4, OffsetCommit v9, OffsetFetch
    v9, LeaveGroup v5: the flexible encodings a current Java client sends."""
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("v9"), 1)
        c = Conn(b.bootstrap)
        g = "v9-group"
        r = join(c, g, v=9, topics=[topic], reason="first")
        assert r["error"] == MEMBER_ID_REQUIRED and r["protocol_name"] is None, r
        r = join(c, g, v=9, member=r["member_id"], topics=[topic], reason="second")
        assert r["error"] == NONE and r["protocol_type"] == "consumer" and r["protocol_name"] == "range", r
        assert not r["skip_assignment"], r
        me, gen = r["member_id"], r["generation"]
        asg = consumer_assignment({topic: [0]})
        s = c.call(SYNC_GROUP, 5, group_id=g, generation=gen, member_id=me, instance_id=None,
                   protocol_type="consumer", protocol_name="range", assignments=[{"member_id": me, "assignment": asg}])
        assert s == {"throttle": 0, "error": NONE, "protocol_type": "consumer", "protocol_name": "range",
                     "assignment": asg}, s
        s = c.call(SYNC_GROUP, 5, group_id=g, generation=gen, member_id=me, instance_id=None,
                   protocol_type="consumer", protocol_name="roundrobin", assignments=[])
        assert s["error"] == INCONSISTENT_GROUP_PROTOCOL, s
        assert heartbeat(c, g, gen, me, v=4) == NONE
        assert commit(c, g, topic, {0: 12}, gen=gen, member=me, v=9, epoch=2, metadata="m9") == {0: NONE}
        r = c.call(OFFSET_FETCH, 9, groups=[{"group_id": g, "member_id": None, "member_epoch": -1,
                                             "topics": [{"name": topic, "partitions": [0]}]}], require_stable=True)
        part = r["groups"][0]["topics"][0]["partitions"][0]
        assert (part["offset"], part["leader_epoch"], part["metadata"], part["error"]) == (12, 2, "m9", NONE), r
        r = c.call(LEAVE_GROUP, 5, group_id=g, members=[{"member_id": me, "instance_id": None, "reason": "bye"}])
        assert r["error"] == NONE and r["members"][0]["error"] == NONE, r
        assert describe(c, g)["state"] == "Empty"
        c.close()
        assert 'reason="left the group: bye"' in b.log_text()


@test
def static_member_replacement_and_fencing():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("static"), 2)
        c1, c2 = Conn(b.bootstrap), Conn(b.bootstrap)
        g = "static-group"
        # Static members skip MEMBER_ID_REQUIRED.
        r = join(c1, g, instance="inst-1", topics=[topic])
        assert r["error"] == NONE and r["generation"] == 1, r
        old = r["member_id"]
        assert old.startswith("inst-1-"), old
        assert r["members"][0]["instance_id"] == "inst-1", r
        asg = consumer_assignment({topic: [0, 1]})
        assert sync(c1, g, 1, old, [{"member_id": old, "assignment": asg}], instance="inst-1")["error"] == NONE
        # The same instance restarts: a new member id, same generation, no rebalance.
        r = join(c2, g, instance="inst-1", topics=[topic])
        assert r["error"] == NONE, r
        new = r["member_id"]
        assert new != old and r["generation"] == 1, r
        # It was the leader: the answer names the old id so it does not re-assign.
        assert r["leader"] == old and r["members"] == [], r
        s = sync(c2, g, 1, new, instance="inst-1")
        assert s["error"] == NONE and s["assignment"] == asg, s
        assert describe(c2, g)["state"] == "Stable"
        # The old process is an impostor now.
        assert heartbeat(c1, g, 1, old, instance="inst-1") == FENCED_INSTANCE_ID
        assert commit(c1, g, topic, {0: 1}, gen=1, member=old, instance="inst-1") == {0: FENCED_INSTANCE_ID}
        assert join(c1, g, member=old, instance="inst-1", topics=[topic])["error"] == FENCED_INSTANCE_ID
        assert sync(c1, g, 1, old, instance="inst-1")["error"] == FENCED_INSTANCE_ID
        assert heartbeat(c2, g, 1, new, instance="inst-1") == NONE
        assert commit(c2, g, topic, {0: 3}, gen=1, member=new, instance="inst-1") == {0: NONE}
        # v9: a rejoining static leader is told to skip the assignment but gets the members.
        r = join(c1, g, instance="inst-1", topics=[topic], v=9)
        assert r["error"] == NONE and r["skip_assignment"] and r["generation"] == 1, r
        assert [m["instance_id"] for m in r["members"]] == ["inst-1"], r
        newest = r["member_id"]
        # Removal by instance id alone (LeaveGroup v3).
        r = c1.call(LEAVE_GROUP, 3, group_id=g, members=[{"member_id": "", "instance_id": "inst-1"}])
        assert r["members"][0]["error"] == NONE, r
        assert heartbeat(c1, g, 1, newest, instance="inst-1") == UNKNOWN_MEMBER_ID
        c1.close()
        c2.close()


@test
def bad_input_is_answered_with_kafka_errors():
    with Broker(overrides=dict(BROKER_CONF, **{"group.max.size": 2})) as b:
        topic = create_topic(b.bootstrap, unique_topic("bad"), 3)
        c = Conn(b.bootstrap)
        g = "bad-group"
        r = join_new(c, g, topics=[topic])
        gen, me = r["generation"], r["member_id"]
        asg = consumer_assignment({topic: [0, 1, 2]})
        assert sync(c, g, gen, me, [{"member_id": me, "assignment": asg}])["error"] == NONE
        assert commit(c, g, topic, {0: 10, 1: 11, 2: 12}, gen=gen, member=me) == {0: NONE, 1: NONE, 2: NONE}

        assert join(c, g, session=10)["error"] == INVALID_SESSION_TIMEOUT
        assert join(c, g, session=10 ** 9)["error"] == INVALID_SESSION_TIMEOUT
        assert join(c, "")["error"] == INVALID_GROUP_ID
        assert join(c, "fresh-1", ptype="")["error"] == INCONSISTENT_GROUP_PROTOCOL
        assert join(c, "fresh-2", protocols=[])["error"] == INCONSISTENT_GROUP_PROTOCOL
        assert join(c, g, ptype="connect")["error"] == INCONSISTENT_GROUP_PROTOCOL
        assert join(c, g, protocols=[{"name": "nonsense", "metadata": b""}])["error"] == INCONSISTENT_GROUP_PROTOCOL
        assert join(c, "no-group", member="made-up")["error"] == UNKNOWN_MEMBER_ID
        big = [{"name": "range", "metadata": b"\0" * (300 * 1024)}]
        assert join(c, "fresh-3", protocols=big)["error"] == MESSAGE_TOO_LARGE
        many = [{"name": "p%d" % i, "metadata": b""} for i in range(17)]
        assert join(c, "fresh-4", protocols=many)["error"] == INVALID_REQUEST
        # The group is at group.max.size=2 with one member and one pending id.
        c2, c3 = Conn(b.bootstrap), Conn(b.bootstrap)
        assert join(c2, g, session=1000)["error"] == MEMBER_ID_REQUIRED
        assert join(c3, g)["error"] == GROUP_MAX_SIZE_REACHED
        # Commits: unknown topic, oversized metadata (the rest still commit).
        assert commit(c, g, "no-such-topic", {0: 1}, gen=gen, member=me) == {0: UNKNOWN_TOPIC_OR_PARTITION}
        r = c.call(OFFSET_COMMIT, 7, group_id=g, generation=gen, member_id=me, instance_id=None, topics=[
            {"name": topic, "partitions": [
                {"index": 0, "offset": 20, "leader_epoch": -1, "metadata": "x" * 5000},
                {"index": 1, "offset": 21, "leader_epoch": -1, "metadata": "ok"}]}])
        errs = [p["error"] for p in r["topics"][0]["partitions"]]
        assert errs == [OFFSET_METADATA_TOO_LARGE, NONE], r
        # The leader's absurd assignment is refused; its group carries on.
        huge = [{"member_id": me, "assignment": b"\0" * (300 * 1024)}]
        r = join(c, g, member=me, topics=[topic])  # the leader rejoining starts a rebalance
        assert r["error"] == NONE, r
        gen = r["generation"]
        assert sync(c, g, gen, me, huge)["error"] == MESSAGE_TOO_LARGE
        assert sync(c, g, gen, me, [{"member_id": me, "assignment": asg}])["error"] == NONE
        # Garbage bodies close the connection; the broker serves on.
        for body in (b"", b"\xff" * 7, struct.pack(">h", 30000) + b"abc", os.urandom(200)):
            g_conn = Conn(b.bootstrap)
            g_conn.send_raw(JOIN_GROUP, 5, body, False)
            try:
                g_conn.recv()
                raise AssertionError("garbage JoinGroup was answered")
            except (ConnectionError, socket.timeout, OSError):
                pass
            g_conn.close()
        # Nothing was corrupted.
        assert fetch_offsets(c, g, topic, [0, 1, 2]) == {0: (10, -1, "", NONE), 1: (21, -1, "ok", NONE),
                                                          2: (12, -1, "", NONE)}
        assert heartbeat(c, g, gen, me) == NONE
        b.assert_alive()
        health_check(b.bootstrap)
        for x in (c, c2, c3):
            x.close()


@test
def offsets_fetch_delete_and_groups_admin():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("adm"), 3)
        c = Conn(b.bootstrap)
        # OffsetCommit v8 (flexible) with leader epochs and metadata; simple commits (generation -1).
        assert commit(c, "simple", topic, {0: 100, 1: 101}, v=8, epoch=7, metadata="meta-\u00e9") == {0: NONE, 1: NONE}
        assert commit(c, "simple", topic, {2: 102}, v=2, metadata=None) == {2: NONE}
        assert commit(c, "", topic, {0: 5}, v=1) == {0: NONE}  # the empty group id is valid for commits
        # v8 multi-group fetch, one group unknown, one with all topics (null).
        r = c.call(OFFSET_FETCH, 8, groups=[
            {"group_id": "simple", "topics": [{"name": topic, "partitions": [0, 1, 2]}]},
            {"group_id": "nobody", "topics": [{"name": topic, "partitions": [0]}]},
            {"group_id": "simple", "topics": None}], require_stable=False)
        g0, g1, g2 = r["groups"]
        p = {x["index"]: x for x in g0["topics"][0]["partitions"]}
        assert (p[0]["offset"], p[0]["leader_epoch"], p[0]["metadata"]) == (100, 7, "meta-\u00e9"), p
        assert (p[2]["offset"], p[2]["leader_epoch"], p[2]["metadata"]) == (102, -1, ""), p
        assert g1["topics"][0]["partitions"][0]["offset"] == -1 and g1["error"] == NONE, g1
        assert [t["name"] for t in g2["topics"]] == [topic] and len(g2["topics"][0]["partitions"]) == 3, g2
        # v7 with null topics: everything the group has.
        r = c.call(OFFSET_FETCH, 7, group_id="simple", topics=None, require_stable=False)
        assert sorted(x["index"] for x in r["topics"][0]["partitions"]) == [0, 1, 2], r
        assert fetch_offsets(c, "", topic, [0], v=1) == {0: (5, -1, "", NONE)}

        # OffsetDelete on an Empty group; unknown group; unknown topic.
        r = c.call(OFFSET_DELETE, 0, group_id="simple", topics=[{"name": topic, "partitions": [{"index": 1}]},
                                                               {"name": "ghost-topic", "partitions": [{"index": 0}]}])
        assert r["error"] == NONE, r
        assert r["topics"][0]["partitions"][0]["error"] == NONE, r
        assert r["topics"][1]["partitions"][0]["error"] == UNKNOWN_TOPIC_OR_PARTITION, r
        assert fetch_offsets(c, "simple", topic, [1])[1][0] == -1
        r = c.call(OFFSET_DELETE, 0, group_id="nobody", topics=[])
        assert r["error"] == GROUP_ID_NOT_FOUND, r

        # A live consumer group: its subscribed topic's offsets stay; it cannot be deleted.
        live = "live-group"
        r = join_new(c, live, topics=[topic])
        gen, me = r["generation"], r["member_id"]
        assert sync(c, live, gen, me, [{"member_id": me, "assignment": consumer_assignment({topic: [0]})}])["error"] == NONE
        assert commit(c, live, topic, {0: 3}, gen=gen, member=me) == {0: NONE}
        r = c.call(OFFSET_DELETE, 0, group_id=live, topics=[{"name": topic, "partitions": [{"index": 0}]}])
        assert r["topics"][0]["partitions"][0]["error"] == GROUP_SUBSCRIBED_TO_TOPIC, r

        # ListGroups: all, by state, by type.
        r = c.call(LIST_GROUPS, 4, states=[])
        listed = {x["group_id"]: x for x in r["groups"]}
        assert {"simple", "", live} <= set(listed), listed
        assert listed[live]["state"] == "Stable" and listed[live]["protocol_type"] == "consumer", listed
        assert listed["simple"]["state"] == "Empty" and listed["simple"]["protocol_type"] == "", listed
        r = c.call(LIST_GROUPS, 4, states=["stable"])
        assert [x["group_id"] for x in r["groups"]] == [live], r
        r = c.call(LIST_GROUPS, 5, states=[], types=["consumer"])
        assert r["groups"] == [], r
        r = c.call(LIST_GROUPS, 5, states=["Empty"], types=["Classic"])
        assert {x["group_id"] for x in r["groups"]} == {"simple", ""} and r["groups"][0]["type"] == "classic", r
        r = c.call(LIST_GROUPS, 0)
        assert {x["group_id"] for x in r["groups"]} >= {"simple", live}, r

        # DescribeGroups of an unknown group: Dead, no error.
        d = describe(c, "nobody", v=0)
        assert d["error"] == NONE and d["state"] == "Dead" and d["members"] == [], d

        # DeleteGroups: non-empty, unknown, empty.
        r = c.call(DELETE_GROUPS, 2, groups=[live, "nobody", "simple"])
        assert [x["error"] for x in r["results"]] == [NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, NONE], r
        assert fetch_offsets(c, "simple", topic, [0])[0][0] == -1
        # It stays deleted after a restart; the live group's offsets come back.
        c.close()
        b.restart()
        c = Conn(b.bootstrap)
        assert fetch_offsets(c, "simple", topic, [0, 2]) == {0: (-1, -1, "", NONE), 2: (-1, -1, "", NONE)}
        assert fetch_offsets(c, live, topic, [0])[0][0] == 3
        assert fetch_offsets(c, "", topic, [0])[0][0] == 5
        names = {x["group_id"] for x in c.call(LIST_GROUPS, 3)["groups"]}
        assert "simple" not in names and live in names, names
        c.close()


@test
def consumer_offsets_records_in_kafka_format():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("fmt"), 1)
        c = Conn(b.bootstrap)
        g = "format-group-\u00fc"
        r = join_new(c, g, topics=[topic])
        gen, me = r["generation"], r["member_id"]
        asg = consumer_assignment({topic: [0]})
        assert sync(c, g, gen, me, [{"member_id": me, "assignment": asg}])["error"] == NONE
        assert commit(c, g, topic, {0: 42}, gen=gen, member=me, epoch=3, metadata="md") == {0: NONE}
        c.close()
        part = partition_for(g, 7)
        cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "reader", "log_level": 3,
                         "enable.auto.commit": False})
        lo, hi = cons.get_watermark_offsets(TopicPartition("__consumer_offsets", part), timeout=TIMEOUT)
        assert hi > 0, "nothing written to the group's partition %d" % part
        cons.assign([TopicPartition("__consumer_offsets", part, 0)])
        recs = []
        deadline = time.monotonic() + TIMEOUT
        while len(recs) < hi and time.monotonic() < deadline:
            for m in cons.consume(100, 1.0):
                if not m.error():
                    recs.append((m.key(), m.value()))
        cons.close()
        offsets, groups = [], []
        for key, value in recs:
            kr = Reader(key)
            kv = kr.get("i16", False)
            if kv in (0, 1):
                k = kr.fields([("group", "str", 0, None), ("topic", "str", 0, None), ("partition", "i32", 0, None)],
                              kv, False)
                vr = Reader(value)
                vv = vr.get("i16", False)
                assert vv == 3, vv
                val = vr.fields([("offset", "i64", 0, None), ("leader_epoch", "i32", 3, None),
                                 ("metadata", "str", 0, None), ("commit_ts", "i64", 0, None)], vv, False)
                assert vr.p == len(value)
                offsets.append((k, val))
            else:
                assert kv == 2, kv
                k = kr.fields([("group", "str", 0, None)], kv, False)
                vr = Reader(value)
                vv = vr.get("i16", False)
                assert vv == 3, vv
                val = vr.fields([
                    ("protocol_type", "str", 0, None), ("generation", "i32", 0, None),
                    ("protocol", "nstr", 0, None), ("leader", "nstr", 0, None), ("state_ts", "i64", 2, None),
                    ("members", [("member_id", "str", 0, None), ("instance_id", "nstr", 3, None),
                                 ("client_id", "str", 0, None), ("client_host", "str", 0, None),
                                 ("rebalance_timeout", "i32", 1, None), ("session_timeout", "i32", 0, None),
                                 ("subscription", "bytes", 0, None), ("assignment", "bytes", 0, None)], 0, None)],
                    vv, False)
                assert vr.p == len(value)
                groups.append((k, val))
        assert offsets, recs
        k, val = offsets[-1]
        assert k == {"group": g, "topic": topic, "partition": 0}, k
        assert (val["offset"], val["leader_epoch"], val["metadata"]) == (42, 3, "md"), val
        assert groups, recs
        k, val = groups[-1]
        assert k == {"group": g}, k
        assert (val["protocol_type"], val["generation"], val["protocol"], val["leader"]) == ("consumer", gen, "range", me)
        mm = val["members"][0]
        assert (mm["member_id"], mm["client_host"], mm["session_timeout"]) == (me, "/127.0.0.1", 6000), mm
        assert mm["subscription"] == consumer_subscription([topic]) and mm["assignment"] == asg, mm


@test
def junk_in_consumer_offsets_is_skipped_at_load():
    with Broker(overrides=BROKER_CONF) as b:
        topic = create_topic(b.bootstrap, unique_topic("junk"), 1)
        c = Conn(b.bootstrap)
        g = "junk-group"
        assert commit(c, g, topic, {0: 9}, metadata="kept") == {0: NONE}
        c.close()
        part = partition_for(g, 7)
        bad_group_value = struct.pack(">h", 3) + bytes(put_fields_bytes(
            [("protocol_type", "str", 0, None), ("generation", "i32", 0, None), ("protocol", "nstr", 0, None),
             ("leader", "nstr", 0, None), ("ts", "i64", 0, None)],
            {"protocol_type": "consumer", "generation": 4, "protocol": "range", "leader": None, "ts": 0})) + \
            struct.pack(">i", 0x7FFFFFFF)  # a member count far beyond the bytes
        key_group = struct.pack(">h", 2) + struct.pack(">h", len(g)) + g.encode()
        key_offset = struct.pack(">h", 1) + put_fields_bytes(
            [("g", "str", 0, None), ("t", "str", 0, None), ("p", "i32", 0, None)], {"g": g, "t": topic, "p": 0})
        junk = [
            (None, b"no key"),
            (b"\x00", b"short key"),
            (struct.pack(">h", 77) + b"future", b"unknown key version"),
            (key_offset, b"\x00\x03\x01"),                      # truncated offset value
            (key_offset, struct.pack(">h", -5) + b"x" * 20),   # negative value version
            (key_group, bad_group_value),
            (key_group[:5], b"\xff" * 9),                      # truncated group key
        ]
        # Clients may not produce to an internal topic, so the junk goes into
        # the partition's last segment directly, as one valid batch after a
        # crash (recovery checks the tail and keeps a well-formed batch).
        cons = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "wm", "log_level": 3})
        end = cons.get_watermark_offsets(TopicPartition("__consumer_offsets", part), timeout=TIMEOUT)[1]
        cons.close()
        builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                            producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
        now_ms = int(time.time() * 1000)
        for i, (k, v) in enumerate(junk):
            assert builder.append(i, now_ms, k, v, []) is not None
        batch = bytearray(builder.build())
        batch[0:8] = struct.pack(">q", end)  # the base offset is outside the CRC
        b.kill9()
        pdir = os.path.join(b.data_dir, "__consumer_offsets-%d" % part)
        last = sorted(f for f in os.listdir(pdir) if f.endswith(".log"))[-1]
        with open(os.path.join(pdir, last), "ab") as f:
            f.write(bytes(batch))
        b.start()
        assert "skipping a record of __consumer_offsets" in b.log_text()
        c = Conn(b.bootstrap)
        assert fetch_offsets(c, g, topic, [0]) == {0: (9, -1, "kept", NONE)}
        d = describe(c, g)
        assert d["state"] == "Empty" and d["members"] == [], d
        c.close()
        health_check(b.bootstrap)


def put_fields_bytes(fields, obj):
    w = bytearray()
    put_fields(w, fields, obj, 0, False)
    return bytes(w)


if __name__ == "__main__":
    main()
