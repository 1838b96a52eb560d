#!/usr/bin/env bash
# The test command (`npm test`): starts the real services the integration tests use (Apache Kafka
# and InfluxDB on loopback, idempotent: running ones are left alone), type-checks, runs every test
# and ends with one summary line "N passed, N failed, N skipped".
# PULSEBRIDGE_SKIP_SERVICES=1 skips starting them (integration tests are then skipped, unless
# PULSEBRIDGE_REQUIRE_SERVICES=1, as in CI, turns a missing service into a failure).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/node_modules/.bin:$PATH"
if [[ "${PULSEBRIDGE_SKIP_SERVICES:-0}" != "1" ]]; then
  bash scripts/services.sh start
fi
tsc -p tsconfig.json
mkdir -p test-results
rm -f test-results/vitest.json
status=0
vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@" || status=$?
if [[ -f test-results/vitest.json ]]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync("test-results/vitest.json", "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
    if (r.numTotalTests === 0) { console.error("no test ran"); process.exit(1); }
  ' || status=1
fi
exit "$status"
