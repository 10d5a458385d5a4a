#!/usr/bin/env bash
# /proc scan benchmark (not part of the test suite). As root: installs Debian's
# prometheus-process-exporter for the comparison, builds, runs bench/proc-scan.ts.
# Env: BENCH_PROCS (5000), BENCH_STEPS (1000,2500,5000), BENCH_ROUNDS (9), BENCH_LOOP_S (15).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v prometheus-process-exporter >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus-process-exporter >/dev/null
fi
# the package may start its own instance; ours listens on another port, theirs would only add load
if command -v systemctl >/dev/null 2>&1; then systemctl stop prometheus-process-exporter 2>/dev/null || true; fi
npx tsc -p bench/tsconfig.json
exec node dist/bench-build/bench/proc-scan.js
