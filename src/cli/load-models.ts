/** Shared model flags for the CLI (--generator, --clip, --clip-config) and loading them. */
import type {Command} from 'commander';
import {demoAssetPath} from '../demo/assets.js';
import {check} from '../errors.js';
import {loadClip} from '../models/clip/load.js';
import type {CLIP} from '../models/clip/model.js';
import {type ClipTokenizer, loadDefaultTokenizer} from '../models/clip/tokenizer.js';
import {loadFaceRecognitionNet} from '../models/identity/face-api.js';
import {demoIdentityIfAny} from '../demo/identity.js';
import {readBytes} from '../io/files.js';
import {irseFromBytes} from '../models/identity/irse.js';
import type {IdentityNet} from '../models/identity/types.js';
import {loadGenerator, requireClassChosen} from '../models/load-generator.js';
import type {StyleGAN2} from '../models/stylegan2.js';
import {parseIntStrict} from './options.js';

export interface ModelFlags {
  generator?: string;
  /** --class: the class of a conditional StyleGAN2-ADA generator. */
  class?: number;
  clip?: string;
  clipConfig?: string;
}

export function addGeneratorOption(cmd: Command): Command {
  return cmd
    .option('--generator <ckpt>', 'StyleGAN2 checkpoint (rosinality .pt {g_ema, latent_avg}, state dict .pt, .safetensors, or an NVIDIA StyleGAN2-ADA .pkl); default: the shipped demo generator')
    .option('--class <n>', 'class of a conditional StyleGAN2-ADA generator (c_dim > 0)', parseIntStrict('--class', {min: 0}));
}

export function addClipOptions(cmd: Command): Command {
  return cmd
    .option('--clip <ckpt>', 'CLIP checkpoint: OpenAI TorchScript .pt (ViT-B-32.pt), torch.save state dict, or HuggingFace model.safetensors (+ config.json beside it); default: the shipped demo ToonCLIP')
    .option('--clip-config <json>', "CLIP hyperparameters with openai's names (embed_dim, vision_heads, transformer_heads, …); overrides inference from the weights");
}

export function addModelOptions(cmd: Command, {clip = true} = {}): Command {
  addGeneratorOption(cmd);
  return clip ? addClipOptions(cmd) : cmd;
}

export interface LoadedModels {
  g: StyleGAN2;
  clip: CLIP;
  tokenizer: ClipTokenizer;
}

export function loadGeneratorFromFlags(flags: ModelFlags): StyleGAN2 {
  const file = flags.generator ?? demoAssetPath('generator');
  const g = loadGenerator(file, flags.class !== undefined ? {classIndex: flags.class} : {});
  requireClassChosen(g, `generator '${file}'`);
  return g;
}

export function loadClipFromFlags(flags: ModelFlags): {clip: CLIP; tokenizer: ClipTokenizer} {
  const clip = loadClip(flags.clip ?? demoAssetPath('clip'), flags.clipConfig ? {configPath: flags.clipConfig} : {});
  return {clip, tokenizer: loadDefaultTokenizer()};
}

export function loadModelsFromFlags(flags: ModelFlags): LoadedModels {
  const g = loadGeneratorFromFlags(flags);
  return {g, ...loadClipFromFlags(flags)};
}

export function addIdentityOption(cmd: Command): Command {
  return cmd.option('--identity <ckpt|face-api>', "identity network for the ID loss: an IR-SE50 checkpoint (model_ir_se50.pth) or 'face-api' (FaceRecognitionNet shipped with @vladmandic/face-api) or the demo world's identity network (identity.safetensors); default: the demo identity network on the demo generator, none with --generator");
}

/**
 * The ID loss of an edit command: its weight — --lambda-id, else `onDemo` on the shipped demo generator (no
 * --generator), `withIdentity` with --identity, else 0 — and its network's spec for loadIdentity: --identity, else on
 * the demo generator the demo identity network (to cartoon faces what ArcFace is to FFHQ); null when the weight is 0.
 * A weight without a network is a named error.
 */
export function idLossFromFlags(
  flags: {identity?: string; generator?: string; lambdaId?: number},
  defaults: {withIdentity: number; onDemo: number},
): {lambdaId: number; spec: string | null} {
  const demoGenerator = flags.generator === undefined;
  const lambdaId = flags.lambdaId ?? (demoGenerator ? defaults.onDemo : flags.identity ? defaults.withIdentity : 0);
  check(!lambdaId || flags.identity || demoGenerator, '--lambda-id needs an identity network: pass --identity CKPT or --identity face-api');
  return {lambdaId, spec: lambdaId ? (flags.identity ?? demoAssetPath('identity')) : null};
}

/** The identity network named by --identity: 'face-api', the demo identity network's file or an IR-SE checkpoint. */
export function loadIdentity(spec: string): IdentityNet {
  if (spec === 'face-api') return loadFaceRecognitionNet();
  const bytes = readBytes(spec, 'identity network');
  return demoIdentityIfAny(bytes, `identity network '${spec}'`) ?? irseFromBytes(bytes, `IR-SE checkpoint '${spec}'`);
}
