// An ONNX graph writer with no dependency: a builder for nodes, initializers and typed inputs/outputs, and the
// protobuf encoding of ModelProto (onnx/onnx.proto, IR version 8). Knows nothing of CLAN; deploy/export.ts walks
// the model and calls it. Also reads ModelProto.metadata_props back without decoding the graph (deploy/ort.ts).
//
// Protobuf wire format: a field is a varint key (number << 3 | wire type), then wire 0 a varint, wire 2 a varint
// length + bytes (strings, messages, packed repeated scalars), wire 5 four little-endian bytes (float).
import { DataError } from '../util/errors.js';

// ---- protobuf encoding ----

type Bytes = Uint8Array;

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n)); // negative int64 → two's complement, 10 bytes
  const out: number[] = [];
  for (; v >= 0x80n; v >>= 7n) out.push(Number(v & 0x7fn) | 0x80);
  out.push(Number(v));
  return out;
}
const cat = (parts: Bytes[]): Bytes => Buffer.concat(parts);
const intField = (no: number, n: number | bigint): Bytes => Uint8Array.from([...varint(no << 3), ...varint(n)]);
function lenField(no: number, body: Bytes | string): Bytes {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return cat([Uint8Array.from([...varint((no << 3) | 2), ...varint(b.length)]), b]);
}
const packedInts = (no: number, ns: readonly number[]): Bytes => lenField(no, Uint8Array.from(ns.flatMap((n) => varint(n))));
function floatField(no: number, f: number): Bytes {
  const b = Buffer.alloc(5); b[0] = (no << 3) | 5; b.writeFloatLE(f, 1); return b;
}

// ---- the ONNX messages we write ----

/** TensorProto.DataType values used here. */
export const ONNX_TYPE = { float: 1, uint8: 2, int64: 7 } as const;
export type OnnxType = keyof typeof ONNX_TYPE;
/** A dimension: a fixed size or a symbolic name (dim_param, e.g. 'batch'). */
export type Dim = number | string;

export type AttrValue = number | string | number[] | { floats: number[] };
interface Node { op: string; inputs: string[]; outputs: string[]; name: string; attrs: Record<string, AttrValue> }
interface Initializer { name: string; type: OnnxType; dims: number[]; data: Float32Array | BigInt64Array }
interface ValueInfo { name: string; type: OnnxType; shape: Dim[] }

function encodeAttr(name: string, v: AttrValue): Bytes {
  // AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, FLOATS 6, INTS 7)
  if (typeof v === 'string') return cat([lenField(1, name), lenField(4, v), intField(20, 3)]);
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new Error(`attribute ${name}: ${v} is not an integer (pass { floats } for floats)`);
    return cat([lenField(1, name), intField(3, v), intField(20, 2)]);
  }
  if (Array.isArray(v)) return cat([lenField(1, name), ...v.map((n) => intField(8, n)), intField(20, 7)]);
  if (v.floats.length === 1) return cat([lenField(1, name), floatField(2, v.floats[0]!), intField(20, 1)]);
  return cat([lenField(1, name), ...v.floats.map((f) => floatField(7, f)), intField(20, 6)]);
}

function encodeNode(n: Node): Bytes {
  // NodeProto: input 1, output 2, name 3, op_type 4, attribute 5
  return cat([...n.inputs.map((s) => lenField(1, s)), ...n.outputs.map((s) => lenField(2, s)), lenField(3, n.name),
    lenField(4, n.op), ...Object.entries(n.attrs).map(([k, v]) => lenField(5, encodeAttr(k, v)))]);
}

function encodeTensor(t: Initializer): Bytes {
  // TensorProto: dims 1 (packed int64), data_type 2, name 8, raw_data 9 (little-endian, as this host writes it)
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return cat([packedInts(1, t.dims), intField(2, ONNX_TYPE[t.type]), lenField(8, t.name), lenField(9, raw)]);
}

function encodeValueInfo(v: ValueInfo): Bytes {
  // ValueInfoProto{name 1, type 2: TypeProto{tensor_type 1: {elem_type 1, shape 2: {dim 1: {dim_value 1 | dim_param 2}}}}}
  const dims = v.shape.map((d) => lenField(1, typeof d === 'number' ? intField(1, d) : lenField(2, d)));
  const tensorType = cat([intField(1, ONNX_TYPE[v.type]), lenField(2, cat(dims))]);
  return cat([lenField(1, v.name), lenField(2, lenField(1, tensorType))]);
}

// ---- the builder ----

export interface ModelOptions { opset: number; producer: string; version: string; doc: string; metadata: [string, string][] }

/** Collects a graph in topological order (every node after its inputs' producers) and encodes it as a ModelProto. */
export class GraphBuilder {
  private readonly nodes: Node[] = [];
  private readonly inits: Initializer[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  private fresh(hint: string): string {
    let n = hint;
    while (this.names.has(n)) n = `${hint}_${++this.counter}`;
    this.names.add(n);
    return n;
  }

  input(name: string, type: OnnxType, shape: Dim[]): string {
    this.inputs.push({ name: this.fresh(name), type, shape });
    return name;
  }
  /** A constant tensor (weights, shapes): float32 or int64. Returns its value name. */
  init(name: string, data: Float32Array | BigInt64Array, dims: number[]): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`initializer ${name}: ${data.length} values for dims [${dims.join(', ')}]`);
    const nm = this.fresh(name);
    this.inits.push({ name: nm, type: data instanceof Float32Array ? 'float' : 'int64', dims, data });
    return nm;
  }
  ints(name: string, values: number[]): string { return this.init(name, BigInt64Array.from(values.map(BigInt)), [values.length]); }
  /** Appends one node; returns the name of its (first) output. `inputs` may hold '' for an omitted optional input. */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, hint = op.toLowerCase(), nOut = 1): string {
    const outs = Array.from({ length: nOut }, (_, i) => this.fresh(nOut === 1 ? hint : `${hint}_${i}`));
    this.nodes.push({ op, inputs, outputs: outs, name: `${op}_${this.nodes.length}`, attrs });
    return outs[0]!;
  }
  /** Renames a value into a graph output (an Identity node, so the output keeps the public name). */
  output(value: string, name: string, type: OnnxType, shape: Dim[]): void {
    if (this.names.has(name)) throw new Error(`graph output ${name} is already a value name`);
    this.names.add(name);
    this.nodes.push({ op: 'Identity', inputs: [value], outputs: [name], name: `Identity_${this.nodes.length}`, attrs: {} });
    this.outputs.push({ name, type, shape });
  }
  get nodeCount(): number { return this.nodes.length; }
  get opTypes(): string[] { return [...new Set(this.nodes.map((n) => n.op))].sort(); }

  /** ModelProto: ir_version 1, producer_name 2, producer_version 3, doc_string 6, graph 7, opset_import 8, metadata_props 14. */
  encode(o: ModelOptions): Uint8Array {
    // GraphProto: node 1, name 2, initializer 5, doc_string 10, input 11, output 12
    const graph = cat([...this.nodes.map((n) => lenField(1, encodeNode(n))), lenField(2, this.name),
      ...this.inits.map((t) => lenField(5, encodeTensor(t))), lenField(10, o.doc),
      ...this.inputs.map((v) => lenField(11, encodeValueInfo(v))), ...this.outputs.map((v) => lenField(12, encodeValueInfo(v)))]);
    return cat([intField(1, 8), lenField(2, o.producer), lenField(3, o.version), lenField(6, o.doc), lenField(7, graph),
      lenField(8, cat([lenField(1, ''), intField(2, o.opset)])),
      ...o.metadata.map(([k, v]) => lenField(14, cat([lenField(1, k), lenField(2, v)])))]);
  }
}

// ---- reading metadata_props back ----

interface Field { no: number; wire: number; start: number; end: number }

/** The top-level fields of one message (varints skipped), bounds-checked; `where` names the file in errors. */
function fieldsOf(b: Bytes, start: number, end: number, where: string): Field[] {
  const bad = (why: string): DataError => new DataError(`${where}: not an ONNX model (${why})`);
  let p = start;
  const readVarint = (): number => {
    let v = 0;
    for (let scale = 1; scale < 2 ** 63; scale *= 128) {
      if (p >= end) throw bad('a varint runs past the end');
      const x = b[p++]!;
      v += (x & 0x7f) * scale;
      if (x < 0x80) return v;
    }
    throw bad('a varint is longer than 10 bytes');
  };
  const out: Field[] = [];
  while (p < end) {
    const key = readVarint();
    const no = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) { const s = p; readVarint(); out.push({ no, wire, start: s, end: p }); continue; }
    const n = wire === 1 ? 8 : wire === 5 ? 4 : wire === 2 ? readVarint() : -1;
    if (n < 0) throw bad(`field ${no} has wire type ${wire}`);
    if (p + n > end) throw bad(`field ${no} runs past the end`);
    out.push({ no, wire, start: p, end: p + n });
    p += n;
  }
  return out;
}

/** ModelProto.metadata_props (field 14) as a record; the graph (field 7) is skipped, not decoded. */
export function readMetadataProps(bytes: Uint8Array, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  const text = (f: Field): string => Buffer.from(bytes.buffer, bytes.byteOffset + f.start, f.end - f.start).toString('utf8');
  for (const f of fieldsOf(bytes, 0, bytes.length, where)) {
    if (f.no !== 14 || f.wire !== 2) continue;
    let key = '', value = '';
    for (const g of fieldsOf(bytes, f.start, f.end, where)) {
      if (g.wire !== 2) continue;
      if (g.no === 1) key = text(g); else if (g.no === 2) value = text(g);
    }
    out[key] = value;
  }
  return out;
}
