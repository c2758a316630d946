/**
 * StyleCLIP latent mapper (Patashnik et al. 2021 §5; orpatashnik/StyleCLIP @ f87a47f mapper/latent_mappers.py
 * `LevelsMapper`, mapper/styleclip_mapper.py): three sub-mappers for the coarse, medium and fine rows of W+,
 *   ŵ = w + 0.1 · M(w),   M(w) = concat(M_c(w_coarse), M_m(w_medium), M_f(w_fine)) along the row axis.
 * Each sub-mapper is PixelNorm followed by 4 × EqualLinear(D, D, lr_mul 0.01) with the fused leaky ReLU.
 *
 * Two quirks of the official code are kept, because released mappers were trained with them:
 *  - PixelNorm sees the 3-D group [N, R, D] and normalises over dim 1, i.e. over the R rows of the group for each
 *    feature, not over the D features.
 *  - StyleCLIP's fused_leaky_relu adds the bias along the LAST dim for 3-D input.
 * A disabled group is not built at all (no weights) and contributes zeros to M(w), as in the official code.
 *
 * Row split: the official split is rows 0:4 / 4:8 / 8: of an 18-row W+ (1024 px). For other n_latent L we scale
 * it proportionally: coarse [0, a), medium [a, b), fine [b, L) with a = round(4L/18), b = round(8L/18), clamped so
 * every group keeps at least one row (exactly 4 / 8 for L = 18; 2 / 4 for the 8-row 32 px generator; 4 / 7 for
 * 16 rows). An explicit split can be given instead.
 * Legend: N batch, L rows of W+ (n_latent), R rows of one group, D style_dim.
 */
import * as F from '../engine/ops.js';
import {type Program, compile} from '../engine/session.js';
import {type Tensor, assertShape, constant, input} from '../engine/tensor.js';
import {StyleclipError, check} from '../errors.js';
import {type HostTensor, type StateDict, isHostTensor, toFloat32} from '../io/host-tensor.js';
import {selectPrefix} from '../io/keymap.js';
import {serializeSafetensors} from '../io/safetensors.js';
import {checkStateDict} from '../io/state-dict.js';
import {loadWeights} from '../io/weights.js';
import {equalLinear, pixelNorm} from '../nn/layers.js';
import {OPTIM_PREFIX} from '../train/checkpoint.js';
import {mulberry32Normal} from '../random.js';

export const MAPPER_GROUPS = ['coarse', 'medium', 'fine'] as const;
export type MapperGroup = (typeof MAPPER_GROUPS)[number];

/** State-dict module name of each group ("course" is the official spelling). */
const GROUP_MODULE: Readonly<Record<MapperGroup, string>> = {coarse: 'course_mapping', medium: 'medium_mapping', fine: 'fine_mapping'};

/** Learning-rate multiplier of every mapper EqualLinear. */
const MAPPER_LR_MUL = 0.01;
/** ŵ = w + DELTA_SCALE · M(w) (coach.py, inference.py). */
const DELTA_SCALE = 0.1;
/** EqualLinear layers per sub-mapper (indices 1…4 of `mapping`; index 0 is the PixelNorm). */
const N_LAYERS = 4;

export interface MapperConfig {
  /** Width of each W+ row (512 for the released FFHQ models). */
  styleDim: number;
  /** Rows of W+ this mapper is for; null = not recorded (bare official weights): any L ≥ 3 is accepted. */
  nLatent: number | null;
  /** Which sub-mappers exist; a disabled group outputs zeros. */
  groups: Readonly<Record<MapperGroup, boolean>>;
  /** [a, b]: coarse rows [0, a), medium [a, b), fine [b, L); null = levelsSplit(L). */
  split: readonly [number, number] | null;
  /** Output resolution of the generator it was trained for (metadata only), or null. */
  generatorSize: number | null;
}

export const ALL_GROUPS: Readonly<Record<MapperGroup, boolean>> = {coarse: true, medium: true, fine: true};

/** The official coarse/medium/fine split scaled to L rows (see the file header). */
export function levelsSplit(L: number): [number, number] {
  check(Number.isInteger(L) && L >= 3, `a levels mapper needs at least 3 W+ rows, got ${L}`);
  const a = Math.min(Math.max(Math.round((4 * L) / 18), 1), L - 2);
  const b = Math.min(Math.max(Math.round((8 * L) / 18), a + 1), L - 1);
  return [a, b];
}

/** The row ranges [start, end) of the three groups for L rows. */
function groupRows(cfg: MapperConfig, L: number): Record<MapperGroup, [number, number]> {
  const [a, b] = cfg.split ?? levelsSplit(L);
  check(0 < a && a < b && b < L, `mapper split [${a}, ${b}] does not fit ${L} W+ rows`);
  return {coarse: [0, a], medium: [a, b], fine: [b, L]};
}

/** Every state-dict key and shape of a mapper with this config, in the official order. */
export function expectedMapperStateDict(cfg: Pick<MapperConfig, 'styleDim' | 'groups'>): [string, number[]][] {
  const D = cfg.styleDim;
  const out: [string, number[]][] = [];
  for (const g of MAPPER_GROUPS) {
    if (!cfg.groups[g]) continue;
    for (let i = 1; i <= N_LAYERS; i++) {
      out.push([`${GROUP_MODULE[g]}.mapping.${i}.weight`, [D, D]]);
      out.push([`${GROUP_MODULE[g]}.mapping.${i}.bias`, [D]]);
    }
  }
  return out;
}

/** One sub-mapper: PixelNorm over the group's rows, then 4 × EqualLinear + fused lrelu.  x: [N, R, D] -> [N, R, D] */
function subMapper(x: Tensor, param: (key: string) => Tensor, module: string): Tensor {
  const [N, R, D] = assertShape(x, [null, null, null], 'mapper group');
  // The linear layers act row by row, so they run on [N·R, D]: a 2-D matmul whose weight gradient is one GEMM
  // instead of N batched products summed afterwards.
  let h = F.reshape(pixelNorm(x, 1), [N! * R!, D!]); // quirk: PixelNorm over dim 1 (the R rows), per feature
  for (let i = 1; i <= N_LAYERS; i++) {
    // equalLinear's fused lrelu adds the bias along the last dim (quirk 2).
    h = equalLinear(h, param(`${module}.mapping.${i}.weight`), param(`${module}.mapping.${i}.bias`), {lrMul: MAPPER_LR_MUL, activate: true});
  }
  return F.reshape(h, [N!, R!, D!]);
}

/**
 * M(w): the mapper output ("delta") for W+ w [N, L, D], with parameters supplied by `param` (constants for
 * inference, graph inputs for training).  -> [N, L, D]
 */
export function levelsMapper(w: Tensor, param: (key: string) => Tensor, cfg: MapperConfig): Tensor {
  const [N, L, D] = assertShape(w, [null, cfg.nLatent, cfg.styleDim], 'W+ (mapper input)');
  const rows = groupRows(cfg, L!);
  const parts = MAPPER_GROUPS.map((g) => {
    const [r0, r1] = rows[g];
    if (!cfg.groups[g]) return F.zeros([N!, r1 - r0, D!]); // official: torch.zeros_like
    return subMapper(F.slice(w, {1: [r0, r1]}), param, GROUP_MODULE[g]); // [N, R, D]
  });
  return F.concat(parts, 1); // [N, L, D]
}

/** ŵ = w + 0.1 · M(w). */
export function mapLatent(w: Tensor, delta: Tensor): Tensor {
  return F.add(w, F.mul(delta, DELTA_SCALE));
}

/** A named error for a mapper used with a generator of another size, or malformed mapper metadata. */
export class MapperMismatchError extends StyleclipError {
  override name = 'MapperMismatchError';
}

/** A loaded mapper: config plus host weights (official key names). */
export class LevelsMapper {
  readonly config: MapperConfig;
  readonly weights: StateDict;
  /** The prompt it was trained for, when recorded. */
  readonly prompt: string | null;
  private consts: Map<string, Tensor> | undefined;

  constructor(config: MapperConfig, weights: StateDict, prompt: string | null = null) {
    checkStateDict(expectedMapperStateDict(config), weights, {what: 'mapper state dict'});
    check(MAPPER_GROUPS.some((g) => config.groups[g]), 'a mapper needs at least one of the coarse, medium and fine groups');
    this.config = config;
    this.weights = weights;
    this.prompt = prompt;
  }

  /** A freshly initialised mapper, as the official EqualLinear does: weight ~ N(0,1)/lr_mul, bias 0. */
  static random(config: MapperConfig, seed = 0): LevelsMapper {
    const rng = mulberry32Normal(seed);
    const sd: StateDict = new Map();
    for (const [k, shape] of expectedMapperStateDict(config)) {
      const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
      if (k.endsWith('.weight')) for (let i = 0; i < data.length; i++) data[i] = rng() / MAPPER_LR_MUL;
      sd.set(k, {dtype: 'float32', shape, data});
    }
    return new LevelsMapper(config, sd);
  }

  private param = (key: string): Tensor => {
    this.consts ??= new Map([...this.weights].map(([k, t]) => [k, constant(toFloat32(t), t.shape)]));
    const t = this.consts.get(key);
    if (!t) throw new Error(`internal: no mapper parameter ${key}`);
    return t;
  };

  /** M(w) with the weights as constants.  [N, L, D] -> [N, L, D] */
  delta(w: Tensor): Tensor {
    return levelsMapper(w, this.param, this.config);
  }

  /** ŵ = w + 0.1·M(w).  [N, L, D] -> [N, L, D] */
  forward(w: Tensor): Tensor {
    return mapLatent(w, this.delta(w));
  }

  /** Check that this mapper fits a generator with `nLatent` rows of width `styleDim` (and `size` px, if recorded). */
  checkGenerator({nLatent, styleDim, size}: {nLatent: number; styleDim: number; size?: number}): void {
    const c = this.config;
    const fail = (what: string) => {
      throw new MapperMismatchError(`mapper was trained for ${what}; it cannot be used with this generator`);
    };
    if (c.styleDim !== styleDim) fail(`style_dim ${c.styleDim}, the generator has style_dim ${styleDim}`);
    if (c.nLatent !== null && c.nLatent !== nLatent) fail(`W+ with ${c.nLatent} rows${c.generatorSize ? ` (a ${c.generatorSize}px generator)` : ''}, the generator has ${nLatent}${size ? ` (${size}px)` : ''}`);
    if (c.generatorSize !== null && size !== undefined && c.generatorSize !== size) fail(`a ${c.generatorSize}px generator, this one is ${size}px`);
    groupRows(c, nLatent);
  }

  /** The split actually used for L rows. */
  rowsFor(L: number): Record<MapperGroup, [number, number]> {
    return groupRows(this.config, L);
  }
}

/** The programs runMapper compiled for one mapper (by input shape), and the runs using them now. */
interface MapperPrograms {
  programs: Map<string, Promise<Program>>;
  running: number;
  released: boolean;
}
const mapperPrograms = new WeakMap<LevelsMapper, MapperPrograms>();

/** ŵ and M(w) for a batch of W+ latents [N, L, D] (one program per mapper and batch size, kept until releaseMapper). */
export async function runMapper(mapper: LevelsMapper, wPlus: HostTensor): Promise<{wHat: HostTensor; delta: HostTensor}> {
  check(wPlus.shape.length === 3, `mapper input must be W+ [N, L, D], got [${wPlus.shape.join(', ')}]`);
  let rec = mapperPrograms.get(mapper);
  if (!rec) mapperPrograms.set(mapper, (rec = {programs: new Map(), running: 0, released: false}));
  const key = wPlus.shape.join(',');
  let prog = rec.programs.get(key);
  if (!prog) {
    const w = input('wplus', wPlus.shape);
    const delta = mapper.delta(w);
    rec.programs.set(key, (prog = compile([w], [mapLatent(w, delta), delta])));
    prog.catch(() => rec.programs.delete(key));
  }
  rec.running++;
  try {
    const [wHat, d] = await (await prog).run([toFloat32(wPlus)]);
    return {wHat: {dtype: 'float32', shape: wHat!.shape, data: wHat!.data as Float32Array}, delta: {dtype: 'float32', shape: d!.shape, data: d!.data as Float32Array}};
  } finally {
    if (--rec.running === 0 && rec.released) await releasePrograms(rec);
  }
}

/** Free the sessions runMapper compiled for a mapper (after the runs in progress); a later run compiles again. */
export async function releaseMapper(mapper: LevelsMapper): Promise<void> {
  const rec = mapperPrograms.get(mapper);
  if (!rec) return;
  mapperPrograms.delete(mapper);
  rec.released = true;
  if (rec.running === 0) await releasePrograms(rec);
}

async function releasePrograms(rec: MapperPrograms): Promise<void> {
  const progs = [...rec.programs.values()];
  rec.programs.clear();
  for (const p of progs) await p.then((prog) => prog.release(), () => undefined);
}

// ---------------------------------------------------------------------------------------------------------
// Files: safetensors with our metadata, the bare official state dict, or the official checkpoint
// {state_dict: {'mapper.<key>': …, 'decoder.<key>': …}, opts: {no_coarse_mapper, …, stylegan_size}}.

/** Metadata tag of a mapper file written by saveMapper, and of a training checkpoint. */
const MAPPER_FORMAT = 'styleclip-levels-mapper';
export const CHECKPOINT_FORMAT = 'styleclip-levels-mapper-checkpoint';

/** Metadata (all strings, as safetensors requires) describing a mapper. */
export function mapperMetadata(m: LevelsMapper): Record<string, string> {
  const c = m.config;
  const md: Record<string, string> = {
    format: MAPPER_FORMAT,
    style_dim: String(c.styleDim),
    coarse: String(c.groups.coarse),
    medium: String(c.groups.medium),
    fine: String(c.groups.fine),
  };
  if (c.nLatent !== null) md.n_latent = String(c.nLatent);
  if (c.generatorSize !== null) md.generator_size = String(c.generatorSize);
  if (c.split !== null) md.split = c.split.join(',');
  if (m.prompt !== null) md.prompt = m.prompt;
  return md;
}

/** safetensors bytes of a mapper (official key names) with its metadata. */
export function serializeMapper(m: LevelsMapper): Uint8Array {
  return serializeSafetensors(m.weights, mapperMetadata(m));
}

function groupsFromKeys(sd: StateDict): Record<MapperGroup, boolean> {
  const has = (g: MapperGroup) => [...sd.keys()].some((k) => k.startsWith(`${GROUP_MODULE[g]}.`));
  return {coarse: has('coarse'), medium: has('medium'), fine: has('fine')};
}

function styleDimOf(sd: StateDict, what: string): number {
  const w = [...sd].find(([k]) => k.endsWith('.mapping.1.weight'))?.[1];
  if (!w) throw new StyleclipError(`${what} has no mapper weights (expected keys like course_mapping.mapping.1.weight)`);
  return w.shape[0]!;
}

function intMeta(md: Record<string, string>, key: string, what: string): number | null {
  const v = md[key];
  if (v === undefined) return null;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new MapperMismatchError(`${what}: metadata '${key}' must be an integer, got '${v}'`);
  return n;
}

function boolMeta(md: Record<string, string>, key: string, what: string): boolean | null {
  const v = md[key];
  if (v === undefined) return null;
  if (v !== 'true' && v !== 'false') throw new MapperMismatchError(`${what}: metadata '${key}' must be true or false, got '${v}'`);
  return v === 'true';
}

/** n_latent of a rosinality generator of `size` px. */
function nLatentForSize(size: number): number {
  return Math.log2(size) * 2 - 2;
}

/**
 * Load a mapper from bytes, strictly: our safetensors (metadata checked), a bare official state dict
 * (safetensors or .pt), or an official checkpoint `{state_dict: {'mapper.…'}, opts}`; group flags come from the
 * metadata / opts when present and must agree with the keys.
 */
export function mapperFromBytes(bytes: Uint8Array, what = 'mapper file'): LevelsMapper {
  const {format, tensors, raw} = loadWeights(bytes, {what, prefer: ['state_dict']});
  let sd: StateDict = tensors;
  let md: Record<string, string> = {};
  let flags: Partial<Record<MapperGroup, boolean>> = {};
  let generatorSize: number | null = null;
  if (format === 'safetensors') {
    md = (raw as {metadata: Record<string, string>}).metadata;
    if (md.format === CHECKPOINT_FORMAT) sd = new Map([...sd].filter(([k]) => !k.startsWith(OPTIM_PREFIX)));
    else if (md.format !== undefined && md.format !== MAPPER_FORMAT) throw new MapperMismatchError(`${what}: metadata format '${md.format}' is not a StyleCLIP levels mapper`);
    for (const g of MAPPER_GROUPS) {
      const b = boolMeta(md, g, what);
      if (b !== null) flags[g] = b;
    }
    generatorSize = intMeta(md, 'generator_size', what);
  } else if (format === 'npy') {
    throw new StyleclipError(`${what} is a single .npy array, not a mapper`);
  }
  if ([...sd.keys()].some((k) => k.startsWith('mapper.'))) sd = selectPrefix(sd, 'mapper.', {what}); // get_keys(ckpt, 'mapper')
  const opts = raw instanceof Map ? raw.get('opts') : undefined;
  if (opts instanceof Map) {
    if (opts.has('mapper_type') && opts.get('mapper_type') !== 'LevelsMapper') throw new StyleclipError(`${what}: mapper_type '${String(opts.get('mapper_type'))}' is not supported (only LevelsMapper)`);
    if (opts.get('work_in_stylespace') === true) throw new StyleclipError(`${what}: StyleSpace mappers (work_in_stylespace) are not supported`);
    for (const g of MAPPER_GROUPS) {
      const v = opts.get(`no_${g}_mapper`);
      if (typeof v === 'boolean') flags[g] = !v;
    }
    const size = opts.get('stylegan_size');
    if (typeof size === 'number' || typeof size === 'bigint') generatorSize = Number(size);
  }
  for (const t of sd.values()) if (!isHostTensor(t)) throw new StyleclipError(`${what}: not a tensor map`);
  const fromKeys = groupsFromKeys(sd);
  const groups = {...fromKeys, ...flags};
  const styleDim = styleDimOf(sd, what);
  const mdDim = intMeta(md, 'style_dim', what);
  if (mdDim !== null && mdDim !== styleDim) throw new MapperMismatchError(`${what}: metadata style_dim ${mdDim} disagrees with its weights (${styleDim})`);
  let nLatent = intMeta(md, 'n_latent', what);
  if (nLatent === null && generatorSize !== null) nLatent = nLatentForSize(generatorSize);
  let split: [number, number] | null = null;
  if (md.split !== undefined) {
    const m = /^(\d+),(\d+)$/.exec(md.split);
    if (!m) throw new MapperMismatchError(`${what}: metadata 'split' must be 'a,b', got '${md.split}'`);
    split = [Number(m[1]), Number(m[2])];
  }
  const sdF32: StateDict = new Map([...sd].map(([k, t]) => [k, t.dtype === 'float32' ? t : {dtype: 'float32', shape: t.shape, data: toFloat32(t)}]));
  const cfg: MapperConfig = {styleDim, nLatent, groups, split, generatorSize};
  try {
    return new LevelsMapper(cfg, sdF32, md.prompt ?? null);
  } catch (e) {
    if (e instanceof StyleclipError) throw new StyleclipError(`${what}: ${e.message}`);
    throw e;
  }
}
