"""Hostile and malformed input over raw sockets: random bytes, truncated
frames, absurd size prefixes, unknown API keys, unsupported versions,
record batches with a bad CRC. After each, the broker must still be
running and serving real clients on other connections.

Frames are built by hand (struct.pack): a 4-byte size, then request header
v1 (api_key int16, api_version int16, correlation_id int32, client_id
string), then the body."""

import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confluent_kafka import TopicPartition  # noqa: E402

from clients import consumer, create_topic, health_check, unique_topic  # noqa: E402
from harness import Broker, main, test  # noqa: E402

API_PRODUCE = 0
API_VERSIONS = 18
UNSUPPORTED_VERSION = 35
CORRUPT_MESSAGE = 2
NONE = 0

# ---- encoding ----


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def header_v1(api_key, version, corr, client_id="gregor-bad-input"):
    return i16(api_key) + i16(version) + i32(corr) + string(client_id)


def frame(payload):
    return i32(len(payload)) + payload


def request(api_key, version, corr, body=b""):
    return frame(header_v1(api_key, version, corr) + body)


def varint(v):
    """Zigzag varint, as record fields use."""
    z = (v << 1) ^ (v >> 63)
    out = bytearray()
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value


def record_batch(values, timestamp_ms, bad_crc=False):
    """A magic-v2 record batch of unkeyed records, offsets from 0."""
    records = b""
    for i, v in enumerate(values):
        body = (b"\x00" + varint(0) + varint(i) + varint(-1) + varint(len(v)) + v + varint(0))
        records += varint(len(body)) + body
    after_crc = (i16(0) + i32(len(values) - 1) + i64(timestamp_ms) + i64(timestamp_ms) +
                 i64(-1) + i16(-1) + i32(-1) + i32(len(values)) + records)
    crc = crc32c(after_crc)
    if bad_crc:
        crc ^= 0x5A5A5A5A
    after_length = i32(-1) + b"\x02" + struct.pack(">I", crc) + after_crc
    return i64(0) + i32(len(after_length)) + after_length


def produce_body(version, topic, partition, batch):
    body = b""
    if version >= 3:
        body += string(None)  # transactional_id
    body += i16(-1) + i32(10000)  # acks=all, timeout_ms
    body += i32(1) + string(topic) + i32(1) + i32(partition) + i32(len(batch)) + batch
    return body


# ---- decoding ----


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def left(self):
        return len(self.data) - self.pos


# ---- sockets ----


def connect(b):
    s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s, n, deadline):
    buf = b""
    while len(buf) < n:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(n - len(buf))
        except socket.timeout:
            raise AssertionError("no complete response (%d of %d bytes) in time" % (len(buf), n))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_response(s, timeout=15):
    """(correlation_id, body) of the next response frame (response header v0)."""
    deadline = time.monotonic() + timeout
    size = struct.unpack(">i", recv_exact(s, 4, deadline))[0]
    assert 4 <= size <= 64 * 1024 * 1024, "implausible response size %d" % size
    data = recv_exact(s, size, deadline)
    return struct.unpack_from(">i", data)[0], data[4:]


def closed_by_peer(s, timeout=10):
    """True when the broker closes the connection (EOF or reset) within
    timeout without sending anything; fails if it sends data instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = s.recv(4096)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if not data:
            return True
        raise AssertionError("expected the connection to be closed, got %d bytes: %r" % (len(data), data[:64]))
    return False


def send_quietly(s, data):
    """Sends what the broker will take; it may close on us part way."""
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def api_versions(b):
    """{api_key: (min, max)} from an ApiVersions v0 exchange."""
    with connect(b) as s:
        s.sendall(request(API_VERSIONS, 0, 7))
        corr, body = read_response(s)
        assert corr == 7
        r = Reader(body)
        assert r.take(">h") == NONE
        n = r.take(">i")
        out = {}
        for _ in range(n):
            k, lo, hi = r.take(">h"), r.take(">h"), r.take(">h")
            out[k] = (lo, hi)
        return out


def still_serving(b):
    b.assert_alive()
    health_check(b.bootstrap)
    b.assert_alive()


# ---- tests ----


@test
def api_versions_v0_sanity():
    """The hand-made frames are right: a plain ApiVersions v0 is answered."""
    with Broker() as b:
        versions = api_versions(b)
        assert API_VERSIONS in versions and API_PRODUCE in versions, versions
        for k, (lo, hi) in versions.items():
            assert 0 <= lo <= hi, (k, lo, hi)


@test
def api_versions_unsupported_version():
    """ApiVersions v99: error 35 UNSUPPORTED_VERSION with a v0 body that
    still lists the supported versions (KIP-511), so the client can retry."""
    with Broker() as b:
        with connect(b) as s:
            # A trailing empty tagged-field byte: a broker that reads the
            # header as v2 (as Kafka does for ApiVersions v3+) finds its tag
            # section; one that reads v1 sees a body byte it must ignore.
            s.sendall(frame(header_v1(API_VERSIONS, 99, 4242) + b"\x00"))
            corr, body = read_response(s)
            assert corr == 4242, corr
            r = Reader(body)
            err = r.take(">h")
            assert err == UNSUPPORTED_VERSION, "error_code %d, expected 35" % err
            n = r.take(">i")
            assert 0 < n < 1000, n
            keys = {}
            for _ in range(n):
                k, lo, hi = r.take(">h"), r.take(">h"), r.take(">h")
                keys[k] = (lo, hi)
            assert API_VERSIONS in keys and keys[API_VERSIONS][1] >= 3, keys.get(API_VERSIONS)
            assert r.left() == 0, "%d unexpected bytes after the v0 body" % r.left()
            # The connection stays usable for the client's retry.
            s.sendall(request(API_VERSIONS, 0, 4243))
            assert read_response(s)[0] == 4243
        still_serving(b)


@test
def random_bytes():
    with Broker() as b:
        rng = random.Random(20261125)
        for _ in range(20):
            with connect(b) as s:
                send_quietly(s, bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 4096))))
        b.assert_alive()
        still_serving(b)


@test(timeout=300)
def valid_headers_random_bodies():
    """Every supported API at its lowest and highest version with random
    bodies: the decoders must refuse, never crash or hang the loop."""
    with Broker() as b:
        versions = api_versions(b)
        rng = random.Random(7)
        corr = 0
        for key, (lo, hi) in sorted(versions.items()):
            for version in sorted({lo, hi}):
                for size in (0, 1, 7, 64, 600):
                    corr += 1
                    body = bytes(rng.getrandbits(8) for _ in range(size))
                    with connect(b) as s:
                        send_quietly(s, request(key, version, corr, body))
                        try:
                            s.settimeout(0.2)
                            s.recv(65536)
                        except (socket.timeout, ConnectionError):
                            pass
            b.assert_alive()
        still_serving(b)


@test
def truncated_frame_then_close():
    with Broker() as b:
        whole = request(API_VERSIONS, 0, 1)
        for cut in range(1, len(whole)):
            with connect(b) as s:
                s.sendall(whole[:cut])
        # A size promising more than ever comes.
        with connect(b) as s:
            s.sendall(i32(100) + header_v1(API_VERSIONS, 0, 2)[:6])
        still_serving(b)


@test
def size_over_socket_request_max_bytes():
    with Broker() as b:
        with connect(b) as s:
            s.sendall(i32(104857600 + 1))
            assert closed_by_peer(s), "frame size above socket.request.max.bytes did not close the connection"
        still_serving(b)
    # The limit follows the configuration.
    with Broker(overrides={"socket.request.max.bytes": 65536}) as b:
        with connect(b) as s:
            s.sendall(i32(65537))
            assert closed_by_peer(s), "frame size above a configured 65536 did not close the connection"
        with connect(b) as s:
            s.sendall(request(API_VERSIONS, 0, 9))
            assert read_response(s)[0] == 9
        still_serving(b)


@test
def negative_and_zero_size():
    with Broker() as b:
        for size in (-1, -2147483648, 0):
            with connect(b) as s:
                s.sendall(i32(size) + b"\x00" * 16)
                assert closed_by_peer(s), "size %d did not close the connection" % size
        still_serving(b)


@test
def unknown_api_key():
    """Kafka cannot even parse the header of an unknown API and closes the connection."""
    with Broker() as b:
        for key in (32000, -5, 1000):
            with connect(b) as s:
                s.sendall(request(key, 0, 77))
                assert closed_by_peer(s), "unknown api key %d: connection left open" % key
        still_serving(b)


def produce_version(b):
    lo, hi = api_versions(b)[API_PRODUCE]
    # v3..v8 share the non-flexible layout used here; magic v2 needs v3.
    v = min(hi, 8)
    assert v >= max(lo, 3), (lo, hi)
    return v


def produce_raw(b, version, topic, batch, corr):
    """Sends one produce request; returns (error_code, base_offset) of its partition."""
    with connect(b) as s:
        s.sendall(request(API_PRODUCE, version, corr, produce_body(version, topic, 0, batch)))
        got_corr, body = read_response(s)
        assert got_corr == corr
        r = Reader(body)
        assert r.take(">i") == 1
        assert r.string() == topic
        assert r.take(">i") == 1
        assert r.take(">i") == 0
        err = r.take(">h")
        base = r.take(">q")
        return err, base


@test
def produce_good_then_bad_crc():
    with Broker() as b:
        topic = create_topic(b.bootstrap, unique_topic("crc"), 1)
        version = produce_version(b)
        now = int(time.time() * 1000)
        err, base = produce_raw(b, version, topic, record_batch([b"good-1", b"good-2"], now), 1)
        assert (err, base) == (NONE, 0), "well-formed batch: error %d base %d" % (err, base)

        err, _ = produce_raw(b, version, topic, record_batch([b"bad"], now, bad_crc=True), 2)
        assert err == CORRUPT_MESSAGE, "bad CRC: error %d, expected 2 CORRUPT_MESSAGE" % err

        # A batch whose bytes were changed after the CRC was computed.
        batch = bytearray(record_batch([b"flip"], now))
        batch[-3] ^= 0xFF
        err, _ = produce_raw(b, version, topic, bytes(batch), 3)
        assert err == CORRUPT_MESSAGE, "corrupted record: error %d, expected 2" % err

        c = consumer(b.bootstrap)
        try:
            wm = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30, cached=False)
            assert wm == (0, 2), "corrupt batches must not be appended; watermarks %r" % (wm,)
        finally:
            c.close()
        still_serving(b)


if __name__ == "__main__":
    main()
