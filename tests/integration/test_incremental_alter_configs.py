"""APIs that none of the installed clients speak, sent as hand-encoded
frames over a raw socket, with their effects checked through real clients:

- IncrementalAlterConfigs v0 (classic encoding) and v1 (flexible: compact
  strings, tagged fields): SET, DELETE, APPEND, SUBTRACT, validate_only and
  the refusals, checked with confluent_kafka's AdminClient.describe_configs
  and kafka-python's KafkaAdminClient.describe_configs. (confluent-kafka 1.7,
  librdkafka 2.0.2, kafka-python 2.0.2 and KafkaJS 2.2.4 all predate or lack
  incremental_alter_configs.)
- DescribeCluster v0 and v1, against what Metadata says through kafka-python
  (describe_cluster) and confluent_kafka (list_topics).
- Metadata v12 topic-id lookups (by id, unknown id, stable across a restart,
  new id after delete and re-create).

Expected results follow Apache Kafka's broker/controller behaviour
(ConfigAdminManager, ConfigurationControlManager, KafkaApis)."""

import os
import socket
import struct
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka.admin import ConfigResource as CKConfigResource  # noqa: E402
from confluent_kafka.admin import ConfigSource  # noqa: E402
from kafka import KafkaAdminClient  # noqa: E402
from kafka.admin import ConfigResource as KPConfigResource  # noqa: E402
from kafka.admin import ConfigResourceType  # noqa: E402

from clients import admin, create_topic, produce_all, producer, unique_topic  # noqa: E402
from harness import Broker, main, test  # noqa: E402

API_METADATA = 3
API_INCREMENTAL_ALTER_CONFIGS = 44
API_DESCRIBE_CLUSTER = 60
API_VERSIONS = 18

SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
TOPIC, BROKER = 2, 4

NONE = 0
UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_CONFIG = 40
INVALID_REQUEST = 42
UNKNOWN_TOPIC_ID = 100
MISMATCHED_ENDPOINT_TYPE = 114
UNSUPPORTED_ENDPOINT_TYPE = 115

TIMEOUT = 30
DEFAULT_RETENTION_MS = "604800000"


# ---- wire encoding (classic and flexible) ----

def uvarint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Writer:
    """Builds a request body; flexible=True uses compact strings and arrays
    and writes empty tagged-field sections."""

    def __init__(self, flexible):
        self.flexible = flexible
        self.buf = bytearray()

    def i8(self, v):
        self.buf += struct.pack(">b", v)
        return self

    def boolean(self, v):
        return self.i8(1 if v else 0)

    def i16(self, v):
        self.buf += struct.pack(">h", v)
        return self

    def i32(self, v):
        self.buf += struct.pack(">i", v)
        return self

    def uuid(self, u):
        self.buf += u.bytes if isinstance(u, uuid.UUID) else u
        return self

    def string(self, s):
        if s is None:
            self.buf += uvarint(0) if self.flexible else struct.pack(">h", -1)
        else:
            b = s.encode()
            self.buf += uvarint(len(b) + 1) if self.flexible else struct.pack(">h", len(b))
            self.buf += b
        return self

    def array(self, items, write_item):
        if items is None:
            self.buf += uvarint(0) if self.flexible else struct.pack(">i", -1)
            return self
        self.buf += uvarint(len(items) + 1) if self.flexible else struct.pack(">i", len(items))
        for it in items:
            write_item(self, it)
        return self

    def tags(self):
        if self.flexible:
            self.buf += uvarint(0)
        return self


class Reader:
    def __init__(self, data, flexible):
        self.data = data
        self.pos = 0
        self.flexible = flexible

    def _take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def i8(self):
        return self._take(">b")

    def boolean(self):
        return self.i8() != 0

    def i16(self):
        return self._take(">h")

    def i32(self):
        return self._take(">i")

    def uvarint(self):
        shift = v = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7

    def uuid(self):
        u = uuid.UUID(bytes=bytes(self.data[self.pos:self.pos + 16]))
        self.pos += 16
        return u

    def string(self):
        n = self.uvarint() - 1 if self.flexible else self.i16()
        if n < 0:
            return None
        s = bytes(self.data[self.pos:self.pos + n]).decode()
        self.pos += n
        return s

    def array(self, read_item):
        n = self.uvarint() - 1 if self.flexible else self.i32()
        if n < 0:
            return None
        return [read_item(self) for _ in range(n)]

    def tags(self):
        if not self.flexible:
            return
        for _ in range(self.uvarint()):
            self.uvarint()
            size = self.uvarint()
            self.pos += size

    def done(self):
        assert self.pos == len(self.data), "%d bytes left over in the response" % (len(self.data) - self.pos)


class Conn:
    """One raw connection; call() sends a request and returns a Reader on
    the body of its response (header v0, or v1 for flexible versions)."""

    def __init__(self, b):
        self.sock = socket.create_connection(("127.0.0.1", b.port), timeout=TIMEOUT)
        self.corr = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise AssertionError("connection closed by the broker after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def call(self, api_key, version, flexible, body):
        self.corr += 1
        header = Writer(flexible=False).i16(api_key).i16(version).i32(self.corr).string("gregor-iac-test")
        if flexible:
            header.buf += uvarint(0)  # request header v2: empty tagged fields
        payload = bytes(header.buf) + bytes(body)
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", self._recv(4))[0]
        data = self._recv(size)
        corr = struct.unpack_from(">i", data)[0]
        assert corr == self.corr, "correlation id %d, expected %d" % (corr, self.corr)
        r = Reader(data[4:], flexible)
        r.tags()  # response header v1
        return r


def api_versions(b):
    with Conn(b) as c:
        r = c.call(API_VERSIONS, 0, False, b"")
        assert r.i16() == NONE
        return {k: (lo, hi) for k, lo, hi in r.array(lambda r: (r.i16(), r.i16(), r.i16()))}


# ---- IncrementalAlterConfigs ----

def iac(b, version, resources, validate_only=False):
    """resources: [(type, name, [(key, op, value), ...])]. Returns
    [(error_code, error_message, type, name)] in response order."""
    flexible = version >= 1
    w = Writer(flexible)

    def config(w, c):
        key, op, value = c
        w.string(key).i8(op).string(value).tags()

    def resource(w, res):
        rtype, name, configs = res
        w.i8(rtype).string(name).array(configs, config).tags()

    w.array(resources, resource).boolean(validate_only).tags()
    with Conn(b) as c:
        r = c.call(API_INCREMENTAL_ALTER_CONFIGS, version, flexible, w.buf)
        r.i32()  # throttle

        def response(r):
            out = (r.i16(), r.string(), r.i8(), r.string())
            r.tags()
            return out

        out = r.array(response)
        r.tags()
        r.done()
    return out


def iac_one(b, version, topic, configs, validate_only=False):
    """One topic resource; returns (error_code, error_message) after checking the echo."""
    res = iac(b, version, [(TOPIC, topic, configs)], validate_only)
    assert len(res) == 1, res
    err, msg, rtype, name = res[0]
    assert (rtype, name) == (TOPIC, topic), "response names %r, expected topic %s" % ((rtype, name), topic)
    return err, msg


def expect_ok(b, version, topic, configs, validate_only=False):
    err, msg = iac_one(b, version, topic, configs, validate_only)
    assert err == NONE, "IncrementalAlterConfigs v%d %r: error %d (%s)" % (version, configs, err, msg)


def expect_error(b, version, topic, configs, want, validate_only=False):
    err, msg = iac_one(b, version, topic, configs, validate_only)
    assert err == want, "IncrementalAlterConfigs v%d %r: error %d (%s), expected %d" % (
        version, configs, err, msg, want)


# ---- describe through real clients ----

def ck_describe(b, topic):
    """{name: (value, source)} through confluent_kafka (librdkafka)."""
    a = admin(b.bootstrap)
    res = CKConfigResource(CKConfigResource.Type.TOPIC, topic)
    entries = a.describe_configs([res], request_timeout=TIMEOUT)[res].result(timeout=TIMEOUT)
    return {k: (e.value, int(getattr(e.source, "value", e.source))) for k, e in entries.items()}


_kp_api_version = None


def kp_admin(b):
    global _kp_api_version
    if _kp_api_version is None:
        try:
            a = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=TIMEOUT * 1000,
                                 api_version_auto_timeout_ms=10000)
            _kp_api_version = a.config["api_version"]
            a.close()
        except Exception as e:  # noqa: BLE001 - fall back as test_kafka_python.py does
            sys.stderr.write("kafka-python api_version probe failed (%r); using (2, 5, 0)\n" % (e,))
            _kp_api_version = (2, 5, 0)
        if _kp_api_version < (0, 11, 0):
            _kp_api_version = (2, 5, 0)
    return KafkaAdminClient(bootstrap_servers=b.bootstrap, api_version=_kp_api_version,
                            request_timeout_ms=TIMEOUT * 1000)


def kp_describe(b, topic):
    """{name: value} through kafka-python."""
    a = kp_admin(b)
    try:
        responses = a.describe_configs([KPConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        a.close()
    out = {}
    for resp in responses:
        for err, msg, rtype, name, entries in resp.resources:
            assert err == NONE, "kafka-python describe_configs %s: %d %s" % (name, err, msg)
            for e in entries:
                out[e[0]] = e[1]
    return out


def values_both(b, topic, keys):
    """The values of keys as both clients see them (they must agree)."""
    ck = ck_describe(b, topic)
    kp = kp_describe(b, topic)
    out = {}
    for k in keys:
        assert k in ck, "confluent describe_configs lacks %s" % k
        assert k in kp, "kafka-python describe_configs lacks %s" % k
        assert ck[k][0] == kp[k], "%s: confluent sees %r, kafka-python %r" % (k, ck[k][0], kp[k])
        out[k] = ck[k]
    return out


def policy(value):
    return sorted(value.split(",")) if value else []


DYNAMIC_TOPIC = int(ConfigSource.DYNAMIC_TOPIC_CONFIG.value)


def versioned(fn):
    """Registers fn(version) as two tests, NAME_v0 and NAME_v1."""
    for v in (0, 1):
        def run(v=v):
            fn(v)
        run.__name__ = "%s_v%d" % (fn.__name__, v)
        test(run)
    return fn


# ---- IncrementalAlterConfigs tests ----

@test
def iac_and_describe_cluster_advertised():
    """ApiVersions lists IncrementalAlterConfigs 0-1, DescribeCluster 0-1, Metadata up to 12."""
    with Broker() as b:
        v = api_versions(b)
        assert v.get(API_INCREMENTAL_ALTER_CONFIGS, (9, -1))[0] == 0 and v[API_INCREMENTAL_ALTER_CONFIGS][1] >= 1, v
        assert v.get(API_DESCRIBE_CLUSTER, (9, -1))[0] == 0 and v[API_DESCRIBE_CLUSTER][1] >= 1, v
        assert v.get(API_METADATA, (0, -1))[1] >= 12, v


@versioned
def iac_set_and_delete(version):
    with Broker() as b:
        t = create_topic(b.bootstrap, unique_topic("iac-set"), 1)
        expect_ok(b, version, t, [("retention.ms", SET, "7200000"), ("cleanup.policy", SET, "compact")])
        got = values_both(b, t, ["retention.ms", "cleanup.policy"])
        assert got["retention.ms"] == ("7200000", DYNAMIC_TOPIC), got
        assert got["cleanup.policy"] == ("compact", DYNAMIC_TOPIC), got
        # Incremental: setting one key leaves the others alone (unlike AlterConfigs).
        expect_ok(b, version, t, [("segment.ms", SET, "600000")])
        got = values_both(b, t, ["retention.ms", "cleanup.policy", "segment.ms"])
        assert got["retention.ms"][0] == "7200000" and got["cleanup.policy"][0] == "compact", got
        assert got["segment.ms"] == ("600000", DYNAMIC_TOPIC), got
        # DELETE goes back to the default, no longer a topic config.
        expect_ok(b, version, t, [("retention.ms", DELETE, None)])
        got = values_both(b, t, ["retention.ms", "cleanup.policy"])
        assert got["retention.ms"][0] == DEFAULT_RETENTION_MS and got["retention.ms"][1] != DYNAMIC_TOPIC, got
        assert got["cleanup.policy"][0] == "compact", got
        # DELETE of a key that is not set is not an error.
        expect_ok(b, version, t, [("retention.ms", DELETE, None)])
        # The value takes effect, not just shows: max.message.bytes refuses a big record.
        expect_ok(b, version, t, [("max.message.bytes", SET, "1000")])
        # (One record per batch: the limit applies to whole batches.)
        p = producer(b.bootstrap, **{"acks": "all", "message.max.bytes": 100000, "linger.ms": 0})
        # (Keyed: the topic is compacted, which refuses keyless records.)
        big = produce_all(p, t, [{"key": b"k", "value": b"x" * 5000}], timeout=TIMEOUT)
        small = produce_all(p, t, [{"key": b"k", "value": b"small"}], timeout=TIMEOUT)
        assert [e.code() for e, _ in big.errors] == [10] and not big.ok, \
            "5000-byte record: ok=%r errors=%r (expected MSG_SIZE_TOO_LARGE)" % (big.ok, [e for e, _ in big.errors])
        assert len(small.ok) == 1 and not small.errors, [e for e, _ in small.errors]


@versioned
def iac_append_subtract(version):
    with Broker() as b:
        t = create_topic(b.bootstrap, unique_topic("iac-list"), 1)
        # APPEND starts from the current value, the default "delete" here.
        expect_ok(b, version, t, [("cleanup.policy", APPEND, "compact")])
        got = values_both(b, t, ["cleanup.policy"])["cleanup.policy"]
        assert policy(got[0]) == ["compact", "delete"] and got[1] == DYNAMIC_TOPIC, got
        # Appending what is there already adds nothing.
        expect_ok(b, version, t, [("cleanup.policy", APPEND, "delete")])
        got = values_both(b, t, ["cleanup.policy"])["cleanup.policy"]
        assert policy(got[0]) == ["compact", "delete"], got
        # SUBTRACT removes.
        expect_ok(b, version, t, [("cleanup.policy", SUBTRACT, "delete")])
        assert values_both(b, t, ["cleanup.policy"])["cleanup.policy"][0] == "compact"
        # Subtracting what is absent changes nothing.
        expect_ok(b, version, t, [("cleanup.policy", SUBTRACT, "delete")])
        assert values_both(b, t, ["cleanup.policy"])["cleanup.policy"][0] == "compact"
        # Only list-typed keys take APPEND/SUBTRACT; a bad element is refused.
        expect_error(b, version, t, [("retention.ms", APPEND, "5")], INVALID_CONFIG)
        expect_error(b, version, t, [("retention.ms", SUBTRACT, "5")], INVALID_CONFIG)
        expect_error(b, version, t, [("cleanup.policy", APPEND, "shred")], INVALID_CONFIG)
        got = values_both(b, t, ["cleanup.policy", "retention.ms"])
        assert got["cleanup.policy"][0] == "compact" and got["retention.ms"][0] == DEFAULT_RETENTION_MS, got


@versioned
def iac_append_subtract_several_values(version):
    """An APPEND or SUBTRACT value is itself a comma-separated list: Kafka
    splits it and adds (skipping those present) or removes each element."""
    with Broker() as b:
        t = create_topic(b.bootstrap, unique_topic("iac-multi"), 1)
        problems = []
        err, msg = iac_one(b, version, t, [("cleanup.policy", APPEND, "compact,delete")])
        got = ck_describe(b, t)["cleanup.policy"][0]
        if err != NONE or policy(got) != ["compact", "delete"]:
            problems.append("APPEND 'compact,delete' to the default 'delete': error %d (%r), cleanup.policy=%r, "
                            "expected error 0 and delete,compact" % (err, msg, got))
            expect_ok(b, version, t, [("cleanup.policy", SET, "delete,compact")])
        err, msg = iac_one(b, version, t, [("cleanup.policy", SUBTRACT, "compact,absent")])
        got = ck_describe(b, t)["cleanup.policy"][0]
        if err != NONE or got != "delete":
            problems.append("SUBTRACT 'compact,absent' from 'delete,compact': error %d (%r), cleanup.policy=%r, "
                            "expected error 0 and delete" % (err, msg, got))
        assert not problems, "IncrementalAlterConfigs v%d:\n  %s" % (version, "\n  ".join(problems))


@versioned
def iac_refusals(version):
    with Broker() as b:
        t = create_topic(b.bootstrap, unique_topic("iac-bad"), 1, config={"retention.ms": "3600000"})
        expect_error(b, version, t, [("no.such.config", SET, "1")], INVALID_CONFIG)
        expect_error(b, version, t, [("cleanup.policy", SET, "shred")], INVALID_CONFIG)
        expect_error(b, version, t, [("retention.ms", SET, "soon")], INVALID_CONFIG)
        expect_error(b, version, t, [("min.insync.replicas", SET, "0")], INVALID_CONFIG)
        expect_error(b, version, t, [("message.timestamp.type", SET, "WallClock")], INVALID_CONFIG)
        expect_error(b, version, t, [("compression.type", SET, "brotli")], INVALID_CONFIG)
        # One bad entry refuses the whole resource: the good SET beside it is not applied.
        expect_error(b, version, t, [("segment.ms", SET, "600000"), ("no.such.config", SET, "1")], INVALID_CONFIG)
        expect_error(b, version, unique_topic("absent"), [("retention.ms", SET, "1000")], UNKNOWN_TOPIC_OR_PARTITION)
        got = values_both(b, t, ["retention.ms", "segment.ms", "cleanup.policy"])
        assert got["retention.ms"] == ("3600000", DYNAMIC_TOPIC), got
        assert got["segment.ms"][1] != DYNAMIC_TOPIC, "a refused request set segment.ms: %r" % (got,)
        assert got["cleanup.policy"][0] == "delete", got
        # Resources are independent: the good one applies, the bad one does not.
        t2 = create_topic(b.bootstrap, unique_topic("iac-bad2"), 1)
        res = iac(b, version, [(TOPIC, t, [("segment.ms", SET, "600000")]),
                               (TOPIC, t2, [("cleanup.policy", SET, "shred")])])
        assert [(e, ty, n) for e, _, ty, n in res] == [(NONE, TOPIC, t), (INVALID_CONFIG, TOPIC, t2)], res
        assert values_both(b, t, ["segment.ms"])["segment.ms"] == ("600000", DYNAMIC_TOPIC)
        assert values_both(b, t2, ["cleanup.policy"])["cleanup.policy"][0] == "delete"
        # Resource types: an unknown one is INVALID_REQUEST (as in Kafka); broker
        # resources are refused with an error (gregor keeps broker configs
        # static; Kafka would take dynamic broker configs here).
        res = iac(b, version, [(7, "x", [("a", SET, "1")]), (BROKER, "1", [("log.retention.ms", SET, "1000")])])
        assert [(ty, n) for _, _, ty, n in res] == [(7, "x"), (BROKER, "1")], res
        assert res[0][0] == INVALID_REQUEST and res[1][0] != NONE, res
        # An empty request is answered with no resources.
        assert iac(b, version, []) == []
        b.assert_alive()


@versioned
def iac_malformed_requests(version):
    """What Kafka's ConfigAdminManager refuses as INVALID_REQUEST before
    looking at values: a key twice in one resource, a null value for a
    non-DELETE operation, an unknown operation, the same resource twice in
    one request (both entries). Nothing may change. Every case is tried and
    all deviations reported together."""
    with Broker() as b:
        t = create_topic(b.bootstrap, unique_topic("iac-malformed"), 1, config={"segment.ms": "600000"})
        problems = []
        cases = [
            ("duplicate key", [("segment.ms", SET, "700000"), ("segment.ms", SET, "800000")]),
            ("null value for SET", [("segment.ms", SET, None)]),
            ("null value for APPEND", [("cleanup.policy", APPEND, None)]),
            ("unknown operation 9", [("segment.ms", 9, "700000")]),
        ]
        for what, configs in cases:
            err, msg = iac_one(b, version, t, configs)
            if err != INVALID_REQUEST:
                problems.append("%s %r: error %d (%r), expected %d INVALID_REQUEST" % (what, configs, err, msg,
                                                                                       INVALID_REQUEST))
            got = ck_describe(b, t)
            if got["segment.ms"][0] != "600000" or got["cleanup.policy"][0] != "delete":
                problems.append("after %s: segment.ms=%r cleanup.policy=%r (changed)" % (
                    what, got["segment.ms"][0], got["cleanup.policy"][0]))
                expect_ok(b, version, t, [("segment.ms", SET, "600000"), ("cleanup.policy", DELETE, None)])
        res = iac(b, version, [(TOPIC, t, [("segment.ms", SET, "700000")]),
                               (TOPIC, t, [("retention.ms", SET, "1000")])])
        if [e for e, _, _, _ in res] != [INVALID_REQUEST, INVALID_REQUEST]:
            problems.append("same resource twice: %r, expected INVALID_REQUEST for both" % (res,))
        got = ck_describe(b, t)
        if got["segment.ms"][0] != "600000" or got["retention.ms"][0] != DEFAULT_RETENTION_MS:
            problems.append("after same resource twice: segment.ms=%r retention.ms=%r" % (
                got["segment.ms"][0], got["retention.ms"][0]))
        b.assert_alive()
        assert not problems, "IncrementalAlterConfigs v%d:\n  %s" % (version, "\n  ".join(problems))


@versioned
def iac_validate_only(version):
    with Broker() as b:
        t = create_topic(b.bootstrap, unique_topic("iac-vo"), 1, config={"cleanup.policy": "compact"})
        before = ck_describe(b, t)
        expect_ok(b, version, t, [("retention.ms", SET, "1000"), ("cleanup.policy", DELETE, None),
                                  ("segment.ms", SET, "600000")], validate_only=True)
        expect_ok(b, version, t, [("cleanup.policy", APPEND, "delete")], validate_only=True)
        # validate_only still refuses what a real request would.
        expect_error(b, version, t, [("retention.ms", SET, "soon")], INVALID_CONFIG, validate_only=True)
        expect_error(b, version, t, [("no.such.config", SET, "1")], INVALID_CONFIG, validate_only=True)
        expect_error(b, version, unique_topic("absent"), [("retention.ms", SET, "1")], UNKNOWN_TOPIC_OR_PARTITION,
                     validate_only=True)
        after = ck_describe(b, t)
        assert after == before, "validate_only changed configs: %r" % (
            {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)},)
        assert values_both(b, t, ["cleanup.policy"])["cleanup.policy"] == ("compact", DYNAMIC_TOPIC)


@test
def iac_survives_restart():
    with Broker() as b:
        t = create_topic(b.bootstrap, unique_topic("iac-restart"), 1)
        expect_ok(b, 1, t, [("retention.ms", SET, "7200000"), ("cleanup.policy", APPEND, "compact")])
        expect_ok(b, 0, t, [("segment.ms", SET, "600000")])
        expect_ok(b, 0, t, [("segment.ms", DELETE, None)])
        b.restart()
        got = values_both(b, t, ["retention.ms", "cleanup.policy", "segment.ms"])
        assert got["retention.ms"] == ("7200000", DYNAMIC_TOPIC), got
        assert policy(got["cleanup.policy"][0]) == ["compact", "delete"], got
        assert got["segment.ms"][1] != DYNAMIC_TOPIC, got


# ---- DescribeCluster ----

def describe_cluster(b, version, endpoint_type=1, include_ops=False):
    w = Writer(True).boolean(include_ops)
    if version >= 1:
        w.i8(endpoint_type)
    w.tags()
    with Conn(b) as c:
        r = c.call(API_DESCRIBE_CLUSTER, version, True, w.buf)
        out = {"throttle": r.i32(), "error": r.i16(), "message": r.string()}
        if version >= 1:
            out["endpoint_type"] = r.i8()
        out["cluster_id"] = r.string()
        out["controller_id"] = r.i32()

        def broker(r):
            x = (r.i32(), r.string(), r.i32(), r.string())
            r.tags()
            return x

        out["brokers"] = r.array(broker)
        out["ops"] = r.i32()
        r.tags()
        r.done()
    return out


@test
def describe_cluster_v0_v1():
    with Broker() as b:
        # What Metadata says, through two clients.
        kp = kp_admin(b)
        try:
            md = kp.describe_cluster()
        finally:
            kp.close()
        ck = admin(b.bootstrap).list_topics(timeout=TIMEOUT)
        assert md["cluster_id"] == ck.cluster_id, (md, ck.cluster_id)
        node = ck.orig_broker_id
        assert [(x["node_id"], x["host"], x["port"]) for x in md["brokers"]] == [(node, "127.0.0.1", b.port)], md
        for version in (0, 1):
            d = describe_cluster(b, version)
            assert d["error"] == NONE and d["message"] is None, d
            assert d["cluster_id"] == ck.cluster_id, (d, ck.cluster_id)
            assert d["controller_id"] == md["controller_id"] == node, (d, md)
            assert d["brokers"] == [(node, "127.0.0.1", b.port, None)], d
            assert d["ops"] == -2147483648, "authorized operations not asked for: %r" % (d,)
            if version >= 1:
                assert d["endpoint_type"] == 1, d
        # The cluster id is the one persisted: same after a restart.
        b.restart()
        assert describe_cluster(b, 1)["cluster_id"] == ck.cluster_id


@test
def describe_cluster_endpoint_types():
    """KIP-919 as Kafka's broker answers it: endpoint_type 2 (controllers)
    sent to a broker listener is MISMATCHED_ENDPOINT_TYPE (114); a type that
    does not exist (0, 3) is UNSUPPORTED_ENDPOINT_TYPE (115)."""
    with Broker() as b:
        problems = []
        for etype, want in ((2, MISMATCHED_ENDPOINT_TYPE), (0, UNSUPPORTED_ENDPOINT_TYPE),
                            (3, UNSUPPORTED_ENDPOINT_TYPE)):
            d = describe_cluster(b, 1, endpoint_type=etype)
            if d["error"] != want:
                problems.append("endpoint_type %d: error %d, expected %d; response %r" % (etype, d["error"], want, d))
        b.assert_alive()
        assert not problems, "DescribeCluster v1:\n  " + "\n  ".join(problems)


# ---- Metadata v12 by topic id ----

def metadata_v12(b, topics, allow_auto_create=False):
    """topics: None (all) or [(topic_id UUID or None, name or None)].
    Returns {"cluster_id", "controller_id", "brokers", "topics": [dict]}."""
    w = Writer(True)

    def topic(w, t):
        tid, name = t
        w.uuid(tid or uuid.UUID(int=0)).string(name).tags()

    w.array(topics, topic).boolean(allow_auto_create).boolean(False).tags()
    with Conn(b) as c:
        r = c.call(API_METADATA, 12, True, w.buf)
        r.i32()

        def broker(r):
            x = (r.i32(), r.string(), r.i32(), r.string())
            r.tags()
            return x

        def partition(r):
            x = {"error": r.i16(), "index": r.i32(), "leader": r.i32(), "leader_epoch": r.i32(),
                 "replicas": r.array(lambda r: r.i32()), "isr": r.array(lambda r: r.i32()),
                 "offline": r.array(lambda r: r.i32())}
            r.tags()
            return x

        def topic_out(r):
            x = {"error": r.i16(), "name": r.string(), "id": r.uuid(), "internal": r.boolean(),
                 "partitions": r.array(partition), "ops": r.i32()}
            r.tags()
            return x

        out = {"brokers": r.array(broker), "cluster_id": r.string(), "controller_id": r.i32(),
               "topics": r.array(topic_out)}
        r.tags()
        r.done()
    return out


ZERO = uuid.UUID(int=0)


@test
def metadata_v12_topic_ids():
    with Broker() as b:
        t = create_topic(b.bootstrap, unique_topic("ids"), 3)
        other = create_topic(b.bootstrap, unique_topic("ids-other"), 1)
        by_name = metadata_v12(b, [(None, t)])["topics"]
        assert len(by_name) == 1 and by_name[0]["error"] == NONE and by_name[0]["name"] == t, by_name
        tid = by_name[0]["id"]
        assert tid != ZERO, "topic id is zero"
        # By id: the same topic, named, with its partitions.
        by_id = metadata_v12(b, [(tid, None)])["topics"]
        assert len(by_id) == 1, by_id
        x = by_id[0]
        assert x["error"] == NONE and x["name"] == t and x["id"] == tid, x
        assert sorted(p["index"] for p in x["partitions"]) == [0, 1, 2], x
        # Several ids at once, one of them unknown.
        unknown = uuid.uuid4()
        other_id = metadata_v12(b, [(None, other)])["topics"][0]["id"]
        got = {y["id"]: y for y in metadata_v12(b, [(tid, None), (unknown, None), (other_id, None)])["topics"]}
        assert set(got) == {tid, unknown, other_id}, got
        assert got[other_id]["name"] == other and got[other_id]["error"] == NONE
        assert got[unknown]["error"] == UNKNOWN_TOPIC_ID and got[unknown]["name"] is None, got[unknown]
        assert got[unknown]["partitions"] == [], got[unknown]
        # All topics (null list) carry the same ids.
        everything = {y["name"]: y["id"] for y in metadata_v12(b, None)["topics"]}
        assert everything.get(t) == tid and everything.get(other) == other_id, everything
        # Ids persist across a restart.
        b.restart()
        x = metadata_v12(b, [(tid, None)])["topics"][0]
        assert x["error"] == NONE and x["name"] == t, x
        # Deleted: the old id is unknown; re-created: a new id.
        a = admin(b.bootstrap)
        a.delete_topics([t], operation_timeout=TIMEOUT, request_timeout=TIMEOUT)[t].result(timeout=TIMEOUT)
        x = metadata_v12(b, [(tid, None)])["topics"][0]
        assert x["error"] == UNKNOWN_TOPIC_ID and x["name"] is None, x
        create_topic(b.bootstrap, t, 1)
        x = metadata_v12(b, [(None, t)])["topics"][0]
        assert x["error"] == NONE and x["id"] not in (ZERO, tid), x
        x = metadata_v12(b, [(tid, None)])["topics"][0]
        assert x["error"] == UNKNOWN_TOPIC_ID, x
        # An unknown name with auto-create off: UNKNOWN_TOPIC_OR_PARTITION, zero id.
        absent = unique_topic("absent")
        x = metadata_v12(b, [(None, absent)])["topics"][0]
        assert x["error"] == UNKNOWN_TOPIC_OR_PARTITION and x["name"] == absent and x["id"] == ZERO, x
        names = {y["name"] for y in metadata_v12(b, None)["topics"]}
        assert absent not in names, "metadata v12 with allow_auto_topic_creation=false created %s" % absent


if __name__ == "__main__":
    main()
