#!/usr/bin/python3
"""Scale cases of the performance issue, measured on a real broker process.

  partitions: create N idle partitions (topics of 1,000 partitions each,
              through CreateTopics with python3-confluent-kafka, which wraps
              librdkafka), stop the broker cleanly, then time start-ups:
              after a clean stop with a warm page cache, with the page cache
              dropped (root only), and after kill -9. Each start-up is timed
              from exec to the first answered ApiVersions; RSS, peak RSS and
              open descriptors are read from /proc once it answers. The
              clean shutdown is timed too.
  connections: open M idle connections (each sends one ApiVersions and
              reads the answer, so it went through the whole request path),
              and reports the broker's RSS growth per connection.

Prints a Markdown table and, with --json FILE, writes the figures as JSON.
Not part of the test suite (it takes minutes and a few GB of disk at 100k).

  /usr/bin/python3 bench/scale.py --partitions 10000 100000 --connections 10000
"""
import argparse
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

TOPIC_PARTITIONS = 1000
CREATE_BATCH_TOPICS = 5


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def api_versions_request(corr):
    client = b"scale"
    body = struct.pack(">hhih", 18, 0, corr, len(client)) + client
    return struct.pack(">i", len(body)) + body


def read_frame(sock):
    head = b""
    while len(head) < 4:
        chunk = sock.recv(4 - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    (n,) = struct.unpack(">i", head)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def answers(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(api_versions_request(1))
            read_frame(s)
            return True
    except OSError:
        return False


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return out


class Broker:
    def __init__(self, binary, data_dir, overrides):
        self.binary = binary
        self.data_dir = data_dir
        self.port = free_port()
        self.overrides = overrides
        self.proc = None
        self.log_path = os.path.join(os.path.dirname(data_dir), "broker.log")

    def start(self, timeout=600):
        cmd = [self.binary, "broker", "--override", "log.dirs=" + self.data_dir,
               "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % self.port]
        for k, v in self.overrides.items():
            cmd += ["--override", "%s=%s" % (k, v)]
        t0 = time.monotonic()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        while not answers(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError("broker exited %d; see %s" % (self.proc.returncode, self.log_path))
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("broker did not answer in %d s" % timeout)
            time.sleep(0.02)
        return time.monotonic() - t0

    def stop(self):
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=1800)
        return time.monotonic() - t0

    def kill9(self):
        self.proc.kill()
        self.proc.wait()


def create_partitions(port, n):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": "127.0.0.1:%d" % port})
    topics = ["scale-%05d" % i for i in range((n + TOPIC_PARTITIONS - 1) // TOPIC_PARTITIONS)]
    left = n
    for i in range(0, len(topics), CREATE_BATCH_TOPICS):
        batch = []
        for name in topics[i:i + CREATE_BATCH_TOPICS]:
            count = min(TOPIC_PARTITIONS, left)
            left -= count
            batch.append(NewTopic(name, num_partitions=count, replication_factor=1))
        for name, fut in admin.create_topics(batch, operation_timeout=600, request_timeout=600).items():
            fut.result()


def drop_page_cache():
    try:
        subprocess.run(["sync"], check=True)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def partition_case(binary, n, workdir, keep):
    data = os.path.join(workdir, "p%d" % n, "data")
    reuse = keep and os.path.isdir(data)
    if not reuse:
        shutil.rmtree(os.path.dirname(data), ignore_errors=True)
        os.makedirs(data)
    b = Broker(binary, data, {})
    row = {"partitions": n}
    b.start()
    if not reuse:
        t0 = time.monotonic()
        create_partitions(b.port, n)
        row["create_s"] = time.monotonic() - t0
    row["stop_s"] = b.stop()

    row["start_warm_s"] = b.start()
    row.update({"warm_" + k: v for k, v in proc_status(b.proc.pid).items()})
    b.stop()

    if drop_page_cache():
        row["start_cold_s"] = b.start()
        row.update({"cold_" + k: v for k, v in proc_status(b.proc.pid).items()})
    else:
        b.start()
    b.kill9()
    row["start_after_kill9_s"] = b.start()
    row["stop_after_crash_start_s"] = b.stop()
    if not keep:
        shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    return row


def connection_case(binary, m, workdir):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    data = os.path.join(workdir, "conn", "data")
    shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    os.makedirs(data)
    b = Broker(binary, data, {"max.connections": m + 100})
    b.start()
    before = proc_status(b.proc.pid)
    socks = []
    try:
        for i in range(m):
            s = socket.create_connection(("127.0.0.1", b.port), timeout=10)
            s.sendall(api_versions_request(i))
            socks.append(s)
        for s in socks:
            read_frame(s)
        time.sleep(0.5)
        after = proc_status(b.proc.pid)
    finally:
        for s in socks:
            s.close()
    b.stop()
    shutil.rmtree(os.path.dirname(data), ignore_errors=True)
    return {"connections": m, "rss_before": before["VmRSS"], "rss_after": after["VmRSS"],
            "fds_after": after["fds"],
            "bytes_per_connection": (after["VmRSS"] - before["VmRSS"]) / m}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="build/gregor")
    ap.add_argument("--partitions", type=int, nargs="*", default=[10000, 100000])
    ap.add_argument("--connections", type=int, nargs="*", default=[10000])
    ap.add_argument("--workdir", default=None, help="where data dirs go (default: a temp dir under build/)")
    ap.add_argument("--keep", action="store_true", help="keep and reuse the partition data dirs")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="scale-", dir="build")
    os.makedirs(workdir, exist_ok=True)
    binary = os.path.abspath(args.binary)
    out = {"partitions": [], "connections": []}
    for n in args.partitions:
        out["partitions"].append(partition_case(binary, n, workdir, args.keep))
        print(json.dumps(out["partitions"][-1]), file=sys.stderr)
    for m in args.connections:
        out["connections"].append(connection_case(binary, m, workdir))
        print(json.dumps(out["connections"][-1]), file=sys.stderr)
    mib = 1024 * 1024
    print("| partitions | create | stop | start warm | RSS / peak | fds | start cold | start after kill -9 | stop after that |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in out["partitions"]:
        cold = "%.1f s" % r["start_cold_s"] if "start_cold_s" in r else "n/a (not root)"
        create = "%.0f s" % r["create_s"] if "create_s" in r else "(reused)"
        print("| %d | %s | %.1f s | %.1f s | %.0f / %.0f MiB | %d | %s | %.1f s | %.1f s |" % (
            r["partitions"], create, r["stop_s"], r["start_warm_s"], r["warm_VmRSS"] / mib,
            r["warm_VmHWM"] / mib, r["warm_fds"], cold, r["start_after_kill9_s"], r["stop_after_crash_start_s"]))
    print()
    print("| idle connections | RSS before | RSS after | per connection | broker fds |")
    print("|---|---|---|---|---|")
    for r in out["connections"]:
        print("| %d | %.1f MiB | %.1f MiB | %.1f KiB | %d |" % (
            r["connections"], r["rss_before"] / mib, r["rss_after"] / mib, r["bytes_per_connection"] / 1024,
            r["fds_after"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
