// Writes packages/scenario/scenario.schema.json from the zod schemas.
// Usage (from the repo root): node --conditions=@kvmx/source --import tsx \
//   packages/scenario/scripts/gen-schema.ts [--check]
// With --check it writes nothing and fails when the file is stale.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SCENARIO_SCHEMA_FILE, scenarioJsonSchemaText } from '../src/json-schema.js';

const file = join(dirname(fileURLToPath(import.meta.url)), '..', SCENARIO_SCHEMA_FILE);
const text = scenarioJsonSchemaText();
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {}
  if (current !== text) {
    process.stderr.write(`${file} is stale: run packages/scenario/scripts/gen-schema.ts\n`);
    process.exitCode = 1;
  }
} else {
  writeFileSync(file, text);
  process.stdout.write(`wrote ${file}\n`);
}
