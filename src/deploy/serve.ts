// A tiny static file server for a web export (`clan serve DIR`, deploy/web.ts): GET and HEAD only, nothing outside
// DIR (no `..`, no symbolic link leading out), 127.0.0.1 unless told otherwise. The page cannot run from file://
// (module scripts and the wasm fetch need http), and onnxruntime-web's threads need SharedArrayBuffer, which a
// browser allows only on a cross-origin isolated page: hence COOP same-origin + COEP require-corp on every answer.
// A page elsewhere must not read these files through the browser: a DNS-rebinding site (evil.example resolving to
// 127.0.0.1) reaches the port with its own name in the Host header, so only the names of the bound address are
// answered (421 otherwise), and every answer carries a Content-Security-Policy that the page satisfies.
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import { DataError } from '../util/errors.js';

export interface ServeOptions {
  port?: number;  // default 0: any free port
  host?: string;  // default 127.0.0.1 (this machine only)
}
export interface Served { url: string; close(): Promise<void> }

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.json': 'application/json', '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8', '.map': 'application/json',
};

const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache', // a new export into the same folder must not meet a stale model.onnx
  // assets/web/index.html's own policy (wasm compiled in the page, ort's workers from blob: URLs, images drawn from
  // blob:/data:), and what a <meta> policy cannot say: no framing, no <base>, no forms, no plugins.
  'Content-Security-Policy': "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; img-src 'self' blob: data:; " +
    "connect-src 'self' blob: data:; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Whether a request's Host header names this server: `name:port` with the bound port, where the name is the bound
 * address, or a loopback name when it listens on loopback or every interface, or (every interface) an IP literal —
 * a page loaded from an address is same-origin with it, so only a domain name can be a rebinding.
 */
export function hostAllowed(header: string | undefined, bound: string, port: number): boolean {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(header ?? '');
  if (!m || Number(m[2] ?? 80) !== port) return false;
  const name = m[1]!.toLowerCase();
  const literal = (h: string): string => (isIP(h) === 6 ? `[${h}]` : h.toLowerCase());
  const any = bound === '0.0.0.0' || bound === '::';
  if (name === literal(bound)) return true;
  if (LOOPBACK.has(name) && (any || LOOPBACK.has(literal(bound)) || /^127\./.test(bound))) return true;
  return any && isIP(name.replace(/^\[(.*)\]$/, '$1')) !== 0;
}

/** The Host values answered, for the 421 body. */
function hostNames(b: { host: string; port: number }): string {
  const name = isIP(b.host) === 6 ? `[${b.host}]` : b.host;
  const names = b.host === '0.0.0.0' || b.host === '::' ? ['localhost', 'an IP address'] : [...new Set([name, ...(LOOPBACK.has(name) || /^127\./.test(name) ? LOOPBACK : [])])];
  return `Host ${names.map((n) => `${n}:${b.port}`).join(', ')}`;
}

/** The file under `root` that `urlPath` names, or null (outside root, not a file, a malformed escape). */
function fileFor(root: string, urlPath: string): string | null {
  let p: string;
  try { p = decodeURIComponent(urlPath.split('?')[0]!); } catch { return null; }
  if (p.includes('\0')) return null;
  if (p.endsWith('/')) p += 'index.html';
  const f = resolve(root, '.' + p);
  if (f !== root && !f.startsWith(root + sep)) return null;
  try {
    const real = realpathSync(f); // a symbolic link inside root may point out of it
    return real.startsWith(root + sep) && statSync(real).isFile() ? real : null;
  } catch { return null; }
}

function answer(root: string, bound: { host: string; port: number }, req: IncomingMessage, res: ServerResponse): void {
  const plain = (code: number, text: string, extra: Record<string, string> = {}): void => {
    res.writeHead(code, { ...HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...extra });
    res.end(req.method === 'HEAD' ? undefined : text + '\n');
  };
  if (!hostAllowed(req.headers.host, bound.host, bound.port)) return plain(421, `misdirected request: this server answers ${hostNames(bound)} only`);
  if (req.method !== 'GET' && req.method !== 'HEAD') return plain(405, 'method not allowed', { Allow: 'GET, HEAD' });
  const f = fileFor(root, req.url ?? '/');
  if (!f) return plain(404, 'not found');
  const size = statSync(f).size;
  res.writeHead(200, { ...HEADERS, 'Content-Type': MIME[extname(f).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': String(size) });
  if (req.method === 'HEAD') { res.end(); return; }
  createReadStream(f).on('error', () => res.destroy()).pipe(res);
}

/** Serves `dir` over http until close(); the URL has the port actually bound (port 0 picks a free one). */
export async function serveStatic(dir: string, o: ServeOptions = {}): Promise<Served> {
  let root: string;
  try { root = realpathSync(resolve(dir)); } catch { throw new DataError(`serve: folder ${dir} does not exist`); }
  if (!statSync(root).isDirectory()) throw new DataError(`serve: ${dir} is not a folder`);
  const host = o.host ?? '127.0.0.1', port = o.port ?? 0;
  const bound = { host, port };
  const server = createServer((req, res) => answer(root, bound, req, res));
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(e.code === 'EADDRINUSE'
      ? new DataError(`serve: port ${port} on ${host} is in use; expected a free port (--port 0 picks one)`)
      : new DataError(`serve: cannot listen on ${host}:${port} (${e.code ?? e.message}); expected a local address and a free port`)));
    server.listen(port, host, () => ok());
  });
  const addr = server.address();
  bound.port = typeof addr === 'object' && addr ? addr.port : port;
  // an unspecified address (every interface) is reached here through the loopback one
  const name = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${name}:${bound.port}/`,
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}
