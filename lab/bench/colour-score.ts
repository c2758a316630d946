/**
 * How the editing ToonCLIP scores a hair colour over the colour space (diagnostic, lab/world2/README.md session 13):
 *
 *   node --import tsx lab/bench/colour-score.ts [CLIP.safetensors] [colour]
 *
 * Renders the mid-range face with its hair at L × hue × chroma grid points and prints, per L, a table of the global
 * direction's score (Δt of "a face with <colour> hair" against the neutral prompt, dotted with the normalised image
 * embedding) and the cosine with the prompt itself: rows are hues, columns chroma 0 … 0.18.
 */
import {neutralPrompt, promptFor} from '../../src/demo/captions.js';
import {configureEngine} from '../../src/engine/session.js';
import {promptDirection, templateEmbedding} from '../../src/models/clip/encode.js';
import {loadClip} from '../../src/models/clip/load.js';
import {loadDefaultTokenizer} from '../../src/models/clip/tokenizer.js';
import {embedRenders} from '../demo/train-clip.js';
import {prototypeFactors} from '../world2/factors.js';
import {renderFactorsTensor} from '../world2/render.js';
configureEngine({threads: 1});
const clip = loadClip(process.argv[2] ?? 'assets/demo/toonclip.safetensors');
const colour = process.argv[3] ?? 'grey';
const tok = loadDefaultTokenizer();
const E = clip.config.embedDim;
const dt = await promptDirection(clip, tok, neutralPrompt, promptFor('hairColor', colour as never));
const tt = await templateEmbedding(clip, tok, promptFor('hairColor', colour as never));
const Ls = [0.35, 0.55, 0.75, 0.9];
const Cs = [0, 0.03, 0.06, 0.09, 0.12, 0.18];
const Hs = [30, 60, 90, 140, 195, 250, 300, 350];
const faces = [];
for (const L of Ls) for (const H of Hs) for (const C of Cs) faces.push({...prototypeFactors({hairStyle: 'short'}), hairL: L, hairC: C, hairH: H});
const B = faces.length;
const imgs = new Float32Array(B * 3 * 64 * 64);
faces.forEach((f, i) => renderFactorsTensor(f, 64, imgs, i * 3 * 64 * 64));
const ed = await embedRenders(clip, imgs, B);
/** v · (embedding of face i). */
const dot = (v: Float32Array, i: number): number => v.reduce((s, x, k) => s + x * ed[i * E + k]!, 0);
const tn = Math.hypot(...tt);
let i = 0;
for (const L of Ls) {
  console.log(`L ${L}: rows hue, columns chroma ${Cs.join(' ')}   (direction score | cos with target)`);
  for (const H of Hs) {
    const a: string[] = [];
    const b: string[] = [];
    for (let c = 0; c < Cs.length; c++, i++) {
      a.push(dot(dt, i).toFixed(3).padStart(7));
      b.push((dot(tt, i) / tn).toFixed(3).padStart(6));
    }
    console.log(`  h ${String(H).padStart(3)} ${a.join('')}   | ${b.join('')}`);
  }
}
