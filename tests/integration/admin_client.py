"""Reading the broker's admin listener from tests: GET a path, parse the
Prometheus text of /metrics into {(name, labels): value}."""

import http.client
import re

from harness import wait_for

TIMEOUT = 60


def http_get(b, path, method="GET"):
    """(status, headers dict, body bytes) from the broker's admin listener."""
    c = http.client.HTTPConnection("127.0.0.1", b.admin_port, timeout=30)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def wait_admin(b):
    wait_for(lambda: "admin: listening" in b.log_text(), timeout=TIMEOUT, what="admin listener")


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(b):
    """{(name, frozenset(labels)): value} of every sample on /metrics."""
    status, headers, body = http_get(b, "/metrics")
    assert status == 200, (status, body[:200])
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    out = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "unparseable sample line: %r" % line
        labels = frozenset(_LABEL.findall(m.group(3) or ""))
        assert (m.group(1), labels) not in out, "duplicate sample: %r" % line
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset((k, str(v)) for k, v in labels.items())))


def series(samples, name):
    return {lbl: v for (n, lbl), v in samples.items() if n == name}
