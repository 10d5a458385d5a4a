import { spawnSync } from 'node:child_process';

/**
 * Tests that start the real server or CLI run dist/: rebuild it first when a source is newer than
 * the last build (the check `npm start` uses; an unchanged checkout pays no tsc), and the subreaper
 * helper the runner finds there, where a C compiler exists (the fast tier needs none). tsc emits
 * even when a file has type errors; `npm run typecheck` (in test:ci) is the gate for those. Both
 * tiers list this file and vitest calls it once per project: build once per run.
 */
export default function setup(): void {
  if (process.env.OWD_TEST_BUILT === '1') return;
  process.env.OWD_TEST_BUILT = '1';
  const r = spawnSync(process.execPath, ['scripts/prestart.mjs'], { stdio: 'inherit' });
  if (r.status !== 0) process.stderr.write('global-setup: the build reported problems (dist still emitted, see above)\n');
  spawnSync('sh', ['scripts/build-subreaper.sh'], { stdio: 'inherit' });
}
