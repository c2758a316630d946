/**
 * Global directions on the tiny fixture models: S statistics, channel relevance (unit vectors, an independent
 * one-channel computation), resume after a kill, shards and merge, fingerprints, the edit rules (α = 0, β, auto β,
 * chaining) and the official .npy layout.
 */
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {GlobalEditor, applyStyleDelta, autoBeta, editStyles, relevanceScores, styleDelta} from '../../src/edit/global-edit.js';
import {journalChunks, parseChannelRange, partsDir, prepareRelevance} from '../../src/edit/global-prepare.js';
import {computeSStats, defaultRelevanceLayers} from '../../src/edit/global-relevance.js';
import {
  RelevanceMismatchError,
  type Relevance,
  loadRelevance,
  mergeRelevance,
  parseRelevance,
  relevanceFromOfficial,
  serializeRelevance,
  verifyGeneratorProbe,
} from '../../src/edit/global-relevance-file.js';
import {compile} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';
import type {HostTensor} from '../../src/io/host-tensor.js';
import {serializeNpy} from '../../src/io/npy.js';
import type {CLIP} from '../../src/models/clip/model.js';
import {clipInputFromGenerated} from '../../src/models/clip/preprocess.js';
import {type ClipTokenizer, loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {generate, sampleZ} from '../../src/models/generate.js';
import {StyleGAN2, randomStateDict} from '../../src/models/stylegan2.js';
import {flattenStyles, layerChannels, parseLayerList} from '../../src/models/stylespace.js';
import {expectAllClose} from '../helpers/allclose.js';
import {tinyClip, tinyG} from '../helpers/tiny-models.js';

let g: StyleGAN2;
let clip: CLIP;
let tokenizer: ClipTokenizer;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-global-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

// Small settings: 200 samples, 2 images, the first 24 of the 192 selected channels, chunks of 8.
const SMALL = {samples: 200, images: 2, seed: 5, batch: 16, statsBatch: 64, chunkChannels: 8} as const;
let full: Relevance;

beforeAll(async () => {
  g = tinyG();
  clip = tinyClip();
  tokenizer = loadDefaultTokenizer();
  full = (await prepareRelevance(g, clip, {...SMALL, channels: [0, 24], out: path.join(tmp, 'full.safetensors')})).relevance;
});

function norm(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s);
}

async function baseStyles(seed = 1, n = 1): Promise<HostTensor[]> {
  return (await generate(g, {latent: sampleZ(g, n, seed), space: 'z', truncation: 0.7, returnStyles: true})).styles!;
}

describe('selection helpers', () => {
  it('selects non-ToRGB layers at ≤ 128 px and parses layer lists and channel ranges', () => {
    expect(defaultRelevanceLayers(g)).toEqual([0, 2, 3, 5, 6, 8, 9]);
    expect(layerChannels(g, defaultRelevanceLayers(g)).length).toBe(192);
    expect(parseLayerList(g, 'convs.0, 0')).toEqual([0, 2]);
    expect(() => parseLayerList(g, '11')).toThrow(/layer 11 does not exist/);
    expect(() => parseLayerList(g, 'convs.9')).toThrow(/unknown layer 'convs.9'/);
    expect(parseChannelRange('8:24', 192)).toEqual([8, 24]);
    for (const bad of ['8:8', '10:5', '0:193', 'a:b', '3']) expect(() => parseChannelRange(bad, 192)).toThrow(/bad channel range/);
  });
});

describe('S statistics', () => {
  it('match a direct computation over generate() styles and do not depend on the batch', async () => {
    const n = 40;
    const st = await computeSStats(g, {samples: n, seed: 3, truncation: 0.7, batch: 16, keep: 2});
    const st2 = await computeSStats(g, {samples: n, seed: 3, truncation: 0.7, batch: 40});
    expectAllClose(st.mean, st2.mean, {atol: 1e-5, what: 'mean vs batch'});
    const flat = flattenStyles(g, (await generate(g, {latent: sampleZ(g, n, 3), space: 'z', truncation: 0.7, returnStyles: true})).styles!);
    const S = g.sDim();
    const mean = new Float64Array(S);
    const sq = new Float64Array(S);
    for (let i = 0; i < n; i++) for (let c = 0; c < S; c++) mean[c]! += flat[i * S + c]! / n;
    for (let i = 0; i < n; i++) for (let c = 0; c < S; c++) sq[c]! += (flat[i * S + c]! - mean[c]!) ** 2 / n;
    expectAllClose(st.mean, mean, {atol: 1e-4, what: 'mean'});
    expectAllClose(st.std, Float64Array.from(sq, Math.sqrt), {atol: 1e-4, what: 'std'});
    expectAllClose(st.kept, flat.subarray(0, 2 * S), {atol: 1e-4, what: 'kept images'});
  });
});

describe('channel relevance', () => {
  it('gives a unit vector per channel with the recorded metadata', () => {
    expect(full.fs3.length).toBe(24 * 32);
    for (let c = 0; c < 24; c++) expect(norm(full.fs3.subarray(c * 32, (c + 1) * 32))).toBeCloseTo(1, 5);
    expect(Array.from(full.channels)).toEqual(Array.from(layerChannels(g, defaultRelevanceLayers(g)).subarray(0, 24)));
    expect(full.sMean.length).toBe(296);
    expect(full.meta).toMatchObject({alphaP: 5, images: 2, samples: 200, seed: 5, rangeStart: 0, rangeEnd: 24, selectedTotal: 192, clipEmbedDim: 32});
    const again = parseRelevance(serializeRelevance(full));
    expect(again.fs3).toEqual(full.fs3);
    expect(again.meta).toEqual(full.meta);
  });

  it('matches an independent computation for one channel (generate() ± images, CLIP separately, combined in JS)', async () => {
    const j = 13; // selected channel 13 = flat S index 13 (conv1 has 32 channels)
    const flatIndex = full.channels[j]!;
    const R = clip.config.imageResolution;
    const x = input('img', [1, 3, 32, 32]);
    const enc = await compile([x], [clip.encodeImage(clipInputFromGenerated(x, R))]);
    const base = await baseStyles(5, 2); // the relevance images: the first K = 2 samples of seed 5 at ψ 0.7
    const E = 32;
    const acc = new Float64Array(E);
    for (let k = 0; k < 2; k++) {
      const f: Float64Array[] = [];
      for (const sign of [-1, 1]) {
        const s = base.map((t) => ({...t, shape: [1, t.shape[1]!], data: (t.data as Float32Array).slice(k * t.shape[1]!, (k + 1) * t.shape[1]!)}));
        (s[0]!.data as Float32Array)[flatIndex] = full.sMean[flatIndex]! + sign * 5 * full.sStd[flatIndex]!;
        const img = (await generate(g, {latent: s, space: 's'})).image;
        const [feat] = await enc.run([img.data as Float32Array]);
        const v = Float64Array.from(feat!.data as Float32Array);
        const n = norm(v);
        f.push(v.map((a) => a / n));
      }
      const d = f[1]!.map((a, e) => a - f[0]![e]!);
      const n = norm(d);
      for (let e = 0; e < E; e++) acc[e]! += d[e]! / n;
    }
    const n = norm(acc);
    expectAllClose(full.fs3.subarray(j * E, (j + 1) * E), acc.map((a) => a / n), {atol: 2e-4, what: 'fs3 row'});
  });
});

describe('resumable and sharded preparation', () => {
  it('resumes after a kill: the rerun computes only the remaining channels and equals an uninterrupted run', async () => {
    const out = path.join(tmp, 'killed.safetensors');
    const ac = new AbortController();
    await expect(
      prepareRelevance(g, clip, {...SMALL, channels: [0, 24], out, signal: ac.signal, onChunk: (c) => void (c.done >= 8 && ac.abort())}),
    ).rejects.toThrow(/cancelled/);
    expect(existsSync(out)).toBe(false);
    expect(journalChunks(out)).toEqual(['chunk-000000-000008.safetensors']);
    // Different settings on the same journal: a named error, the journal is kept.
    await expect(prepareRelevance(g, clip, {...SMALL, images: 3, channels: [0, 24], out})).rejects.toThrow(RelevanceMismatchError);
    const seen: number[] = [];
    const r = await prepareRelevance(g, clip, {...SMALL, channels: [0, 24], out, onChunk: (c) => void seen.push(c.start)});
    expect(seen).toEqual([8, 16]);
    expect(r.resumedChannels).toBe(8);
    expect(r.computedChannels).toBe(16);
    expect(r.statsResumed).toBe(true);
    expect(existsSync(partsDir(out))).toBe(false);
    expectAllClose(r.relevance.fs3, full.fs3, {atol: 1e-6, what: 'resumed fs3'});
    expect(r.relevance.sStd).toEqual(full.sStd);
    // Rerunning a finished command does nothing.
    const again = await prepareRelevance(g, clip, {...SMALL, channels: [0, 24], out});
    expect(again.alreadyComplete).toBe(true);
    expect(again.computedChannels).toBe(0);
  });

  it('checks the journal: a tampered chunk is recomputed (and named), temporary files of a killed run are removed', async () => {
    const out = path.join(tmp, 'tampered.safetensors');
    const ac = new AbortController();
    await expect(
      prepareRelevance(g, clip, {...SMALL, channels: [0, 24], out, signal: ac.signal, onChunk: (c) => void (c.done >= 16 && ac.abort())}),
    ).rejects.toThrow(/cancelled/);
    const parts = partsDir(out);
    expect(journalChunks(out)).toEqual(['chunk-000000-000008.safetensors', 'chunk-000008-000016.safetensors']);
    // Flip one byte of the first chunk's fs3 data: still a valid safetensors file, but not what was written.
    const chunk = path.join(parts, 'chunk-000000-000008.safetensors');
    const bytes = readFileSync(chunk);
    bytes[bytes.length - 3]! ^= 0x40;
    writeFileSync(chunk, bytes);
    // What a SIGKILL during a chunk write and during the output write leaves (a writer that no longer runs).
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'}).stdout);
    writeFileSync(path.join(parts, `.chunk-000016-000024.safetensors.tmp-${dead}-k1`), 'half');
    writeFileSync(path.join(tmp, `.tampered.safetensors.tmp-${dead}-k2`), 'half');
    const seen: number[] = [];
    const r = await prepareRelevance(g, clip, {...SMALL, channels: [0, 24], out, onChunk: (c) => void seen.push(c.start)});
    expect(r.discarded).toEqual(['chunk-000000-000008.safetensors']);
    expect(seen).toEqual([0, 16]);
    expect(r.resumedChannels).toBe(8);
    expectAllClose(r.relevance.fs3, full.fs3, {atol: 1e-6, what: 'fs3 after a tampered chunk'});
    expect(existsSync(parts)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('an unwritable output folder is a named error before any work', async () => {
    await expect(prepareRelevance(g, clip, {...SMALL, out: path.join(tmp, 'no-such-dir', 'r.safetensors')})).rejects.toThrow(/^cannot write relevance file '.*r\.safetensors': directory '.*no-such-dir' does not exist$/);
    if (existsSync('/sys/kernel')) await expect(prepareRelevance(g, clip, {...SMALL, out: '/sys/r.safetensors'})).rejects.toThrow(/^cannot write relevance file '\/sys\/r\.safetensors': permission denied/);
  });

  it('merges two shards into the same relevance as one run; gaps, overlaps and foreign shards are errors', async () => {
    const a = (await prepareRelevance(g, clip, {...SMALL, channels: [0, 8], out: path.join(tmp, 'a.safetensors')})).relevance;
    const b = (await prepareRelevance(g, clip, {...SMALL, channels: [8, 24], out: path.join(tmp, 'b.safetensors')})).relevance;
    const m = mergeRelevance([b, a], ['b', 'a'], {requireComplete: false});
    expect(m.meta.rangeStart).toBe(0);
    expect(m.meta.rangeEnd).toBe(24);
    expectAllClose(m.fs3, full.fs3, {atol: 1e-6, what: 'merged fs3'});
    expect(Array.from(m.channels)).toEqual(Array.from(full.channels));
    expect(() => mergeRelevance([a, b])).toThrow(/gap: channels 24:192/);
    const shifted = (r: Relevance, s: number, e: number): Relevance => ({...r, meta: {...r.meta, rangeStart: s, rangeEnd: e}});
    expect(() => mergeRelevance([a, shifted(b, 6, 22)], ['a', 'b'], {requireComplete: false})).toThrow(/overlap/);
    expect(() => mergeRelevance([a, shifted(b, 10, 26)], ['a', 'b'], {requireComplete: false})).toThrow(/gap: channels 8:10/);
    expect(() => mergeRelevance([a, {...b, meta: {...b.meta, samples: 300}}], ['a', 'b'], {requireComplete: false})).toThrow(RelevanceMismatchError);
  });

  it('rejects a relevance file made for another generator', async () => {
    const cfg = {...g.config, channels: {4: 16, 8: 16, 16: 16, 32: 16}};
    const other = StyleGAN2.fromStateDict(randomStateDict(cfg, 1), {config: cfg, latentAvg: g.latentAvg});
    const styles = (await generate(other, {seed: 0, returnStyles: true})).styles!;
    expect(() => editStyles(other, full, styles, new Float32Array(32))).toThrow(RelevanceMismatchError);
    expect(() => editStyles(other, full, styles, new Float32Array(32))).toThrow(/prepared for another generator/);
    expect(() => new GlobalEditor(other, clip, tokenizer, full)).toThrow(RelevanceMismatchError);
    // Same shapes, other weights: caught by the probe.
    const twin = StyleGAN2.fromStateDict(randomStateDict(g.config, 7), {config: g.config, latentAvg: g.latentAvg});
    await expect(verifyGeneratorProbe(twin, full)).rejects.toThrow(RelevanceMismatchError);
    await expect(verifyGeneratorProbe(g, full)).resolves.toBeUndefined();
  });
});

describe('edits', () => {
  const dt = Float32Array.from({length: 32}, (_, i) => Math.sin(i + 1));
  const n = norm(dt);
  dt.forEach((v, i) => (dt[i] = v / n));

  it('α = 0 returns the input S exactly; a β above max|R| moves no channel', async () => {
    const s = await baseStyles(1, 2);
    const r0 = editStyles(g, full, s, dt, {alpha: 0, beta: 0});
    expect(r0.channelsMoved).toBe(24);
    r0.styles.forEach((t, k) => expect(t.data).toEqual(s[k]!.data));
    const scores = relevanceScores(full, dt);
    const maxR = Math.max(...Array.from(scores, Math.abs));
    const rb = editStyles(g, full, s, dt, {alpha: 8, beta: Math.min(1, maxR + 1e-3)});
    expect(rb.channelsMoved).toBe(0);
    rb.styles.forEach((t, k) => expect(t.data).toEqual(s[k]!.data));
    expect(() => editStyles(g, full, s, dt, {beta: 1.5})).toThrow(/beta must be in \[0, 1\]/);
    expect(() => editStyles(g, full, s, dt, {beta: -0.1})).toThrow(/beta must be in/);
  });

  it('moves only the kept channels by α·R/max|R|·σ, chains, and auto β keeps ≥ k channels', async () => {
    const s = await baseStyles(2);
    const scores = relevanceScores(full, dt);
    const beta = 0.5 * Math.max(...Array.from(scores, Math.abs));
    const r = editStyles(g, full, s, dt, {alpha: 3, beta});
    const before = flattenStyles(g, s);
    const after = flattenStyles(g, r.styles);
    const kept = Array.from(scores).map((v, c) => [v, c] as const).filter(([v]) => Math.abs(v) >= beta);
    const maxKept = Math.max(...kept.map(([v]) => Math.abs(v)));
    expect(r.channelsMoved).toBe(kept.length);
    const moved = new Set(kept.map(([, c]) => full.channels[c]!));
    for (let j = 0; j < before.length; j++) if (!moved.has(j)) expect(after[j]).toBe(before[j]);
    for (const [v, c] of kept) {
      const j = full.channels[c]!;
      expect(after[j]! - before[j]!).toBeCloseTo((3 * v * full.sStd[j]!) / maxKept, 4);
    }
    // Chaining: α 1 then α 2 equals α 3.
    const chained = editStyles(g, full, editStyles(g, full, s, dt, {alpha: 1, beta}).styles, dt, {alpha: 2, beta});
    expectAllClose(flattenStyles(g, chained.styles), after, {atol: 1e-5, what: 'chained edit'});
    // Auto β.
    const b5 = autoBeta(scores, 5);
    expect(styleDelta(full, scores, b5).channels.length).toBeGreaterThanOrEqual(5);
    expect(styleDelta(full, scores, Math.min(1, b5 + 1e-6)).channels.length).toBeLessThan(5);
    expect(editStyles(g, full, s, dt, {minChannels: 5}).channelsMoved).toBe(5);
    expect(autoBeta(scores, 1000)).toBeCloseTo(Math.min(...Array.from(scores, Math.abs)), 7);
    // NaN in the base latent is a named error.
    const bad = s.map((t) => ({...t, data: Float32Array.from(t.data as Float32Array)}));
    (bad[3]!.data as Float32Array)[0] = NaN;
    expect(() => applyStyleDelta(g, bad, styleDelta(full, scores, beta), 1)).toThrow(/non-finite/);
  });

  it('GlobalEditor: text direction from prompts (cached), edit and render; empty prompts are errors', async () => {
    const ed = new GlobalEditor(g, clip, tokenizer, full);
    const s = await baseStyles(4);
    const r = await ed.edit({neutral: 'a face', target: 'a face with glasses', styles: s, alpha: 4.1, minChannels: 3});
    expect(r.channelsMoved).toBe(3);
    expect(r.image.shape).toEqual([1, 3, 32, 32]);
    expect(norm(r.direction)).toBeCloseTo(1, 5);
    expect(await ed.direction('a face', 'a face with glasses')).toBe(r.direction);
    const same = await generate(g, {latent: r.styles, space: 's'});
    expect(same.image.data).toEqual(r.image.data);
    await expect(ed.edit({neutral: 'a face', target: '  ', styles: s})).rejects.toThrow(/target prompt is empty/);
    await expect(ed.edit({neutral: '', target: 'x', styles: s})).rejects.toThrow(/neutral prompt is empty/);
  });
});

describe('official precomputed files', () => {
  it('loads fs3.npy with S statistics as .npy (with or without ToRGB) and checks the row count', () => {
    const C = 192;
    const fs3 = Float32Array.from({length: C * 32}, (_, i) => Math.cos(i));
    const mean = Float32Array.from({length: 296}, (_, i) => i / 100);
    const std = Float32Array.from({length: 296}, (_, i) => 1 + i / 1000);
    const npy = (d: Float32Array | Float64Array, shape: number[]) => serializeNpy({dtype: d instanceof Float64Array ? 'float64' : 'float32', shape, data: d});
    const rel = relevanceFromOfficial(g, {fs3: npy(fs3, [C, 32]), mean: npy(mean, [296]), std: npy(Float64Array.from(std), [296])});
    expect(rel.channels.length).toBe(C);
    expect(rel.sStd[295]).toBeCloseTo(1.295, 6);
    expect(rel.meta.source).toBe('official-npy');
    // Without ToRGB: 192 values spread back to their layers, ToRGB entries 0.
    const noRgb = Float32Array.from({length: 192}, (_, i) => i + 1);
    const r2 = relevanceFromOfficial(g, {fs3: npy(fs3, [C, 32]), mean: npy(noRgb, [192]), std: npy(noRgb, [192])});
    expect(r2.sStd[32]).toBe(0); // to_rgb1 starts at 32
    expect(r2.sStd[64]).toBe(33); // convs.0 channel 0 is the 33rd non-ToRGB channel
    expect(() => relevanceFromOfficial(g, {fs3: npy(fs3.subarray(0, 100 * 32), [100, 32]), mean: npy(mean, [296]), std: npy(std, [296])})).toThrow(RelevanceMismatchError);
    expect(() => relevanceFromOfficial(g, {fs3: npy(fs3, [C, 32]), mean: npy(mean.subarray(0, 200), [200]), std: npy(std, [296])})).toThrow(/expected 296/);
  });

  it('loadRelevance reads what prepare wrote', () => {
    const r = loadRelevance(path.join(tmp, 'full.safetensors'));
    expect(r.fs3).toEqual(full.fs3);
  });
});
