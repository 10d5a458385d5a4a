// `npm start` runs this first: the TypeScript build only when an input is newer than the last
// build, so an unchanged checkout starts without paying tsc (seconds) on every start.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

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
