// What both browser test files share: where the built site and the screenshots are, Debian
// chromium with the flags verified on this kind of machine, and a site session — the build
// served on 127.0.0.1, one chromium profile, every request that would leave the machine
// recorded and refused (the site must work offline), and pages opened with their console
// errors, exceptions and failed requests collected.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { serveStatic } from './static-server.js';

export const DOCS_DIR = fileURLToPath(new URL('..', import.meta.url));
export const DIST = join(DOCS_DIR, 'dist');
export const REPO_ROOT = join(DOCS_DIR, '..', '..');
export const SCREENSHOTS = join(DOCS_DIR, 'e2e', 'screenshots');
export const CHROMIUM = process.env.KVMX_CHROMIUM ?? '/usr/bin/chromium';
// toolchain.md §1.5: the flags verified with Debian's chromium on this kind of machine.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
export const hasChromium = existsSync(CHROMIUM);

export interface Opened {
  readonly page: Page;
  /** Console errors, uncaught exceptions and failed requests seen on this page. */
  readonly problems: string[];
}

export interface Site {
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  /** Every URL a page tried to fetch from anywhere but `origin` (refused). */
  readonly external: string[];
  /** Open `path` in a new page; its HTTP status must be 200. */
  open(path: string): Promise<Opened>;
  close(): Promise<void>;
}

/** Serve the build and start chromium; `needs` is a file the build must have. */
export async function launchSite(needs: string): Promise<Site> {
  if (!existsSync(join(DIST, needs))) {
    throw new Error(`${DIST} has no ${needs}: run \`pnpm --filter @kvmx/docs build\` first`);
  }
  const server = await serveStatic(DIST);
  const profile = mkdtempSync(join(tmpdir(), 'kvmx-docs-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  // Playwright's 30 s default is tight for hydration on a loaded machine.
  context.setDefaultTimeout(60_000);
  const external: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol.startsWith('http') && url.origin !== server.origin) {
      external.push(url.href);
      return route.abort();
    }
    return route.continue();
  });
  mkdirSync(SCREENSHOTS, { recursive: true });

  return {
    origin: server.origin,
    external,
    async open(path: string): Promise<Opened> {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
      const res = await page.goto(server.origin + path, { waitUntil: 'networkidle' });
      expect(res?.status(), `HTTP status of ${path}`).toBe(200);
      return { page, problems };
    },
    async close(): Promise<void> {
      await context.close();
      await server.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
