// The rules the by-example coverage check applies to an example's text (example-coverage.ts),
// on small synthetic sources: what counts as using an export, and what does not.
import { describe, expect, test } from 'vitest';
import { CORE_PACKAGES, exampleFacts, packageExports, pageIncludes } from './example-coverage.js';

const facts = (src: string) => exampleFacts('x.ts', src);

describe('exampleFacts', () => {
  test('a name only in the import list is not used', () => {
    const f = facts(`import { hex, gpa } from '@kvmx/address';\nhex(1);`);
    expect([...f.used]).toEqual(['address:hex']);
    expect([...f.imports]).toEqual(['address']);
  });

  test('a type counts when it appears in an annotation', () => {
    const f = facts(
      `import { type Gpa, type Gfn } from '@kvmx/address';\nconst a: Gpa[] = [];\nvoid a;`,
    );
    expect([...f.used]).toEqual(['address:Gpa']);
  });

  test('aliases count under the exported name; namespaces count per member', () => {
    const f = facts(
      `import { hex as h } from '@kvmx/address';\nimport * as p from '@kvmx/paging';\n` +
        `h(1);\np.makeSpte(1);\nlet t: p.SpteKind;`,
    );
    expect([...f.used].sort()).toEqual(['address:hex', 'paging:SpteKind', 'paging:makeSpte']);
  });

  test('property names, comments and strings do not count; shorthand properties do', () => {
    const f = facts(
      `import { hex, gpa, pfn, tryGfn } from '@kvmx/address';\n` +
        `// hex(1)\nconst o = { hex: 1, pfn };\no.hex;\nconst s = 'gpa';\n` +
        `class C { tryGfn() {} }\nvoid [o, s, C];`,
    );
    expect([...f.used]).toEqual(['address:pfn']);
  });

  test('assertions are counted when assert comes from node:assert/strict', () => {
    const f = facts(
      `import assert from 'node:assert/strict';\nassert.equal(1, 1);\nassert(true);\nx.equal(1);`,
    );
    expect(f.assertions).toBe(2);
    expect(f.specifiers).toEqual(['node:assert/strict']);
    expect(facts(`const assert = { equal() {} };\nassert.equal();`).assertions).toBe(0);
  });
});

describe('packageExports', () => {
  test('reads every core package index as explicit export lists', () => {
    for (const pkg of CORE_PACKAGES) expect(packageExports(pkg).length).toBeGreaterThan(0);
  });

  test('marks type-only exports and re-exports from other core packages', () => {
    const address = packageExports('address');
    expect(address.find((e) => e.name === 'Gpa')).toEqual({ name: 'Gpa', typeOnly: true });
    expect(address.find((e) => e.name === 'gpa')).toEqual({ name: 'gpa', typeOnly: false });
    const kvm = packageExports('kvm-x86');
    expect(kvm.find((e) => e.name === 'EINVAL')?.origin).toBe('vendor-ops');
  });
});

test('pageIncludes finds the snippet imports of a page', () => {
  const md =
    '# t\n\n<<< @/src/examples/address/levels.ts\n\n<<< @/src/examples/paging/a.ts{2-4}\n' +
    '`<<< @/src/examples/not-a-line.ts`\n';
  expect(pageIncludes(md)).toEqual(['src/examples/address/levels.ts', 'src/examples/paging/a.ts']);
});
