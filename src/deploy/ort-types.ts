// The part of onnxruntime-node's API that clan uses (its types come from onnxruntime-common), declared here rather
// than imported from the package: onnxruntime-node is an optional dependency, so `npm ci --omit=optional && npm run
// build` must compile without it, and the shipped declarations must name no package a user may not have.
// deploy/ort.ts imports the package at run time and types it as OrtModule. src/pack.test.ts type-checks the real package
// (the version the lock pins) against these declarations, so they cannot drift from it unnoticed.

/** Tensor.data for each element type (onnxruntime-common's Tensor.DataTypeMap: bool, uint4 are Uint8Array, …). */
export type OrtTensorData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array
  | Uint32Array | BigInt64Array | BigUint64Array | string[];

/** A CPU tensor: `type` names the element type ('float32', 'uint8', …), `dims` its shape. */
export interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: OrtTensorData;
  /** Frees the native buffer now rather than at garbage collection. */
  dispose(): void;
}

/** Inputs or outputs of a run, by graph input/output name. */
export type OrtValueMap = { readonly [name: string]: OrtTensor };

export interface OrtSessionOptions {
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
}

export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the graph: every output, or those `fetches` names (two signatures, as onnxruntime-common declares them). */
  run(feeds: OrtValueMap): Promise<OrtValueMap>;
  run(feeds: OrtValueMap, fetches: readonly string[]): Promise<OrtValueMap>;
  release(): Promise<void>;
}

/** The module itself: `await import('onnxruntime-node')` (its default export under ESM: a CommonJS package). */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: OrtSessionOptions): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
}
