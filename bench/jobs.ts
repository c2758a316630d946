/**
 * Job start-up on the demo models (64 px generator + ToonCLIP, face-api identity as the web app uses it): the wall
 * time of a short latent-optimisation job that compiles its sessions (the first job of a process) and of the next
 * job, for another prompt and face, in the same process (every later job of the web app or of a script). Each
 * repetition starts from a cleared session cache. `npm run bench -- jobs [--steps N] [--reps N]`.
 */
import {optimizeLatent} from '../src/edit/optimize.js';
import {clearSessionCache} from '../src/engine/session.js';
import {encodeTexts} from '../src/models/clip/encode.js';
import {loadClip} from '../src/models/clip/load.js';
import {loadDefaultTokenizer} from '../src/models/clip/tokenizer.js';
import {loadFaceRecognitionNet} from '../src/models/identity/face-api.js';
import {loadGenerator} from '../src/models/load-generator.js';
import {type BenchResult, DemoAssetDir, flag, printHeader, report} from './common.js';

export async function benchJobs(): Promise<BenchResult[]> {
  const steps = Number(flag('steps', '5'));
  const reps = Number(flag('reps', '5'));
  const assets = new DemoAssetDir();
  const g = loadGenerator(assets.file('generator'));
  const clip = loadClip(assets.file('clip'));
  const identity = loadFaceRecognitionNet();
  const [a, b] = [await encodeTexts(clip, loadDefaultTokenizer(), ['a face with grey hair']), await encodeTexts(clip, loadDefaultTokenizer(), ['a smiling face'])];
  const job = (text: Float32Array, seed: number) => optimizeLatent(g, clip, {text, seed, steps, identity, saveEvery: 0});
  printHeader(`Latent optimisation job, ${g.config.size} px demo models + face-api identity, ${steps} steps: first job of a process vs the next one (another prompt and face)`);
  const first: number[] = [];
  const second: number[] = [];
  for (let r = 0; r < reps; r++) {
    await clearSessionCache();
    const t0 = performance.now();
    await job(a, 2 * r);
    const t1 = performance.now();
    await job(b, 2 * r + 1);
    first.push((t1 - t0) / 1000);
    second.push((performance.now() - t1) / 1000);
  }
  return [report(`optimize_job_first_${g.config.size}`, first), report(`optimize_job_second_${g.config.size}`, second)];
}
