// The scenario playground and the page-table pictures in a real browser (Debian chromium via
// playwright-core, the built site served from apps/docs/dist on 127.0.0.1): an example runs and
// shows its SEAMCALLs, exits and summary; the SVG trees show mirror leaves and S-EPT states;
// broken YAML gives the CLI's file:line:col message; a deep link reproduces a scenario; and
// every file of examples/ gives in the browser exactly the event stream of `kvmx run --json`
// (the CLI run in-process from apps/cli/src).
//
// Needs `pnpm --filter @kvmx/docs build` first, and /usr/bin/chromium (or KVMX_CHROMIUM).

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  hasChromium,
  launchSite,
  type Opened,
  REPO_ROOT,
  SCREENSHOTS,
  type Site,
} from './browser.js';

const EXAMPLES_DIR = join(REPO_ROOT, 'examples');

const EXAMPLES = readdirSync(EXAMPLES_DIR)
  .filter((f) => /\.(ya?ml|json)$/.test(f))
  .sort();

interface CliRun {
  code: number;
  stdout: string[];
  stderr: string[];
}

/** `kvmx run --json <abs path>`, in-process (apps/cli/src/cli.ts with a memory Io). */
async function kvmxRunJson(file: string): Promise<CliRun> {
  // Imported by URL so that tsc does not check the CLI's sources under this app's tsconfig.
  const cli = (await import(pathToFileURL(join(REPO_ROOT, 'apps/cli/src/cli.ts')).href)) as {
    runCli(argv: readonly string[], io: unknown): Promise<number>;
  };
  const io = (await import(pathToFileURL(join(REPO_ROOT, 'apps/cli/src/io.ts')).href)) as {
    memoryIo(): { stdout: string[]; stderr: string[] };
  };
  const mem = io.memoryIo();
  const code = await cli.runCli(['run', '--json', file], mem);
  return { code, stdout: mem.stdout, stderr: mem.stderr };
}

/** A JSON Lines stream with the `scenario` event's file reduced to its base name. */
function normalise(lines: readonly string[]): unknown[] {
  return lines
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const e = JSON.parse(l) as Record<string, unknown>;
      if (e.type === 'scenario' && typeof e.file === 'string') e.file = basename(e.file);
      return e;
    });
}

describe.skipIf(!hasChromium)('scenario playground in chromium', () => {
  let site: Site;
  beforeAll(async () => {
    site = await launchSite('playground.html');
  });
  afterAll(async () => {
    await site?.close();
  });
  const open = (path: string): Promise<Opened> => site.open(path);

  /** Click an example's button and Run; wait until the summary names that file's run. */
  async function runExample(page: Page, base: string): Promise<void> {
    await page.locator(`[data-example="${base}"]`).click();
    await page.getByTestId('run').click();
    await expect(page.getByTestId('file').textContent()).resolves.toBe(`examples/${base}`);
    await page.getByTestId('jsonl').waitFor({ state: 'attached' });
  }

  const jsonl = async (page: Page) =>
    ((await page.getByTestId('jsonl').textContent()) ?? '').split('\n');

  test('home and nav link to the playground; it runs its default scenario on load', async () => {
    const { page, problems } = await open('/');
    await expect(page.locator('.VPNav a[href="/playground"]').count()).resolves.toBeGreaterThan(0);
    await page.locator('.VPHero a[href="/playground"]').first().click();
    await page.waitForURL(`${site.origin}/playground**`);
    const summary = page.getByTestId('summary');
    await summary.waitFor();
    await expect(summary.getAttribute('data-ok')).resolves.toBe('true');
    await expect(page.getByTestId('file').textContent()).resolves.toBe('examples/td-life.yaml');
    // Its SEAMCALLs are in the trace.
    const trace = page.getByTestId('trace');
    await expect(trace.locator('[data-type="seamcall"]').count()).resolves.toBeGreaterThan(10);
    await expect(trace.textContent()).resolves.toContain('TDH.MNG.CREATE');
    expect(problems).toEqual([]);
    await page.close();
  });

  test('an example runs: summary passes, AUG and an exit appear, the SVG shows mirror and S-EPT', async () => {
    const { page, problems } = await open('/playground');
    await page.getByTestId('summary').waitFor();
    await runExample(page, 'tdx-upm-implicit.yaml');
    const summary = page.getByTestId('summary');
    await expect(summary.getAttribute('data-ok')).resolves.toBe('true');
    await expect(summary.getAttribute('data-exit')).resolves.toBe('0');
    await expect(summary.textContent()).resolves.toMatch(/PASS: \d+ steps/);

    // The events, as JSON Lines: a TDH.MEM.PAGE.AUG SEAMCALL and an exit to userspace.
    const events = (await jsonl(page)).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.at(-1)).toMatchObject({ type: 'summary', ok: true, failed: 0 });
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'seamcall',
        leaf: 'TDH.MEM.PAGE.AUG',
        status: 'TDX_SUCCESS',
      }),
    );
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'exit', reason: 'memory_fault' }),
    );
    // … and in the human trace.
    const trace = page.getByTestId('trace');
    await expect(trace.textContent()).resolves.toContain('seamcall: TDH.MEM.PAGE.AUG');
    await expect(trace.textContent()).resolves.toContain('KVM_EXIT_MEMORY_FAULT');

    // The pictures at the end: a mirror leaf whose S-EPT entry is MAPPED, the S-EPT itself.
    const tables = page.getByTestId('page-tables');
    const mirrorLeaves = tables.locator('[data-root="mirror"] g[data-kind="leaf"]');
    await expect(mirrorLeaves.count()).resolves.toBeGreaterThan(0);
    await expect(
      tables.locator('[data-root="mirror"] g[data-kind="leaf"][data-state="MAPPED"]').count(),
    ).resolves.toBeGreaterThan(0);
    await expect(
      tables.locator('[data-root="sept"] g[data-state="MAPPED"]').count(),
    ).resolves.toBeGreaterThan(0);
    await expect(tables.locator('[data-root="sept"] svg').count()).resolves.toBe(1);
    await page.screenshot({ path: join(SCREENSHOTS, 'playground.png'), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  });

  test('the tables after a chosen step: a PENDING S-EPT entry before the accept', async () => {
    const { page, problems } = await open('/playground#example=td-life.yaml');
    await page.getByTestId('summary').waitFor();
    // The first step whose S-EPT picture has a PENDING leaf: AUG done, accept not yet.
    const options = await page
      .getByTestId('step-select')
      .locator('option')
      .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    let found = false;
    for (const value of options) {
      await page.getByTestId('step-select').selectOption(value);
      const pending = page.locator(
        '[data-testid="page-tables"] [data-root="sept"] g[data-state="PENDING"]',
      );
      if ((await pending.count()) > 0) {
        found = true;
        await expect(
          page
            .locator('[data-testid="page-tables"] [data-root="mirror"] g[data-state="PENDING"]')
            .count(),
        ).resolves.toBeGreaterThan(0);
        await page
          .getByTestId('page-tables')
          .screenshot({ path: join(SCREENSHOTS, 'page-tables-pending.png') });
        break;
      }
    }
    expect(found, 'some step of td-life.yaml leaves a PENDING S-EPT leaf').toBe(true);
    expect(problems).toEqual([]);
    await page.close();
  });

  test('broken YAML gives the CLI’s file:line:col message and marks the line', async () => {
    const { page, problems } = await open('/playground');
    await page.getByTestId('summary').waitFor();
    const bad =
      'name: broken\nvm: {type: tdx}\nsteps:\n  - memslot: {slot: 0, gpa: 0x1000, size: 4KiB}\n  - write: {gpa: 0x1000, size: [8}\n';
    await page.getByTestId('editor').fill(bad);
    await page.getByTestId('run').click();
    const error = page.getByTestId('error');
    await error.waitFor();
    const shown = (await error.locator('a').textContent()) ?? '';
    // An edited example is no longer that file: the message names playground.yaml.
    expect(shown).toMatch(/^playground\.yaml:5:\d+: /);
    await expect(error.getAttribute('data-line')).resolves.toBe('5');
    await expect(page.getByTestId('summary').count()).resolves.toBe(0);
    await expect(page.locator('.kvmx-pg-gutter .kvmx-pg-err').textContent()).resolves.toBe('5');
    // The CLI says the same about the same text.
    const dir = mkdtempSync(join(tmpdir(), 'kvmx-pg-'));
    const { writeFileSync } = await import('node:fs');
    const file = join(dir, 'playground.yaml');
    writeFileSync(file, bad);
    const cli = await kvmxRunJson(file);
    expect(cli.code).toBe(2);
    expect(cli.stderr.join('\n').replace(file, 'playground.yaml')).toBe(`kvmx: ${shown}`);
    rmSync(dir, { recursive: true, force: true });
    // Clicking the message puts the caret on that line.
    await error.locator('a').click();
    const caretLine = await page.getByTestId('editor').evaluate((ta) => {
      const t = ta as HTMLTextAreaElement;
      return t.value.slice(0, t.selectionStart).split('\n').length;
    });
    expect(caretLine).toBe(5);
    await page.screenshot({ path: join(SCREENSHOTS, 'playground-error.png') });

    // A well-formed file with a failing expectation: exit 1, the step's line marked.
    await page
      .getByTestId('editor')
      .fill(
        'name: fails\nvm: {type: sw_protected}\nsteps:\n  - memslot: {slot: 0, gpa: 0, size: 4KiB}\n  - write: {gpa: 0, size: 8, byte: 1}\n    expect: {exit: memory_fault}\n',
      );
    await page.getByTestId('run').click();
    await expect(page.getByTestId('summary').getAttribute('data-ok')).resolves.toBe('false');
    await expect(page.getByTestId('summary').getAttribute('data-exit')).resolves.toBe('1');
    await expect(page.locator('.kvmx-pg-gutter .kvmx-pg-fail').textContent()).resolves.toBe('5');
    expect(problems).toEqual([]);
    await page.close();
  });

  test('a deep link carries the scenario (compressed in the hash) and reproduces the run', async () => {
    const { page, problems } = await open('/playground');
    await page.getByTestId('summary').waitFor();
    const text =
      'name: deep link\nvm: {type: tdx}\nsteps:\n  - memslot: {slot: 1, gpa: 0x80000000, size: 2MiB, guestMemfd: true}\n  - setAttributes: {gpa: 0x80000000, size: 2MiB, private: true}\n  - finalize\n  - write: {gpa: 0x80000000, size: 8, byte: 0x11, private: true}\n    expect: {exit: ve}\n';
    await page.getByTestId('editor').fill(text);
    await page.getByTestId('run').click();
    await page.waitForFunction(() => location.hash.startsWith('#z='));
    const url = page.url();
    const before = await jsonl(page);
    await page.close();

    const again = await open(url.slice(site.origin.length));
    await again.page.getByTestId('summary').waitFor();
    await expect(again.page.getByTestId('editor').inputValue()).resolves.toBe(text);
    await expect(again.page.getByTestId('summary').getAttribute('data-ok')).resolves.toBe('true');
    expect(normalise(await jsonl(again.page))).toEqual(normalise(before));
    // The page-table picture: the private write left a PENDING leaf behind the mirror root.
    await expect(
      again.page
        .locator('[data-testid="page-tables"] [data-root="mirror"] g[data-state="PENDING"]')
        .count(),
    ).resolves.toBe(1);
    expect([...problems, ...again.problems]).toEqual([]);
    await again.page.close();
  });

  test('every file in examples/ gives in the browser the events of `kvmx run --json`', async () => {
    expect(EXAMPLES.length).toBeGreaterThan(10);
    const { page, problems } = await open('/playground');
    await page.getByTestId('summary').waitFor();
    const offered = await page
      .getByTestId('examples')
      .locator('[data-example]')
      .evaluateAll((bs) => bs.map((b) => b.getAttribute('data-example')));
    expect(offered).toEqual(EXAMPLES);
    for (const base of EXAMPLES) {
      await runExample(page, base);
      // Same text as on disk, then the same stream as the CLI's, event for event.
      await expect(page.getByTestId('editor').inputValue()).resolves.toBe(
        readFileSync(join(EXAMPLES_DIR, base), 'utf8'),
      );
      const browser = normalise(await jsonl(page));
      const cli = await kvmxRunJson(join(EXAMPLES_DIR, base));
      expect(cli.stderr, base).toEqual([]);
      expect(cli.code, base).toBe(0);
      const expected = normalise(cli.stdout);
      // The site runs the sources it was built from, the CLI the working tree's: a difference
      // here after a package changed means dist/ is stale (rebuild) or the two really differ.
      const hint =
        'rebuild the site if the packages changed since `pnpm --filter @kvmx/docs build`';
      expect(browser.at(-1), `${base}: summary (${hint})`).toEqual(expected.at(-1));
      expect(browser, `${base}: event stream (${hint})`).toEqual(expected);
      await expect(page.getByTestId('summary').getAttribute('data-ok'), base).resolves.toBe('true');
    }
    expect(problems).toEqual([]);
    await page.close();
  });

  test('the scenario-format page links every example to the playground', async () => {
    const { page, problems } = await open('/guide/scenarios');
    for (const base of EXAMPLES) {
      await expect(
        page.locator(`a[href="/playground#example=${base}"]`).count(),
        base,
      ).resolves.toBeGreaterThan(0);
    }
    await page.locator('a[href="/playground#example=punch-hole.yaml"]').first().click();
    await page.waitForURL(`${site.origin}/playground#example=punch-hole.yaml`);
    await expect(page.getByTestId('file').textContent()).resolves.toBe('examples/punch-hole.yaml');
    await expect(page.getByTestId('summary').getAttribute('data-ok')).resolves.toBe('true');
    // With the playground open, a link that changes only the hash loads that example.
    await page.evaluate(() => {
      location.hash = '#example=tdx-shared-mem.yaml';
    });
    await page.waitForFunction(
      () =>
        document.querySelector('[data-testid="file"]')?.textContent ===
        'examples/tdx-shared-mem.yaml',
    );
    await expect(page.getByTestId('summary').getAttribute('data-ok')).resolves.toBe('true');
    expect(problems).toEqual([]);
    await page.close();
  });

  test('the mirror-roots concept page steps through a live TD: PENDING, MAPPED, BLOCKED', async () => {
    const { page, problems } = await open('/concepts/mirror-roots');
    const live = page.getByTestId('live-tables');
    await live.waitFor();
    const sept = (state: string) =>
      live.locator(`[data-root="sept"] g[data-state="${state}"]`).count();
    // It opens at the private write: AUG left the S-EPT leaf PENDING, the mirror leaf too.
    await expect(sept('PENDING')).resolves.toBe(1);
    await expect(
      live.locator('[data-root="mirror"] g[data-kind="leaf"][data-state="PENDING"]').count(),
    ).resolves.toBe(1);
    await expect(live.locator('[data-root="direct"]').count()).resolves.toBe(0);
    await live.getByTestId('live-next').click();
    await expect(sept('MAPPED')).resolves.toBe(1);
    // Step to the end: the hostile BLOCK leaves a BLOCKED S-EPT leaf; the direct root holds the
    // shared page at its canonical GFN.
    while (await live.getByTestId('live-next').isEnabled()) {
      await live.getByTestId('live-next').click();
    }
    await expect(sept('BLOCKED')).resolves.toBe(1);
    await expect(
      live.locator('[data-root="direct"] g[data-kind="leaf"][data-gfn="0x80001"]').count(),
    ).resolves.toBe(1);
    await live.screenshot({ path: join(SCREENSHOTS, 'concept-live-tables.png') });
    expect(problems).toEqual([]);
    await page.close();
    expect(site.external).toEqual([]);
  });
});
