#!/usr/bin/env bash
# KafkaJS (a JavaScript implementation of the Kafka protocol, pinned in
# kafkajs/package-lock.json) against gregor. Installs the pinned package with
# `npm ci` when node_modules is missing or stale, starts a broker on a free
# loopback port with a fresh data directory, runs kafkajs/test_kafkajs.js,
# reads the topic it leaves behind back with kcat (a second, independent
# client) and checks on disk that KafkaJS's GZIP batches were stored as sent,
# then stops the broker with SIGTERM: it must exit 0 with no sanitizer report.
# Prints PASS/FAIL/SKIP lines for tests/run.
set -u
test_name=kafkajs
. "$(dirname "$0")/broker_lib.sh"
dir=$root/tests/integration/kafkajs

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIP kafkajs: node or npm not installed (scripts/install-deps.sh installs them)"
    exit 0
fi

# node_modules must hold exactly the version the lock file pins.
installed_ok() {
    (cd "$dir" && node -e '
        const want = require("./package-lock.json").packages["node_modules/kafkajs"].version;
        let have = null;
        try { have = require("./node_modules/kafkajs/package.json").version; } catch (e) {}
        process.exit(have === want ? 0 : 1);') 2>/dev/null
}
if ! installed_ok; then
    echo "installing KafkaJS with npm ci in $dir"
    if ! (cd "$dir" && timeout 300 npm ci --no-audit --no-fund) || ! installed_ok; then
        fail kafkajs_npm_ci
        exit 1
    fi
fi
echo "kafkajs $(cd "$dir" && node -p 'require("./node_modules/kafkajs/package.json").version'), node $(node --version)"

broker_start || exit 1

prefix=kafkajs-$$
(cd "$dir" && timeout 180 node test_kafkajs.js "127.0.0.1:$port" "$prefix") || status=1

# The topic test_kafkajs.js left: 300 messages over 2 partitions, key-N /
# value-N / header n=N, partition N%2, the first 150 uncompressed and the
# rest GZIP, all from one idempotent producer.
if "$py" - "127.0.0.1:$port" "$prefix-verify" "$tmp/data" <<'EOF'
import os, struct, subprocess, sys
bootstrap, topic, data = sys.argv[1:4]
N = 300
ok = True
def bad(msg):
    global ok
    ok = False
    print(msg, file=sys.stderr)

# 1. kcat reads every message, in order per partition, keys/values/headers intact.
p = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
                    "-f", "%p|%o|%k|%s|%h\n"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
if p.returncode != 0:
    bad("kcat exited %d: %s" % (p.returncode, p.stderr.decode(errors="replace")[-2000:]))
got = {0: [], 1: []}
for line in p.stdout.decode().splitlines():
    part, off, key, val, hdr = line.split("|")
    got.setdefault(int(part), []).append((int(off), key, val, hdr))
for part in (0, 1):
    want = [(j, "key-%d" % i, "value-%d" % i, "n=%d" % i) for j, i in enumerate(range(part, N, 2))]
    if got[part] != want:
        bad("partition %d: kcat read %d messages, first difference: %r" % (part, len(got[part]),
            next(((g, w) for g, w in zip(got[part] + [None] * N, want) if g != w), None)))

# 2. On disk: batches kept as KafkaJS sent them: codec bits none then gzip,
#    a producer id on every batch (idempotent), sequence numbers contiguous.
for part in (0, 1):
    pdir = os.path.join(data, "%s-%d" % (topic, part))
    logs = sorted(f for f in os.listdir(pdir) if f.endswith(".log"))
    buf = b"".join(open(os.path.join(pdir, f), "rb").read() for f in logs)
    pos, codecs, next_seq, pids = 0, [], 0, set()
    while pos + 61 <= len(buf):
        base, length = struct.unpack_from(">qi", buf, pos)
        attrs, = struct.unpack_from(">h", buf, pos + 21)
        last_delta, = struct.unpack_from(">i", buf, pos + 23)
        pid, epoch, seq = struct.unpack_from(">qhi", buf, pos + 43)
        codecs.append(attrs & 7)
        pids.add(pid)
        if seq != next_seq:
            bad("partition %d batch at %d: base sequence %d, expected %d" % (part, base, seq, next_seq))
        next_seq = seq + last_delta + 1
        pos += 12 + length
    if pos != len(buf):
        bad("partition %d: %d trailing bytes in the log" % (part, len(buf) - pos))
    if not codecs or codecs[0] != 0 or codecs[-1] != 1 or sorted(codecs) != codecs:
        bad("partition %d: batch codecs %r, expected none then gzip (1)" % (part, codecs))
    if len(pids) != 1 or min(pids) < 0:
        bad("partition %d: producer ids %r, expected one idempotent producer" % (part, pids))
sys.exit(0 if ok else 1)
EOF
then
    echo "PASS kafkajs_data_read_by_kcat_and_on_disk"
else
    fail kafkajs_data_read_by_kcat_and_on_disk
fi

broker_stop
[ "$status" -eq 0 ] || tail -n 30 "$log"
exit "$status"
