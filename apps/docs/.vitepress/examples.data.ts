// Build-time data for the scenario-format page: the files of examples/ with what each shows,
// taken from the table in examples/README.md (a file missing there is listed with its `name:`),
// so the page links every example to the playground without a hand-kept list.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ExampleRow {
  readonly files: readonly string[];
  /** The description, split at backticks: odd pieces are code. */
  readonly shows: readonly string[];
}

declare const data: readonly ExampleRow[];

export { data };

const examplesDir = fileURLToPath(new URL('../../../examples/', import.meta.url));

/** Rows of the README's `| file | shows |` table, file names resolved against the directory. */
export function exampleRows(readme: string, files: readonly string[]): ExampleRow[] {
  const rows: ExampleRow[] = [];
  const listed = new Set<string>();
  for (const line of readme.split('\n')) {
    const m = /^\|\s*(`[^|]+`(?:\s*,\s*`[^|]+`)*)\s*\|(.*)\|\s*$/.exec(line);
    if (m === null) continue;
    const names: string[] = [];
    for (const t of (m[1] ?? '').matchAll(/`([^`]+)`/g)) {
      const token = t[1] ?? '';
      // `-2vcpu.yaml` after `private-mem-conversions-1vcpu.yaml` is shorthand for a sibling.
      const file = token.startsWith('-')
        ? files.find((f) => f.endsWith(token) && !names.includes(f))
        : files.find((f) => f === token);
      if (file !== undefined) names.push(file);
    }
    if (names.length === 0) continue;
    for (const f of names) listed.add(f);
    rows.push({ files: names, shows: (m[2] ?? '').trim().split('`') });
  }
  for (const f of files) {
    if (listed.has(f)) continue;
    const text = readFileSync(join(examplesDir, f), 'utf8');
    const name = /^name:\s*(.+)$/m.exec(text)?.[1]?.replace(/^['"]|['"]$/g, '') ?? f;
    rows.push({ files: [f], shows: [name] });
  }
  return rows;
}

export default {
  watch: ['../../../examples/*'],
  load(): ExampleRow[] {
    const files = readdirSync(examplesDir)
      .filter((f) => /\.(ya?ml|json)$/.test(f))
      .sort();
    return exampleRows(readFileSync(join(examplesDir, 'README.md'), 'utf8'), files);
  },
};
