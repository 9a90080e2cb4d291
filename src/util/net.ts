// A free TCP port on this machine, for a data-parallel rendezvous on one machine (between machines the port must
// be agreed on beforehand). The port is free when this returns; another program could still take it before use.
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => { const a = srv.address(); srv.close(() => res(typeof a === 'object' && a ? a.port : 29500)); });
  });
}
