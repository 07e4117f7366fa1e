import { defineConfig } from 'vitest/config';
import { sourceConditions } from './tooling/vitest.preset.js';

export default defineConfig({
  // ssr.resolve.conditions is what node-environment tests honour (toolchain.md §5.4).
  ssr: { resolve: { conditions: sourceConditions } },
  resolve: { conditions: sourceConditions },
  test: {
    projects: [
      { extends: true, test: { name: 'packages', include: ['packages/*/src/**/*.test.ts'] } },
      { extends: true, test: { name: 'apps', include: ['apps/*/src/**/*.test.ts'] } },
    ],
  },
});
