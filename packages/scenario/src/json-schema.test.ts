import { describe, expect, it } from 'vitest';
import { SCENARIO_SCHEMA_FILE, scenarioJsonSchema, scenarioJsonSchemaText } from './json-schema.js';
import { OP_NAMES } from './schema.js';

describe('scenarioJsonSchema', () => {
  it('describes every operation, with numbers as integers or strings', () => {
    const schema = scenarioJsonSchema() as {
      $defs: Record<string, { properties?: Record<string, unknown> }>;
      additionalProperties: boolean;
    };
    for (const op of OP_NAMES) expect(schema.$defs[`step_${op}`]?.properties).toHaveProperty(op);
    expect(schema.additionalProperties).toBe(false);
    expect(JSON.stringify(schema.$defs.gpa)).toContain('"type":"integer"');
    expect(JSON.stringify(schema.$defs.gpa)).toContain('"type":"string"');
  });

  it('matches the checked-in file (regenerate with scripts/gen-schema.ts)', async () => {
    // Tests run in Node; the package itself never touches the file system.
    // (The package's tsconfig has no Node types, hence the loose typing.)
    const fs = (await import(`node:${'fs'}`)) as { readFileSync(p: string, e: 'utf8'): string };
    const url = (await import(`node:${'url'}`)) as { fileURLToPath(u: string): string };
    const here = (import.meta as unknown as { url: string }).url;
    const file = url.fileURLToPath(here.replace(/src\/[^/]*$/, SCENARIO_SCHEMA_FILE));
    expect(fs.readFileSync(file, 'utf8')).toBe(scenarioJsonSchemaText());
  });
});
