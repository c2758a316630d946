/**
 * `npm run bench:quality`: edit quality of the three StyleCLIP methods on the demo models, measured the way the paper
 * does it — with an independent attribute classifier (never used by any edit method), a second CLIP trained from
 * another seed and face-api's identity network.
 *
 * Two prompt lists: the benchmark prompts (`editTargets`: the edits the demo demonstrates) and the held-out prompts
 * (`heldOutEditTargets`: phrased as a new user would, never tuned on). For every prompt, method and face (ψ 0.7,
 * seed 1234):
 *   - success: the classifier sees the target value after the edit and did not before (faces that already have it,
 *     or where the attribute cannot be seen — hair colour on a bald head — are not counted);
 *   - preservation: the share of the other attributes (visible before and after) whose value is unchanged;
 *   - CLIP gain: cos(E_eval(after), t) − cos(E_eval(before), t) with the evaluation ToonCLIP;
 *   - identity distance: face-api FaceRecognitionNet descriptor distance between input and edit;
 *   - monotone: the classifier's target probability at 0, 0.5, 1, 1.5, 2 × the default strength (global: α; mapper:
 *     w + s·(M(w) − w); optimisation: w + s·(w_opt − w), optimised once) never drops by more than 0.02 from one
 *     strength to the next, ends above where it started and reaches at least one half;
 *   - seconds per edit.
 *
 * Flags: --assets DIR (the shipped assets/demo; reads generator, toonclip, toonclip-eval, classifier, relevance and
 * mappers/ there — a missing relevance skips global directions, a missing mapper that prompt's mapper edit),
 * --prompts benchmark|held-out|all (all), --only "grey hair,bald" (prompt names), --seeds N (20), --opt-steps N
 * (300, the official default), --opt-id λ (latent optimisation with the ID loss of the assets' identity network,
 * identity.safetensors, at weight λ; default the demo models' 0.1 when the assets have one, else 0), --opt-l2 λ (the
 * weight of Σ(w − w_s)², official 0.008), --face-seed S (1234: the benchmark's faces; another seed, e.g. 777, gives
 * validation faces to choose settings on), --methods global,mapper,optimization, --out FILE.json (bench-results/quality.json),
 * --grid FILE.png (bench-results/quality-grid.png), --markdown FILE (the README table), --threads N (2), --cache DIR
 * (reuse edits computed by an earlier run with the same settings and model files), --inputs samples|inversions
 * (samples: faces the generator samples at ψ 0.7; inversions: held-out renders of the demo world — the world the
 * generator's latent_decoding names — inverted by the demo encoder of --assets DIR, so the three methods start
 * from a user's cartoon as they would from a photo).
 */
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, statSync} from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import {DemoAssetDir, flag} from './common.js';
import {type Method, type PromptListName, type PromptResult, type PromptScore, ALL_METHODS, QUALITY_TARGETS, buildListReports, chooseTargets, isSkipped, legend, markdownTable, promptTable} from './quality-report.js';
import * as F from '../src/engine/ops.js';
import {configureEngine, compile} from '../src/engine/session.js';
import {input} from '../src/engine/tensor.js';
import {StyleclipError} from '../src/errors.js';
import {GlobalEditor} from '../src/edit/global-edit.js';
import {loadRelevance} from '../src/edit/global-relevance-file.js';
import {optimizeLatent} from '../src/edit/optimize.js';
import {DEMO_OPTIMIZE_DEFAULTS, OPTIMIZE_DEFAULTS} from '../src/edit/optimize-defaults.js';
import {type DemoIdentityNet, loadDemoIdentity} from '../src/demo/identity.js';
import {generate, sampleZ, toWPlus} from '../src/models/generate.js';
import type {HostTensor} from '../src/io/host-tensor.js';
import {encodePng} from '../src/io/image.js';
import {readBytes, writeFileAtomic} from '../src/io/files.js';
import {parseSafetensors, serializeSafetensors} from '../src/io/safetensors.js';
import {encodeTexts} from '../src/models/clip/encode.js';
import {loadClip} from '../src/models/clip/load.js';
import {type CLIP, normalize} from '../src/models/clip/model.js';
import {clipInputFromGenerated, styleclipResize} from '../src/models/clip/preprocess.js';
import {loadDefaultTokenizer} from '../src/models/clip/tokenizer.js';
import {type FaceRecognitionNet, loadFaceRecognitionNet} from '../src/models/identity/face-api.js';
import {loadGenerator} from '../src/models/load-generator.js';
import {mapperFromBytes, runMapper} from '../src/models/mapper.js';
import type {EditTarget, FaceAttributes} from '../src/demo/attributes.js';
import {MONOTONE_STRENGTHS, countedFaces, monotoneShare, scoreEdit, targetPrompt} from '../src/demo/edit-quality.js';
import {DEMO_FILES, mapperSlug} from '../src/demo/assets.js';
import {neutralPrompt} from '../src/demo/captions.js';
import {loadDemoClassifier, topValues} from '../src/demo/classifier.js';
import {checkEncoderFits, encode} from '../src/edit/invert.js';
import {loadEncoder} from '../src/models/encoder/load.js';
import type {StyleGAN2} from '../src/models/stylegan2.js';
import {worldFaces} from '../lab/demo/train-encoder.js';
import {generatorWorld} from '../lab/world2/toon-gan.js';

const PSI = 0.7;
const assets = new DemoAssetDir();
const SEEDS = Number(flag('seeds', '20'));
const OPT_STEPS = Number(flag('opt-steps', '300'));
/** --face-seed S: the seed of the sampled faces (1234, the benchmark's; another seed gives validation faces to tune on). */
const FACE_SEED = Number(flag('face-seed', '1234'));
/** --opt-l2 λ: latent optimisation's weight of Σ(w − w_s)² (default the official 0.008). */
const OPT_L2 = Number(flag('opt-l2', String(OPTIMIZE_DEFAULTS.lambdaL2)));
/**
 * --opt-id λ: latent optimisation with the ID loss of the assets' identity network at weight λ (0: none); default the
 * demo setting (DEMO_OPTIMIZE_DEFAULTS, what the CLI and the web app use on the demo models) when the assets have one.
 */
const OPT_ID = Number(flag('opt-id', assets.optional('identity') ? String(DEMO_OPTIMIZE_DEFAULTS.lambdaId) : '0'));
/** The assets' identity network, loaded on first use by --opt-id. */
let identityNet: DemoIdentityNet | null = null;
const OUT = flag('out', 'bench-results/quality.json');
const GRID = flag('grid', 'bench-results/quality-grid.png');
const MARKDOWN = flag('markdown', '');
const ASSETS = assets.dir;
const METHODS = flag('methods', ALL_METHODS.join(',')).split(',') as Method[];
const PROMPTS = flag('prompts', 'all');
const ONLY = flag('only', '');
/** --cache DIR: keep each (method, prompt)'s edited images, keyed by the settings and the model files (path, size,
 *  mtime), so an interrupted or partial run (--methods …) is completed later without recomputing. */
const CACHE = flag('cache', '');
configureEngine({threads: Number(flag('threads', '2'))});

/** The strengths edited besides the input (strength 0). */
const EDITED_STRENGTHS = MONOTONE_STRENGTHS.filter((s) => s !== 0);

function checkFlags(): Record<PromptListName, readonly EditTarget[]> {
  if (!(Number.isInteger(SEEDS) && SEEDS >= 1)) throw new StyleclipError(`--seeds must be a positive integer, got ${SEEDS}`);
  if (!(Number.isFinite(OPT_ID) && OPT_ID >= 0)) throw new StyleclipError(`--opt-id must be a weight ≥ 0, got ${OPT_ID}`);
  if (!(Number.isFinite(OPT_L2) && OPT_L2 >= 0)) throw new StyleclipError(`--opt-l2 must be a weight ≥ 0, got ${OPT_L2}`);
  if (!(Number.isInteger(FACE_SEED) && FACE_SEED >= 0)) throw new StyleclipError(`--face-seed must be a non-negative integer, got ${FACE_SEED}`);
  if (!(Number.isInteger(OPT_STEPS) && OPT_STEPS >= 1)) throw new StyleclipError(`--opt-steps must be a positive integer, got ${OPT_STEPS}`);
  for (const m of METHODS) if (!ALL_METHODS.includes(m)) throw new StyleclipError(`unknown method '${m}' in --methods; valid: ${ALL_METHODS.join(', ')}`);
  return chooseTargets(PROMPTS, ONLY);
}

function cacheFile(method: Method, t: EditTarget, inputs: string[]): string {
  const h = createHash('sha256').update(JSON.stringify({method, name: t.name, prompt: targetPrompt(t), SEEDS, OPT_STEPS, ...(OPT_ID > 0 && method === 'optimization' ? {OPT_ID} : {}), ...(FACE_SEED !== 1234 ? {FACE_SEED} : {}), ...(method === 'optimization' && OPT_L2 !== OPTIMIZE_DEFAULTS.lambdaL2 ? {OPT_L2} : {}), strengths: EDITED_STRENGTHS, inputs: INPUTS, v: 2}));
  for (const f of inputs) {
    const st = statSync(f);
    h.update(`${f}:${st.size}:${st.mtimeMs}`);
  }
  return path.join(CACHE, `${method}-${mapperSlug(t.name)}-${h.digest('hex').slice(0, 16)}.safetensors`);
}

/** --inputs: generator samples, or the demo encoder's inversions of held-out renders. */
const INPUTS = flag('inputs', 'samples');
if (INPUTS !== 'samples' && INPUTS !== 'inversions') throw new StyleclipError(`--inputs must be samples or inversions, got '${INPUTS}'`);
/** Seed of the held-out renders (disjoint from the encoder's training and evaluation streams). */
const RENDER_SEED = 4321;

/** `n` held-out renders of the generator's world [n, 3, S, S] and their W+ inverted by the demo encoder. */
async function invertedRenders(g: StyleGAN2, encoderFile: string, generatorFile: string, n: number): Promise<{renders: HostTensor; wPlus: HostTensor}> {
  const world = generatorWorld(generatorFile);
  const {encoder} = loadEncoder(encoderFile);
  checkEncoderFits(encoder, g);
  const S = encoder.config.inputSize;
  const renders: HostTensor = {dtype: 'float32', shape: [n, 3, S, S], data: worldFaces(world, n, RENDER_SEED, S).images};
  return {renders, wPlus: (await encode(encoder, renders)).wPlus};
}

/** The edited images at each of EDITED_STRENGTHS (same order) and the seconds per edit at the default strength. */
interface Edited {
  images: HostTensor[];
  seconds: number;
}

function readCache(file: string): Edited | null {
  if (!existsSync(file)) return null;
  const {tensors, metadata} = parseSafetensors(readBytes(file, 'bench cache'));
  return {images: EDITED_STRENGTHS.map((s) => tensors.get(`image@${s}`)!), seconds: Number(metadata.seconds)};
}

function writeCache(file: string, e: Edited): void {
  mkdirSync(CACHE, {recursive: true});
  writeFileAtomic(file, serializeSafetensors(new Map(EDITED_STRENGTHS.map((s, i) => [`image@${s}`, e.images[i]!])), {seconds: String(e.seconds)}), 'bench cache');
}

async function imageFeatures(clip: CLIP, img: HostTensor): Promise<Float32Array> {
  const x = input('image', img.shape);
  const prog = await compile([x], [normalize(clip.encodeImage(clipInputFromGenerated(x, clip.config.imageResolution, 'normalized')))]);
  const [f] = await prog.run([img.data as Float32Array]);
  return f!.data as Float32Array;
}

/** face-api's raw 128-d descriptors (not normalised: its 0.6 threshold is on these) of images in [-1, 1]. */
let faceNet: FaceRecognitionNet | null = null;
async function faceDescriptors(img: HostTensor): Promise<Float32Array> {
  const net = (faceNet ??= loadFaceRecognitionNet());
  const x = input('image', img.shape);
  const prog = await compile([x], [net.descriptor(F.mul(F.add(styleclipResize(x, 150), 1), 127.5))]);
  const [d] = await prog.run([img.data as Float32Array]);
  return d!.data as Float32Array;
}

function rowsOf(t: HostTensor, rows: number[]): HostTensor {
  const per = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const data = new Float32Array(rows.length * per);
  rows.forEach((r, i) => data.set((t.data as Float32Array).subarray(r * per, (r + 1) * per), i * per));
  return {dtype: 'float32', shape: [rows.length, ...t.shape.slice(1)], data};
}

/** w0 + s·(w1 − w0). */
function lerp(w0: HostTensor, w1: HostTensor, s: number): HostTensor {
  const [a, b] = [w0.data as Float32Array, w1.data as Float32Array];
  return {dtype: 'float32', shape: w0.shape, data: Float32Array.from(a, (v, i) => v + s * (b[i]! - v))};
}

async function main() {
  const lists = checkFlags();
  const [genFile, clipFile] = [assets.file('generator'), assets.file('clip')];
  const relevanceFile = METHODS.includes('global') ? assets.optional('relevance') : null;
  const g = loadGenerator(genFile);
  const clip = loadClip(clipFile);
  const evalClipFile = assets.optional('evalClip');
  // Without the evaluation CLIP (a world whose second ToonCLIP is still training) the CLIP gain is left out (NaN).
  if (!evalClipFile) console.error(`no ${DEMO_FILES.evalClip} in ${ASSETS}: the CLIP gain column is left out`);
  const evalClip = evalClipFile ? loadClip(evalClipFile) : null;
  const tokenizer = loadDefaultTokenizer();
  const classifier = loadDemoClassifier(assets.file('classifier'));
  const editor = relevanceFile ? new GlobalEditor(g, clip, tokenizer, loadRelevance(relevanceFile)) : null;
  if (METHODS.includes('global') && !relevanceFile) console.error(`global directions skipped: no ${DEMO_FILES.relevance} in ${ASSETS}`);
  const mapperDir = assets.mapperDir;
  console.error(`assets ${ASSETS}; ${SEEDS} ${INPUTS === 'inversions' ? 'inverted renders' : `faces at ψ ${PSI}`}; prompts: ${[...lists.benchmark, ...lists['held-out']].map((t) => t.name).join(', ')}`);

  // Inputs: SEEDS faces sampled at ψ 0.7, as StyleCLIP's edit mode does.
  const inverted = INPUTS === 'inversions' ? await invertedRenders(g, assets.file('encoder'), assets.file('generator'), SEEDS) : null;
  const w0 = inverted ? inverted.wPlus : await toWPlus(g, sampleZ(g, SEEDS, FACE_SEED), 'z', PSI);
  const base = await generate(g, {latent: w0, space: 'w+', returnStyles: true});
  const baseProbs = await classifier.classify(base.image);
  const before = baseProbs.map(topValues) as FaceAttributes[];
  const evalBefore = evalClip ? await imageFeatures(evalClip, base.image) : null;
  const idBefore = await faceDescriptors(base.image);
  const E = evalClip?.config.embedDim ?? 0;
  const ID = idBefore.length / SEEDS;

  /** The edit of one (method, prompt) at every strength, or why it is skipped. */
  async function edit(method: Method, t: EditTarget, target: string): Promise<Edited | {skipped: string}> {
    const mapperFile = path.join(mapperDir, `${mapperSlug(t.name)}.safetensors`);
    if (method === 'global' && !editor) return {skipped: `no ${DEMO_FILES.relevance}`};
    if (method === 'mapper' && !existsSync(mapperFile)) {
      console.error(`${t.name}: mapper skipped, no ${mapperFile}`);
      return {skipped: `no mappers/${path.basename(mapperFile)}`};
    }
    const inputs = [genFile, clipFile, ...(method === 'global' ? [relevanceFile!] : []), ...(method === 'mapper' ? [mapperFile] : []), ...(method === 'optimization' && OPT_ID > 0 ? [assets.file('identity')] : [])];
    const cache = CACHE ? cacheFile(method, t, inputs) : '';
    const cached = cache ? readCache(cache) : null;
    if (cached) return cached;
    const t0 = performance.now();
    let out: Edited;
    if (method === 'global') {
      const e = await editor!.edit({neutral: neutralPrompt, target, styles: base.styles!});
      const seconds = (performance.now() - t0) / 1000 / SEEDS;
      const images: HostTensor[] = [];
      for (const s of EDITED_STRENGTHS) images.push(s === 1 ? e.image : (await editor!.edit({neutral: neutralPrompt, target, styles: base.styles!, alpha: s * e.alpha})).image);
      out = {images, seconds};
    } else {
      let w1: HostTensor;
      if (method === 'mapper') {
        w1 = (await runMapper(mapperFromBytes(readBytes(mapperFile, 'demo mapper')), w0)).wHat;
      } else {
        const text = await encodeTexts(clip, tokenizer, [target]);
        const id = OPT_ID > 0 ? {identity: (identityNet ??= loadDemoIdentity(assets.file('identity'))), lambdaId: OPT_ID} : {};
        w1 = (await optimizeLatent(g, clip, {text, latent: w0, steps: OPT_STEPS, lambdaL2: OPT_L2, saveEvery: 0, ...id})).wPlus!;
      }
      const main = (await generate(g, {latent: w1, space: 'w+'})).image;
      const seconds = (performance.now() - t0) / 1000 / SEEDS;
      const images: HostTensor[] = [];
      for (const s of EDITED_STRENGTHS) images.push(s === 1 ? main : (await generate(g, {latent: lerp(w0, w1, s), space: 'w+'})).image);
      out = {images, seconds};
    }
    if (cache) writeCache(cache, out);
    return out;
  }

  /** The attributes an edit changed most, for the log: "  changed: skinTone 30%, eyeColor 10%". */
  const changedSummary = (c: PromptScore['changed']): string => {
    const top = Object.entries(c).sort((a, b) => b[1]! - a[1]!).slice(0, 3);
    return top.length ? `  changed: ${top.map(([a, v]) => `${a} ${(100 * v!).toFixed(0)}%`).join(', ')}` : '';
  };

  /** Score one edit of target t over its counted faces. */
  async function score(t: EditTarget, e: Edited, evalText: Float32Array | null): Promise<PromptScore> {
    const image = e.images[EDITED_STRENGTHS.indexOf(1)]!;
    const strengthProbs = [baseProbs];
    for (const im of e.images) strengthProbs.push(await classifier.classify(im));
    const after = strengthProbs[MONOTONE_STRENGTHS.indexOf(1)]!.map(topValues) as FaceAttributes[];
    const q = scoreEdit(before, after, t);
    const perFace = before.map((_, i) => strengthProbs.map((p) => p[i]![t.attribute][t.value]!));
    const evalAfter = evalClip ? await imageFeatures(evalClip, image) : null;
    const idAfter = await faceDescriptors(image);
    const tNorm = evalText ? Math.hypot(...evalText) : 1;
    let gain = evalBefore && evalAfter && evalText ? 0 : Number.NaN;
    let dist = 0;
    for (const i of q.rows) {
      let [cb, ca] = [0, 0];
      for (let k = 0; k < E; k++) {
        cb += evalBefore![i * E + k]! * evalText![k]!;
        ca += evalAfter![i * E + k]! * evalText![k]!;
      }
      if (E) gain += (ca - cb) / tNorm;
      let d2 = 0;
      for (let k = 0; k < ID; k++) d2 += (idAfter[i * ID + k]! - idBefore[i * ID + k]!) ** 2;
      dist += Math.sqrt(d2);
    }
    const n = Math.max(q.rows.length, 1);
    const meanP = strengthProbs.map((_, k) => q.rows.reduce((a, i) => a + perFace[i]![k]!, 0) / n);
    return {counted: q.counted, success: q.success, preservation: q.preservation, clipGain: gain / n, identityDistance: dist / n, monotoneShare: monotoneShare(perFace, q.rows), targetProbability: meanP, changed: q.changed, secondsPerEdit: e.seconds};
  }

  const results: Partial<Record<PromptListName, PromptResult[]>> = {};
  const gridRows: HostTensor[][] = [];
  const gridNames: string[] = [];
  const blank: HostTensor = {dtype: 'float32', shape: [1, 3, g.config.size, g.config.size], data: new Float32Array(3 * g.config.size ** 2)};
  for (const list of ['benchmark', 'held-out'] as const) {
    if (lists[list].length === 0) continue;
    const rows: PromptResult[] = (results[list] = []);
    for (const t of lists[list]) {
      const target = targetPrompt(t);
      const evalText = evalClip ? await encodeTexts(evalClip, tokenizer, [target]) : null;
      const res: PromptResult = {name: t.name, prompt: target, attribute: t.attribute, value: t.value, methods: {}};
      const row = countedFaces(before, t)[0] ?? 0;
      // Inversions: the render beside its reconstruction (when the encoder's input is the generator's size).
      const cells = [...(inverted && inverted.renders.shape[2] === g.config.size ? [rowsOf(inverted.renders, [row])] : []), rowsOf(base.image, [row])];
      for (const method of METHODS) {
        const e = await edit(method, t, target);
        if ('skipped' in e) {
          res.methods[method] = e;
          cells.push(blank);
          continue;
        }
        const s = await score(t, e, evalText);
        res.methods[method] = s;
        cells.push(rowsOf(e.images[EDITED_STRENGTHS.indexOf(1)]!, [row]));
        console.error(`${list.padEnd(9)} ${t.name.padEnd(15)} ${method.padEnd(12)} success ${(100 * s.success).toFixed(0)}% of ${s.counted}  preservation ${(100 * s.preservation).toFixed(0)}%  identity ${s.identityDistance.toFixed(3)}  monotone ${(100 * s.monotoneShare).toFixed(0)}%  clip gain ${s.clipGain.toFixed(4)}  ${s.secondsPerEdit.toFixed(3)} s/edit${changedSummary(s.changed)}`);
      }
      rows.push(res);
      gridRows.push(cells);
      gridNames.push(t.name);
    }
  }

  const reports = buildListReports(results, METHODS);
  const note = legend(SEEDS, MONOTONE_STRENGTHS, INPUTS === 'inversions' ? `held-out renders inverted by the demo encoder` : `faces sampled at ψ ${PSI}`);
  console.log(`\nEdit quality on the demo models in ${ASSETS}`);
  for (const r of reports) console.log(`\n${promptTable(r, METHODS)}`);
  const table = markdownTable(reports, METHODS);
  console.log(`\n${table}\n\n${note}`);

  const json = {
    assets: ASSETS,
    seeds: SEEDS,
    inputs: INPUTS,
    psi: PSI,
    optSteps: OPT_STEPS,
    optL2: OPT_L2,
    faceSeed: FACE_SEED,
    ...(OPT_ID > 0 ? {optIdentityWeight: OPT_ID} : {}),
    strengths: MONOTONE_STRENGTHS,
    methods: METHODS,
    targets: QUALITY_TARGETS,
    lists: Object.fromEntries(reports.map((r) => [r.list, {prompts: r.prompts, summary: r.summary, verdicts: r.verdicts}])),
  };
  const write = (file: string, bytes: Uint8Array) => {
    mkdirSync(path.dirname(path.resolve(file)), {recursive: true});
    writeFileAtomic(file, bytes, 'bench output');
  };
  write(OUT, new TextEncoder().encode(`${JSON.stringify(json, null, 2)}\n`));
  if (MARKDOWN) write(MARKDOWN, new TextEncoder().encode(`${table}\n\n${note}\n`));
  write(GRID, await gridPng(gridRows, g.config.size));
  const skipped = reports.flatMap((r) => r.prompts.flatMap((p) => METHODS.filter((m) => isSkipped(p.methods[m])).map((m) => `${m}/${p.name}`)));
  console.log(`\nwrote ${[OUT, ...(MARKDOWN ? [MARKDOWN] : []), GRID].join(', ')} (grid rows: ${gridNames.join(', ')}; columns: ${inverted ? 'render, reconstruction' : 'input'}, ${METHODS.join(', ')}${skipped.length ? '; skipped cells are grey' : ''})`);
}

/** One row per prompt, columns input + methods, nearest-neighbour ×3 so 64 px faces can be looked at. */
async function gridPng(rows: HostTensor[][], H: number): Promise<Uint8Array> {
  const cols = rows[0]?.length ?? 1;
  // encodePng lays a batch out in ⌈√N⌉ columns; build the rows × methods mosaic as one image instead.
  const grid = new Float32Array(3 * rows.length * H * cols * H);
  rows.flat().forEach((c, i) => {
    const [r, col] = [Math.floor(i / cols), i % cols];
    const src = c.data as Float32Array;
    for (let ch = 0; ch < 3; ch++) {
      for (let y = 0; y < H; y++) grid.set(src.subarray(ch * H * H + y * H, ch * H * H + (y + 1) * H), ch * rows.length * H * cols * H + (r * H + y) * cols * H + col * H);
    }
  });
  const png = await encodePng({dtype: 'float32', shape: [1, 3, rows.length * H, cols * H], data: grid});
  return new Uint8Array(await sharp(png).resize(cols * H * 3, rows.length * H * 3, {kernel: 'nearest'}).png().toBuffer());
}

try {
  await main();
} catch (e) {
  if (!(e instanceof StyleclipError)) throw e;
  console.error(`error: ${e.message}`);
  process.exit(1);
}
