import type { Options } from 'tsup';

/** The one tsup configuration every library package builds with: ESM + .d.ts for Node 20. */
export function libraryPreset(overrides: Options = {}): Options {
  return {
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    platform: 'neutral',
    ...overrides,
  };
}
