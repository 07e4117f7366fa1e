// What the "by example" pages must cover, and what the examples actually use. Read by
// examples.test.ts (and nothing in the site): the public exports of each core package are the
// explicit named exports of packages/<pkg>/src/index.ts; an export counts as documented when an
// example of its package (or of a package above it) uses it as an identifier outside its import
// list — a type counts when it appears in an annotation.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { CORE_PACKAGES, type CorePackage } from './core-packages.js';

export { CORE_PACKAGES, type CorePackage };

export const DOCS_DIR = fileURLToPath(new URL('..', import.meta.url));
export const EXAMPLES_DIR = join(DOCS_DIR, 'src', 'examples');
export const BY_EXAMPLE_DIR = join(DOCS_DIR, 'by-example');
export const PACKAGES_DIR = join(DOCS_DIR, '..', '..', 'packages');

export interface PublicExport {
  /** The name a user imports. */
  readonly name: string;
  /** Exported with `type` (erased at run time). */
  readonly typeOnly: boolean;
  /** The core package it is re-exported from (`export { EINVAL } from '@kvmx/vendor-ops'`). */
  readonly origin?: CorePackage;
}

export function isCorePackage(name: string): name is CorePackage {
  return (CORE_PACKAGES as readonly string[]).includes(name);
}

function parse(file: string, text: string): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

/**
 * The explicit named exports of `packages/<pkg>/src/index.ts`. Anything else in an index (an
 * `export *`, a local declaration) is reported as an error: the house rule is explicit lists.
 */
export function packageExports(pkg: CorePackage): PublicExport[] {
  const file = join(PACKAGES_DIR, pkg, 'src', 'index.ts');
  const source = parse(file, readFileSync(file, 'utf8'));
  const out: PublicExport[] = [];
  for (const stmt of source.statements) {
    if (!ts.isExportDeclaration(stmt)) {
      if (ts.isImportDeclaration(stmt)) continue;
      throw new Error(`${file}: unexpected statement in an index: ${stmt.getText().slice(0, 60)}`);
    }
    const clause = stmt.exportClause;
    if (clause && ts.isNamespaceExport(clause)) {
      // `export * as uapi from './uapi.js'`: one named export, a namespace object.
      out.push({ name: clause.name.text, typeOnly: stmt.isTypeOnly });
      continue;
    }
    if (!clause || !ts.isNamedExports(clause)) {
      throw new Error(`${file}: not an explicit export list: ${stmt.getText().slice(0, 60)}`);
    }
    const spec =
      stmt.moduleSpecifier && ts.isStringLiteral(stmt.moduleSpecifier)
        ? stmt.moduleSpecifier.text
        : '';
    const originName = spec.startsWith('@kvmx/') ? spec.slice('@kvmx/'.length) : undefined;
    const origin = originName !== undefined && isCorePackage(originName) ? originName : undefined;
    for (const el of clause.elements) {
      const typeOnly = stmt.isTypeOnly || el.isTypeOnly;
      out.push(
        origin ? { name: el.name.text, typeOnly, origin } : { name: el.name.text, typeOnly },
      );
    }
  }
  return out;
}

/** One use of an imported name: `pkg` is the package it was imported from. */
export interface ExampleUse {
  readonly pkg: string;
  readonly name: string;
}

export interface ExampleFacts {
  /** Every `@kvmx/...` package the file imports from (the part after `@kvmx/`). */
  readonly imports: ReadonlySet<string>;
  /** The modules imported from, in order. */
  readonly specifiers: readonly string[];
  /** Each imported `@kvmx/...` name used outside the import list, as `pkg:name`. */
  readonly used: ReadonlySet<string>;
  /** Calls of `assert` / `assert.xxx(...)` — an example shows its results as assertions. */
  readonly assertions: number;
}

/** Is this identifier a property / member name rather than a reference to a binding? */
function isMemberName(id: ts.Identifier): boolean {
  const p = id.parent;
  if ((ts.isPropertyAccessExpression(p) || ts.isPropertyAccessChain(p)) && p.name === id) {
    return true;
  }
  if (ts.isQualifiedName(p) && p.right === id) return true;
  if (
    (ts.isPropertyAssignment(p) ||
      ts.isPropertyDeclaration(p) ||
      ts.isPropertySignature(p) ||
      ts.isMethodDeclaration(p) ||
      ts.isMethodSignature(p) ||
      ts.isGetAccessorDeclaration(p) ||
      ts.isSetAccessorDeclaration(p) ||
      ts.isEnumMember(p)) &&
    p.name === id
  ) {
    return true;
  }
  if (ts.isBindingElement(p) && p.propertyName === id) return true;
  return false;
}

/** What an example file imports, uses and asserts. */
export function exampleFacts(file: string, text: string): ExampleFacts {
  const source = parse(file, text);
  const named = new Map<string, ExampleUse>(); // local binding -> imported name
  const namespaces = new Map<string, string>(); // local namespace -> package
  const imports = new Set<string>();
  const specifiers: string[] = [];
  let assertLocal: string | undefined;
  for (const stmt of source.statements) {
    if (!ts.isImportDeclaration(stmt) || !ts.isStringLiteral(stmt.moduleSpecifier)) continue;
    const spec = stmt.moduleSpecifier.text;
    specifiers.push(spec);
    const bindings = stmt.importClause;
    if (spec === 'node:assert/strict' || spec === 'node:assert') {
      if (bindings?.name) assertLocal = bindings.name.text;
      continue;
    }
    if (!spec.startsWith('@kvmx/')) continue;
    const pkg = spec.slice('@kvmx/'.length);
    imports.add(pkg);
    const nb = bindings?.namedBindings;
    if (nb && ts.isNamedImports(nb)) {
      for (const el of nb.elements) {
        named.set(el.name.text, { pkg, name: (el.propertyName ?? el.name).text });
      }
    } else if (nb && ts.isNamespaceImport(nb)) {
      namespaces.set(nb.name.text, pkg);
    }
  }
  const used = new Set<string>();
  let assertions = 0;
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) return;
    if (ts.isCallExpression(node) && assertLocal !== undefined) {
      const callee = node.expression;
      if (
        (ts.isIdentifier(callee) && callee.text === assertLocal) ||
        (ts.isPropertyAccessExpression(callee) &&
          ts.isIdentifier(callee.expression) &&
          callee.expression.text === assertLocal)
      ) {
        assertions++;
      }
    }
    if (ts.isIdentifier(node)) {
      if (!isMemberName(node)) {
        const use = named.get(node.text);
        if (use) used.add(`${use.pkg}:${use.name}`);
      }
    } else if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression)) {
      const pkg = namespaces.get(node.expression.text);
      if (pkg !== undefined) used.add(`${pkg}:${node.name.text}`);
    } else if (ts.isQualifiedName(node) && ts.isIdentifier(node.left)) {
      const pkg = namespaces.get(node.left.text);
      if (pkg !== undefined) used.add(`${pkg}:${node.right.text}`);
    }
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(source, visit);
  return { imports, specifiers, used, assertions };
}

export interface ExampleFile {
  readonly pkg: string;
  readonly topic: string;
  /** Absolute path. */
  readonly path: string;
  /** Path from apps/docs, as the pages include it (`src/examples/<pkg>/<topic>.ts`). */
  readonly rel: string;
}

/** Every example file present: src/examples/<pkg>/<topic>.ts, sorted. */
export function exampleFiles(): ExampleFile[] {
  if (!existsSync(EXAMPLES_DIR)) return [];
  const out: ExampleFile[] = [];
  for (const pkg of readdirSync(EXAMPLES_DIR).sort()) {
    const dir = join(EXAMPLES_DIR, pkg);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue; // a stray file at the top level
    }
    for (const name of names.sort()) {
      if (!name.endsWith('.ts') || name.endsWith('.test.ts') || name.endsWith('.d.ts')) continue;
      const topic = name.slice(0, -'.ts'.length);
      out.push({ pkg, topic, path: join(dir, name), rel: `src/examples/${pkg}/${name}` });
    }
  }
  return out;
}

export interface PackageCoverage {
  readonly pkg: CorePackage;
  readonly exports: readonly PublicExport[];
  /** Exports no example of this package or a higher one uses. */
  readonly missing: readonly PublicExport[];
  readonly examples: number;
}

// Each package's case reads the same files: parse each (path, text) once.
const factsCache = new Map<string, { text: string; facts: ExampleFacts }>();
function cachedFacts(path: string): ExampleFacts {
  const text = readFileSync(path, 'utf8');
  const hit = factsCache.get(path);
  if (hit !== undefined && hit.text === text) return hit.facts;
  const facts = exampleFacts(path, text);
  factsCache.set(path, { text, facts });
  return facts;
}

/** Coverage of one core package by the given example files (default: all present). */
export function packageCoverage(
  pkg: CorePackage,
  files: readonly ExampleFile[] = exampleFiles(),
): PackageCoverage {
  const above = new Set<string>(CORE_PACKAGES.slice(CORE_PACKAGES.indexOf(pkg)));
  const used = new Set<string>();
  for (const f of files) {
    if (!above.has(f.pkg)) continue;
    for (const u of cachedFacts(f.path).used) used.add(u);
  }
  const exports = packageExports(pkg);
  const missing = exports.filter(
    (e) =>
      !used.has(`${pkg}:${e.name}`) &&
      !(e.origin !== undefined && used.has(`${e.origin}:${e.name}`)),
  );
  return { pkg, exports, missing, examples: files.filter((f) => f.pkg === pkg).length };
}

/** The `<<< @/src/examples/...` includes of a by-example page, as paths from apps/docs. */
export function pageIncludes(markdown: string): string[] {
  const out: string[] = [];
  for (const m of markdown.matchAll(/^<<<\s+@\/(\S+?\.ts)(?:[#{\s].*)?$/gm)) out.push(m[1] ?? '');
  return out;
}
