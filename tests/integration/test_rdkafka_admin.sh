#!/usr/bin/env bash
# Builds test_rdkafka_admin.c (librdkafka's C admin API: CreateTopics,
# DescribeConfigs, AlterConfigs, CreatePartitions, DeleteRecords,
# DeleteTopics, offsets_for_times, a LogAppendTime topic) against the system
# librdkafka, starts a broker on a free loopback port with a fresh data
# directory, runs the program against it, then stops the broker with SIGTERM
# and checks that it exits 0 with no sanitizer report. Prints PASS/FAIL lines
# for tests/run.
set -u
root=${GREGOR_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${GREGOR_BIN:-$root/build/asan/gregor}
py=${PYTHON:-/usr/bin/python3}
out=$root/build/integration
logdir=$root/build/test-logs
mkdir -p "$out" "$logdir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
fail() { echo "FAIL $1"; status=1; }

if ! cc -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -O1 -g \
        -fsanitize=address,undefined "$root/tests/integration/test_rdkafka_admin.c" -lrdkafka \
        -o "$out/test_rdkafka_admin"; then
    fail rdkafka_admin_build
    exit 1
fi
if [ ! -x "$bin" ]; then
    fail "rdkafka_admin_broker_start (no broker binary at $bin)"
    exit 1
fi

tmp=$(mktemp -d /tmp/gregor-it-XXXXXX)
log=$logdir/test_rdkafka_admin.$$.broker.log
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# A port free now; the broker binds it a moment later.
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/server.properties" <<EOF
listeners=PLAINTEXT://127.0.0.1:$port
log.dirs=$tmp/data
EOF
"$bin" broker --config "$tmp/server.properties" >"$log" 2>&1 &
pid=$!

ready=0
for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if [ "$ready" -ne 1 ]; then
    fail rdkafka_admin_broker_start
    tail -n 30 "$log"
    exit 1
fi
echo "PASS rdkafka_admin_broker_start"

timeout 180 "$out/test_rdkafka_admin" "127.0.0.1:$port" "rdkafka-admin-$$" || status=1

kill -TERM "$pid"
for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    fail "rdkafka_admin_broker_clean_exit (still running 30 s after SIGTERM)"
else
    wait "$pid"
    rc=$?
    pid=
    if [ "$rc" -ne 0 ]; then
        fail "rdkafka_admin_broker_clean_exit (exit $rc)"
    elif grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
        fail "rdkafka_admin_broker_clean_exit (sanitizer report in $log)"
    else
        echo "PASS rdkafka_admin_broker_clean_exit"
    fi
fi
[ "$status" -eq 0 ] || tail -n 30 "$log"
exit "$status"
