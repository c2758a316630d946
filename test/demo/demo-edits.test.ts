/**
 * The shipped demo world end to end: the generator, ToonCLIP, the relevance and the mappers load together, and
 * edits measured by the independent evaluation classifier move faces toward the prompt.
 */
import {readdirSync} from 'node:fs';
import path from 'node:path';
import {beforeAll, describe, expect, it} from 'vitest';
import {editTargets, heldOutEditTargets} from '../../src/demo/attributes.js';
import {demoAssetPath, demoMapperDir, mapperSlug} from '../../src/demo/assets.js';
import {DEMO_MAPPER_DEFAULTS} from '../../src/edit/mapper-defaults.js';
import {DEMO_OPTIMIZE_DEFAULTS} from '../../src/edit/optimize-defaults.js';
import {demoBundleFiles} from '../../src/server/bundle.js';
import {neutralPrompt, promptFor} from '../../src/demo/captions.js';
import {loadDemoClassifier} from '../../src/demo/classifier.js';
import {GlobalEditor, editDefaultsOf} from '../../src/edit/global-edit.js';
import {loadRelevance} from '../../src/edit/global-relevance-file.js';
import {type GenerateResult, generate, sampleZ, toWPlus} from '../../src/models/generate.js';
import {readBytes} from '../../src/io/files.js';
import type {HostTensor} from '../../src/io/host-tensor.js';
import {loadClip} from '../../src/models/clip/load.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {loadGenerator} from '../../src/models/load-generator.js';
import {mapperFromBytes, runMapper} from '../../src/models/mapper.js';
import type {StyleGAN2} from '../../src/models/stylegan2.js';

const SEEDS = 24;
let g: StyleGAN2;
let editor: GlobalEditor;
let w0: HostTensor;
let base: GenerateResult;

async function probability(images: HostTensor, attribute: 'hairColor', value: string): Promise<number[]> {
  return (await loadDemoClassifier().classify(images)).map((p) => p[attribute][value]!);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

beforeAll(async () => {
  g = loadGenerator(demoAssetPath('generator'));
  editor = new GlobalEditor(g, loadClip(demoAssetPath('clip')), loadDefaultTokenizer(), loadRelevance(demoAssetPath('relevance')));
  // Seeds of their own (the quality benchmark uses 1234, the defaults were chosen on 777).
  w0 = await toWPlus(g, sampleZ(g, SEEDS, 4242), 'z', 0.7);
  base = await generate(g, {latent: w0, space: 'w+', returnStyles: true});
}, 120_000);

describe('shipped demo models', () => {
  it('the web app trains mappers and optimises with the demo settings on the demo generator only', () => {
    expect(demoBundleFiles().mapperTraining).toEqual(DEMO_MAPPER_DEFAULTS);
    expect(demoBundleFiles({generator: 'other.pt'}).mapperTraining).toBeUndefined();
    // …and optimises with the demo identity network's ID loss.
    expect(path.basename(demoBundleFiles().identity!)).toBe('identity.safetensors');
    expect(demoBundleFiles().optimizeLambdaId).toBe(DEMO_OPTIMIZE_DEFAULTS.lambdaId);
    expect(demoBundleFiles({generator: 'other.pt'}).identity).toBeUndefined();
  });

  it('the relevance belongs to the demo generator and recommends auto β', () => {
    const d = editDefaultsOf(editor.relevance);
    expect(d.minChannels).toBeGreaterThan(0);
    expect(d.beta).toBeUndefined();
    expect(editor.relevance.meta.clipEmbedDim).toBe(128);
  });

  it('a global edit toward grey hair raises the classifier’s grey-hair probability on average, specifically', async () => {
    const edit = (target: string) => editor.edit({neutral: neutralPrompt, target, styles: base.styles!});
    const r = await edit(promptFor('hairColor', 'grey'));
    expect(r.channelsMoved).toBe(editDefaultsOf(editor.relevance).minChannels);
    const before = await probability(base.image, 'hairColor', 'grey');
    const after = await probability(r.image, 'hairColor', 'grey');
    expect(mean(after)).toBeGreaterThan(mean(before));
    expect(after.filter((p, i) => p > before[i]!).length).toBeGreaterThan(SEEDS / 2);
    // Control: an edit toward purple hair leaves far less grey than the grey edit does.
    const control = await probability((await edit(promptFor('hairColor', 'purple'))).image, 'hairColor', 'grey');
    expect(mean(after)).toBeGreaterThan(mean(control) + 0.15);
    // α = 0 leaves the image exactly as it was.
    const id = await editor.edit({neutral: neutralPrompt, target: promptFor('hairColor', 'grey'), styles: base.styles!, alpha: 0});
    expect(id.image.data).toEqual(base.image.data);
  });

  // A measured limit of the shipped world (lab/world2/README.md, session 12): hair colour is linear in W's OKLab
  // a, b, so one additive StyleSpace move cannot take every hue to grey (chroma 0); from the warm majority the grey
  // direction overshoots to teal, and the blonde direction (lighter, less saturated) reads grey about as often. This
  // expected failure turns into a failing test when the world is fixed, so the control moves up into the test above.
  it.fails('(known limit) an edit toward blonde hair leaves less grey than the grey edit does', async () => {
    const edit = (target: string) => editor.edit({neutral: neutralPrompt, target, styles: base.styles!});
    const after = await probability((await edit(promptFor('hairColor', 'grey'))).image, 'hairColor', 'grey');
    const control = await probability((await edit(promptFor('hairColor', 'blonde'))).image, 'hairColor', 'grey');
    expect(mean(after)).toBeGreaterThan(mean(control) + 0.15);
  });

  it('ships one mapper per prompt of both quality lists, each for this generator; the grey-hair mapper raises grey-hair probability', async () => {
    const files = readdirSync(demoMapperDir()).filter((f) => f.endsWith('.safetensors')).sort();
    expect(files).toEqual([...editTargets, ...heldOutEditTargets].map((t) => `${mapperSlug(t.name)}.safetensors`).sort());
    const m = mapperFromBytes(readBytes(path.join(demoMapperDir(), 'grey-hair.safetensors'), 'demo mapper'));
    expect(m.config.styleDim).toBe(g.config.styleDim);
    const {wHat} = await runMapper(m, w0);
    const img = (await generate(g, {latent: wHat, space: 'w+'})).image;
    const before = await probability(base.image, 'hairColor', 'grey');
    const after = await probability(img, 'hairColor', 'grey');
    expect(mean(after)).toBeGreaterThan(mean(before) + 0.1);
  });
});
