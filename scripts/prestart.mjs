// `npm start` runs this first. Two things, before the server is started:
//
// 1. The Node version. The service needs Node >= 22.19 (package.json "engines": undici 8 declares
//    it, cookie 2 under fastify needs 22), and Node 24 LTS is the supported line. On an older Node
//    it stops with one line, exit 1, rather than start: Node 20 is past its end of life (no
//    security fixes for a service that runs as root), and dependencies that require 22 can fail
//    mid-run, long after a start that looked fine. `npm ci` on linux-x64 brings Node 24 as an
//    optional dependency into node_modules/.bin, which `npm start` puts first on PATH, so this
//    line shows only where that dependency was omitted or cannot install.
// 2. The TypeScript build, only when an input is newer than the last build, so an unchanged
//    checkout starts without paying tsc (seconds) on every start.
//
// Plain ES2020 and no imports beyond node: built-ins, so it parses and says its line on any Node.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

const SUPPORTED = JSON.parse(readFileSync('package.json', 'utf8')).engines.node; // ">=22.19"

/** [major, minor, patch] of "v22.19.0", "22.19" or ">=22.19". */
const parts = (version) => (/(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(version) ?? []).slice(1, 4).map((n) => Number(n ?? 0));
const atLeast = (have, need) => {
  for (let i = 0; i < 3; i += 1) if (have[i] !== need[i]) return have[i] > need[i];
  return true;
};

if (!atLeast(parts(process.versions.node), parts(SUPPORTED))) {
  console.error(
    `orch-watchdog: Node ${process.version} (${process.execPath}) is not supported: it needs Node ${SUPPORTED}, and Node 24 LTS is the supported line; ` +
      '`npm ci` on linux-x64 puts Node 24 in node_modules/.bin (unless optional dependencies are omitted), or install Node 24',
  );
  process.exit(1);
}

const STAMP = 'dist/.tsbuildinfo';
const ENTRY = 'dist/src/server.js';
const INPUTS = ['src', 'routes', 'scripts', 'package.json', ...readdirSync('.').filter((n) => /^tsconfig.*\.json$/.test(n))];

/** Newest mtime under `path`; a directory counts itself, since deleting a file changes only its directory. */
function newestMs(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(path).map((name) => newestMs(join(path, name))));
}

const stampMs = statSync(ENTRY, { throwIfNoEntry: false }) ? (statSync(STAMP, { throwIfNoEntry: false })?.mtimeMs ?? 0) : 0;
if (stampMs === 0 || Math.max(...INPUTS.map(newestMs)) > stampMs) {
  const build = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
  // tsc leaves its build info untouched when nothing changed: without this, a touched file would rebuild forever
  const now = new Date();
  utimesSync(STAMP, now, now);
}
