#!/usr/bin/env bash
# Event-loop budget under 400 hostile pytest processes and a 16-client long-URL flood (not part of
# the test suite; as root, needs dash). Env: BENCH_MAIN_DIST (another checkout's built dist/ to
# measure side by side, e.g. main's), BENCH_PROCS (400), BENCH_MEASURE_S (60).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p bench/tsconfig.event-loop.json
exec node dist/bench-build/bench/event-loop.js
