/**
 * `npm run bench:quality`: edit quality of the three StyleCLIP methods on the shipped demo models, measured the
 * way the paper does it — with an independent attribute classifier (never used by any edit method) and a second
 * CLIP trained from another seed.
 *
 * For every edit target (grey/purple/blonde hair, mohawk, curly hair, glasses, beard, smiling) and every seed:
 *   - success: the classifier sees the target value after the edit and did not before (seeds that already
 *     have it, or where the attribute cannot be seen — hair colour on a bald head — are not counted);
 *   - preservation: the share of the other attributes (visible before and after) whose value is unchanged;
 *   - CLIP gain: cos(E_eval(after), t) − cos(E_eval(before), t) with the evaluation ToonCLIP;
 *   - seconds per edit.
 * Flags: --seeds N (20), --opt-steps N (300, the official default), --out FILE.json, --grid FILE.png,
 * --methods global,mapper,optimization, --threads N, --cache DIR (reuse edits computed by an earlier run with the
 * same settings and model files).
 */
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, statSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import {flag} from './common.js';
import {configureEngine, compile} from '../src/engine/session.js';
import {input} from '../src/engine/tensor.js';
import {GlobalEditor} from '../src/edit/global-edit.js';
import {loadRelevance} from '../src/edit/global-relevance-file.js';
import {optimizeLatent} from '../src/edit/optimize.js';
import {generate, sampleZ, toWPlus} from '../src/models/generate.js';
import type {HostTensor} from '../src/io/host-tensor.js';
import {encodePng} from '../src/io/image.js';
import {readBytes, writeFileAtomic} from '../src/io/files.js';
import {parseSafetensors, serializeSafetensors} from '../src/io/safetensors.js';
import {encodeTexts} from '../src/models/clip/encode.js';
import {loadClip} from '../src/models/clip/load.js';
import {type CLIP, normalize} from '../src/models/clip/model.js';
import {clipInputFromGenerated} from '../src/models/clip/preprocess.js';
import {loadDefaultTokenizer} from '../src/models/clip/tokenizer.js';
import {loadGenerator} from '../src/models/load-generator.js';
import {mapperFromBytes, runMapper} from '../src/models/mapper.js';
import {editTargets, type FaceAttributes} from '../src/demo/attributes.js';
import {countedFaces, scoreEdit} from '../src/demo/edit-quality.js';
import {demoAssetPath, demoMapperDir, mapperSlug} from '../src/demo/assets.js';
import {neutralPrompt, promptFor} from '../src/demo/captions.js';
import {loadDemoClassifier, topValues} from '../src/demo/classifier.js';

type Method = 'global' | 'mapper' | 'optimization';

const SEEDS = Number(flag('seeds', '20'));
const OPT_STEPS = Number(flag('opt-steps', '300'));
const OUT = flag('out', 'bench-results/quality.json');
const GRID = flag('grid', 'bench-results/quality-grid.png');
const METHODS = flag('methods', 'global,mapper,optimization').split(',') as Method[];
configureEngine({threads: Number(flag('threads', '2'))});
/** --cache DIR: keep each (method, prompt)'s edited images, keyed by the settings and the model files (path, size,
 *  mtime), so an interrupted or partial run (--methods …) is completed later without recomputing. */
const CACHE = flag('cache', '');

function cacheFile(method: Method, prompt: string, inputs: string[]): string {
  const h = createHash('sha256').update(JSON.stringify({method, prompt, SEEDS, OPT_STEPS, v: 1}));
  for (const f of inputs) {
    const st = statSync(f);
    h.update(`${f}:${st.size}:${st.mtimeMs}`);
  }
  return path.join(CACHE, `${method}-${mapperSlug(prompt)}-${h.digest('hex').slice(0, 16)}.safetensors`);
}

function readCache(method: Method, prompt: string, inputs: string[]): {image: HostTensor; seconds: number} | null {
  const f = cacheFile(method, prompt, inputs);
  if (!existsSync(f)) return null;
  const {tensors, metadata} = parseSafetensors(readBytes(f, 'bench cache'));
  return {image: tensors.get('image')!, seconds: Number(metadata.seconds)};
}

function writeCache(method: Method, prompt: string, inputs: string[], image: HostTensor, seconds: number): void {
  mkdirSync(CACHE, {recursive: true});
  writeFileAtomic(cacheFile(method, prompt, inputs), serializeSafetensors(new Map([['image', image]]), {seconds: String(seconds)}), 'bench cache');
}

async function imageFeatures(clip: CLIP, img: HostTensor): Promise<Float32Array> {
  const x = input('image', img.shape);
  const prog = await compile([x], [normalize(clip.encodeImage(clipInputFromGenerated(x, clip.config.imageResolution, 'normalized')))]);
  const [f] = await prog.run([img.data as Float32Array]);
  return f!.data as Float32Array;
}

function rowsOf(t: HostTensor, rows: number[]): HostTensor {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(rows.length * per);
  rows.forEach((r, i) => data.set((t.data as Float32Array).subarray(r * per, (r + 1) * per), i * per));
  return {dtype: 'float32', shape: [rows.length, ...t.shape.slice(1)], data};
}

interface MethodScore {
  method: Method;
  prompt: string;
  counted: number;
  success: number;
  preservation: number;
  clipGain: number;
  secondsPerEdit: number;
}

async function main() {
  const g = loadGenerator(demoAssetPath('generator'));
  const clip = loadClip(demoAssetPath('clip'));
  const evalClip = loadClip(demoAssetPath('evalClip'));
  const tokenizer = loadDefaultTokenizer();
  const classifier = loadDemoClassifier();
  const editor = METHODS.includes('global') ? new GlobalEditor(g, clip, tokenizer, loadRelevance(demoAssetPath('relevance'))) : null;

  // Inputs: SEEDS faces sampled at ψ 0.7, as StyleCLIP's edit mode does.
  const z = sampleZ(g, SEEDS, 1234);
  const w0 = await toWPlus(g, z, 'z', 0.7);
  const base = await generate(g, {latent: w0, space: 'w+', returnStyles: true});
  const before = (await classifier.classify(base.image)).map(topValues) as FaceAttributes[];
  const evalBefore = await imageFeatures(evalClip, base.image);
  const E = evalClip.config.embedDim;

  const scores: MethodScore[] = [];
  const gridRows: HostTensor[][] = [];
  for (const t of editTargets) {
    const target = promptFor(t.attribute, t.value as never);
    const evalText = await encodeTexts(evalClip, tokenizer, [target]);
    const tNorm = Math.hypot(...evalText);
    // Seeds that can show the edit and do not have it yet.
    const counted = countedFaces(before, t);
    const outputs: Partial<Record<Method, HostTensor>> = {};
    for (const method of METHODS) {
      const mapperFile = path.join(demoMapperDir(), `${mapperSlug(t.name)}.safetensors`);
      const inputs = [demoAssetPath('generator'), demoAssetPath('clip'), ...(method === 'global' ? [demoAssetPath('relevance')] : []), ...(method === 'mapper' ? [mapperFile] : [])];
      const cached = CACHE ? readCache(method, t.name, inputs) : null;
      let image: HostTensor;
      let seconds: number;
      if (cached) {
        ({image, seconds} = cached);
      } else {
        const t0 = performance.now();
        if (method === 'global') {
          image = (await editor!.edit({neutral: neutralPrompt, target, styles: base.styles!})).image;
        } else if (method === 'mapper') {
          const m = mapperFromBytes(readBytes(mapperFile, 'demo mapper'));
          const {wHat} = await runMapper(m, w0);
          image = (await generate(g, {latent: wHat, space: 'w+'})).image;
        } else {
          const text = await encodeTexts(clip, tokenizer, [target]);
          image = (await optimizeLatent(g, clip, {text, latent: w0, steps: OPT_STEPS, saveEvery: 0})).image;
        }
        seconds = (performance.now() - t0) / 1000 / SEEDS;
        if (CACHE) writeCache(method, t.name, inputs, image, seconds);
      }
      outputs[method] = image;
      const after = (await classifier.classify(image)).map(topValues) as FaceAttributes[];
      const evalAfter = await imageFeatures(evalClip, image);
      const q = scoreEdit(before, after, t);
      let gain = 0;
      for (const i of counted) {
        let cb = 0;
        let ca = 0;
        for (let e = 0; e < E; e++) {
          cb += evalBefore[i * E + e]! * evalText[e]!;
          ca += evalAfter[i * E + e]! * evalText[e]!;
        }
        gain += (ca - cb) / tNorm;
      }
      const n = Math.max(counted.length, 1);
      scores.push({method, prompt: t.name, counted: q.counted, success: q.success, preservation: q.preservation, clipGain: gain / n, secondsPerEdit: seconds});
      console.error(`${t.name.padEnd(12)} ${method.padEnd(12)} success ${(100 * q.success).toFixed(0)}% of ${q.counted}  preservation ${(100 * q.preservation).toFixed(0)}%  clip gain ${(gain / n).toFixed(4)}  ${seconds.toFixed(3)} s/edit`);
    }
    const row = counted[0] ?? 0;
    gridRows.push([rowsOf(base.image, [row]), ...METHODS.map((m) => rowsOf(outputs[m]!, [row]))]);
  }

  // Table: per method, per prompt, and the averages against the targets.
  const targets: Record<Method, {success: number; preservation: number}> = {
    global: {success: 0.7, preservation: 0.85},
    mapper: {success: 0.8, preservation: 0.8},
    optimization: {success: 0.8, preservation: 0.8},
  };
  const pct = (x: number) => `${(100 * x).toFixed(0)}%`.padStart(5);
  console.log(`\nEdit quality on the demo models (${SEEDS} seeds, ψ 0.7; evaluation classifier + evaluation ToonCLIP)`);
  console.log(['method'.padEnd(13), 'prompt'.padEnd(12), 'n'.padStart(3), 'success', 'preserv', 'CLIP gain', 's/edit'].join('  '));
  const summary: Record<string, {success: number; preservation: number; clipGain: number; secondsPerEdit: number; meetsTarget: boolean}> = {};
  for (const method of METHODS) {
    const rows = scores.filter((s) => s.method === method);
    for (const s of rows) console.log([method.padEnd(13), s.prompt.padEnd(12), String(s.counted).padStart(3), pct(s.success).padStart(7), pct(s.preservation).padStart(7), s.clipGain.toFixed(4).padStart(9), s.secondsPerEdit.toFixed(3).padStart(6)].join('  '));
    const avg = (k: 'success' | 'preservation' | 'clipGain' | 'secondsPerEdit') => rows.reduce((a, s) => a + s[k], 0) / rows.length;
    const meets = avg('success') >= targets[method].success && avg('preservation') >= targets[method].preservation;
    summary[method] = {success: avg('success'), preservation: avg('preservation'), clipGain: avg('clipGain'), secondsPerEdit: avg('secondsPerEdit'), meetsTarget: meets};
    console.log([method.padEnd(13), 'AVERAGE'.padEnd(12), ''.padStart(3), pct(avg('success')).padStart(7), pct(avg('preservation')).padStart(7), avg('clipGain').toFixed(4).padStart(9), avg('secondsPerEdit').toFixed(3).padStart(6), `target ≥ ${pct(targets[method].success)} / ≥ ${pct(targets[method].preservation)}: ${meets ? 'met' : 'MISSED'}`].join('  '));
  }
  mkdirSync(path.dirname(OUT), {recursive: true});
  writeFileSync(OUT, JSON.stringify({seeds: SEEDS, optSteps: OPT_STEPS, methods: METHODS, summary, scores}, null, 2));
  // Grid: one row per prompt, columns input / global / mapper / optimization.
  const cols = 1 + METHODS.length;
  const H = g.config.size;
  const cells = gridRows.flat();
  // encodePng lays a batch out in ⌈√N⌉ columns; build the rows × methods mosaic as one image instead.
  const grid = new Float32Array(3 * gridRows.length * H * cols * H);
  cells.forEach((c, i) => {
    const r = Math.floor(i / cols);
    const col = i % cols;
    const src = c.data as Float32Array;
    for (let ch = 0; ch < 3; ch++) {
      for (let y = 0; y < H; y++) {
        grid.set(src.subarray(ch * H * H + y * H, ch * H * H + (y + 1) * H), ch * gridRows.length * H * cols * H + (r * H + y) * cols * H + col * H);
      }
    }
  });
  mkdirSync(path.dirname(GRID), {recursive: true});
  // Nearest-neighbour ×3 so 64 px faces can be looked at.
  const png = await encodePng({dtype: 'float32', shape: [1, 3, gridRows.length * H, cols * H], data: grid});
  writeFileSync(GRID, await sharp(png).resize(cols * H * 3, gridRows.length * H * 3, {kernel: 'nearest'}).png().toBuffer());
  console.log(`\nwrote ${OUT} and ${GRID} (rows: ${editTargets.map((t) => t.name).join(', ')}; columns: input, ${METHODS.join(', ')})`);
}

await main();
