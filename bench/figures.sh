#!/usr/bin/env bash
# Issue 22's table (not part of the test suite; as root): every row against its reference in the
# same run, 3 runs, the spread shown. Installs wrk and prometheus-process-exporter if missing,
# builds the server, the benches and bench/sleepers.c, runs bench/figures.ts (flags passed
# through: --runs, --scan-s, --wrk-s, --wrk-rounds, --start-rounds, --rounds, --out FILE).
# Runs on whatever `node` is first on PATH; issue 22's figures are on Node 24:
#   PATH=/path/to/node24/bin:$PATH bash bench/figures.sh --out /tmp/figures.md
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v prometheus-process-exporter >/dev/null 2>&1 || missing+=(prometheus-process-exporter)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
fi
# the package may start its own instance; ours listens on another port, theirs would only add load
if command -v systemctl >/dev/null 2>&1; then systemctl stop prometheus-process-exporter 2>/dev/null || true; fi
npm run build --silent
npx tsc -p bench/tsconfig.figures.json
mkdir -p dist/bench-build
cc -O2 -Wall -o dist/bench-build/sleepers bench/sleepers.c
exec node dist/bench-build/bench/figures.js "$@"
