#!/usr/bin/env bash
# Merge-gate tree-kill benchmark (not part of the test suite); run as root for the cgroup path.
# Env: BENCH_ROUNDS (200), BENCH_GRACE_MS (300), BENCH_TIMEOUT_MS (700), BENCH_BASELINE_ROUNDS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p bench/tsconfig.tree-kill.json
sh scripts/build-subreaper.sh dist/bench-build/src/runner/subreaper
exec node dist/bench-build/bench/tree-kill.js
