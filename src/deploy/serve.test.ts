// serveStatic: MIME types, the isolation headers, GET/HEAD only, nothing outside the folder (.., %2e%2e, a symbolic
// link out of it), the bound URL, and a one-line error for a port in use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveStatic } from './serve.js';

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One raw request: the path goes out exactly as given (no URL normalisation of `..`). */
function get(url: string, path: string, method = 'GET'): Promise<Reply> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method }, (res) => {
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
