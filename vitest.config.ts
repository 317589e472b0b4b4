import { defineConfig } from 'vitest/config';

/**
 * Two tiers. `main` (npm test): everything that runs as any user with what the tests start themselves (servers,
 * child processes, the local Iagon contract server). `root` (npm run test:root): suites that need root, against a real
 * Ceph RGW (scripts/rgw-up.sh installs and starts it) or a tmpfs they mount. .ci/run runs both. A file is in the root
 * tier by living in test/root/.
 */
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests start real servers and child processes; two cores, so keep parallelism modest.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: ['test/root/**', '**/node_modules/**'] } },
      { extends: true, test: { name: 'root', include: ['test/root/**/*.test.ts'] } },
    ],
  },
});
