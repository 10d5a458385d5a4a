#!/usr/bin/env bash
# Proves that `npm test` (the fast tier) needs what a developer's machine has and nothing more:
# runs it as nobody, with no network but loopback, with the programs test-ci.sh installs hidden,
# and fails if it fails or takes more than FAST_TIER_LIMIT_S (60) seconds. Run as root (test-ci.sh
# calls it before the whole suite); extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
limit_s=${FAST_TIER_LIMIT_S:-60}

# nobody cannot write the checkout: a throwaway copy it owns, sharing the installed packages
# read-only. dist/ comes along, mtimes kept, so the tests' setup finds it current and builds
# nothing; the subreaper helper stays behind, since only a C compiler makes it.
copy=$(mktemp -d /tmp/owd-fast-tier-XXXXXX)
trap 'rm -rf "$copy"' EXIT
tar --exclude=./node_modules --exclude=./.git -cf - . | tar -C "$copy" -xf -
rm -f "$copy/dist/src/runner/subreaper"
# Its own node_modules/ directory (vite writes its temp files there), each package a link.
mkdir "$copy/node_modules"
for entry in node_modules/* node_modules/.bin node_modules/.package-lock.json; do ln -s "$PWD/$entry" "$copy/$entry"; done
mkdir "$copy/.home"
chown -R nobody:nogroup "$copy"
chmod 755 "$copy"

# What only test-ci.sh brings (Debian packages, a Docker Engine): each found one is covered by
# /dev/null inside a private mount namespace, so a fast test that execs one fails, by path or by name.
hide=()
for cmd in dockerd docker containerd docker-compose prometheus promtool prometheus-alertmanager amtool \
  busybox tini git cc gcc clang python3 pytest pytest-3 strace curl jq systemd-analyze chromium pgrep; do
  for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
    [ -e "$dir/$cmd" ] && hide+=("$(readlink -f "$dir/$cmd")")
  done
done
hide_list=$(printf '%s\n' "${hide[@]}" | sort -u | tr '\n' ' ')

start_s=$(date +%s)
status=0
# shellcheck disable=SC2016 # expanded by the inner shell
HIDE="$hide_list" COPY="$copy" unshare --net --mount --propagation private sh -c '
  set -e
  ip link set lo up
  for f in $HIDE; do mount --bind /dev/null "$f"; done
  cd "$COPY"
  exec setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
    env -i PATH="$PATH" HOME="$COPY/.home" LANG=C.UTF-8 npm test -- "$@"
' fast-tier "$@" || status=$?
took_s=$(($(date +%s) - start_s))
# CPU seconds too: other work on a shared machine inflates the wall time, not these.
times > "$copy/.times" # not in a pipe: a subshell would count only its own children
cpu=$(tail -1 "$copy/.times")
echo "test-fast-guard: the fast tier as nobody without network took ${took_s}s (limit ${limit_s}s; CPU user+sys ${cpu/ / + }), exit ${status}"
[ "$status" -eq 0 ] || exit "$status"
[ "$took_s" -le "$limit_s" ] || { echo "test-fast-guard: the fast tier is over its ${limit_s}s budget" >&2; exit 1; }
