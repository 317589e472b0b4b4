import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests start real servers and child processes; two cores, so keep parallelism modest.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
