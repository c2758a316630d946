/**
 * Real-image inversion benchmark: the full-size FFHQ e4e encoder forward (IR-SE50 body, 18 styles of 512; weights
 * from the fixtures' integer hash, about 1 GB), batch 1, and the alignment of a 1024 px photo (detection on our
 * engine, landmarks on face-api's tfjs, the FFHQ warp). `reps` is small: one encoder run takes seconds.
 */
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import sharp from 'sharp';
import {alignFace} from '../src/align/align-face.js';
import {compile} from '../src/engine/session.js';
import {input} from '../src/engine/tensor.js';
import {Encoder} from '../src/models/encoder/e4e.js';
import {hashedFfhqEncoder} from '../test/helpers/e4e-hashed.js';
import {type BenchResult, printHeader, timeIt} from './common.js';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/fixtures');

export async function benchInversion({reps = 3} = {}): Promise<BenchResult[]> {
  printHeader('Real-image inversion: e4e FFHQ encoder (batch 1) and alignment of a 1024 px photo');
  const results: BenchResult[] = [];
  {
    const {sd, latentAvg} = hashedFfhqEncoder();
    const enc = Encoder.fromStateDict(sd, {latentAvg});
    sd.clear();
    const x = input('image', [1, 3, 256, 256]);
    const codes = enc.forward(x);
    const prog = await compile([x], [enc.wPlus(codes)]);
    const img = new Float32Array(3 * 256 * 256).map((_, i) => Math.sin(i / 97));
    results.push(await timeIt('e4e_ffhq_encoder_fwd', () => prog.run([img]), {warmup: 1, reps}));
    await prog.release();
  }
  {
    // The astronaut photo upscaled to 1024 px: one face, detection and landmarks run every time.
    const photo = new Uint8Array(await sharp(readFileSync(path.join(FIXTURES, 'align_plain_input.png'))).resize(1024, 1024, {kernel: 'lanczos3'}).png().toBuffer());
    results.push(await timeIt('align_1024_photo', () => alignFace(photo), {warmup: 1, reps}));
  }
  return results;
}
