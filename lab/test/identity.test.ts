/**
 * The demo identity network: its training pairs (lab/world2/identity.ts) keep exactly the identity factors of a
 * person and change only one identity group in a relative; the blur augmentation; the asset round trip through the
 * product's loader (src/demo/identity.ts) and `--identity`'s dispatch (src/cli/load-models.ts), with the embedding
 * checked against a direct computation of the same network.
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {loadIdentity} from '../../src/cli/load-models.js';
import {compile} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';
import {DemoIdentityNet, demoIdentityIfAny} from '../../src/demo/identity.js';
import {Rng} from '../../src/demo/rng.js';
import {halfBitsToNumber} from '../../src/io/host-tensor.js';
import {parseSafetensors, serializeSafetensors} from '../../src/io/safetensors.js';
import {factorNames, sampleFactors} from '../world2/factors.js';
import {IDENTITY_FACTORS, IDENTITY_GROUPS, blur121, identityConfig, identityPairs, redrawIdentityGroup, redrawNuisance, writeIdentityAsset} from '../world2/identity.js';

const dir = mkdtempSync(path.join(tmpdir(), 'styleclip-identity-'));
afterAll(() => rmSync(dir, {recursive: true, force: true}));

describe('identity training data', () => {
  it('a positive keeps every identity factor and redraws the nuisance; a relative changes one identity group only', () => {
    const rng = new Rng(5);
    let nuisanceChanged = 0;
    for (let i = 0; i < 50; i++) {
      const f = sampleFactors(rng, 0.4).factors;
      const p = redrawNuisance(f, rng, 1);
      for (const n of IDENTITY_FACTORS) expect(p[n]).toBe(f[n]);
      nuisanceChanged += factorNames.filter((n) => !IDENTITY_FACTORS.includes(n) && p[n] !== f[n]).length;
      for (const group of Object.keys(IDENTITY_GROUPS) as (keyof typeof IDENTITY_GROUPS)[]) {
        const r = redrawIdentityGroup(f, rng, group);
        for (const n of factorNames) if (!IDENTITY_GROUPS[group].includes(n)) expect(r[n]).toBe(f[n]);
      }
    }
    // With every group redrawn, most of the 37 nuisance factors differ (a redraw can repeat a value, e.g. 0 coverage).
    expect(nuisanceChanged / 50).toBeGreaterThan(20);
  });

  it('pairs: positives are their anchors\' people', () => {
    const {anchors, positives} = identityPairs(new Rng(9), 12);
    expect(anchors).toHaveLength(12);
    anchors.forEach((a, i) => {
      for (const n of IDENTITY_FACTORS) expect(positives[i]![n]).toBe(a[n]);
    });
  });

  it('blur121 keeps a constant image and spreads an impulse as [1 2 1]/4 ⊗ [1 2 1]/4', () => {
    const s = 5;
    const flat = new Float32Array(3 * s * s).fill(0.4);
    blur121(flat, 0, s, 2);
    for (const v of flat) expect(v).toBeCloseTo(0.4, 6);
    const imp = new Float32Array(3 * s * s);
    imp[2 * s + 2] = 1;
    blur121(imp, 0, s, 1);
    const k = [0.25, 0.5, 0.25];
    for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) {
      const want = Math.abs(x - 2) <= 1 && Math.abs(y - 2) <= 1 ? k[x - 1]! * k[y - 1]! : 0;
      expect(imp[y * s + x]).toBeCloseTo(want, 7);
    }
  });
});

describe('demo identity asset', () => {
  // A random network written by the trainer's writer.
  const rng = new Rng(3);
  const state = new Map<string, {dtype: 'float32'; shape: number[]; data: Float32Array}>();
  let cin = 3;
  identityConfig.convs.forEach((c, i) => {
    state.set(`conv${i}.weight`, {dtype: 'float32', shape: [c.out, cin, c.kernel, c.kernel], data: Float32Array.from({length: c.out * cin * c.kernel * c.kernel}, () => rng.normal(0, 0.1))});
    state.set(`conv${i}.bias`, {dtype: 'float32', shape: [c.out], data: Float32Array.from({length: c.out}, () => rng.normal(0, 0.1))});
    cin = c.out;
  });
  const F = 128 * 4 * 4;
  state.set('embed.weight', {dtype: 'float32', shape: [identityConfig.embedDim, F], data: Float32Array.from({length: identityConfig.embedDim * F}, () => rng.normal(0, 0.02))});
  state.set('embed.bias', {dtype: 'float32', shape: [identityConfig.embedDim], data: new Float32Array(identityConfig.embedDim)});
  const file = path.join(dir, 'identity.safetensors');
  writeIdentityAsset(file, state, {seed: '3'});

  it('loads through --identity, embeds to unit vectors, and matches a direct evaluation of the network', async () => {
    const bytes = readFileSync(file);
    expect(demoIdentityIfAny(bytes)).toBeInstanceOf(DemoIdentityNet);
    const net = loadIdentity(file);
    expect(net).toBeInstanceOf(DemoIdentityNet);
    expect(net.embedDim).toBe(64);
    const img = Float32Array.from({length: 2 * 3 * 64 * 64}, (_, i) => Math.sin(i * 0.37) * 0.8);
    const x = input('x', [2, 3, 64, 64]);
    const [e] = await (await compile([x], [net.features(x)])).run([img]);
    const got = e!.data as Float32Array;

    // Direct computation from the fp16 weights as stored: convs (same padding ⌊(k−1)/2⌋), leaky ReLU 0.2, flatten, linear, L2 norm.
    const {tensors} = parseSafetensors(bytes);
    const val = (k: string): Float32Array => Float32Array.from(tensors.get(k)!.data as Uint16Array, (b) => halfBitsToNumber(b));
    for (let n = 0; n < 2; n++) {
      let h = img.slice(n * 3 * 64 * 64, (n + 1) * 3 * 64 * 64);
      let [C, S] = [3, 64];
      identityConfig.convs.forEach((c, i) => {
        const W = val(`conv${i}.weight`);
        const B = val(`conv${i}.bias`);
        const pad = Math.floor((c.kernel - 1) / 2);
        const So = Math.floor((S + 2 * pad - c.kernel) / c.stride) + 1;
        const o = new Float32Array(c.out * So * So);
        for (let oc = 0; oc < c.out; oc++) for (let y = 0; y < So; y++) for (let xx = 0; xx < So; xx++) {
          let acc = B[oc]!;
          for (let ic = 0; ic < C; ic++) for (let ky = 0; ky < c.kernel; ky++) for (let kx = 0; kx < c.kernel; kx++) {
            const iy = y * c.stride + ky - pad;
            const ix = xx * c.stride + kx - pad;
            if (iy < 0 || ix < 0 || iy >= S || ix >= S) continue;
            acc += W[((oc * C + ic) * c.kernel + ky) * c.kernel + kx]! * h[(ic * S + iy) * S + ix]!;
          }
          o[(oc * So + y) * So + xx] = acc >= 0 ? acc : 0.2 * acc;
        }
        [h, C, S] = [o, c.out, So];
      });
      const EW = val('embed.weight');
      const emb = Array.from({length: 64}, (_, j) => h.reduce((s, v, k) => s + v * EW[j * h.length + k]!, 0));
      const norm = Math.hypot(...emb);
      emb.forEach((v, j) => expect(got[n * 64 + j]).toBeCloseTo(v / norm, 4));
      expect(Math.hypot(...got.subarray(n * 64, n * 64 + 64))).toBeCloseTo(1, 5);
    }
  });

  it('refuses a file of another format, and a missing tensor, by name', () => {
    const other = path.join(dir, 'other.safetensors');
    writeFileSync(other, serializeSafetensors(new Map([['x', {dtype: 'float32', shape: [1], data: new Float32Array(1)}]]), {format: 'styleclip-demo-classifier'}));
    expect(demoIdentityIfAny(readFileSync(other))).toBeNull();
    const bytes = readFileSync(file);
    const {tensors, metadata} = parseSafetensors(bytes);
    tensors.delete('embed.bias');
    expect(() => new DemoIdentityNet(tensors, metadata, 'identity network')).toThrow(/lacks tensor 'embed.bias'/);
    expect(() => new DemoIdentityNet(tensors, {...metadata, format: 'x'}, 'identity network')).toThrow(/not a demo identity network/);
  });
});
