#!/usr/bin/env node
// Runs publint and attw (Are the Types Wrong?) on every publishable workspace package, against
// its built dist/ (run `pnpm build` first). Exits 1 if any package fails either check.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const dirs = ['packages', 'apps']
  .flatMap((d) => readdirSync(join(root, d)).map((name) => join(root, d, name)))
  .filter((dir) => existsSync(join(dir, 'package.json')));

let failed = 0;
for (const dir of dirs) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  if (pkg.private) continue;
  for (const [tool, args] of [
    ['publint', ['--strict']],
    // ESM-only packages: CommonJS resolution modes are out of scope by design.
    ['attw', ['--pack', '.', '--profile', 'esm-only', '--format', 'table-flipped']],
  ]) {
    try {
      execFileSync(join(root, 'node_modules/.bin', tool), args, { cwd: dir, stdio: 'pipe' });
      console.log(`ok   ${tool.padEnd(7)} ${pkg.name}`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${tool.padEnd(7)} ${pkg.name}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
  }
}
process.exit(failed === 0 ? 0 : 1);
