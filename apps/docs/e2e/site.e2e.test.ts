// The built site in a real browser: Debian chromium driven by playwright-core, the site served
// from apps/docs/dist on 127.0.0.1. Checks that pages load without console errors or requests
// leaving the machine, that the decoder runs @kvmx/address in the page and agrees with
// `kvmx addr` field for field and error for error, that the seed page computes Kai Huang's
// table, and that the TypeDoc pages are there.
//
// Needs `pnpm --filter @kvmx/docs build` first, and /usr/bin/chromium
// (`apt-get install -y chromium`; KVMX_CHROMIUM overrides the path).

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { pageIncludes } from '../src/example-coverage.js';
import {
  CHROMIUM,
  DIST,
  DOCS_DIR,
  hasChromium,
  launchSite,
  type Opened,
  REPO_ROOT,
  SCREENSHOTS,
  type Site,
} from './browser.js';

if (!hasChromium) {
  console.warn(
    `[docs e2e] SKIPPED: no chromium at ${CHROMIUM}. Install it with \`apt-get install -y chromium\` ` +
      '(or set KVMX_CHROMIUM to a Chromium binary) to run the browser tests.',
  );
}

/** Run the CLI from source, as `pnpm -s kvmx …` does. */
function kvmx(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--conditions=@kvmx/source', '--import', 'tsx', 'apps/cli/src/main.ts', ...args],
    { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function htmlPages(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...htmlPages(path));
    else if (name.endsWith('.html') && name !== '404.html') out.push(path);
  }
  return out;
}

/** The clean URL VitePress links to for a built file. */
function urlOf(file: string): string {
  const rel = relative(DIST, file).split(sep).join('/');
  if (rel === 'index.html') return '/';
  if (rel.endsWith('/index.html')) return `/${rel.slice(0, -'index.html'.length)}`;
  return `/${rel.slice(0, -'.html'.length)}`;
}

// Counted as a failed test (not only a failed hook), so "N passed, N failed" tells the truth
// when the build step was forgotten or failed.
test('the site has been built (apps/docs/dist/index.html exists)', () => {
  expect(
    existsSync(join(DIST, 'index.html')),
    `${DIST} has no build: run \`pnpm --filter @kvmx/docs build\` first`,
  ).toBe(true);
});

describe.skipIf(!hasChromium)('docs site in chromium', () => {
  let site: Site;
  beforeAll(async () => {
    site = await launchSite('index.html');
  });
  afterAll(async () => {
    await site?.close();
  });
  const open = (path: string): Promise<Opened> => site.open(path);

  test('home links to the decoder, and the decoder decodes 0x800000001000 for tdx/48', async () => {
    const { page, problems } = await open('/');
    await expect(page.title()).resolves.toContain('kvmx');
    await page.screenshot({ path: join(SCREENSHOTS, 'home.png') });

    await page.locator('.VPHero a[href="/decoder"]').first().click();
    await page.waitForURL(`${site.origin}/decoder`);
    const input = page.getByTestId('gpa');
    await input.waitFor();
    await page.getByTestId('vm').selectOption('tdx');
    await page.getByTestId('gpaw').selectOption('48');
    await input.fill('0x800000001000');

    const field = (name: string) => page.locator(`tr[data-field="${name}"] td.kvmx-value`);
    await expect(field('input').textContent()).resolves.toBe('0x800000001000');
    await expect(field('sharedBit').textContent()).resolves.toBe('47');
    await expect(field('isAddrDirect').textContent()).resolves.toBe('true');
    await expect(field('isPrivateGpa').textContent()).resolves.toBe('false');
    await expect(field('rawGfn').textContent()).resolves.toBe('0x800000001');
    await expect(field('gfn').textContent()).resolves.toBe('0x1');
    await expect(field('gfnDirectBits').textContent()).resolves.toBe('0x800000000');
    await expect(field('privateGpa').textContent()).resolves.toBe('0x1000');
    await expect(field('sharedGpa').textContent()).resolves.toBe('0x800000001000');
    await expect(field('indices').textContent()).resolves.toBe('4: 256, 3: 0, 2: 0, 1: 1');
    await expect(page.getByTestId('alias').textContent()).resolves.toBe('set: shared');
    await expect(page.getByTestId('root').textContent()).resolves.toBe('direct root (shared EPT)');

    // The bit picture: bit 47 is the marked shared bit, and the PML4 field reads index 256.
    const bit47 = page.locator('.kvmx-bit[data-bit="47"]');
    await expect(bit47.textContent()).resolves.toBe('1');
    await expect(bit47.getAttribute('class')).resolves.toContain('kvmx-bit-shared');
    await expect(
      page.locator('[data-field="PML4 [47:39]"] .kvmx-bits-value').textContent(),
    ).resolves.toBe('index 256');
    await expect(
      page.locator('[data-field="PT [20:12]"] .kvmx-bits-value').textContent(),
    ).resolves.toBe('index 1');
    await page.screenshot({ path: join(SCREENSHOTS, 'decoder.png'), fullPage: true });

    // One click to the other alias: the private side of the same GFN, in the mirror root.
    await page.getByTestId('other-alias').click();
    await expect(input.inputValue()).resolves.toBe('0x1000');
    await expect(field('gfn').textContent()).resolves.toBe('0x1');
    await expect(field('indices').textContent()).resolves.toBe('4: 0, 3: 0, 2: 0, 1: 1');
    await expect(page.getByTestId('root').textContent()).resolves.toBe('mirror root (S-EPT)');
    // And an example chip sets address, VM type and GPAW together.
    await page.locator('[data-example="GPAW 52: shared bit 51"]').click();
    await expect(field('sharedBit').textContent()).resolves.toBe('51');
    await expect(field('rootLevel').textContent()).resolves.toBe('5');
    await expect(field('gfn').textContent()).resolves.toBe('0x201');
    expect(problems).toEqual([]);
    await page.close();
  });

  test('the decoder prints exactly what `kvmx addr --json` prints', async () => {
    const cases: { gpa: string; vm: string; gpaw: '48' | '52'; cbit?: string }[] = [
      { gpa: '0x800000001000', vm: 'tdx', gpaw: '48' },
      { gpa: '0x1000', vm: 'tdx', gpaw: '48' },
      { gpa: '0x7fffffffffff', vm: 'tdx', gpaw: '48' },
      { gpa: '0x8000000201234', vm: 'tdx', gpaw: '52' },
      { gpa: '2MiB', vm: 'sw_protected', gpaw: '48' },
      { gpa: '4503599627370495', vm: 'snp', gpaw: '52', cbit: '51' },
      { gpa: '0x800000000000', vm: 'sev', gpaw: '48', cbit: '47' },
      { gpa: '1GiB', vm: 'default', gpaw: '48' },
    ];
    const { page, problems } = await open('/decoder');
    const input = page.getByTestId('gpa');
    await input.waitFor();
    for (const c of cases) {
      await page.getByTestId('vm').selectOption(c.vm);
      await page.getByTestId('gpaw').selectOption(c.gpaw);
      if (c.cbit !== undefined) await page.getByTestId('cbit').fill(c.cbit);
      await input.fill(c.gpa);
      const shown = JSON.parse((await page.getByTestId('json').textContent()) ?? 'null');
      const args = ['addr', c.gpa, '--vm', c.vm, '--gpaw', c.gpaw, '--json'];
      if (c.cbit !== undefined) args.push('--cbit', c.cbit);
      const cli = kvmx(args);
      expect(cli.status, cli.stderr).toBe(0);
      expect(shown, `${c.gpa} ${c.vm}/${c.gpaw}`).toEqual(JSON.parse(cli.stdout));
    }
    expect(problems).toEqual([]);
    await page.close();
  });

  test('bad input shows the message the CLI prints', async () => {
    const { page, problems } = await open('/decoder');
    const input = page.getByTestId('gpa');
    await input.waitFor();
    await page.getByTestId('vm').selectOption('tdx');
    await page.getByTestId('gpaw').selectOption('48');
    for (const junk of ['junk', '0x1000000000000', '0x10000000000000', '12QiB']) {
      await input.fill(junk);
      const shown = await page.getByTestId('error').textContent();
      const cli = kvmx(['addr', junk]);
      expect(cli.status).toBe(2);
      expect(shown?.trim(), junk).toBe(cli.stderr.trim());
      await expect(page.getByTestId('fields').count()).resolves.toBe(0);
    }
    await input.fill('junk');
    await expect(page.getByTestId('error').textContent()).resolves.toBe(
      'kvmx: address: expected a number: hex (0x1000), decimal (4096) or a size (4KiB, 2MiB, 1GiB, 1TiB); got "junk"',
    );
    // Recovering: a good address replaces the error.
    await input.fill('4096');
    await expect(page.getByTestId('error').count()).resolves.toBe(0);
    await expect(page.locator('tr[data-field="gfn"] td.kvmx-value').textContent()).resolves.toBe(
      '0x1',
    );
    expect(problems).toEqual([]);
    await page.close();
  });

  test("the seed page computes Kai Huang's table in the browser", async () => {
    const { page, problems } = await open('/history/seed-discussion');
    const table = page.getByTestId('seed-table');
    await table.waitFor();
    const cell = (vm: string, gpaw: number, col: string) =>
      table.locator(`tr[data-vm="${vm}"][data-gpaw="${gpaw}"] td[data-col="${col}"]`).textContent();
    await expect(table.locator('tbody tr').count()).resolves.toBe(7);
    // TDX: the shared bit is GFN bit 35 (GPA 47) with GPAW 48 and GFN bit 39 (GPA 51) with 52.
    await expect(cell('tdx', 48, 'gfnSharedMask')).resolves.toBe('0x800000000');
    await expect(cell('tdx', 48, 'gfnDirectBits')).resolves.toBe('0x800000000');
    await expect(cell('tdx', 48, 'isPrivateGpa')).resolves.toBe('true / false');
    await expect(cell('tdx', 48, 'sharedGpa')).resolves.toBe('0x800000001000');
    await expect(cell('tdx', 48, 'privateDirect')).resolves.toBe('false');
    await expect(cell('tdx', 48, 'sharedDirect')).resolves.toBe('true');
    await expect(cell('tdx', 52, 'gfnSharedMask')).resolves.toBe('0x8000000000');
    await expect(cell('tdx', 52, 'sharedGpa')).resolves.toBe('0x8000000001000');
    // Kai's point: SNP and SW_PROTECTED have private memory, yet the seed's helper says
    // "not private" for every GPA, and both aliases are the same address.
    for (const vm of ['default', 'sw_protected', 'sev', 'sev_es', 'snp']) {
      await expect(cell(vm, 48, 'gfnSharedMask')).resolves.toBe('0x0');
      await expect(cell(vm, 48, 'gfnDirectBits')).resolves.toBe('0x0');
      await expect(cell(vm, 48, 'isPrivateGpa')).resolves.toBe('false / false');
      await expect(cell(vm, 48, 'sharedGpa')).resolves.toBe('0x1000');
      await expect(cell(vm, 48, 'privateDirect')).resolves.toBe('true');
    }
    await table.screenshot({ path: join(SCREENSHOTS, 'seed-table.png') });
    expect(problems).toEqual([]);
    await page.close();
  });

  test('the CLI page marks `kvmx addr` as available from this build', async () => {
    const { page, problems } = await open('/guide/cli');
    // The badge right after each command's heading comes from `kvmx --help` at build time;
    // if the CLI could not run then, the page says "status unknown" and this test says why.
    await expect(
      page.locator('.VPBadge', { hasText: 'status unknown' }).count(),
      'kvmx --help failed while the site was built (see the build log); rebuild with a working CLI',
    ).resolves.toBe(0);
    const badge = (cmd: string) => page.locator(`h2#kvmx-${cmd} + [data-cli-status]`);
    await expect(badge('addr').getAttribute('data-cli-status')).resolves.toBe('available');
    const help = kvmx(['--help']);
    expect(help.status).toBe(0);
    for (const cmd of ['decode', 'run', 'demo', 'bench', 'explore']) {
      const listed = new RegExp(`^  ${cmd} `, 'm').test(help.stdout);
      await expect(badge(cmd).getAttribute('data-cli-status'), cmd).resolves.toBe(
        listed ? 'available' : 'missing',
      );
    }
    await expect(page.locator('code[data-command="addr"]').count()).resolves.toBe(1);
    expect(problems).toEqual([]);
    await page.close();
  });

  test('an API page generated by TypeDoc loads', async () => {
    const { page, problems } = await open('/api/@kvmx/address/functions/decodeGpa');
    await expect(page.locator('h1').first().textContent()).resolves.toContain('decodeGpa');
    await expect(page.locator('.vp-doc').textContent()).resolves.toContain('DecodeOptions');
    expect(problems).toEqual([]);
    await page.close();
  });

  test('each by-example page is in the nav and sidebar, shows its programs, and its API page links to it', async () => {
    const dir = join(DOCS_DIR, 'by-example');
    const pkgs = readdirSync(dir)
      .filter((n) => n.endsWith('.md'))
      .map((n) => n.slice(0, -'.md'.length));
    expect(pkgs).toContain('address');
    for (const pkg of pkgs) {
      const path = `/by-example/${pkg}`;
      const { page, problems } = await open(path);
      await expect(page.locator('h1').first().textContent(), path).resolves.toContain(
        `@kvmx/${pkg}`,
      );
      await expect(page.locator(`.VPSidebar a[href="${path}"]`).count(), path).resolves.toBe(1);
      await expect(page.locator(`.VPNav a[href="${path}"]`).count(), path).resolves.toBeGreaterThan(
        0,
      );
      // Highlighted TypeScript blocks, each a whole example: an include that did not resolve
      // would show VitePress's error text instead. (The count is not compared with the source
      // page, which may have gained a section since the build.)
      const included = pageIncludes(readFileSync(join(dir, `${pkg}.md`), 'utf8'));
      const blocks = page.locator('.vp-doc div.language-ts');
      await expect(blocks.count(), path).resolves.toBeGreaterThan(0);
      expect(included.length, path).toBeGreaterThan(0);
      for (const text of await blocks.allTextContents()) {
        expect(text, path).toContain('node:assert/strict');
        expect(text, path).toMatch(/from '@kvmx\//);
      }
      if (pkg === 'address') await page.screenshot({ path: join(SCREENSHOTS, 'by-example.png') });
      expect(problems, path).toEqual([]);
      await page.close();

      const api = await open(`/api/@kvmx/${pkg}/`);
      const link = api.page.locator(`.vp-doc a[href="${path}"]`);
      await expect(link.count(), `/api/@kvmx/${pkg}/`).resolves.toBe(1);
      await link.click();
      await api.page.waitForURL(`**${path}`);
      expect(api.problems, `/api/@kvmx/${pkg}/`).toEqual([]);
      await api.page.close();
    }
  });

  test('every guide, concept and interactive page loads with no console error', async () => {
    const pages = htmlPages(DIST)
      .filter((f) => !relative(DIST, f).startsWith(`api${sep}`))
      .map(urlOf);
    expect(pages).toEqual(
      expect.arrayContaining(['/', '/decoder', '/guide/cli', '/history/seed-discussion']),
    );
    for (const path of [...pages, '/api/']) {
      const { page, problems } = await open(path);
      await expect(page.locator('h1').count(), path).resolves.toBeGreaterThan(0);
      expect(problems, path).toEqual([]);
      await page.close();
    }
    expect(site.external).toEqual([]);
  });
});
