/**
 * The demo mappers' recipe: the `styleclip mapper train` arguments for one quality-list prompt. `train:demo` trains the
 * shipped mappers with it; `lab/scripts/train-mappers.ts` trains the same set for another generator or ToonCLIP.
 */
import {type EditTarget} from '../../src/demo/attributes.js';
import {targetPrompt} from '../../src/demo/edit-quality.js';
import {DEMO_MAPPER_DEFAULTS, MAPPER_DEFAULTS} from '../../src/edit/mapper-defaults.js';

/**
 * Which of the mapper's groups a prompt trains, as the paper does per edit (the official mohawk mapper is trained
 * with --no_fine_mapper): ToonGAN v2's W+ rows own its factor groups (lab/world2/toon-gan.ts MIX_OWNER_V2: hair style
 * at row 1, the coarse group's; glasses, beard and mouth at rows 2–3, the medium group's; the colours at rows 5–7),
 * so a colour edit leaves the coarse group (the hair's shape) alone and a shape edit the fine group (the colours).
 */
const COLOUR_ATTRIBUTES: ReadonlySet<string> = new Set(['hairColor', 'eyeColor', 'lipstick', 'skinTone', 'background']);
export const mapperGroupFlags = (t: Pick<EditTarget, 'attribute'>): string[] => (COLOUR_ATTRIBUTES.has(t.attribute) ? ['--no-coarse'] : ['--no-fine']);

/** `mapper train` arguments (after the subcommand) for target t. */
export function demoMapperArgs(t: EditTarget, files: {generator: string; clip: string; identity: string; out: string; checkpoint: string}, steps: number = DEMO_MAPPER_DEFAULTS.steps): string[] {
  const d = DEMO_MAPPER_DEFAULTS;
  return [
    '--generator', files.generator, '--clip', files.clip, '--prompt', targetPrompt(t), '--samples', String(d.samples), '--steps', String(steps),
    '--batch', String(d.batch), '--lr', String(d.lr), '--lambda-l2', String(d.lambdaL2), '--identity', files.identity, '--lambda-id', String(MAPPER_DEFAULTS.lambdaId),
    ...mapperGroupFlags(t), '--checkpoint-every', '100', '--checkpoint', files.checkpoint, '--out', files.out,
  ];
}
