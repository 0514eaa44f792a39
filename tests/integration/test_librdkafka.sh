#!/usr/bin/env bash
# Builds test_librdkafka.c against the system librdkafka, starts a broker on
# a free loopback port with a fresh data directory, runs the C client
# against it, then stops the broker with SIGTERM and checks that it exits 0
# with no sanitizer report. Prints PASS/FAIL lines for tests/run.
set -u
test_name=librdkafka
. "$(dirname "$0")/broker_lib.sh"

build_rdkafka_client test_librdkafka || exit 1
broker_start || exit 1
timeout 240 "$out/test_librdkafka" "127.0.0.1:$port" "librdkafka-$$" || status=1
broker_stop
[ "$status" -eq 0 ] || tail -n 30 "$log"
exit "$status"
