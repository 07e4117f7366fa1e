// Browser tests of the built site (apps/docs/dist). Kept out of the root vitest projects, which
// only collect src/**/*.test.ts: these need a build and a real browser.
import { defineConfig } from 'vitest/config';

// The playground test runs the CLI in-process (apps/cli/src) to compare its output with the
// browser's: workspace packages resolve to their sources, as in the root vitest config.
const SOURCE = ['@kvmx/source'];

export default defineConfig({
  ssr: { resolve: { conditions: SOURCE } },
  resolve: { conditions: SOURCE },
  test: {
    include: ['e2e/**/*.e2e.test.ts'],
    environment: 'node',
    fileParallelism: false,
    // Generous: each test drives a browser and some run the CLI; loaded CI machines are slow.
    testTimeout: 240_000,
    hookTimeout: 120_000,
  },
});
