#!/usr/bin/env bash
# Builds test_rdkafka_admin.c (librdkafka's C admin API: CreateTopics,
# DescribeConfigs, AlterConfigs, CreatePartitions, DeleteRecords,
# DeleteTopics, offsets_for_times, a LogAppendTime topic) against the system
# librdkafka, starts a broker on a free loopback port with a fresh data
# directory, runs the program against it, then stops the broker with SIGTERM
# and checks that it exits 0 with no sanitizer report. Prints PASS/FAIL lines
# for tests/run.
set -u
test_name=rdkafka_admin
. "$(dirname "$0")/broker_lib.sh"

build_rdkafka_client test_rdkafka_admin || exit 1
broker_start || exit 1
timeout 180 "$out/test_rdkafka_admin" "127.0.0.1:$port" "rdkafka-admin-$$" || status=1
broker_stop
[ "$status" -eq 0 ] || tail -n 30 "$log"
exit "$status"
