// A C anchor of a benchmark: bench/c/<name>.c compiled now with `cc -O2` (or $CC) into a
// temporary directory, run as a child process that prints one JSON object per run.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CProgram {
  readonly available: boolean;
  /** Why there is no C comparison. */
  readonly reason?: string;
  readonly bin?: string;
  readonly dir?: string;
}

/** The C source next to the repository root (absent from an npm install). */
export function cSource(name: string): string | undefined {
  const candidates = [
    // apps/cli/src/bench/ (sources) or apps/cli/dist/ (built): the repository root is above.
    fileURLToPath(new URL(`../../../../bench/c/${name}.c`, import.meta.url)),
    fileURLToPath(new URL(`../../../bench/c/${name}.c`, import.meta.url)),
    join(process.cwd(), 'bench', 'c', `${name}.c`),
  ];
  return candidates.find((p) => existsSync(p));
}

/** Compile bench/c/<name>.c with -O2. Never throws: an unavailable program says why. */
export function compileC(name: string): CProgram {
  const src = cSource(name);
  if (src === undefined) return { available: false, reason: `bench/c/${name}.c not found` };
  const cc = process.env.CC ?? 'cc';
  const dir = mkdtempSync(join(tmpdir(), 'kvmx-bench-'));
  const bin = join(dir, name);
  try {
    execFileSync(cc, ['-O2', '-o', bin, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { available: true, bin, dir };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as NodeJS.ErrnoException & { stderr?: Buffer };
    const reason =
      err.code === 'ENOENT'
        ? `no C compiler (${cc}) found`
        : `${cc} -O2 failed: ${String(err.stderr ?? err.message).split('\n')[0]}`;
    return { available: false, reason };
  }
}

/** Run the program with `args`; the JSON objects it printed, one per line. */
export function runC<T>(c: CProgram, args: readonly string[]): T[] {
  if (!c.available || c.bin === undefined) throw new Error(`C program unavailable: ${c.reason}`);
  const out = execFileSync(c.bin, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  return out
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as T);
}

/** Remove the temporary directory. */
export function disposeC(c: CProgram): void {
  if (c.dir !== undefined) rmSync(c.dir, { recursive: true, force: true });
}
