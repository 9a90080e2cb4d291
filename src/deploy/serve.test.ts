// serveStatic: MIME types, the isolation headers, GET/HEAD only, nothing outside the folder (.., %2e%2e, a symbolic
// link out of it), the bound URL, and a one-line error for a port in use; only the bound address's Host names are
// answered (DNS rebinding), and a Content-Security-Policy on every answer that the web page satisfies (in Chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../report/png.js';
import { plausibleModel } from '../infer/plausible.js';
import { CHROMIUM, chromiumOrSkip, watchPage } from '../util/util.testing.js';
import { exportOnnx, onnxInfo } from './export.js';
import { hostAllowed, serveStatic } from './serve.js';
import { writeWebApp } from './web.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One raw request: the path goes out exactly as given (no URL normalisation of `..`); `host` sets the Host header. */
function get(url: string, path: string, method = 'GET', host?: string): Promise<Reply> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method, ...(host === undefined ? {} : { headers: { host } }) }, (res) => {
      let body = '';
      res.setEncoding('latin1').on('data', (c: string) => { body += c; }).on('end', () => ok({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', fail).end();
  });
}

test('serveStatic: MIME types and COOP/COEP on every answer; 404 outside the folder; GET and HEAD only', async () => {
  const base = mkdtempSync(join(tmpdir(), 'clan-serve-'));
  const dir = join(base, 'web');
  mkdirSync(join(dir, 'sub'), { recursive: true });
  writeFileSync(join(base, 'secret.txt'), 'outside');
  for (const [f, body] of [['index.html', '<!doctype html>'], ['a.mjs', 'export {}'], ['b.js', '1'], ['m.wasm', '\0asm'], ['model.json', '{}'], ['sub/x.onnx', 'onnx']]) {
    writeFileSync(join(dir, f!), body!);
  }
  symlinkSync(join(base, 'secret.txt'), join(dir, 'link.txt'));
  const s = await serveStatic(dir);
  try {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const types: Record<string, string> = { '/': 'text/html; charset=utf-8', '/a.mjs': 'text/javascript; charset=utf-8', '/b.js': 'text/javascript; charset=utf-8',
      '/m.wasm': 'application/wasm', '/model.json': 'application/json', '/sub/x.onnx': 'application/octet-stream' };
    for (const [path, type] of Object.entries(types)) {
      const r = await get(s.url, path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-type'], type, path);
      assert.equal(r.headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp');
    }
    assert.equal((await get(s.url, '/index.html')).body, '<!doctype html>');
    const head = await get(s.url, '/a.mjs', 'HEAD');
    assert.deepEqual([head.status, head.headers['content-length'], head.body], [200, '9', '']);
    for (const path of ['/../secret.txt', '/sub/../../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/link.txt', '/sub', '/nope.js', '/%E0%A4%A']) {
      const r = await get(s.url, path);
      assert.equal(r.status, 404, path);
      assert.ok(!r.body.includes('outside'), path);
      assert.equal(r.headers['cross-origin-embedder-policy'], 'require-corp');
    }
    const post = await get(s.url, '/index.html', 'POST');
    assert.deepEqual([post.status, post.headers.allow], [405, 'GET, HEAD']);
    const port = Number(new URL(s.url).port);
    await assert.rejects(serveStatic(dir, { port }), (e: Error) => e.name === 'DataError' && e.message === `serve: port ${port} on 127.0.0.1 is in use; expected a free port (--port 0 picks one)`);
    await assert.rejects(serveStatic(join(base, 'missing')), /serve: folder .*missing does not exist/);
  } finally {
    await s.close();
    rmSync(base, { recursive: true, force: true });
  }
});

const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; img-src 'self' blob: data:; connect-src 'self' blob: data:; " +
  "style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

test('hostAllowed: the bound address and, on loopback, its loopback names, with the bound port; IP literals only on every interface', () => {
  const cases: [string | undefined, string, boolean][] = [
    ['127.0.0.1:8080', '127.0.0.1', true], ['localhost:8080', '127.0.0.1', true], ['LOCALHOST:8080', '127.0.0.1', true], ['[::1]:8080', '127.0.0.1', true],
    ['evil.example:8080', '127.0.0.1', false], ['127.0.0.1:8081', '127.0.0.1', false], ['127.0.0.1', '127.0.0.1', false], [undefined, '127.0.0.1', false],
    ['localhost.:8080', '127.0.0.1', false], ['127.0.0.1:8080:1', '127.0.0.1', false], ['', '127.0.0.1', false], ['::1:8080', '::1', false],
    ['[::1]:8080', '::1', true], ['localhost:8080', '::1', true], ['192.168.1.5:8080', '192.168.1.5', true], ['localhost:8080', '192.168.1.5', false],
    ['192.168.1.5:8080', '0.0.0.0', true], ['[fe80::1]:8080', '::', true], ['localhost:8080', '0.0.0.0', true], ['evil.example:8080', '0.0.0.0', false],
    ['10.0.0.9:8080', '127.0.0.1', false],
  ];
  for (const [header, bound, want] of cases) assert.equal(hostAllowed(header, bound, 8080), want, `Host ${header} on ${bound}`);
  assert.equal(hostAllowed('example.org', 'example.org', 80), true, 'no port: 80');
});

test('serveStatic answers only its own Host names (421, nothing of the files, otherwise) and sends the CSP on every answer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-serve-'));
  writeFileSync(join(dir, 'model.onnx'), 'weights');
  const s = await serveStatic(dir);
  try {
    const port = Number(new URL(s.url).port);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      const r = await get(s.url, '/model.onnx', 'GET', host);
      assert.deepEqual([r.status, r.body, r.headers['content-security-policy']], [200, 'weights', CSP], host);
    }
    for (const host of [`evil.example:${port}`, `127.0.0.1:${port + 1}`, `localhost`, `10.0.0.9:${port}`]) {
      const r = await get(s.url, '/model.onnx', 'GET', host);
      assert.deepEqual([r.status, r.body, r.headers['content-security-policy']],
        [421, `misdirected request: this server answers Host 127.0.0.1:${port}, localhost:${port}, [::1]:${port} only\n`, CSP], host);
    }
    assert.equal((await get(s.url, '/missing')).headers['content-security-policy'], CSP, 'a 404 too');
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the web page under serve\'s CSP in Chromium: the model loads and segments with no CSP violation; a violation would be seen; a rebinding name gets 421', { timeout: 180_000 }, async (t) => {
  if (!chromiumOrSkip(t)) return;
  const m = plausibleModel('micro', 3, 6, [32, 32]);
  const dir = mkdtempSync(join(tmpdir(), 'clan-serve-csp-'));
  const web = join(dir, 'web');
  writeWebApp(web, exportOnnx(m, { output: 'heads' }), onnxInfo(m, { output: 'heads' }));
  m.G.dispose();
  const image = join(dir, 'image.png');
  writeFileSync(image, encodePng(Uint8Array.from({ length: 40 * 24 * 3 }, (_, i) => (i * 37) & 255), 40, 24));
  const served = await serveStatic(web);
  const { chromium } = await import('playwright-core');
  // evil.test resolves to this machine, as a DNS-rebinding attacker's name would
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP evil.test 127.0.0.1'] });
  try {
    const page = await browser.newPage();
    const { errors } = watchPage(page);
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { cspViolations: string[] }).cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective}: ${e.blockedURI}`));
    });
    const response = await page.goto(served.url, { waitUntil: 'load' });
    assert.equal(response!.headers()['content-security-policy'], CSP);
    await page.waitForFunction(() => document.body.dataset.state !== 'loading', undefined, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'ready', await page.textContent('#status') ?? '');
    await page.setInputFiles('#file', image);
    await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', undefined, { timeout: 120_000 });
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', await page.textContent('#status') ?? '');
    const violations = (): Promise<string[]> => page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
    assert.deepEqual(await violations(), [], 'the page satisfies the policy');
    assert.deepEqual(errors, [], 'no console error or warning');
    // The listener is live: a request the policy forbids is reported.
    await page.evaluate(() => fetch('https://example.invalid/x').catch(() => undefined));
    await page.waitForFunction(() => (window as unknown as { cspViolations: string[] }).cspViolations.length > 0);
    assert.deepEqual([...new Set(await violations())], ['connect-src: https://example.invalid/x'], 'reported (by the header\'s policy and the page\'s <meta> one)');
    const port = new URL(served.url).port;
    const rebound = await page.goto(`http://evil.test:${port}/model.onnx`);
    assert.equal(rebound!.status(), 421);
    assert.equal(await rebound!.text(), `misdirected request: this server answers Host 127.0.0.1:${port}, localhost:${port}, [::1]:${port} only\n`);
  } finally {
    await browser.close();
    await served.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
