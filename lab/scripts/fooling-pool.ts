/**
 * Build a fooling pool for ToonCLIP's adversarial fine-tune (see lab/demo/fooling.ts):
 *
 *   node --import tsx lab/scripts/fooling-pool.ts --generator assets/demo/generator.safetensors \
 *     --clip .train/toonclip-1-phase7.safetensors --rounds 40 --first-round 0 --out .train/fooling-1.safetensors
 *
 * Options: --attack-steps N (latent-optimisation steps per attack, default 150), --threads T (default 1).
 * Each round (16 faces, one target) takes ~30 s on one core.
 */
import {parseArgs} from 'node:util';
import {makeFoolingPool, writeFoolingPool} from '../demo/fooling.js';
import {configureEngine} from '../../src/engine/session.js';
import {loadClip} from '../../src/models/clip/load.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {loadGenerator} from '../../src/models/load-generator.js';

const {values: args} = parseArgs({
  options: {
    generator: {type: 'string'},
    clip: {type: 'string'},
    rounds: {type: 'string', default: '40'},
    'first-round': {type: 'string', default: '0'},
    'attack-steps': {type: 'string', default: '150'},
    threads: {type: 'string', default: '1'},
    out: {type: 'string'},
  },
});

async function main(): Promise<void> {
  if (!args.generator || !args.clip || !args.out) throw new Error('--generator, --clip and --out are required');
  const [rounds, firstRound, attackSteps] = [args.rounds, args['first-round'], args['attack-steps']].map((v) => Number.parseInt(v!, 10)) as [number, number, number];
  if (!(rounds >= 1 && firstRound >= 0 && attackSteps >= 1)) throw new Error('--rounds and --attack-steps must be ≥ 1, --first-round ≥ 0');
  configureEngine({threads: Number.parseInt(args.threads!, 10)});
  const g = loadGenerator(args.generator);
  const t0 = performance.now();
  const pool = await makeFoolingPool(g, loadClip(args.clip), loadDefaultTokenizer(), {
    rounds,
    firstRound,
    attackSteps,
    onRound: (r, prompt) => console.log(`[${new Date().toISOString().slice(11, 19)}] round ${r + 1}/${rounds}: ${prompt}`),
  });
  writeFoolingPool(args.out, pool, g.config.size, {generator: args.generator, clip: args.clip, rounds: String(rounds), first_round: String(firstRound), attack_steps: String(attackSteps)});
  console.log(`wrote ${args.out}: ${pool.size} units in ${((performance.now() - t0) / 60000).toFixed(1)} min`);
}

main().catch((e: unknown) => {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
