import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Integration tests share one registry and spawn real runtimes: two cores, keep it modest.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
