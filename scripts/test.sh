#!/usr/bin/env bash
# The test command (`npm test`): starts the real services the integration tests use (Apache Kafka
# and InfluxDB on loopback, idempotent: running ones are left alone), type-checks, runs every test.
# PULSEBRIDGE_SKIP_SERVICES=1 skips starting them (integration tests are then skipped, unless
# PULSEBRIDGE_REQUIRE_SERVICES=1, as in CI, turns a missing service into a failure).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [[ "${PULSEBRIDGE_SKIP_SERVICES:-0}" != "1" ]]; then
  bash scripts/services.sh start
fi
tsc -p tsconfig.json
vitest run "$@"
