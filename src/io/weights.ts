/**
 * Format sniffing and one entry point for weight files held in memory: safetensors, PyTorch zip / TorchScript
 * archives, legacy torch.save files and .npy, told apart by their first bytes, never by file name.
 */
import {StyleclipError} from '../errors.js';
import {describeTensor, isHostTensor, type HostTensor, type StateDict} from './host-tensor.js';
import {isNpy, parseNpy} from './npy.js';
import {preview} from './preview.js';
import {parseSafetensors} from './safetensors.js';
import {extractStateDict, isLegacyTorch, loadTorch, type TorchLimits} from './torch.js';
import {isZip} from './zip.js';

export type WeightsFormat = 'safetensors' | 'torch-zip' | 'torch-legacy' | 'npy';

/** Identify a weight file by content, or return undefined. */
export function detectWeightsFormat(bytes: Uint8Array): WeightsFormat | undefined {
  if (isZip(bytes)) return 'torch-zip';
  if (isNpy(bytes)) return 'npy';
  if (isLegacyTorch(bytes)) return 'torch-legacy';
  if (bytes.byteLength >= 10) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n <= BigInt(bytes.byteLength - 8) && bytes[8] === 0x7b /* '{' */) return 'safetensors';
  }
  return undefined;
}

function formatError(bytes: Uint8Array, what: string): StyleclipError {
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return new StyleclipError(
    `${what}: unrecognised weight file format (not safetensors, a PyTorch .pt/.pth zip or legacy file, or .npy; ` +
      `${bytes.byteLength === 0 ? 'the file is empty' : `starts with ${head}`})`,
  );
}

export interface LoadedWeights {
  format: WeightsFormat;
  /** The flat name → tensor map (for .npy: one entry named `arrayName`). */
  tensors: StateDict;
  /** The whole decoded file: the torch object tree, the SafetensorsFile, or the .npy tensor. */
  raw: unknown;
}

export interface LoadWeightsOptions {
  /** File name for error messages. */
  what?: string;
  /** For checkpoints holding more than a state dict: the keys to descend into (see extractStateDict). */
  prefer?: string[];
  /** The name under which an .npy array appears in `tensors` (default "array"). */
  arrayName?: string;
  /** Tensor and allocation limits of PyTorch files (defaults in TORCH_LIMITS). */
  limits?: Partial<TorchLimits>;
}

/** Decode any supported weight file and find its state dict. */
export function loadWeights(bytes: Uint8Array, {what = 'weights file', prefer, arrayName = 'array', limits}: LoadWeightsOptions = {}): LoadedWeights {
  const format = detectWeightsFormat(bytes);
  switch (format) {
    case 'safetensors': {
      const raw = parseSafetensors(bytes, {what});
      return {format, tensors: raw.tensors, raw};
    }
    case 'npy': {
      const raw = parseNpy(bytes, {what});
      return {format, tensors: new Map([[arrayName, raw]]), raw};
    }
    case 'torch-zip':
    case 'torch-legacy': {
      const raw = loadTorch(bytes, limits ? {what, limits} : {what});
      const tensors = extractStateDict(raw, prefer === undefined ? {what} : {what, prefer});
      return {format, tensors, raw};
    }
    default:
      throw formatError(bytes, what);
  }
}

export interface LoadLatentOptions {
  /** File name for error messages. */
  what?: string;
  /** Which tensor to take from a file holding several (a safetensors name or a dict key of a .pt file). */
  name?: string;
  /** Tensor and allocation limits of PyTorch files (defaults in TORCH_LIMITS). */
  limits?: Partial<TorchLimits>;
}

function pickTensor(entries: Array<[string, unknown]>, name: string | undefined, what: string): HostTensor {
  const tensors = entries.filter(([, v]) => isHostTensor(v)) as Array<[string, HostTensor]>;
  if (name !== undefined) {
    const hit = entries.find(([k]) => k === name);
    if (hit === undefined) {
      throw new StyleclipError(`${what} has no tensor named '${name}' (it has: ${tensors.map(([k, t]) => `${k} ${describeTensor(t)}`).slice(0, 10).join(', ') || 'none'})`);
    }
    if (!isHostTensor(hit[1])) throw new StyleclipError(`${what}: '${name}' is not a tensor`);
    return hit[1];
  }
  if (tensors.length === 1) return tensors[0]![1];
  throw new StyleclipError(
    `${what} holds ${tensors.length} tensors; name the latent to use (${tensors.map(([k, t]) => `${k} ${describeTensor(t)}`).slice(0, 10).join(', ')})`,
  );
}

/** A latent tensor (W, W+ or S) from .npy, a safetensors file, or a .pt holding a tensor or a dict of them. */
export function loadLatent(bytes: Uint8Array, opts: LoadLatentOptions = {}): HostTensor {
  const what = opts.what ?? 'latent file';
  const t = findLatent(bytes, what, opts.name, opts.limits);
  if (t.data.length === 0) throw new StyleclipError(`${what} holds an empty tensor ${t.dtype}${preview(t.shape)}; a latent needs at least one value`);
  return t;
}

function findLatent(bytes: Uint8Array, what: string, name: string | undefined, limits: Partial<TorchLimits> | undefined): HostTensor {
  const format = detectWeightsFormat(bytes);
  switch (format) {
    case 'npy':
      return parseNpy(bytes, {what});
    case 'safetensors':
      return pickTensor([...parseSafetensors(bytes, {what}).tensors], name, what);
    case 'torch-zip':
    case 'torch-legacy': {
      const raw = loadTorch(bytes, limits ? {what, limits} : {what});
      if (isHostTensor(raw) && name === undefined) return raw;
      if (raw instanceof Map) return pickTensor([...raw].map(([k, v]) => [String(k), v]), name, what);
      if (Array.isArray(raw) && raw.length === 1 && isHostTensor(raw[0]) && name === undefined) return raw[0];
      throw new StyleclipError(`${what} holds no latent tensor${name === undefined ? '' : ` named '${name}'`}`);
    }
    default:
      throw formatError(bytes, what);
  }
}
