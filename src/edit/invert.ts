/**
 * Real-image inversion: an aligned face → the encoder's W+ (codes + latent_avg, as pSp/e4e with
 * `start_from_latent_avg`) → optionally refined by projection (project.ts) → the generator's reconstruction.
 * The encoder sees the image resized to its input side (Lanczos) and normalised as (x/255 − 0.5)/0.5.
 *
 * Legend: N batch (1), S encoder input side, L W+ rows, D style width.
 */
import {compile} from '../engine/session.js';
import {input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import type {HostTensor} from '../io/host-tensor.js';
import {type RgbImage, resizeLanczos} from '../align/ffhq-align.js';
import type {Encoder} from '../models/encoder/e4e.js';
import {generate} from '../models/generate.js';
import type {StyleGAN2} from '../models/stylegan2.js';
import {type ProjectOptions, type ProjectStep, project} from './project.js';

/** An RGB image as [1, 3, S, S] in [-1, 1] (the encoder's input, or a projection target): resized to S (Lanczos) when needed, then (x/255 − 0.5)/0.5. */
export function encoderInput(img: RgbImage, side: number): HostTensor {
  const x = img.width === side && img.height === side ? img : resizeLanczos(img, side, side);
  const plane = side * side;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) data[c * plane + i] = (x.data[i * 3 + c]! / 255 - 0.5) / 0.5;
  return {dtype: 'float32', shape: [1, 3, side, side], data};
}

/** Encoder's W+ and codes for an input [N, 3, S, S]. */
export async function encode(encoder: Encoder, x: HostTensor): Promise<{codes: HostTensor; wPlus: HostTensor}> {
  const S = encoder.config.inputSize;
  check(x.shape.length === 4 && x.shape[1] === 3 && x.shape[2] === S && x.shape[3] === S, `the encoder input must be [N, 3, ${S}, ${S}], got [${x.shape.join(', ')}]`);
  const xi = input('image', x.shape);
  const codes = encoder.forward(xi);
  const prog = await compile([xi], [codes, encoder.wPlus(codes)]);
  const [c, w] = await prog.run([x.data as Float32Array]);
  return {codes: {dtype: 'float32', shape: c!.shape, data: c!.data as Float32Array}, wPlus: {dtype: 'float32', shape: w!.shape, data: w!.data as Float32Array}};
}

/** An encoder used with a generator it was not trained for. */
export class EncoderMismatchError extends StyleclipError {
  override name = 'EncoderMismatchError';
}

/** A named error unless the encoder's styles fit the generator's W+ (count and width). */
export function checkEncoderFits(encoder: Encoder, g: StyleGAN2): void {
  const {styleCount, styleDim} = encoder.config;
  if (styleCount !== g.nLatent || styleDim !== g.config.styleDim) {
    throw new EncoderMismatchError(`the encoder predicts ${styleCount} styles of width ${styleDim}, but the generator takes W+ with ${g.nLatent} rows of width ${g.config.styleDim}; use the encoder trained for this generator (or its checkpoint's own decoder)`);
  }
}

function describeGenerator(g: StyleGAN2): string {
  return `${g.config.size}px, W+ ${g.nLatent}×${g.config.styleDim}, ${g.layers.length} S layers / ${g.layers.reduce((n, l) => n + l.inChannels, 0)} channels`;
}

/**
 * A named error unless an encoder checkpoint's decoder is the generator `g` (the encoder's inversions are only
 * meaningful in the generator it was trained with): the same shapes, and the same image of a probe latent (z from a
 * fixed seed, no noise) within float tolerance, so checkpoints in other formats of the same weights pass.
 */
export async function checkDecoderMatches(decoder: StyleGAN2, g: StyleGAN2, what = 'encoder checkpoint'): Promise<void> {
  const [a, b] = [describeGenerator(decoder), describeGenerator(g)];
  const sameShapes = a === b && decoder.layers.every((l, i) => l.inChannels === g.layers[i]!.inChannels);
  if (!sameShapes) throw new EncoderMismatchError(`${what}: its decoder (${a}) is not the generator in use (${b}); use the encoder trained for this generator`);
  const probe = async (x: StyleGAN2) => (await generate(x, {seed: 0x5eed, noise: 'zero'})).image.data as Float32Array;
  const [pa, pb] = [await probe(decoder), await probe(g)];
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < pa.length; i++) {
    diff = Math.max(diff, Math.abs(pa[i]! - pb[i]!));
    scale = Math.max(scale, Math.abs(pb[i]!));
  }
  if (!(diff <= 1e-3 * scale)) throw new EncoderMismatchError(`${what}: its decoder has the shapes of the generator in use but other weights (a probe image differs by up to ${diff.toPrecision(3)}); use the encoder trained for this generator`);
}

export interface InvertOptions extends Omit<ProjectOptions, 'start' | 'steps' | 'onStep'> {
  /** Projection steps after the encoder (0: the encoder's inversion as it is). */
  refine?: number;
  onStep?: (info: ProjectStep) => void | Promise<void>;
}

export interface InvertResult {
  /** The inversion: W+ [1, L, D]. */
  wPlus: HostTensor;
  /** The encoder's W+ before refinement. */
  encoderWPlus: HostTensor;
  /** The generator's reconstruction [1, 3, R, R] (the checkpoint's noise). */
  image: HostTensor;
  history: ProjectStep[];
}

/** Invert an aligned face (RGB, any size) with an encoder, optionally refined by projection into `g`. */
export async function invert(encoder: Encoder, g: StyleGAN2, aligned: RgbImage, opts: InvertOptions = {}): Promise<InvertResult> {
  checkEncoderFits(encoder, g);
  const {refine = 0, ...rest} = opts;
  check(Number.isInteger(refine) && refine >= 0, `refine must be a non-negative integer, got ${refine}`);
  if (opts.signal?.aborted) throw new StyleclipError('inversion cancelled');
  const {wPlus: encoderWPlus} = await encode(encoder, encoderInput(aligned, encoder.config.inputSize));
  let wPlus = encoderWPlus;
  let history: ProjectStep[] = [];
  if (refine > 0) {
    const r = await project(g, encoderInput(aligned, g.config.size), {...rest, start: encoderWPlus, steps: refine, optimizeNoise: false});
    wPlus = r.wPlus;
    history = r.history;
  }
  const {image} = await generate(g, {latent: wPlus, space: 'w+', noise: 'const'});
  return {wPlus, encoderWPlus, image, history};
}
