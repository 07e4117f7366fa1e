// The test server must answer like a static host serving a cleanUrls VitePress build, and must
// never serve a file outside the directory it was given.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { resolveRequest, type StaticServer, serveStatic } from './static-server.js';

describe('static server for dist/', () => {
  let root: string;
  let server: StaticServer;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'kvmx-docs-static-'));
    mkdirSync(join(root, 'guide'));
    mkdirSync(join(root, 'api', '@kvmx', 'address'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<h1>home</h1>');
    writeFileSync(join(root, '404.html'), '<h1>404</h1>');
    writeFileSync(join(root, 'decoder.html'), '<h1>decoder</h1>');
    writeFileSync(join(root, 'guide', 'cli.html'), '<h1>cli</h1>');
    writeFileSync(join(root, 'api', 'index.html'), '<h1>api</h1>');
    writeFileSync(join(root, 'api', '@kvmx', 'address', 'index.html'), '<h1>address</h1>');
    writeFileSync(join(tmpdir(), 'kvmx-docs-outside.html'), 'secret');
    server = await serveStatic(root);
  });

  afterAll(async () => {
    await server.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(join(tmpdir(), 'kvmx-docs-outside.html'), { force: true });
  });

  test('maps clean URLs to the built files', () => {
    expect(resolveRequest(root, '/')).toBe(join(root, 'index.html'));
    expect(resolveRequest(root, '/decoder')).toBe(join(root, 'decoder.html'));
    expect(resolveRequest(root, '/decoder?gpa=0x1000&vm=snp')).toBe(join(root, 'decoder.html'));
    expect(resolveRequest(root, '/guide/cli')).toBe(join(root, 'guide', 'cli.html'));
    expect(resolveRequest(root, '/api/')).toBe(join(root, 'api', 'index.html'));
    expect(resolveRequest(root, '/api/%40kvmx/address/')).toBe(
      join(root, 'api', '@kvmx', 'address', 'index.html'),
    );
    expect(resolveRequest(root, '/nope')).toBeNull();
  });

  test('refuses paths that leave the root', () => {
    expect(resolveRequest(root, '/../kvmx-docs-outside.html')).toBeNull();
    expect(resolveRequest(root, '/%2e%2e/kvmx-docs-outside')).toBeNull();
    expect(resolveRequest(root, '/%E0%A4%A')).toBeNull(); // malformed escape
  });

  test('serves pages with 200 and unknown paths with the 404 page', async () => {
    const ok = await fetch(`${server.origin}/decoder`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/html; charset=utf-8');
    await expect(ok.text()).resolves.toBe('<h1>decoder</h1>');
    const missing = await fetch(`${server.origin}/missing/page`);
    expect(missing.status).toBe(404);
    await expect(missing.text()).resolves.toBe('<h1>404</h1>');
  });
});
