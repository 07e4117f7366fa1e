// The "by example" pages' code is real: every file under src/examples/<pkg>/ is imported and run
// here (its results are `node:assert/strict` assertions, so a page cannot drift from the code),
// and each core package gets a case that fails naming every public export no example uses.
// Files are discovered at run time: a new example is a new test case without touching this file.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import {
  BY_EXAMPLE_DIR,
  CORE_PACKAGES,
  exampleFacts,
  exampleFiles,
  isCorePackage,
  packageCoverage,
  pageIncludes,
} from './example-coverage.js';

const files = exampleFiles();

describe('examples run', () => {
  test('there are examples', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    test(`${file.pkg}/${file.topic}.ts`, async () => {
      const facts = exampleFacts(file.path, readFileSync(file.path, 'utf8'));
      // The convention: one core package's directory, importing that package (and only packages
      // below it), with its results shown as assertions.
      expect(isCorePackage(file.pkg), `src/examples/${file.pkg} is not a core package`).toBe(true);
      expect([...facts.imports], 'imports its own package').toContain(file.pkg);
      const level = CORE_PACKAGES.indexOf(file.pkg as (typeof CORE_PACKAGES)[number]);
      const above = [...facts.imports].filter(
        (p) => !isCorePackage(p) || CORE_PACKAGES.indexOf(p) > level,
      );
      expect(above, 'imports only its own package and lower ones').toEqual([]);
      expect(facts.specifiers, 'imports assert from node:assert/strict').toContain(
        'node:assert/strict',
      );
      expect(facts.assertions, 'shows its results as assertions').toBeGreaterThan(0);
      await import(pathToFileURL(file.path).href);
    }, 60_000); // some examples run whole workloads (paging/bench.ts); loaded CI machines are slow
  }
});

describe('every public export has an example', () => {
  for (const pkg of CORE_PACKAGES) {
    test(`@kvmx/${pkg}`, () => {
      const c = packageCoverage(pkg, files);
      const names = c.missing.map((e) => (e.typeOnly ? `type ${e.name}` : e.name));
      expect(
        names,
        `@kvmx/${c.pkg}: ${c.missing.length} of ${c.exports.length} exports are used by no ` +
          `example in src/examples/${c.pkg}/ (or a package above it)`,
      ).toEqual([]);
    });
  }
});

describe('each package page includes its examples', () => {
  for (const pkg of CORE_PACKAGES) {
    const mine = files.filter((f) => f.pkg === pkg);
    const page = join(BY_EXAMPLE_DIR, `${pkg}.md`);
    test(`by-example/${pkg}.md`, () => {
      if (mine.length === 0 && !existsSync(page)) return; // nothing written yet: no page needed
      expect(existsSync(page), `by-example/${pkg}.md exists`).toBe(true);
      const included = pageIncludes(readFileSync(page, 'utf8'));
      expect(included.filter((p) => !existsSync(join(BY_EXAMPLE_DIR, '..', p)))).toEqual([]);
      expect(mine.map((f) => f.rel).filter((rel) => !included.includes(rel))).toEqual([]);
    });
  }
});
