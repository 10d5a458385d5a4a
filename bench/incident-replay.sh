#!/usr/bin/env bash
# The incident replayed without and with the watchdog, timelines printed (not part of the test suite).
# Run as root: it starts a private dockerd and builds the image (~1-2 min), then two ~1.5 min scenarios.
# Env: BENCH_BUDGET_RATIO (1.5): the re-test budget as a multiple of the branch suite's own time.
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p bench/tsconfig.incident-replay.json
exec node dist/bench-build/bench/incident-replay.js
