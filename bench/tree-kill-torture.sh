#!/usr/bin/env bash
# Tree-kill torture (not part of the test suite; the suite runs a small version): run as root.
# Env: BENCH_ROUNDS (500), BENCH_EXTRA_PROCS (5000), BENCH_HOGS (2), BENCH_TIMEOUT_S (0.7), BENCH_GRACE_S (0.3).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
npx tsc -p bench/tsconfig.tree-kill.json
sh scripts/build-subreaper.sh dist/bench-build/src/runner/subreaper
exec node dist/bench-build/bench/tree-kill-torture.js
