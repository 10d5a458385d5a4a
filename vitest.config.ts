import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 120_000,
    // Process, Docker and Alertmanager tests compete for two cores; keep files from starving each other.
    maxWorkers: 2,
  },
});
