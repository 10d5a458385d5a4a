#!/bin/sh
# The runner's subreaper helper (src/runner/subreaper.c), built beside its compiled module as
# dist/src/runner/subreaper (or $1: another build's runner/ directory, the benchmarks'). Part of
# `npm run build`, so of `npm ci`: without a C compiler it builds nothing and says nothing, and
# the runner does without the helper (docs/merge-gate.md). The image's build stage sets
# SUBREAPER_LDFLAGS="-static -s", so the binary runs on any BASE_IMAGE.
cd "$(dirname "$0")/.." || exit 0
src=src/runner/subreaper.c
out=${1:-dist/src/runner/subreaper}
[ "$out" -nt "$src" ] && exit 0
cc=$(command -v cc || command -v gcc || command -v clang) || exit 0
mkdir -p "${out%/*}"
# shellcheck disable=SC2086 # SUBREAPER_LDFLAGS is a list of flags
if "$cc" -O2 -Wall $SUBREAPER_LDFLAGS -o "$out.tmp" "$src"; then
  mv -f "$out.tmp" "$out"
else
  rm -f "$out.tmp"
  echo "orch-watchdog: $cc could not build $out; re-tests fall back to a cgroup or the /proc sweep" >&2
fi
exit 0
