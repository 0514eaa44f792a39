#!/usr/bin/env bash
# Installs the Debian packages Gregor needs to build and test, only those missing.
set -euo pipefail
pkgs=(build-essential pkg-config clang libclang-rt-14-dev
      librdkafka-dev libzstd-dev liblz4-dev libsnappy-dev zlib1g-dev libssl-dev
      kcat python3 python3-confluent-kafka python3-kafka)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm for the KafkaJS integration test (tests/integration/kafkajs).
# Checked by command, not by package: a Node.js from another apt source
# ships npm inside its nodejs package, and Debian's npm would conflict with it.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# promtool (Debian's prometheus package) checks the broker's /metrics page
# in tests/integration/test_metrics.py.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
