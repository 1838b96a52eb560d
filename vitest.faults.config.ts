import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run faults`, scripts/faults.sh): long end-to-end cases on throw-away
 * services, one file at a time; never part of `npm test` (vitest.config.ts excludes test/faults/).
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.test.ts'],
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 120_000,
  },
});
