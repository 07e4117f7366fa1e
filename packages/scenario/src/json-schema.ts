// The JSON Schema (draft 2020-12) of scenario files, generated from the zod schemas for
// editors (yaml-language-server, VS Code). The input side is described: numbers may be
// integers or strings (hex, sizes), exactly as files write them.

import { z } from 'zod';
import { scenarioFileSchema } from './schema.js';

/** Where the checked-in schema lives, relative to the package root. */
export const SCENARIO_SCHEMA_FILE = 'scenario.schema.json';

export function scenarioJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(scenarioFileSchema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      // Numbers in a scenario are never negative (resume.ret aside, which accepts -errno);
      // the validator says so with a better message than an editor could.
      const js = ctx.jsonSchema as { type?: string; minimum?: number };
      if (js.type === 'integer' && js.minimum === Number.MIN_SAFE_INTEGER) js.minimum = 0;
    },
  });
  return {
    ...schema,
    title: 'kvmx scenario',
    description:
      'A kvmx scenario: a VM and a list of steps, each with exactly one host or guest operation and an optional expect (CONTRACTS §2).',
  };
}

/** The schema file's text: two-space JSON and a final newline. */
export function scenarioJsonSchemaText(): string {
  return `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`;
}
