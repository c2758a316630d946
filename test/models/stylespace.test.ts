/**
 * The StyleSpace layout module against the layouts the fixtures record independently: the tiny generator's layer
 * table and its S vectors from PyTorch (shared/fixtures/README.md §1), and the FFHQ-1024 table
 * (stylegan2_ffhq1024_shapes.json: 26 layers, 9088 channels, 6048 without ToRGB).
 */
import {describe, expect, it} from 'vitest';
import {StyleclipError} from '../../src/errors.js';
import type {HostTensor, StateDict} from '../../src/io/host-tensor.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {styleLayers, standardConfig} from '../../src/models/stylegan2.js';
import {
  StyleShapeError,
  checkStyles,
  convLayers,
  flattenStyles,
  holdsStyles,
  layerChannels,
  locateChannel,
  parseLayerList,
  styleInputs,
  styleName,
  styleOffsets,
  stylesFromTensors,
  stylesToTensors,
  unflattenStyles,
} from '../../src/models/stylespace.js';
import {fixtureBytes, fixtureJson} from '../helpers/fixtures.js';
import {tinyG} from '../helpers/tiny-models.js';

interface FixtureLayer {
  name: string;
  kind: string;
  res: number;
  s_index: number;
  s_dim: number;
}
const tiny = fixtureJson<{stylespace_layers: FixtureLayer[]; derived: {num_style_layers: number; s_total_dim: number; s_total_dim_without_torgb: number}}>('stylegan2_tiny.json');
const ffhq = fixtureJson<{stylespace_layers: FixtureLayer[]; s_total_dim: number; s_total_dim_without_torgb: number; torgb_s_indices: number[]}>('stylegan2_ffhq1024_shapes.json');
const io: StateDict = parseSafetensors(fixtureBytes('stylegan2_tiny_io.safetensors')).tensors;

/** The fixture's S vectors of one case (`s_<case>_00` …), in layer order. */
function fixtureStyles(set: string): HostTensor[] {
  return [...io.entries()].filter(([k]) => new RegExp(`^s_${set}_\\d+$`).test(k)).map(([, t]) => t);
}

/** (layer, channel) of every flat S index, listed from a fixture layer table. */
function channelTable(layers: readonly FixtureLayer[]): [number, number][] {
  return layers.flatMap((l) => Array.from({length: l.s_dim}, (_, c): [number, number] => [l.s_index, c]));
}

describe('StyleSpace layout of the tiny fixture generator', () => {
  const g = tinyG();

  it('has the fixture\'s layer count, widths and offsets', () => {
    expect(g.layers.length).toBe(tiny.derived.num_style_layers);
    const widths = tiny.stylespace_layers.map((l) => l.s_dim);
    const off = styleOffsets(g);
    expect(off).toHaveLength(widths.length + 1);
    widths.forEach((w, k) => expect(off[k + 1]! - off[k]!).toBe(w));
    expect(off.at(-1)).toBe(tiny.derived.s_total_dim);
  });

  it('names the layers as the fixture names its S tensors (s_00 … s_10)', () => {
    const fixtureNames = [...io.keys()].filter((k) => /^s_wplus_\d+$/.test(k)).map((k) => k.replace('s_wplus_', 's_'));
    expect(fixtureNames).toHaveLength(11);
    expect(g.layers.map((_, k) => styleName(k))).toEqual(fixtureNames);
    expect([...stylesToTensors(fixtureStyles('wplus')).keys()]).toEqual(fixtureNames);
    expect(styleInputs(g, 3).map((t) => [t.name, ...t.shape])).toEqual(tiny.stylespace_layers.map((l, k) => [fixtureNames[k], 3, l.s_dim]));
  });

  it('flattens the fixture S vectors into rows and back, bit for bit', () => {
    const styles = fixtureStyles('wplus'); // [2, C_k] each
    const flat = flattenStyles(g, styles);
    const total = tiny.derived.s_total_dim;
    expect(flat.length).toBe(2 * total);
    // Row n of the flat S is the concatenation of row n of every layer, in execution order.
    for (let n = 0; n < 2; n++) {
      const row = Array.from(flat.subarray(n * total, (n + 1) * total));
      const expected = styles.flatMap((t) => Array.from((t.data as Float32Array).subarray(n * t.shape[1]!, (n + 1) * t.shape[1]!)));
      expect(row).toEqual(expected);
    }
    const back = unflattenStyles(g, flat, 2);
    back.forEach((t, k) => {
      expect(t.shape).toEqual(styles[k]!.shape);
      expect(Array.from(t.data as Float32Array)).toEqual(Array.from(styles[k]!.data as Float32Array));
    });
    expect(() => unflattenStyles(g, flat, 3)).toThrow(/flat S has 592 values, expected 3 × 296/);
  });

  it('maps every flat channel to its (layer, index) and back', () => {
    const table = channelTable(tiny.stylespace_layers);
    expect(table).toHaveLength(tiny.derived.s_total_dim);
    table.forEach(([layer, index], j) => expect(locateChannel(g, j)).toEqual({layer, index}));
    expect(Array.from(layerChannels(g, [3, 1]))).toEqual(table.flatMap(([l], j) => (l === 1 || l === 3 ? [j] : [])));
    expect(() => locateChannel(g, tiny.derived.s_total_dim)).toThrow(/outside S/);
    expect(() => layerChannels(g, [11])).toThrow(/layer 11 does not exist/);
  });

  it('selects the non-ToRGB layers by resolution', () => {
    const conv = (maxRes: number) => tiny.stylespace_layers.filter((l) => l.kind !== 'torgb' && l.res <= maxRes).map((l) => l.s_index);
    expect(convLayers(g)).toEqual(conv(Infinity));
    expect(convLayers(g, 16)).toEqual(conv(16));
    expect(layerChannels(g, convLayers(g)).length).toBe(tiny.derived.s_total_dim_without_torgb);
    const byName = tiny.stylespace_layers.filter((l) => l.name === 'convs.3' || l.name === 'to_rgb1').map((l) => l.s_index);
    expect(parseLayerList(g, 'convs.3, to_rgb1')).toEqual(byName);
  });

  it('checks S latents: layer count and widths (StyleShapeError), rows, finiteness', () => {
    const styles = fixtureStyles('wplus');
    expect(checkStyles(g, styles)).toBe(2);
    expect(() => checkStyles(g, styles.slice(1))).toThrow(StyleShapeError);
    expect(() => checkStyles(g, styles.slice(1))).toThrow(/needs 11 tensors .* got 10/);
    const narrow = styles.map((t, k) => (k === 6 ? {...t, shape: [2, 23], data: (t.data as Float32Array).slice(0, 46)} : t));
    expect(() => checkStyles(g, narrow)).toThrow(StyleShapeError);
    expect(() => checkStyles(g, narrow)).toThrow(`S layer s_06 (convs.3) must have shape [2, 24], got [2, 23]`);
    const oneRow = styles.map((t, k) => (k === 4 ? {...t, shape: [1, t.shape[1]!], data: (t.data as Float32Array).slice(0, t.shape[1]!)} : t));
    expect(() => flattenStyles(g, oneRow)).toThrow(/s_04 \(to_rgbs\.0\) must have shape \[2, 32\], got \[1, 32\]/);
    const nan = styles.map((t, k) => (k === 2 ? {...t, data: Float32Array.from(t.data as Float32Array, (v, i) => (i === 5 ? NaN : v))} : t));
    expect(() => checkStyles(g, nan)).toThrow(StyleclipError);
    expect(() => checkStyles(g, nan)).toThrow(/S layer s_02 contains a non-finite value .* at index 5/);
    expect(checkStyles(g, nan, {finite: false})).toBe(2);
  });

  it('reads S tensors from a file strictly', () => {
    const file = stylesToTensors(fixtureStyles('z_trunc07'));
    expect(holdsStyles(file)).toBe(true);
    expect(holdsStyles(new Map([['w_plus', fixtureStyles('wplus')[0]!]]))).toBe(false);
    expect(stylesFromTensors(g, file)).toEqual(fixtureStyles('z_trunc07'));
    const missing = new Map([...file].filter(([k]) => k !== 's_10'));
    expect(() => stylesFromTensors(g, missing)).toThrow(StyleShapeError);
    expect(() => stylesFromTensors(g, missing)).toThrow(/must hold tensors s_00 … s_10 for this 32px generator: missing s_10/);
    expect(() => stylesFromTensors(g, new Map([...file, ['s_11', file.get('s_00')!]]))).toThrow(/unexpected s_11/);
  });
});

describe('StyleSpace layout of FFHQ-1024 (no weights)', () => {
  const layout = {layers: styleLayers(standardConfig(1024))};

  it('matches the official table: 26 layers, 9088 channels, 6048 without ToRGB, 5376 selected at ≤ 128 px', () => {
    expect(layout.layers.map((l) => l.inChannels)).toEqual(ffhq.stylespace_layers.map((l) => l.s_dim));
    expect(styleOffsets(layout).at(-1)).toBe(ffhq.s_total_dim);
    const rgb = new Set(ffhq.torgb_s_indices);
    expect(convLayers(layout)).toEqual(ffhq.stylespace_layers.map((l) => l.s_index).filter((k) => !rgb.has(k)));
    expect(layerChannels(layout, convLayers(layout)).length).toBe(ffhq.s_total_dim_without_torgb);
    const upTo128 = ffhq.stylespace_layers.filter((l) => !rgb.has(l.s_index) && l.res <= 128).reduce((a, l) => a + l.s_dim, 0);
    expect(upTo128).toBe(5376); // StyleCLIP's fs3.npy rows for FFHQ
    expect(layerChannels(layout, convLayers(layout, 128)).length).toBe(upTo128);
    const table = channelTable(ffhq.stylespace_layers);
    for (const j of [0, 511, 512, 1023, 1024, 6000, 9087]) expect(locateChannel(layout, j)).toEqual({layer: table[j]![0], index: table[j]![1]});
  });
});
