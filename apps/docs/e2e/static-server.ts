// A tiny static file server for apps/docs/dist, as a host would serve a VitePress build with
// cleanUrls: /decoder -> decoder.html, /api/ -> api/index.html, anything else -> 404.html.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

function isFile(path: string): boolean {
  return existsSync(path) && statSync(path).isFile();
}

/** The file that answers `urlPath`, or null. Never leaves `root`. */
export function resolveRequest(root: string, urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0] ?? '/');
  } catch {
    return null;
  }
  const target = normalize(join(root, path));
  if (target !== root && !target.startsWith(root + sep)) return null;
  const candidates = path.endsWith('/')
    ? [join(target, 'index.html')]
    : [target, `${target}.html`, join(target, 'index.html')];
  return candidates.find(isFile) ?? null;
}

export interface StaticServer {
  readonly origin: string;
  close(): Promise<void>;
}

export async function serveStatic(dir: string): Promise<StaticServer> {
  const root = resolve(dir);
  const server: Server = createServer((req, res) => {
    const file = resolveRequest(root, req.url ?? '/');
    const status = file === null ? 404 : 200;
    const body = file ?? join(root, '404.html');
    res.writeHead(status, {
      'content-type': TYPES[extname(body)] ?? 'application/octet-stream',
    });
    res.end(isFile(body) ? readFileSync(body) : 'not found');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
