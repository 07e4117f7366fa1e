// zod issues turned into one message each: what is wrong and what was expected, positioned
// at the offending node (the key itself for an unknown key, the mapping for a missing one).

import type { z } from 'zod';
import { diagnostic, formatPath, type ScenarioDiagnostic } from './diagnostic.js';
import type { SourceMap } from './load.js';

type Issue = z.core.$ZodIssue;

/** The earliest issue in the file, as one diagnostic. `base` prefixes the issue paths. */
export function issueDiagnostic(
  file: string,
  issues: readonly Issue[],
  map: SourceMap,
  base: readonly PropertyKey[],
  schema: z.ZodType,
): ScenarioDiagnostic {
  const located = issues.flatMap((issue) => locateIssue(issue, map, base, schema));
  // The first problem in the file; a missing field last, since a misspelt key usually
  // causes it and the misspelling is what the user must see.
  located.sort(
    (a, b) =>
      (a.missing ? 1 : 0) - (b.missing ? 1 : 0) || a.pos.line - b.pos.line || a.pos.col - b.pos.col,
  );
  const first = located[0];
  if (first === undefined) return diagnostic(file, map.locate(base), 'invalid scenario');
  return diagnostic(file, first.pos, first.message);
}

interface Located {
  pos: { line: number; col: number };
  message: string;
  missing?: boolean;
}

function locateIssue(
  issue: Issue,
  map: SourceMap,
  base: readonly PropertyKey[],
  schema: z.ZodType,
): Located[] {
  const path = [...base, ...issue.path];
  const where = formatPath(path);
  const prefix = where === '' ? '' : `${where}: `;
  const input = (issue as { input?: unknown }).input;
  if (input === undefined && path.length > 0 && issue.code !== 'unrecognized_keys') {
    if (issue.code === 'invalid_type' || issue.code === 'invalid_union') {
      const parent = path.slice(0, -1);
      const parentWhere = formatPath(parent);
      const hint = issue.code === 'invalid_type' ? ` (${typeName(issue.expected)})` : '';
      return [
        {
          pos: map.locate(parent),
          message: `${parentWhere === '' ? '' : `${parentWhere}: `}missing required field '${String(path[path.length - 1])}'${hint}`,
          missing: true,
        },
      ];
    }
  }
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = objectKeysAt(schema, issue.path);
      const expected =
        allowed.length > 0 ? `; expected one of: ${allowed.join(', ')}` : '; expected no keys';
      return issue.keys.map((key) => {
        const near = closest(key, allowed);
        return {
          pos: map.locateKey(path, key),
          message: `${prefix}unknown key '${key}'${near === undefined ? '' : ` (did you mean '${near}'?)`}${expected}`,
        };
      });
    }
    case 'invalid_type': {
      return [
        {
          pos: map.locate(path),
          message: `${prefix}expected ${typeName(issue.expected)}, got ${describeValue(issue.input)}`,
        },
      ];
    }
    case 'invalid_value':
      return [
        {
          pos: map.locate(path),
          message: `${prefix}expected ${issue.values.length === 1 ? String(issue.values[0]) : `one of ${issue.values.map(String).join(', ')}`}, got ${describeValue(issue.input)}`,
        },
      ];
    case 'too_small':
    case 'too_big':
    case 'invalid_format':
      return [
        {
          pos: map.locate(path),
          message: `${prefix}${issue.message}${'input' in issue && issue.input !== undefined && issue.code === 'invalid_format' ? `, got ${describeValue(issue.input)}` : ''}`,
        },
      ];
    default:
      return [{ pos: map.locate(path), message: `${prefix}${issue.message}` }];
  }
}

function typeName(expected: string): string {
  switch (expected) {
    case 'int':
    case 'number':
      return 'an integer';
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'object':
      return 'a mapping';
    case 'array':
      return 'a sequence';
    case 'null':
      return 'nothing';
    default:
      return expected;
  }
}

export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (Array.isArray(v)) return 'a sequence';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

interface Def {
  type?: string;
  shape?: Record<string, unknown>;
  innerType?: unknown;
  in?: unknown;
  options?: unknown[];
  element?: unknown;
  valueType?: unknown;
}

function defOf(schema: unknown): Def {
  return ((schema as { _zod?: { def?: Def } })._zod?.def ?? {}) as Def;
}

/** The keys the object schema at `path` allows (union members merged). */
function objectKeysAt(schema: unknown, path: readonly PropertyKey[]): string[] {
  const found = new Set<string>();
  const visit = (s: unknown, rest: readonly PropertyKey[], budget: number) => {
    if (budget <= 0) return;
    const def = defOf(s);
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
        visit(def.innerType, rest, budget - 1);
        return;
      case 'pipe':
        visit(def.in, rest, budget - 1);
        return;
      case 'union':
        for (const o of def.options ?? []) visit(o, rest, budget - 1);
        return;
      case 'array':
        if (typeof rest[0] === 'number') visit(def.element, rest.slice(1), budget - 1);
        return;
      case 'record':
        if (rest.length > 0) visit(def.valueType, rest.slice(1), budget - 1);
        return;
      case 'object':
        if (rest.length === 0) {
          for (const k of Object.keys(def.shape ?? {})) found.add(k);
          return;
        }
        visit(def.shape?.[String(rest[0])], rest.slice(1), budget - 1);
        return;
      default:
        return;
    }
  };
  visit(schema, path, 64);
  return [...found];
}

/** The allowed name nearest to a misspelt one (edit distance at most 2), for "did you mean". */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64) return 99;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 99;
}
