import { defineConfig } from 'vitest/config';

// Two tiers, chosen by file name. `fast` (`npm test`): no root, no Docker, no network beyond
// loopback, no program test-ci.sh installs; under 60 s (scripts/test-fast-guard.sh proves it).
// `ci` (`*.ci.test.ts`): the rest, run by `npm run test:ci` with the fast tier, as root.
const CI_ONLY = 'test/**/*.ci.test.ts';

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Process, Docker and Alertmanager tests compete for two cores; keep files from starving each other.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'fast', include: ['test/**/*.test.ts'], exclude: [CI_ONLY], globalSetup: ['test/global-setup.ts'] },
      },
      { extends: true, test: { name: 'ci', include: [CI_ONLY], globalSetup: ['test/global-setup.ts'] } },
    ],
  },
});
