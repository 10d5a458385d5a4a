#!/usr/bin/env bash
# GET /signals's distance to the hello-world taken apart, without the scan (issue 22 item 3; not
# part of the test suite). Needs wrk (bench/figures.sh installs it). Flags: --rounds 3, --wrk-s 5.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
npx tsc -p bench/tsconfig.figures.json
exec node dist/bench-build/bench/api-variants.js "$@"
