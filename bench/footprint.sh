#!/usr/bin/env bash
# Footprint benchmark (not part of the test suite; as root for apt-get). Installs wrk if missing,
# builds the server (npm run build, so `npm start` then finds dist/ current), the bench and
# bench/sleepers.c, runs bench/footprint.ts. Flags (passed through): --quick (about 3 minutes,
# indicative), --procs 5000, --churn 250, --scan-s 240, --wrk-s 10, --wrk-rounds 3,
# --start-rounds 5, --soak-ticks 10000, --soak-procs 1000, --soak-tick-s 0.05.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
npm run build --silent
npx tsc -p bench/tsconfig.footprint.json
cc -O2 -Wall -o dist/bench-build/sleepers bench/sleepers.c
exec node dist/bench-build/bench/footprint.js "$@"
