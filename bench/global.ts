/**
 * Global-direction edit latency at FFHQ shapes (random weights): the text direction (79 templates × 2 prompts
 * through a ViT-B/32 text tower), the relevance product (R = fs3·Δt over 5376 channels, threshold, Δs), one
 * generation from S; a full uncached edit and a slider move (cached direction) at 1024 and 256 px.
 */
import {GlobalEditor, applyStyleDelta, relevanceScores, styleDelta} from '../src/edit/global-edit.js';
import {type Relevance, generatorFingerprint} from '../src/edit/global-relevance-file.js';
import {defaultRelevanceLayers} from '../src/edit/global-relevance.js';
import {generate} from '../src/models/generate.js';
import {promptDirection} from '../src/models/clip/encode.js';
import {CLIP, VIT_B_32, randomClipStateDict} from '../src/models/clip/model.js';
import {loadDefaultTokenizer} from '../src/models/clip/tokenizer.js';
import {StyleGAN2, randomStateDict, standardConfig} from '../src/models/stylegan2.js';
import {layerChannels} from '../src/models/stylespace.js';
import {mulberry32Normal} from '../src/random.js';
import {type BenchResult, printHeader, timeIt} from './common.js';

/** Random unit fs3 rows and positive σ for the default selection of g. */
function randomRelevance(g: StyleGAN2, E: number): Relevance {
  const rng = mulberry32Normal(1);
  const layers = defaultRelevanceLayers(g);
  const channels = layerChannels(g, layers);
  const C = channels.length;
  const fs3 = new Float32Array(C * E);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let e = 0; e < E; e++) s += (fs3[c * E + e] = rng()) ** 2;
    for (let e = 0; e < E; e++) fs3[c * E + e]! /= Math.sqrt(s);
  }
  const S = g.sDim();
  const sStd = Float32Array.from({length: S}, () => 0.1 + Math.abs(rng()) * 0.2);
  const meta = {
    generator: generatorFingerprint(g),
    clipEmbedDim: E,
    clipInput: 'normalized' as const,
    alphaP: 5,
    images: 100,
    samples: 100_000,
    seed: 5,
    truncation: 0.7,
    noise: 'const' as const,
    layers,
    rangeStart: 0,
    rangeEnd: C,
    selectedTotal: C,
    source: 'bench',
  };
  return {fs3, channels, sMean: new Float32Array(S), sStd, meta};
}

export async function benchGlobal(): Promise<BenchResult[]> {
  printHeader('global directions edit (random FFHQ-shape weights, ViT-B/32 text tower)');
  const clip = CLIP.fromStateDict(randomClipStateDict(VIT_B_32, 0), {config: VIT_B_32});
  const tokenizer = loadDefaultTokenizer();
  const results: BenchResult[] = [];
  let n = 0;
  results.push(await timeIt('global_text_direction_vitb32', () => promptDirection(clip, tokenizer, 'face', `face with glasses ${n++}`), {warmup: 1, reps: 3}));
  for (const size of [1024, 256]) {
    const cfg = standardConfig(size);
    const g = StyleGAN2.fromStateDict(randomStateDict(cfg, 0), {config: cfg});
    const rel = randomRelevance(g, VIT_B_32.embedDim);
    const styles = (await generate(g, {seed: 0, returnStyles: true})).styles!;
    const dt = await promptDirection(clip, tokenizer, 'face', 'smiling face');
    results.push(
      await timeIt(`global_relevance_product_${size}`, async () => applyStyleDelta(g, styles, styleDelta(rel, relevanceScores(rel, dt), 0.15), 4.1), {warmup: 2, reps: 9}),
    );
    results.push(await timeIt(`global_generate_from_s_${size}`, () => generate(g, {latent: styles, space: 's'}), {warmup: 1, reps: 3}));
    const editor = new GlobalEditor(g, clip, tokenizer, rel);
    let alpha = 1;
    results.push(
      await timeIt(`global_edit_slider_${size}`, () => editor.edit({neutral: 'face', target: 'smiling face', styles, alpha: (alpha += 0.1), beta: 0.1}), {warmup: 1, reps: 3}),
    );
    let k = 0;
    results.push(
      await timeIt(`global_edit_uncached_${size}`, () => editor.edit({neutral: 'face', target: `face with bangs ${k++}`, styles, beta: 0.1}), {warmup: 1, reps: 3}),
    );
  }
  return results;
}
