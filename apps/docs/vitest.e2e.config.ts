// Browser tests of the built site (apps/docs/dist). Kept out of the root vitest projects, which
// only collect src/**/*.test.ts: these need a build and a real browser.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.test.ts'],
    environment: 'node',
    fileParallelism: false,
    // Generous: each test drives a browser and some run the CLI; loaded CI machines are slow.
    testTimeout: 240_000,
    hookTimeout: 120_000,
  },
});
