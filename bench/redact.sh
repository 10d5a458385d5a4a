#!/usr/bin/env bash
# Redaction benchmark (not part of the test suite): the linear scanner at 10 KB, 100 KB and 1 MB
# beside the former regular expressions. Env: BENCH_REFERENCE_BUDGET_MS (20000).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p bench/tsconfig.redact.json
exec node dist/bench-build/bench/redact.js
