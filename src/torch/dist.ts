// Collective communication between processes on PyTorch's c10d (torch.distributed's default group): a TCPStore
// rendezvous hosted by rank 0, and the group's backends: Gloo for CPU tensors, NCCL for CUDA tensors (one process
// per GPU). Tensors are reduced in place; every wait has the group's timeout, so a dead peer or a stalled rank ends
// in one DistError line, never a hang.
import { native } from './native.js';
import { Tensor } from './tensor.js';
import { ClanError } from '../util/errors.js';

/** A collective or the rendezvous failed (a peer died, a timeout, a port in use). */
export class DistError extends ClanError {}

/** 'gloo': CPU (and CUDA) tensors over TCP; 'nccl': CUDA tensors over NVLink/PCIe/InfiniBand, Gloo beside it for CPU tensors. */
export type DistBackend = 'gloo' | 'nccl';

export interface ProcessGroupOptions {
  masterAddr: string;          // host of rank 0's store (MASTER_ADDR)
  masterPort: number;          // its port (MASTER_PORT)
  rank: number;                // 0 … worldSize-1 (RANK)
  worldSize: number;           // WORLD_SIZE
  timeoutMs: number;           // rendezvous and every collective
  socketInterface?: string;    // GLOO_SOCKET_IFNAME: the network interface to use between machines
  backend?: DistBackend;       // default 'gloo'
  cudaIndex?: number;          // NCCL: this process's GPU (LOCAL_RANK), made the current device
}

let group: { rank: number; worldSize: number; backend: DistBackend } | null = null;

/** Backends this build has: 'gloo' where the addon was compiled with the gloo headers, 'nccl' on CUDA builds with nccl.h. */
export function distBackends(): DistBackend[] { return native.distBackends() as DistBackend[]; }

/** The backend for a run on `device`: NCCL for CUDA where compiled in (as torch.distributed picks), else Gloo. */
export function defaultBackend(device: string): DistBackend {
  return device.startsWith('cuda') && distBackends().includes('nccl') ? 'nccl' : 'gloo';
}

function call<T>(fn: () => T): T {
  try { return fn(); } catch (e) { throw new DistError((e as Error).message.replace(/^libtorch: /, '')); }
}

/** Joins the group: blocks until all worldSize ranks have met at masterAddr:masterPort (or the timeout). */
export function initProcessGroup(o: ProcessGroupOptions): void {
  if (group) throw new DistError('distributed: already initialised');
  if (!(Number.isInteger(o.rank) && o.rank >= 0 && o.rank < o.worldSize)) throw new DistError(`distributed: rank ${o.rank} outside 0…${o.worldSize - 1}`);
  if (!(Number.isInteger(o.masterPort) && o.masterPort > 0 && o.masterPort < 65536)) throw new DistError(`distributed: MASTER_PORT must be 1…65535, got ${o.masterPort}`);
  const backend = o.backend ?? 'gloo';
  if (!distBackends().includes(backend)) {
    throw new DistError(`distributed: backend '${backend}' is not compiled into this addon (it has: ${distBackends().join(', ') || 'none'})`);
  }
  if (backend === 'nccl' && !(Number.isInteger(o.cudaIndex) && o.cudaIndex! >= 0)) throw new DistError('distributed: NCCL needs the GPU of this process (cudaIndex)');
  const at = `${o.masterAddr}:${o.masterPort}`;
  try {
    native.distInit(o.masterAddr, o.masterPort, o.rank, o.worldSize, o.timeoutMs, o.socketInterface ?? '', backend, o.cudaIndex ?? -1);
  } catch (e) {
    const m = (e as Error).message.replace(/^libtorch: /, '');
    if (/already in use/i.test(m)) throw new DistError(`distributed: ${at} is already in use on rank ${o.rank}'s machine; choose another MASTER_PORT (--master-port)`);
    if (/timeout|timed out/i.test(m)) {
      throw new DistError(`distributed: rank ${o.rank} waited ${o.timeoutMs / 1000} s at ${at} and not all ${o.worldSize} ranks arrived; start every worker with the same MASTER_ADDR:MASTER_PORT (${m.split(': ').pop()})`);
    }
    throw new DistError(m);
  }
  group = { rank: o.rank, worldSize: o.worldSize, backend };
}

export function destroyProcessGroup(): void { native.distDestroy(); group = null; }
export function isInitialized(): boolean { return group !== null; }
export function getRank(): number { return group?.rank ?? 0; }
export function getWorldSize(): number { return group?.worldSize ?? 1; }
export function getBackend(): DistBackend | null { return group?.backend ?? null; }

/** A collective in flight (torch.distributed's Work): wait() blocks until it is done on this rank. */
export interface Work { wait(): void }

/** Sum the tensors in place across ranks, asynchronously (contiguous tensors of one device). */
export function allReduceAsync(tensors: Tensor[]): Work {
  const id = call(() => native.distAllreduceStart(tensors.map((t) => t.handle)));
  let done = false;
  return { wait: () => { if (!done) { done = true; call(() => native.distWait(id)); } } };
}

/** Sum in place across ranks (average: divide by getWorldSize()). */
export function allReduce(tensors: Tensor[]): void { allReduceAsync(tensors).wait(); }

/** Overwrite the tensors with rank `root`'s values. */
export function broadcast(tensors: Tensor[], root = 0): void { call(() => native.distBroadcast(tensors.map((t) => t.handle), root)); }

/** Every rank's copy of `t`, in rank order (small tensors: sizes, flags, statistics). */
export function allGather(t: Tensor): Tensor[] { return call(() => native.distAllgather(t.handle)).map((h) => new Tensor(h)); }

export function barrier(): void { call(() => native.distBarrier()); }

/** The rendezvous store (on rank 0): small facts between ranks, e.g. who is still alive after a failure. */
export function storeSet(key: string, value: string): void { call(() => native.distStoreSet(key, value)); }
export function storeHas(key: string): boolean { return call(() => native.distStoreCheck(key)); }
