/**
 * The full-size FFHQ e4e encoder of ../shared/fixtures/e4e.json `ffhq_hashed`, its every weight computed from the
 * integer hash the fixtures README (§10) spells out, so full-size parity needs no 1 GB weight file.
 */
import type {StateDict} from '../../src/io/host-tensor.js';
import {fixtureJson} from './fixtures.js';

interface HashedTensor {
  key: string;
  shape: number[];
  dtype: 'float32' | 'int64';
  a?: number;
  b?: number;
  value?: number;
}
interface HashedManifest {
  ffhq_hashed: {tensors: HashedTensor[]; latent_avg: {t: number; shape: number[]; a: number; b: number}};
}

/** float32(a + b·u) for element i of tensor t, u the hash of (i, t) in [0, 1). */
function fill(out: Float32Array, t: number, a: number, b: number): void {
  const seed = Math.imul(t + 1, 0x85ebca77);
  for (let i = 0; i < out.length; i++) {
    let h = (Math.imul(i, 0x9e3779b1) + seed) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
    h = Math.imul(h, 0x2c1b3c6d) >>> 0;
    h = (h ^ (h >>> 12)) >>> 0;
    h = Math.imul(h, 0x297a2d39) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
    out[i] = a + b * (h / 4294967296);
  }
}

/** The hashed encoder state dict (keys as in e4e.json, without `encoder.`) and latent_avg [18, 512]. */
export function hashedFfhqEncoder(): {sd: StateDict; latentAvg: Float32Array} {
  const m = fixtureJson<HashedManifest>('e4e.json').ffhq_hashed;
  const sd: StateDict = new Map();
  m.tensors.forEach((d, t) => {
    if (d.dtype === 'int64') {
      sd.set(d.key, {dtype: 'int64', shape: d.shape, data: new BigInt64Array(Math.max(1, d.shape.reduce((x, y) => x * y, 1))).fill(BigInt(d.value ?? 0))});
      return;
    }
    const data = new Float32Array(d.shape.reduce((x, y) => x * y, 1));
    fill(data, t, d.a!, d.b!);
    sd.set(d.key, {dtype: 'float32', shape: d.shape, data});
  });
  const la = m.latent_avg;
  const latentAvg = new Float32Array(la.shape.reduce((x, y) => x * y, 1));
  fill(latentAvg, la.t, la.a, la.b);
  return {sd, latentAvg};
}
