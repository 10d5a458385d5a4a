#!/usr/bin/env bash
# What WATCHDOG_CONTAINERS costs at start (not part of the test suite): builds the server and the
# bench, then bench/engine-client.ts. Env: BENCH_ROUNDS (7), BENCH_SERVER (another checkout's
# dist/src/server.js, for a before/after).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
npx tsc -p bench/tsconfig.orch-container.json
exec node dist/bench-build/bench/engine-client.js
