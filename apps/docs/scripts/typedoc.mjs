// Generates the API reference (markdown for VitePress) from every package under packages/*
// that has a src/index.ts when the build runs. Output: apps/docs/api (gitignored).
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, ReflectionKind } from 'typedoc';

const docsDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const packagesDir = resolve(docsDir, '../../packages');

const entryPoints = readdirSync(packagesDir)
  .filter((name) => existsSync(join(packagesDir, name, 'src/index.ts')))
  .sort()
  .map((name) => join(packagesDir, name));
console.log(`typedoc: ${entryPoints.length} packages`);
const outDir = join(docsDir, 'api');
// Generate next to the final place and swap it in at the end, so a failed run or a second
// build running at the same time never leaves a half-written api/ behind. docsRoot is the
// temporary root, so the sidebar's links still read /api/....
const tmpRoot = mkdtempSync(join(docsDir, '.api-'));
const tmpOut = join(tmpRoot, 'api');

const app = await Application.bootstrapWithPlugins({
  entryPoints,
  entryPointStrategy: 'packages',
  // Each package is documented from its source entry (no build needed), with its own tsconfig.
  // skipErrorChecking: a sibling package that is mid-edit must not break the docs build.
  packageOptions: {
    entryPoints: ['src/index.ts'],
    skipErrorChecking: true,
    disableSources: true,
    excludePrivate: true,
    validation: { notExported: false, invalidLink: true, notDocumented: false },
  },
  plugin: ['typedoc-plugin-markdown', 'typedoc-vitepress-theme'],
  out: tmpOut,
  docsRoot: tmpRoot,
  disableSources: true,
  skipErrorChecking: true,
  readme: 'none',
  excludePrivate: true,
  hideGenerator: true,
  // Doc comments such as "TDG.VP.VMCALL<MapGPA>" must stay text: VitePress compiles every page
  // as a Vue template, where a bare <MapGPA> is an unclosed element and fails the build.
  sanitizeComments: true,
  validation: { notExported: false, invalidLink: true, notDocumented: false },
  logLevel: process.env.KVMX_TYPEDOC_LOG ?? 'Warn',
});
// Each package's API page links to its "by example" page (by-example/<pkg>.md, tested programs
// using every export), when that page exists — so a link is never dead.
const byExampleDir = join(docsDir, 'by-example');
app.renderer.markdownHooks.on('content.begin', (context) => {
  const model = context.page.model;
  if (!model.kindOf?.(ReflectionKind.Module) || !model.name.startsWith('@kvmx/')) return '';
  const pkg = model.name.slice('@kvmx/'.length);
  if (!existsSync(join(byExampleDir, `${pkg}.md`))) return '';
  return `::: tip Examples\nSmall tested programs using the exports of \`${model.name}\`: [${model.name} by example](/by-example/${pkg}).\n:::`;
});
try {
  const project = await app.convert();
  if (!project) throw new Error('conversion failed');
  await app.generateOutputs(project);
  if (app.logger.hasErrors()) throw new Error('errors reported above');
  rmSync(outDir, { recursive: true, force: true });
  renameSync(tmpOut, outDir);
} catch (e) {
  console.error(`typedoc: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
} finally {
  rmSync(tmpRoot, { recursive: true, force: true });
}
