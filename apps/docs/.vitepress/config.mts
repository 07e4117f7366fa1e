// VitePress config for the kvmx docs site. Workspace packages are resolved to their TypeScript
// sources through the `@kvmx/source` export condition, so the site needs no package build.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type DefaultTheme, defineConfig } from 'vitepress';
import { CORE_PACKAGES } from '../src/core-packages.ts';

const SOURCE_CONDITION = '@kvmx/source';

// The API sidebar is written by scripts/typedoc.mjs (typedoc-vitepress-theme) before the build.
const apiSidebarFile = fileURLToPath(new URL('../api/typedoc-sidebar.json', import.meta.url));
const apiSidebar: DefaultTheme.SidebarItem[] = existsSync(apiSidebarFile)
  ? (JSON.parse(readFileSync(apiSidebarFile, 'utf8')) as DefaultTheme.SidebarItem[])
  : [];

// "By example" pages (by-example/<pkg>.md, each including the tested programs of
// src/examples/<pkg>/): listed from the files present, in layer order, so a page not written yet
// is never a dead link.
const byExampleItems: DefaultTheme.SidebarItem[] = CORE_PACKAGES.filter((pkg) =>
  existsSync(fileURLToPath(new URL(`../by-example/${pkg}.md`, import.meta.url))),
).map((pkg) => ({ text: `@kvmx/${pkg}`, link: `/by-example/${pkg}` }));
const byExampleGroup: DefaultTheme.SidebarItem = { text: 'By example', items: byExampleItems };

const guideSidebar: DefaultTheme.SidebarItem[] = [
  {
    text: 'Guide',
    items: [
      { text: 'Getting started', link: '/guide/getting-started' },
      { text: 'The kvmx CLI', link: '/guide/cli' },
      { text: 'Scenario files', link: '/guide/scenarios' },
    ],
  },
  {
    text: 'Concepts',
    items: [
      { text: 'GPA, GFN and the TDX shared bit', link: '/concepts/gpa-gfn-shared-bit' },
      { text: 'Direct and mirror roots, the S-EPT', link: '/concepts/mirror-roots' },
      { text: 'TDX SEAMCALL flows', link: '/concepts/seamcall-flows' },
      { text: 'The SEV-SNP RMP', link: '/concepts/snp-rmp' },
      { text: 'Memory attributes and guest_memfd', link: '/concepts/attributes-guest-memfd' },
      { text: 'Exits', link: '/concepts/exits' },
    ],
  },
  ...(byExampleItems.length > 0 ? [byExampleGroup] : []),
  {
    text: 'History',
    items: [{ text: 'The seed discussion', link: '/history/seed-discussion' }],
  },
  {
    text: 'Interactive',
    items: [
      { text: 'Address decoder', link: '/decoder' },
      { text: 'Scenario playground', link: '/playground' },
    ],
  },
];

export default defineConfig({
  title: 'kvmx',
  description: "An executable model of KVM's x86 MMU for confidential VMs (TDX, SEV-SNP)",
  lang: 'en-US',
  cleanUrls: true,
  outDir: './dist',
  // Keep Vite's cache out of the tree that Biome lints.
  cacheDir: './node_modules/.vitepress-cache',
  srcExclude: ['README.md', 'e2e/**', 'scripts/**', 'src/**', '.api-*/**'],
  lastUpdated: false,
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }]],
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/getting-started' },
      { text: 'Concepts', link: '/concepts/gpa-gfn-shared-bit' },
      ...(byExampleItems.length > 0
        ? [
            {
              text: 'By example',
              items: byExampleItems.map((i) => ({ text: i.text ?? '', link: i.link ?? '' })),
            },
          ]
        : []),
      { text: 'Seed discussion', link: '/history/seed-discussion' },
      { text: 'Decoder', link: '/decoder' },
      { text: 'Playground', link: '/playground' },
      { text: 'API', link: '/api/' },
    ],
    sidebar: {
      '/api/': [{ text: 'API reference', link: '/api/', items: apiSidebar }],
      '/by-example/': [byExampleGroup, ...guideSidebar.filter((g) => g !== byExampleGroup)],
      '/': guideSidebar,
    },
    search: { provider: 'local' },
    outline: { level: [2, 3] },
  },
  vite: {
    resolve: { conditions: [SOURCE_CONDITION] },
    ssr: { resolve: { conditions: [SOURCE_CONDITION], externalConditions: [SOURCE_CONDITION] } },
    server: { host: '127.0.0.1' },
    // The one big chunk is the local search index (~1 MB with the API pages); it is loaded only
    // when the search box opens.
    build: { chunkSizeWarningLimit: 2000 },
  },
});
