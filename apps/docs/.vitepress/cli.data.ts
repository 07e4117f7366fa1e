// Build-time data for the CLI page: which commands `kvmx --help` lists in this checkout, so the
// page marks what exists today without anyone keeping a list by hand. Runs the CLI from source
// exactly as `pnpm -s kvmx --help` does (root package.json "kvmx" script).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CliHelp {
  /** False when the CLI could not be run; the page then says so instead of guessing. */
  readonly ok: boolean;
  readonly commands: readonly string[];
  readonly help: string;
}

declare const data: CliHelp;

export { data };

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export function parseCommands(help: string): string[] {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => l.trim() === 'Commands:');
  if (start < 0) return [];
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const m = /^ {2}([a-z][\w-]*)/.exec(line);
    if (m?.[1] !== undefined && m[1] !== 'help') names.push(m[1]);
  }
  return names;
}

export default {
  watch: ['../../cli/src/**/*.ts'],
  load(): CliHelp {
    const r = spawnSync(
      process.execPath,
      ['--conditions=@kvmx/source', '--import', 'tsx', 'apps/cli/src/main.ts', '--help'],
      { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 },
    );
    const help = r.stdout ?? '';
    if (r.status !== 0) {
      console.warn(`[docs] kvmx --help failed (status ${r.status}): ${r.stderr}`);
      return { ok: false, commands: [], help };
    }
    return { ok: true, commands: parseCommands(help), help };
  },
};
