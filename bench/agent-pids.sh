#!/usr/bin/env bash
# What WATCHDOG_ORCH_CONTAINER adds to the /proc scan (not part of the test suite). Env: BENCH_ROUNDS (15), BENCH_PROCS (3000).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p bench/tsconfig.orch-container.json
exec node dist/bench-build/bench/agent-pids.js
