/**
 * StyleSpace S (Wu et al. 2021): the modulation vector of every modulated conv of a StyleGAN2, one [N, C_k] tensor
 * per layer k in execution order (conv1, to_rgb1, then up-conv, conv and ToRGB per resolution: StyleCLIP's order).
 * This module is the one home of its layout: the names s_00, s_01, …, the offsets of each layer in the flat
 * [N, S_total] rows, flattening and its inverse, flat channel ↔ (layer, index), layer selections and shape checks.
 * Legend: N rows, L S layers, C_k channels of layer k, S_total = Σ C_k.
 */
import {type Tensor, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import {type HostTensor, assertFinite, toFloat32} from '../io/host-tensor.js';
import type {StyleLayer} from './stylegan2.js';

/** Anything with a StyleSpace layer table in execution order, e.g. a StyleGAN2. */
export interface StyleSpaceLayout {
  readonly layers: readonly StyleLayer[];
}

/** An S latent with the wrong number of layers or a layer of the wrong shape for the generator. */
export class StyleShapeError extends StyleclipError {
  override name = 'StyleShapeError';
}

/** The name of S layer k: s_00, s_01, … (graph inputs, tensor files, messages). */
export function styleName(k: number): string {
  return `s_${String(k).padStart(2, '0')}`;
}

/** Offset of each S layer in a flat S row, plus S_total at the end ([L + 1]). */
export function styleOffsets(g: StyleSpaceLayout): number[] {
  const off = [0];
  for (const l of g.layers) off.push(off[off.length - 1]! + l.inChannels);
  return off;
}

/** The S layer and the channel within it of flat S index j. */
export function locateChannel(g: StyleSpaceLayout, j: number): {layer: number; index: number} {
  const off = styleOffsets(g);
  check(Number.isInteger(j) && j >= 0 && j < off[off.length - 1]!, `S channel ${j} is outside S (0…${off[off.length - 1]! - 1})`);
  let layer = 0;
  while (j >= off[layer + 1]!) layer++;
  return {layer, index: j - off[layer]!};
}

/** S indices of the non-ToRGB layers at resolution ≤ maxRes, in execution order. */
export function convLayers(g: StyleSpaceLayout, maxRes = Infinity): number[] {
  return g.layers.filter((l) => l.kind !== 'torgb' && l.res <= maxRes).map((l) => l.sIndex);
}

/** Flat S indices of every channel of the given layers (S indices, any order), in execution order. */
export function layerChannels(g: StyleSpaceLayout, layers: readonly number[]): Int32Array {
  const off = styleOffsets(g);
  const sorted = [...layers].sort((a, b) => a - b);
  for (const l of sorted) check(Number.isInteger(l) && l >= 0 && l < g.layers.length, `layer ${l} does not exist: this generator has S layers 0…${g.layers.length - 1}`);
  const out: number[] = [];
  for (const l of sorted) for (let c = 0; c < g.layers[l]!.inChannels; c++) out.push(off[l]! + c);
  return Int32Array.from(out);
}

/** Parse a layer list: S indices ("0,2,3") or layer names ("conv1,convs.0"), validated against g; sorted. */
export function parseLayerList(g: StyleSpaceLayout, spec: string): number[] {
  const parts = spec.split(',').map((p) => p.trim()).filter(Boolean);
  check(parts.length > 0, `layer list '${spec}' is empty`);
  const out = parts.map((p) => {
    if (/^\d+$/.test(p)) {
      const i = Number(p);
      check(i < g.layers.length, `layer ${i} does not exist: this generator has S layers 0…${g.layers.length - 1}`);
      return i;
    }
    const l = g.layers.find((x) => x.name === p);
    if (!l) throw new StyleclipError(`unknown layer '${p}' (layers: ${g.layers.map((x) => x.name).join(', ')})`);
    return l.sIndex;
  });
  check(new Set(out).size === out.length, `layer list '${spec}' names a layer twice`);
  return out.sort((a, b) => a - b);
}

/**
 * Check an S latent against g: one [N, C_k] tensor per layer with the same N (StyleShapeError otherwise) and, unless
 * `finite` is false, no NaN or ±Inf. Returns N.
 */
export function checkStyles(g: StyleSpaceLayout, styles: readonly HostTensor[], {finite = true} = {}): number {
  if (styles.length !== g.layers.length) throw new StyleShapeError(`an S latent needs ${g.layers.length} tensors (one per StyleSpace layer), got ${styles.length}`);
  const N = styles[0]!.shape[0]!;
  g.layers.forEach((l, k) => {
    const t = styles[k]!;
    if (!(t.shape.length === 2 && t.shape[0] === N && t.shape[1] === l.inChannels)) {
      throw new StyleShapeError(`S layer ${styleName(k)} (${l.name}) must have shape [${N}, ${l.inChannels}], got [${t.shape.join(', ')}]`);
    }
    if (finite) assertFinite(t, `S layer ${styleName(k)}`);
  });
  return N;
}

/** One [N, C_k] graph input per S layer, named s_00, s_01, … */
export function styleInputs(g: StyleSpaceLayout, N: number): Tensor[] {
  return g.layers.map((l, k) => input(styleName(k), [N, l.inChannels]));
}

/** Per-layer S (one [N, C_k] tensor per layer, shapes checked) → flat rows [N, S_total]. */
export function flattenStyles(g: StyleSpaceLayout, styles: readonly HostTensor[]): Float32Array {
  const N = checkStyles(g, styles, {finite: false});
  const off = styleOffsets(g);
  const total = off[off.length - 1]!;
  const flat = new Float32Array(N * total);
  g.layers.forEach((l, k) => {
    const d = toFloat32(styles[k]!);
    for (let n = 0; n < N; n++) flat.set(d.subarray(n * l.inChannels, (n + 1) * l.inChannels), n * total + off[k]!);
  });
  return flat;
}

/** Flat rows [N, S_total] → per-layer S (one [N, C_k] tensor per layer, fresh arrays). */
export function unflattenStyles(g: StyleSpaceLayout, flat: Float32Array, N: number): HostTensor[] {
  const off = styleOffsets(g);
  const total = off[off.length - 1]!;
  check(flat.length === N * total, `flat S has ${flat.length} values, expected ${N} × ${total}`);
  return g.layers.map((l, k) => {
    const d = new Float32Array(N * l.inChannels);
    for (let n = 0; n < N; n++) d.set(flat.subarray(n * total + off[k]!, n * total + off[k]! + l.inChannels), n * l.inChannels);
    return {dtype: 'float32', shape: [N, l.inChannels], data: d};
  });
}

/** Whether a tensor file's contents look like an S latent (some tensor named s_<digits>). */
export function holdsStyles(tensors: ReadonlyMap<string, HostTensor>): boolean {
  return [...tensors.keys()].some((k) => /^s_\d+$/.test(k));
}

/** Pick the S tensors s_00, s_01, … (execution order) out of a tensor file's contents, strictly. */
export function stylesFromTensors(g: {readonly layers: readonly unknown[]; readonly config: {readonly size: number}}, tensors: ReadonlyMap<string, HostTensor>, what = 'S latent file'): HostTensor[] {
  const names = g.layers.map((_, k) => styleName(k));
  const missing = names.filter((n) => !tensors.has(n));
  const extra = [...tensors.keys()].filter((k) => !names.includes(k));
  if (missing.length || extra.length) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.join(', ')}`);
    if (extra.length) parts.push(`unexpected ${extra.slice(0, 8).join(', ')}${extra.length > 8 ? ', …' : ''}`);
    throw new StyleShapeError(`${what} must hold tensors s_00 … ${styleName(names.length - 1)} for this ${g.config.size}px generator: ${parts.join('; ')}`);
  }
  return names.map((n) => tensors.get(n)!);
}

/** The S tensors as a name → tensor map (s_00, s_01, …) for writing. */
export function stylesToTensors(styles: readonly HostTensor[]): Map<string, HostTensor> {
  return new Map(styles.map((s, k) => [styleName(k), s]));
}
