/**
 * ONNX ModelProto writer (onnx/onnx.proto, IR version 8, default opset 17) with a minimal protobuf encoder.
 * Graph constants become initializers with raw little-endian data; helper ints (shapes, axes, pads) are deduplicated.
 */
import {concatBytes} from '../bytes.js';
import {StyleclipError} from '../errors.js';
import {topoSort} from './autodiff.js';
import {type Emitter, ONNX_DTYPE, OPS, type OnnxAttr} from './ops.js';
import {type DType, type Shape, type Tensor, type TypedData, fromNumbers} from './tensor.js';

const OPSET = 17;

// --- protobuf wire format ---------------------------------------------------------------------------------------

class Writer {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(1024);
  private pos = 0;
  length = 0;

  private ensure(n: number) {
    if (this.pos + n > this.buf.length) {
      this.flush();
      if (n > this.buf.length) this.buf = new Uint8Array(Math.max(n, 1024));
    }
  }
  private flush() {
    if (this.pos) this.chunks.push(this.buf.slice(0, this.pos));
    this.pos = 0;
  }
  varint(v: number | bigint) {
    this.ensure(10);
    let x = BigInt.asUintN(64, BigInt(v));
    if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
      let n = v;
      while (n >= 0x80) {
        this.buf[this.pos++] = (n & 0x7f) | 0x80;
        this.length++;
        n >>>= 7;
      }
      this.buf[this.pos++] = n;
      this.length++;
      return;
    }
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      this.length++;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
    this.length++;
  }
  tag(field: number, wire: number) {
    this.varint((field << 3) | wire);
  }
  bytes(field: number, data: Uint8Array) {
    this.tag(field, 2);
    this.varint(data.length);
    if (data.length > 4096) {
      this.flush();
      this.chunks.push(data);
      this.length += data.length;
    } else {
      this.ensure(data.length);
      this.buf.set(data, this.pos);
      this.pos += data.length;
      this.length += data.length;
    }
  }
  string(field: number, s: string) {
    this.bytes(field, new TextEncoder().encode(s));
  }
  int(field: number, v: number | bigint) {
    this.tag(field, 0);
    this.varint(v);
  }
  float(field: number, v: number) {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset).setFloat32(this.pos, v, true);
    this.pos += 4;
    this.length += 4;
  }
  message(field: number, build: (w: Writer) => void) {
    const inner = new Writer();
    build(inner);
    this.tag(field, 2);
    this.varint(inner.length);
    this.flush();
    for (const c of inner.finish()) this.chunks.push(c);
    this.length += inner.length;
  }
  finish(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }
  toBytes(): Uint8Array {
    return concatBytes(this.finish());
  }
}

// --- ONNX messages ----------------------------------------------------------------------------------------------

function rawBytes(data: TypedData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function writeTensor(w: Writer, name: string, dtype: DType, shape: Shape, data: TypedData) {
  for (const d of shape) w.int(1, d); // dims
  w.int(2, ONNX_DTYPE[dtype]); // data_type
  w.string(8, name);
  w.bytes(9, rawBytes(data)); // raw_data
}

function writeValueInfo(w: Writer, name: string, dtype: DType, shape: Shape) {
  w.string(1, name);
  w.message(2, (tp) =>
    tp.message(1, (tt) => {
      tt.int(1, ONNX_DTYPE[dtype]);
      tt.message(2, (sh) => {
        for (const d of shape) sh.message(1, (dim) => dim.int(1, d));
      });
    }),
  );
}

function writeAttr(w: Writer, name: string, a: OnnxAttr) {
  w.string(1, name);
  if ('i' in a) {
    w.int(3, a.i);
    w.int(20, 2);
  } else if ('f' in a) {
    w.float(2, a.f);
    w.int(20, 1);
  } else if ('ints' in a) {
    for (const v of a.ints) w.int(8, v);
    w.int(20, 7);
  } else if ('floats' in a) {
    for (const v of a.floats) w.float(7, v);
    w.int(20, 6);
  } else {
    w.bytes(4, new TextEncoder().encode(a.s));
    w.int(20, 3);
  }
}

export interface GraphIO {
  inputs: readonly Tensor[];
  outputs: readonly Tensor[];
}

/** Serialise the graph that computes `outputs` from `inputs` (and constants) to ONNX ModelProto bytes. */
export function toOnnx({inputs, outputs}: GraphIO, graphName = 'styleclip'): Uint8Array {
  const order = topoSort(outputs);
  const names = new Map<number, string>();
  const inputIds = new Set(inputs.map((t) => t.id));
  for (const t of order) {
    if (t.op === 'input' && !inputIds.has(t.id)) throw new Error(`graph input '${t.name}' is used but not listed`);
  }
  // Graph inputs keep their own names (they are fed by name); every generated name starts with '/', which input
  // names may not, so a user input called e.g. 'k0' or 't12' cannot alias a helper initializer or a node output.
  const seenNames = new Set<string>();
  for (const t of inputs) {
    const name = t.name ?? `in${t.id}`;
    if (seenNames.has(name)) throw new StyleclipError(`graph has two inputs named '${name}'`);
    if (name.startsWith('/') || /^out\d+$/.test(name)) throw new StyleclipError(`graph input name '${name}' is reserved`);
    seenNames.add(name);
    names.set(t.id, name);
  }
  for (const t of order) if (!names.has(t.id)) names.set(t.id, t.op === 'const' ? `/c${t.id}` : `/t${t.id}`);

  const graph = new Writer();
  const helperNames = new Map<string, string>();
  const helperInits: {name: string; dtype: DType; shape: Shape; data: TypedData}[] = [];
  let tmpCount = 0;
  const emitter: Emitter = {
    node(opType, ins, outs, attrs = {}) {
      graph.message(1, (n) => {
        for (const i of ins) n.string(1, i);
        for (const o of outs) n.string(2, o);
        n.string(4, opType);
        for (const [k, v] of Object.entries(attrs)) n.message(5, (aw) => writeAttr(aw, k, v));
      });
    },
    ints(values) {
      return this.values(values, 'int64', [values.length]);
    },
    values(values, dtype, shape) {
      const key = `${dtype}:${shape.join('x')}:${values.join(',')}`;
      let name = helperNames.get(key);
      if (!name) {
        name = `/k${helperNames.size}`;
        helperNames.set(key, name);
        helperInits.push({name, dtype, shape, data: fromNumbers(values, dtype)});
      }
      return name;
    },
    tmp() {
      return `/tmp${tmpCount++}`;
    },
  };

  const outputNames = new Map<number, string>();
  outputs.forEach((t, k) => outputNames.set(t.id, `out${k}`));
  const finalName = (t: Tensor) => names.get(t.id)!;
  for (const t of order) {
    if (t.op === 'input' || t.op === 'const') continue;
    const def = OPS[t.op];
    if (!def) throw new Error(`internal: no emitter for ${t.op}`);
    def.emit(emitter, t, t.inputs.map(finalName), finalName(t));
  }
  // Outputs get stable names through Identity nodes (an output may also be an input or appear twice).
  outputs.forEach((t, k) => emitter.node('Identity', [finalName(t)], [`out${k}`]));

  graph.string(2, graphName);
  for (const t of order) {
    if (t.op === 'const') graph.message(5, (w) => writeTensor(w, finalName(t), t.dtype, t.shape, t.data!));
  }
  for (const h of helperInits) graph.message(5, (w) => writeTensor(w, h.name, h.dtype, h.shape, h.data));
  for (const t of inputs) graph.message(11, (w) => writeValueInfo(w, finalName(t), t.dtype, t.shape));
  outputs.forEach((t, k) => graph.message(12, (w) => writeValueInfo(w, `out${k}`, t.dtype, t.shape)));

  // ModelProto: ir_version, producer_name, graph (streamed from its chunks), opset_import.
  const out = new Writer();
  out.int(1, 8);
  out.string(2, 'styleclip');
  out.tag(7, 2);
  out.varint(graph.length);
  const parts = [out.toBytes(), ...graph.finish()];
  const tail = new Writer();
  tail.message(8, (w) => {
    w.string(1, '');
    w.int(2, OPSET);
  });
  parts.push(tail.toBytes());
  return concatBytes(parts);
}
