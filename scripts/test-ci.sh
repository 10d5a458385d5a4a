#!/usr/bin/env bash
# The one test command (README "Test"; .ci/run calls it). Run as root on a fresh machine:
# installs the real peers the tests use, installs the npm dependencies, builds, type-checks, lints
# (ESLint, Prettier, dependency-cruiser layer rules), runs every test: the fast tier (`npm test`)
# first as nobody without network (scripts/test-fast-guard.sh), then both tiers as root.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v tini >/dev/null 2>&1 || need+=(tini)
command -v git >/dev/null 2>&1 || need+=(git)
# Compose v1 from Debian validates docker-compose.yml (the v2 plugin is not packaged here).
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
# `npm ci` builds the runner's subreaper helper with them; the image tests' compiler stand-in is made of their files.
{ command -v cc && dpkg -s libc6-dev; } >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v python3 >/dev/null 2>&1 || need+=(python3)
# Real pytest: the /proc scan's detection tests, and the deploy tests' orchestrator-like test image.
dpkg -s python3-pytest >/dev/null 2>&1 || need+=(python3-pytest)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
# strace shows which thread opens what: the test that the main thread reads no /proc file during a tick.
command -v strace >/dev/null 2>&1 || need+=(strace)
# The documentation's examples (test/docs/doctest.ci.test.ts) run as written: curl and jq.
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v jq >/dev/null 2>&1 || need+=(jq)
# systemd-analyze verify / security check deploy/systemd/orch-watchdog.service.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
# A real headless browser renders /docs (Swagger UI).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-ci: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
npm run typecheck
# ESLint (typescript-eslint, type-aware), Prettier --check and the dependency-cruiser layer rules.
npm run lint

# The tiers split the test files by name (vitest.config.ts): each file in exactly one of them.
tier_files() { npx vitest list --filesOnly --project "$1" | sed -n 's/^\[[a-z]*\] //p'; }
if ! diff <(find test -name '*.test.ts' | sort) <({ tier_files fast; tier_files ci; } | sort); then
  echo 'test-ci: the tiers in vitest.config.ts do not hold every test file exactly once (diff above)' >&2
  exit 1
fi
# With a file filter in "$@", only that. Otherwise the fast tier must also pass unprivileged,
# offline, in 60 s: checked first, on a quiet machine, and reported after the whole suite ran.
guard=0
[ $# -gt 0 ] || bash scripts/test-fast-guard.sh || guard=$?
npx vitest run "$@"
[ "$guard" -eq 0 ] || { echo "test-ci: the fast tier failed its guard (scripts/test-fast-guard.sh, output above)" >&2; exit "$guard"; }
