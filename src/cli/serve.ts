// `clan serve DIR`: serves a web export (`clan export CKPT --web DIR`, deploy/web.ts) over http until Ctrl-C. The page cannot run
// from file:// (module scripts, the wasm fetch), and its wasm threads need the isolation headers serve sends.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse, str, intFlag, type Command } from './args.js';
import { DataError, UsageError } from '../util/errors.js';

const USAGE = `usage: clan serve DIR [--port N] [--host H]

Serves the web page that 'clan export' writes for a checkpoint (see its --help) at http://H:N/ until Ctrl-C: open
the URL, choose or drop an image, and the page segments it in the browser (onnxruntime-web, wasm); the image never
leaves the browser.
Static files only (GET and HEAD), nothing outside DIR; every answer carries Cross-Origin-Opener-Policy and
Cross-Origin-Embedder-Policy, so the page may use wasm threads.
  --port N   the port (default 8080; 0: any free port)
  --host H   the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)`;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'serve the web page written by clan export on http://127.0.0.1',
  usage: USAGE,
  async run(argv) {
    const p = parse('serve', argv, { port: { type: 'string' }, host: { type: 'string' } }, true);
    if (p.values.help) { console.log(USAGE); return 0; }
    if (p.positionals.length !== 1) throw new UsageError(`serve: give one folder (clan serve DIR), got ${p.positionals.length}`);
    const dir = p.positionals[0]!;
    const port = intFlag('serve', 'port', str(p, 'port'), 8080, 0, 65535, 'a TCP port');
    if (!existsSync(join(dir, 'index.html'))) throw new DataError(`serve: ${dir} has no index.html; expected a folder written by 'clan export CKPT --web ${dir}'`);
    const { serveStatic } = await import('../deploy/serve.js');
    const served = await serveStatic(dir, { port, host: str(p, 'host') ?? '127.0.0.1' });
    console.log(`serving ${dir} at ${served.url}  (Ctrl-C stops)`);
    // Ctrl-C is how a server is meant to stop: exit 0 once the sockets are closed
    await new Promise<void>((done) => process.once('SIGINT', () => done()));
    await served.close();
    return 0;
  },
};
