/** `styleclip embed`: CLIP features of texts and images, written as safetensors. */
import type {Command} from 'commander';
import {StyleclipError, check} from '../errors.js';
import {readBytes} from '../io/files.js';
import type {HostTensor} from '../io/host-tensor.js';
import {parseNpy} from '../io/npy.js';
import {encodeImages, encodeTexts} from '../models/clip/encode.js';
import {preprocessImageFile} from '../models/clip/preprocess.js';
import {addClipOptions, loadClipFromFlags, type ModelFlags} from './load-models.js';
import {writeTensorFile} from './tensor-files.js';

interface EmbedFlags extends ModelFlags {
  text: string[];
  image: string[];
  imageTensor?: string;
  out: string;
  json?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerEmbed(program: Command): void {
  const cmd = program.command('embed').description('CLIP features of texts and images');
  addClipOptions(cmd)
    .option('--text <text>', 'a text to embed (repeatable)', collect, [])
    .option('--image <file>', 'an image file to embed (repeatable): shorter side to the model resolution (bicubic), centre crop, CLIP mean/std', collect, [])
    .option('--image-tensor <file.npy>', 'already-normalised float32 images [N, 3, R, R] at the model resolution')
    .requiredOption('--out <file.safetensors>', "output: text_features [T, E], image_features [I, E] (unnormalised), logits_per_image [I, T] when both are given")
    .option('--json', 'print a JSON summary')
    .addHelpText(
      'after',
      `
Examples:
  styleclip embed --clip ViT-B-32.pt --text "a face with grey hair" --text "a face" --out text.safetensors
  styleclip embed --clip ViT-B-32.pt --image me.jpg --text "a photo of a smiling person" --out emb.safetensors`,
    )
    .action(async (flags: EmbedFlags) => runEmbed(flags));
}

async function runEmbed(flags: EmbedFlags): Promise<void> {
  check(flags.out.toLowerCase().endsWith('.safetensors'), `--out must be a .safetensors file, got '${flags.out}'`);
  check(flags.text.length + flags.image.length > 0 || flags.imageTensor, 'nothing to embed: give --text, --image or --image-tensor');
  flags.text.forEach((t, i) => check(t.trim() !== '', `--text number ${i + 1} is empty`));
  const {clip, tokenizer} = loadClipFromFlags(flags);
  const E = clip.config.embedDim;
  const R = clip.config.imageResolution;
  const out = new Map<string, HostTensor>();
  let textF: Float32Array | null = null;
  if (flags.text.length) {
    textF = await encodeTexts(clip, tokenizer, flags.text);
    out.set('text_features', {dtype: 'float32', shape: [flags.text.length, E], data: textF});
  }
  const images: Float32Array[] = [];
  for (const f of flags.image) images.push((await preprocessImageFile(readBytes(f, 'image'), R, `image '${f}'`)).data as Float32Array);
  if (flags.imageTensor) {
    const t = parseNpy(readBytes(flags.imageTensor, 'image tensor'), {what: `image tensor '${flags.imageTensor}'`});
    if (t.dtype !== 'float32' || t.shape.length !== 4 || t.shape[1] !== 3 || t.shape[2] !== R || t.shape[3] !== R) {
      throw new StyleclipError(`image tensor '${flags.imageTensor}' must be float32 [N, 3, ${R}, ${R}], got ${t.dtype} [${t.shape.join(', ')}]`);
    }
    const per = 3 * R * R;
    for (let n = 0; n < t.shape[0]!; n++) images.push((t.data as Float32Array).subarray(n * per, (n + 1) * per));
  }
  let imageF: Float32Array | null = null;
  if (images.length) {
    const all = new Float32Array(images.length * 3 * R * R);
    images.forEach((im, i) => all.set(im, i * 3 * R * R));
    imageF = await encodeImages(clip, {dtype: 'float32', shape: [images.length, 3, R, R], data: all});
    out.set('image_features', {dtype: 'float32', shape: [images.length, E], data: imageF});
  }
  if (textF && imageF) {
    const T = flags.text.length;
    const I = images.length;
    const norm = (f: Float32Array, n: number) => Math.hypot(...f.subarray(n * E, (n + 1) * E));
    const logits = new Float32Array(I * T);
    for (let i = 0; i < I; i++) {
      for (let t = 0; t < T; t++) {
        let dot = 0;
        for (let e = 0; e < E; e++) dot += imageF[i * E + e]! * textF[t * E + e]!;
        logits[i * T + t] = (clip.logitScale * dot) / (norm(imageF, i) * norm(textF, t));
      }
    }
    out.set('logits_per_image', {dtype: 'float32', shape: [I, T], data: logits});
  }
  writeTensorFile(flags.out, out, 'embedding output');
  const summary = {out: flags.out, texts: flags.text.length, images: images.length, embedDim: E};
  if (flags.json) console.log(JSON.stringify(summary));
  else console.log(`wrote ${flags.out}: ${summary.texts} text and ${summary.images} image embeddings (${E}-d)`);
}
