import { spawnSync } from 'node:child_process';

/**
 * Tests that start the real server or CLI run dist/; compile it from the current sources first, and
 * the subreaper helper the runner finds there (only where a C compiler exists; the fast tier needs
 * none). tsc emits even when a file has type errors; `npm run typecheck` (in test:ci) is the gate
 * for those. Both tiers list this file and vitest calls it once per project: build once per run.
 */
export default function setup(): void {
  if (process.env.OWD_TEST_BUILT === '1') return;
  process.env.OWD_TEST_BUILT = '1';
  const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write(`global-setup: tsc reported problems (dist still emitted):\n${r.stdout}${r.stderr}`);
  spawnSync('sh', ['scripts/build-subreaper.sh'], { stdio: 'inherit' });
}
