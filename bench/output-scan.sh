#!/usr/bin/env bash
# Merge-gate output scan benchmark (not part of the test suite): bounded cost on hostile output,
# and the summary regex before and after it was made linear. Env: BENCH_ROUNDS (9).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p bench/tsconfig.output-scan.json
exec node dist/bench-build/bench/output-scan.js
