# Shared by the shell integration tests (sourced, not run): start a broker on
# a free loopback port with a fresh data directory, and stop it with SIGTERM
# checking that it exits 0 with no sanitizer report. Each step prints a
# PASS/FAIL line for tests/run, named after $test_name.
#
# Sets: root bin py logdir out status; after broker_start: port tmp log pid.

root=${GREGOR_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
bin=${GREGOR_BIN:-$root/build/asan/gregor}
py=${PYTHON:-/usr/bin/python3}
out=$root/build/integration
logdir=$root/build/test-logs
mkdir -p "$out" "$logdir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
fail() { echo "FAIL $1"; status=1; }

tmp=
pid=
broker_cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid" 2>/dev/null; fi
    [ -n "$tmp" ] && rm -rf "$tmp"
}
trap broker_cleanup EXIT

# Builds tests/integration/$1.c against the system librdkafka into $out/$1.
build_rdkafka_client() {
    cc -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -O1 -g \
        -fsanitize=address,undefined "$root/tests/integration/$1.c" -lrdkafka -o "$out/$1" || {
        fail "${test_name}_build"
        return 1
    }
}

broker_start() {
    if [ ! -x "$bin" ]; then
        fail "${test_name}_broker_start (no broker binary at $bin)"
        return 1
    fi
    tmp=$(mktemp -d /tmp/gregor-it-XXXXXX)
    log=$logdir/$test_name.$$.broker.log
    # A port free now; the broker binds it a moment later.
    port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # admin.listener port 0: any free port, so parallel brokers never collide on 9644.
    printf 'listeners=PLAINTEXT://127.0.0.1:%s\nlog.dirs=%s/data\nadmin.listener=127.0.0.1:0\n' "$port" "$tmp" \
        >"$tmp/server.properties"
    "$bin" broker --config "$tmp/server.properties" >"$log" 2>&1 &
    pid=$!
    # Ready once start-up is logged as done and the port answers.
    for _ in $(seq 300); do
        if grep -q 'broker: started' "$log" && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "PASS ${test_name}_broker_start"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    fail "${test_name}_broker_start"
    tail -n 30 "$log"
    return 1
}

broker_stop() {
    kill -TERM "$pid"
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "${test_name}_broker_clean_exit (still running 30 s after SIGTERM)"
        return
    fi
    wait "$pid"
    local rc=$?
    pid=
    if [ "$rc" -ne 0 ]; then
        fail "${test_name}_broker_clean_exit (exit $rc)"
    elif grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log"; then
        fail "${test_name}_broker_clean_exit (sanitizer report in $log)"
    else
        echo "PASS ${test_name}_broker_clean_exit"
    fi
}
