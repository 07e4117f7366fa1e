#!/usr/bin/env node
// `pnpm -s kvmx …` at the repository root: run the CLI from the workspace sources without a
// build step. The sources (apps/cli and every packages/*/src, through the @kvmx/source export
// condition) are bundled once with esbuild into apps/cli/.cache/, code-split so each command
// still loads only its own modules, and rebundled whenever a source file is newer than the
// bundle. This costs ~0.5 s after a change and nothing otherwise, where running the sources
// through tsx recompiled every loaded module at every start.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outdir = join(root, 'apps/cli/.cache/dev');
const stamp = join(outdir, 'main.js');

function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(ts|json|yaml)$/.test(e.name)) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const base of ['packages', 'apps/cli']) {
    const dir = join(root, base);
    if (existsSync(dir)) walk(dir);
  }
  return newest;
}

// `--bundle-only` (the root postinstall): build the bundle now so the first `pnpm -s kvmx`
// after `pnpm install` starts at full speed; never fail the install over it.
const bundleOnly = process.argv[2] === '--bundle-only';
if (!existsSync(stamp) || statSync(stamp).mtimeMs < newestSource()) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: { main: join(root, 'apps/cli/src/main.ts') },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    outdir,
    conditions: ['@kvmx/source'],
    // Bundled CommonJS dependencies (cli-progress) call require(): give the bundle one.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'error',
    sourcemap: 'inline',
  });
}
if (!bundleOnly) await import(pathToFileURL(stamp).href);
