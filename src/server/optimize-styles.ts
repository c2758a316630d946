/**
 * Latent optimisation that starts from StyleSpace vectors instead of W+ (the web app chains edits, and an image
 * edited with a global direction only has S). Same loss, optimizer and schedule as optimizeLatent in S mode
 * (src/edit/optimize.ts; StyleCLIP optimization/run_optimization.py @ f87a47f): the non-ToRGB S vectors are the
 * variables, L = L_clip(G(s), t) + λ_L2 · Σ (s − s_0)², Adam with the official ramp-up/ramp-down.
 * TODO(lead): fold into optimizeLatent as a `styles` start option; it cannot take S today.
 */
import {grad} from '../engine/autodiff.js';
import * as F from '../engine/ops.js';
import {compile} from '../engine/session.js';
import {type Tensor, constant, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import {clipLoss, l2Loss} from '../edit/losses.js';
import {rampdownLr, type StepInfo} from '../edit/optimize.js';
import {generate} from '../generate.js';
import {type HostTensor, toFloat32} from '../io/host-tensor.js';
import type {CLIP} from '../models/clip/model.js';
import type {StyleGAN2} from '../models/stylegan2.js';
import {Adam} from '../train/trainer.js';

export interface OptimizeStylesOptions {
  /** Text features [E] of the prompt. */
  text: Float32Array;
  /** Starting S: one [N, C_k] tensor per StyleSpace layer. */
  styles: readonly HostTensor[];
  steps: number;
  lr: number;
  lambdaL2: number;
  /** Intermediate image every N steps (0 = never). */
  saveEvery: number;
  onStep?: (info: StepInfo) => void | Promise<void>;
  signal?: AbortSignal;
}

/** Optimise S (ToRGB styles fixed) against a prompt; returns the final S and its image. */
export async function optimizeStyles(g: StyleGAN2, clip: CLIP, opts: OptimizeStylesOptions): Promise<{styles: HostTensor[]; image: HostTensor}> {
  const {steps, lr, lambdaL2, saveEvery} = opts;
  const E = clip.config.embedDim;
  check(opts.text.length === E, `text features have ${opts.text.length} values, CLIP's embedding is ${E}`);
  check(opts.styles.length === g.layers.length, `an S latent needs ${g.layers.length} tensors, got ${opts.styles.length}`);
  const N = opts.styles[0]!.shape[0]!;
  const start = opts.styles.map((t) => ({dtype: 'float32' as const, shape: [...t.shape], data: Float32Array.from(toFloat32(t))}));
  const varLayers = g.layers.filter((l) => l.kind !== 'torgb');
  const params = varLayers.map((l) => Float32Array.from(start[l.sIndex]!.data));
  const initial = params.map((p) => Float32Array.from(p));

  const nz = g.noiseInputs(N);
  const vars = varLayers.map((l) => input(`s_${String(l.sIndex).padStart(2, '0')}`, [N, l.inChannels]));
  const s = g.layers.map((l) => (l.kind === 'torgb' ? constant(start[l.sIndex]!.data, [N, l.inChannels]) : vars[varLayers.indexOf(l)]!));
  const img = g.synthesis(s, nz); //                                                              [N,3,H,W]
  const cTerm = F.sum(clipLoss(clip, img, constant(opts.text, [1, E])));
  let l2: Tensor = F.scalar(0);
  vars.forEach((v, k) => (l2 = F.add(l2, l2Loss(v, constant(initial[k]!, v.shape)))));
  const total = F.add(cTerm, F.mul(l2, lambdaL2));
  const grads = grad(total, vars);
  const prog = await compile([...vars, ...nz], [total, cTerm, l2, img, ...grads]);
  const noiseFeeds = g.noiseArrays('const', N);

  const adam = new Adam(params.map((p) => p.length));
  for (let i = 0; i < steps; i++) {
    if (opts.signal?.aborted) throw new StyleclipError('optimisation cancelled');
    const lrNow = rampdownLr(i / steps, lr);
    const out = await prog.run([...params, ...noiseFeeds]);
    const num = (k: number) => (out[k]!.data as Float32Array)[0]!;
    const info: StepInfo = {step: i, steps, lr: lrNow, loss: num(0), clip: num(1), l2: num(2), id: 0};
    if (!Number.isFinite(info.loss)) throw new StyleclipError(`optimisation diverged at step ${i} (loss ${info.loss}); try a lower lr`);
    if (saveEvery > 0 && i % saveEvery === 0) info.image = {dtype: 'float32', shape: out[3]!.shape, data: Float32Array.from(out[3]!.data as Float32Array)};
    await opts.onStep?.(info);
    adam.update(params, grads.map((_, k) => out[4 + k]!.data as Float32Array), lrNow);
  }
  const styles = g.layers.map((l): HostTensor => {
    const k = varLayers.indexOf(l);
    return k >= 0 ? {dtype: 'float32', shape: [N, l.inChannels], data: params[k]!} : start[l.sIndex]!;
  });
  const {image} = await generate(g, {latent: styles, space: 's'});
  return {styles, image};
}
