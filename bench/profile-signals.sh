#!/usr/bin/env bash
# GET /signals vs the hello-world under --cpu-prof, and heap snapshots by constructor (issue 22
# items 3 and 4; not part of the test suite). Needs wrk (bench/figures.sh installs it). Flags are
# passed through to bench/profile-signals.ts (--dir, --procs, --churn, --wrk-s, --scan-s, --no-heap, --no-cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
npx tsc -p bench/tsconfig.figures.json
mkdir -p dist/bench-build
cc -O2 -Wall -o dist/bench-build/sleepers bench/sleepers.c
exec node dist/bench-build/bench/profile-signals.js "$@"
