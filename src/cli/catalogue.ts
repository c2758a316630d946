/**
 * Known public checkpoints that styleclip can load: where they are published, their sha256 and size where a
 * public source states them, and how to point the CLI at them. Data only; `styleclip models` prints it and
 * `styleclip models fetch NAME` downloads an entry on explicit request (never implicitly).
 *
 * Honesty rules for this table: a sha256 or a size is recorded only when a public source states it; otherwise it
 * is null and shown as unknown. OpenAI CLIP URLs carry the file's sha256 as their second-to-last path segment
 * (openai/CLIP clip/clip.py `_download` checks `url.split("/")[-2]`), so those entries are verifiable. The
 * StyleGAN2 and IR-SE50 checkpoints are shared as Google Drive files whose hashes were never published, and
 * `fetch` refuses to download them unverified. NVIDIA's StyleGAN2-ADA network pickles are served from NVIDIA's CDN
 * without published hashes or sizes either.
 */
import {readFileSync} from 'node:fs';
import {AUTO_BETA_MIN_CHANNELS, GLOBAL_DEFAULTS} from '../edit/global-defaults.js';
import {StyleclipError} from '../errors.js';

export type ModelKind = 'generator' | 'clip' | 'identity';

export interface ModelEntry {
  /** Name given to `styleclip models fetch NAME`. */
  name: string;
  kind: ModelKind;
  description: string;
  /** Where the file is published (a human download page for Google Drive entries). */
  url: string;
  /** sha256 of the file, lower-case hex; null when no public source states it. */
  sha256: string | null;
  /** Exact file size in bytes; null when no public source states it. */
  bytes: number | null;
  /** Why the size is unknown or approximate, when it is. */
  sizeNote?: string;
  /** File name to save as (what `fetch` writes and what the usage line refers to). */
  file: string;
  /** The exact CLI flag that uses the file. */
  usage: string;
  /** Conversion and download notes. */
  notes: string[];
  /** The public source(s) these facts were read from (repository + path). */
  source: string;
  /** Generators: output resolution in pixels. */
  resolution?: number;
  /** Generators: the global-direction settings that suit the domain (auto β channel count k and α). */
  edit?: EditSettings;
}

/** Global-direction settings for a generator's domain: StyleCLIP's auto β keeps k = 20 channels for faces, 100 otherwise. */
export interface EditSettings {
  domain: 'faces' | 'other';
  minChannels: number;
  alpha: number;
}

const FACES: EditSettings = {domain: 'faces', minChannels: AUTO_BETA_MIN_CHANNELS.faces, alpha: GLOBAL_DEFAULTS.alpha};
const OTHER: EditSettings = {domain: 'other', minChannels: AUTO_BETA_MIN_CHANNELS.other, alpha: GLOBAL_DEFAULTS.alpha};

const ADA_BASE = 'https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained';

/** NVIDIA's StyleGAN2-ADA pickles (NVlabs/stylegan2-ada-pytorch README.md, "Data repository" → pretrained). */
function adaEntry(name: string, res: number, what: string, edit: EditSettings, extra: string[] = []): ModelEntry {
  return {
    name: `stylegan2-ada-${name}`,
    kind: 'generator',
    description: `StyleGAN2-ADA ${what}, ${res}×${res}: NVIDIA's PyTorch network pickle (loads as is; G_ema is used)`,
    url: `${ADA_BASE}/${name}.pkl`,
    sha256: null,
    bytes: null,
    sizeNote: 'not published by NVIDIA; the pickle holds three networks (G, D and G_ema)',
    file: `${name}.pkl`,
    usage: `--generator ${name}.pkl`,
    notes: [
      'Read as data: the Python source embedded in the pickle is never run.',
      ...extra,
    ],
    source: 'NVlabs/stylegan2-ada-pytorch README.md (Data repository)',
    resolution: res,
    edit,
  };
}

const CLIP_BASE = 'https://openaipublic.azureedge.net/clip/models';

export const MODEL_CATALOGUE: readonly ModelEntry[] = [
  // Source: orpatashnik/StyleCLIP README.md ("Editing via Latent Vector Optimization" → Setup) and utils.py
  // (google_drive_paths['stylegan2-ffhq-config-f.pt']); the same Drive file is listed as "FFHQ StyleGAN" in
  // omertov/encoder4editing README.md and yuval-alaluf/restyle-encoder README.md. No sha256 or size published.
  {
    name: 'stylegan2-ffhq-config-f',
    kind: 'generator',
    description: 'StyleGAN2 config-f on FFHQ, 1024×1024, rosinality layout {g_ema, latent_avg} (the generator StyleCLIP uses)',
    url: 'https://drive.google.com/file/d/1EM87UquaoQmk17Q8d5kYIAHqu0dkYqdT/view?usp=sharing',
    sha256: null,
    bytes: null,
    file: 'stylegan2-ffhq-config-f.pt',
    usage: '--generator stylegan2-ffhq-config-f.pt',
    notes: [
      'Google Drive file: download it in a browser (or with gdown) and save it as stylegan2-ffhq-config-f.pt.',
      "Alternatively convert NVIDIA's TensorFlow pickle stylegan2-ffhq-config-f.pkl with rosinality's convert_weight.py (python convert_weight.py --repo ~/stylegan2 stylegan2-ffhq-config-f.pkl; needs TensorFlow 1.x and a clone of NVlabs/stylegan2).",
    ],
    source: 'orpatashnik/StyleCLIP README.md + utils.py; omertov/encoder4editing README.md',
    resolution: 1024,
    edit: FACES,
  },
  // Source: yuval-alaluf/restyle-encoder README.md, "Auxiliary Models" table ("LSUN Car StyleGAN", "converted
  // from the official TensorFlow models to PyTorch using the conversion script from rosinality"). No hash/size.
  {
    name: 'stylegan2-car-config-f',
    kind: 'generator',
    description: 'StyleGAN2 config-f on LSUN Car (512×384 images on a 512×512 canvas), rosinality layout',
    url: 'https://drive.google.com/file/d/1UmMHHB3DU1trTB8_9Fjkck5ZwArnD81B/view?usp=sharing',
    sha256: null,
    bytes: null,
    file: 'stylegan2-car-config-f.pt',
    usage: '--generator stylegan2-car-config-f.pt',
    notes: [
      'Google Drive file: download it in a browser (or with gdown) and save it as stylegan2-car-config-f.pt.',
      "Or convert NVIDIA's stylegan2-car-config-f.pkl (NVlabs/stylegan2 pretrained_networks.py) with rosinality's convert_weight.py.",
    ],
    source: 'yuval-alaluf/restyle-encoder README.md (Auxiliary Models)',
    resolution: 512,
    edit: OTHER,
  },
  // Source: yuval-alaluf/restyle-encoder README.md, "Auxiliary Models" table ("LSUN Church StyleGAN", 256×256,
  // converted with rosinality's script). No hash/size.
  {
    name: 'stylegan2-church-config-f',
    kind: 'generator',
    description: 'StyleGAN2 config-f on LSUN Church, 256×256, rosinality layout',
    url: 'https://drive.google.com/file/d/1ZSZOFtw5wZfPhWEzHFB9LI__bikaHsn6/view?usp=sharing',
    sha256: null,
    bytes: null,
    file: 'stylegan2-church-config-f.pt',
    usage: '--generator stylegan2-church-config-f.pt',
    notes: [
      'Google Drive file: download it in a browser (or with gdown) and save it as stylegan2-church-config-f.pt.',
      "Or convert NVIDIA's stylegan2-church-config-f.pkl (NVlabs/stylegan2 pretrained_networks.py) with rosinality's convert_weight.py.",
    ],
    source: 'yuval-alaluf/restyle-encoder README.md (Auxiliary Models)',
    resolution: 256,
    edit: OTHER,
  },
  // Source: NVlabs/stylegan2 pretrained_networks.py (gdrive:networks/stylegan2-cat-config-f.pkl) and the https
  // URL used in NVlabs/stylegan2-ada-pytorch README.md (legacy.py example). No author-published rosinality
  // conversion of LSUN Cat was found; the one rosinality-layout copy seen is a third-party Hugging Face mirror
  // (huggingface.co/aaronb/StyleGAN2, linked from Zeqiang-Lai/DragGAN README.md), unverified. No hash/size.
  {
    name: 'stylegan2-cat-config-f',
    kind: 'generator',
    description: "StyleGAN2 config-f on LSUN Cat, 256×256: NVIDIA's official TensorFlow pickle (convert before use)",
    url: 'https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-cat-config-f.pkl',
    sha256: null,
    bytes: null,
    file: 'stylegan2-cat-config-f.pkl',
    usage: '--generator stylegan2-cat-config-f.pt',
    notes: [
      "This is a TensorFlow pickle, which styleclip does not read: convert it with rosinality's convert_weight.py (python convert_weight.py --repo ~/stylegan2 stylegan2-cat-config-f.pkl; needs TensorFlow 1.x and a clone of NVlabs/stylegan2), which writes stylegan2-cat-config-f.pt.",
      'A third-party, already converted copy is on huggingface.co/aaronb/StyleGAN2 (stylegan2-cat-config-f.pt); its hash is not published, so check what you get.',
      "Or convert it with NVlabs/stylegan2-ada-pytorch legacy.py (python legacy.py --source=stylegan2-cat-config-f.pkl --dest=cat-ada.pkl; needs only PyTorch and that repository), whose PyTorch network pickle styleclip reads directly (--generator cat-ada.pkl).",
    ],
    source: 'NVlabs/stylegan2 pretrained_networks.py; NVlabs/stylegan2-ada-pytorch README.md',
    resolution: 256,
    edit: OTHER,
  },
  adaEntry('ffhq', 1024, 'FFHQ (trained with the original StyleGAN2 config)', FACES, [
    'Same layout as stylegan2-ffhq-config-f: 18 W+ rows, 26 StyleSpace layers / 9088 channels; G_ema alone is 132668656 bytes of float32 (182 tensors).',
  ]),
  adaEntry('metfaces', 1024, 'MetFaces (transfer learning from FFHQ)', FACES),
  adaEntry('afhqdog', 512, 'AFHQ Dog (the domain the StyleCLIP paper edits besides faces)', OTHER),
  adaEntry('afhqcat', 512, 'AFHQ Cat', OTHER),
  adaEntry('afhqwild', 512, 'AFHQ Wild', OTHER),
  adaEntry('brecahad', 512, 'BreCaHAD (breast cancer histopathology)', OTHER),
  // Source: openai/CLIP clip/clip.py `_MODELS["ViT-B/32"]`; the sha256 is the URL's second-to-last segment, which
  // clip.py's `_download` verifies. Size: not stated by OpenAI; 353976522 bytes is the figure pinned (next to
  // this same sha256) by several independent public repositories and shown by CLIP's own tqdm download bar
  // (Content-Length) in a published log.
  {
    name: 'clip-vit-b-32',
    kind: 'clip',
    description: 'OpenAI CLIP ViT-B/32 (TorchScript archive, fp16 weights inside), the CLIP StyleCLIP uses',
    url: `${CLIP_BASE}/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt`,
    sha256: '40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af',
    bytes: 353976522,
    file: 'ViT-B-32.pt',
    usage: '--clip ViT-B-32.pt',
    notes: ['Loads as is (TorchScript zip read without executing code); hyperparameters are inferred from the weights.'],
    source: 'openai/CLIP clip/clip.py (_MODELS)',
  },
  // Source: openai/CLIP clip/clip.py `_MODELS["ViT-B/16"]` (present in later versions of the file; the same URL
  // appears verbatim in many copies of clip.py). Size 350837078 bytes: pinned with this sha256 by several
  // independent public repositories (not stated by OpenAI).
  {
    name: 'clip-vit-b-16',
    kind: 'clip',
    description: 'OpenAI CLIP ViT-B/16 (TorchScript archive, fp16 weights inside)',
    url: `${CLIP_BASE}/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt`,
    sha256: '5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f',
    bytes: 350837078,
    file: 'ViT-B-16.pt',
    usage: '--clip ViT-B-16.pt',
    notes: ['Loads as is; hyperparameters are inferred from the weights.'],
    source: 'openai/CLIP clip/clip.py (_MODELS)',
  },
  // Source: openai/CLIP clip/clip.py `_MODELS["ViT-L/14"]`. Size 932768134 bytes: pinned with this sha256 by
  // several independent public repositories (not stated by OpenAI).
  {
    name: 'clip-vit-l-14',
    kind: 'clip',
    description: 'OpenAI CLIP ViT-L/14 (TorchScript archive, fp16 weights inside)',
    url: `${CLIP_BASE}/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt`,
    sha256: 'b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836',
    bytes: 932768134,
    file: 'ViT-L-14.pt',
    usage: '--clip ViT-L-14.pt',
    notes: ['Loads as is; hyperparameters are inferred from the weights.'],
    source: 'openai/CLIP clip/clip.py (_MODELS)',
  },
  // Source: orpatashnik/StyleCLIP README.md ("Editing via Latent Mapper" → Setup: "weights for the facial
  // recognition network used in the ID loss"); the same Drive file is "IR-SE50 Model ... taken from TreB1eN"
  // in omertov/encoder4editing README.md and yuval-alaluf/restyle-encoder README.md. No hash/size published.
  // Payload figure: shared/fixtures/irse50_shapes.json float32_bytes_all_keys = 175296688.
  {
    name: 'ir-se50',
    kind: 'identity',
    description: "IR-SE50 ArcFace (TreB1eN InsightFace_Pytorch) for StyleCLIP's ID loss",
    url: 'https://drive.google.com/file/d/1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn/view?usp=sharing',
    sha256: null,
    bytes: null,
    sizeNote: 'about 175.3 MB of float32 tensors (397 state-dict entries incl. BatchNorm buffers); the exact file size is not published',
    file: 'model_ir_se50.pth',
    usage: '--identity model_ir_se50.pth',
    notes: [
      'Google Drive file: download it in a browser (or with gdown) and save it as model_ir_se50.pth.',
      'Offline alternative that needs no download: --identity face-api (FaceRecognitionNet shipped inside @vladmandic/face-api).',
    ],
    source: 'orpatashnik/StyleCLIP README.md; omertov/encoder4editing README.md; yuval-alaluf/restyle-encoder README.md',
  },
];

/**
 * Test-only: `STYLECLIP_CATALOGUE_OVERRIDE=/path/to/entries.json` replaces the catalogue with the JSON array in that
 * file (same fields as ModelEntry; http:// URLs allowed so tests can serve files from 127.0.0.1). Not a user
 * feature: it exists so the download path can be tested without the internet.
 */
export const CATALOGUE_OVERRIDE_ENV = 'STYLECLIP_CATALOGUE_OVERRIDE';

const KINDS: readonly ModelKind[] = ['generator', 'clip', 'identity'];
const SHA256_RE = /^[0-9a-f]{64}$/;

/** Problems with one entry (empty when well-formed). */
export function entryProblems(e: unknown, {allowHttp = false} = {}): string[] {
  const problems: string[] = [];
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return ['not an object'];
  const o = e as Record<string, unknown>;
  const str = (k: string) => typeof o[k] === 'string' && (o[k] as string).length > 0;
  for (const k of ['name', 'description', 'url', 'file', 'usage', 'source']) if (!str(k)) problems.push(`'${k}' must be a non-empty string`);
  if (str('name') && !/^[a-z0-9][a-z0-9._-]*$/.test(o.name as string)) problems.push(`name '${String(o.name)}' must be lower-case letters, digits, '.', '_' or '-'`);
  if (!KINDS.includes(o.kind as ModelKind)) problems.push(`'kind' must be one of ${KINDS.join(', ')}`);
  if (str('url')) {
    let u: URL | undefined;
    try {
      u = new URL(o.url as string);
    } catch {
      problems.push(`'url' is not a valid URL`);
    }
    if (u && u.protocol !== 'https:' && !(allowHttp && u.protocol === 'http:')) problems.push(`'url' must be https, got ${u.protocol}`);
  }
  if (o.sha256 !== null && !(typeof o.sha256 === 'string' && SHA256_RE.test(o.sha256))) problems.push(`'sha256' must be null or 64 lower-case hex digits`);
  if (o.bytes !== null && !(typeof o.bytes === 'number' && Number.isSafeInteger(o.bytes) && o.bytes > 0)) problems.push(`'bytes' must be null or a positive integer`);
  if (o.sizeNote !== undefined && typeof o.sizeNote !== 'string') problems.push(`'sizeNote' must be a string`);
  if (!Array.isArray(o.notes) || !o.notes.every((n) => typeof n === 'string')) problems.push(`'notes' must be an array of strings`);
  if (o.resolution !== undefined && !(Number.isSafeInteger(o.resolution) && Number.isInteger(Math.log2(o.resolution as number)))) problems.push(`'resolution' must be a power of two`);
  if (o.edit !== undefined) {
    const ed = o.edit as Partial<EditSettings> | null;
    if (typeof ed !== 'object' || ed === null || (ed.domain !== 'faces' && ed.domain !== 'other') || !Number.isSafeInteger(ed.minChannels) || typeof ed.alpha !== 'number') {
      problems.push(`'edit' must be {domain: 'faces' | 'other', minChannels, alpha}`);
    }
  }
  if (str('file') && /[/\\]|^\.\.?$/.test(o.file as string)) problems.push(`'file' must be a plain file name`);
  return problems;
}

/** The catalogue in effect: the built-in table, or the test-only override file named by STYLECLIP_CATALOGUE_OVERRIDE. */
export function loadCatalogue(env: NodeJS.ProcessEnv = process.env): readonly ModelEntry[] {
  const file = env[CATALOGUE_OVERRIDE_ENV];
  if (!file) return MODEL_CATALOGUE;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new StyleclipError(`${CATALOGUE_OVERRIDE_ENV} file '${file}' cannot be read as JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!Array.isArray(parsed)) throw new StyleclipError(`${CATALOGUE_OVERRIDE_ENV} file '${file}' must hold a JSON array of entries`);
  parsed.forEach((e, i) => {
    const p = entryProblems(e, {allowHttp: true});
    if (p.length) throw new StyleclipError(`${CATALOGUE_OVERRIDE_ENV} file '${file}' entry ${i}: ${p.join('; ')}`);
  });
  return parsed as ModelEntry[];
}

/** The entry called `name` (case-insensitive); a StyleclipError listing the known names otherwise. */
export function findModel(name: string, entries: readonly ModelEntry[] = MODEL_CATALOGUE): ModelEntry {
  const e = entries.find((x) => x.name === name.toLowerCase());
  if (!e) throw new StyleclipError(`unknown model '${name}'; known models: ${entries.map((x) => x.name).join(', ')}`);
  return e;
}

/** "353.98 MB" (decimal units, as download tools show them). */
export function formatBytes(n: number): string {
  if (n < 1e3) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  while (v >= 1e3 && i < units.length - 1) {
    v /= 1e3;
    i++;
  }
  return `${v.toFixed(2)} ${units[i]}`;
}

/** Size for display: exact bytes, or "unknown". */
export function describeSize(e: ModelEntry): string {
  return e.bytes === null ? 'unknown' : formatBytes(e.bytes);
}
