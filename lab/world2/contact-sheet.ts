/**
 * Contact sheet of the v2 renderer: one row per factor path (between two named values, or along a degree), 11 steps
 * each, so the in-between faces can be checked by eye. Writes a PNG (default scratch/world2-contact-sheet.png).
 *
 *   node --import tsx lab/world2/contact-sheet.ts [--out FILE] [--size 64] [--zoom 2] [--random N]
 */
import {mkdirSync} from 'node:fs';
import path from 'node:path';
import {parseArgs} from 'node:util';
import sharp from 'sharp';
import type {AttributeName} from '../../src/demo/attributes.js';
import {Rng} from '../../src/demo/rng.js';
import {writeFileAtomic} from '../../src/io/files.js';
import {type Factors, lerpFactors, prototypeFactors, sampleFactors} from './factors.js';
import {renderFactors} from './render.js';

/** A row: faces at the stops of a path (named values), and the in-between faces along it. */
export interface SheetRow {
  label: string;
  stops: Factors[];
}

const face = (v: Partial<Record<AttributeName, string>>, extra: Partial<Factors> = {}): Factors => ({...prototypeFactors({...v}), ...extra});

/** The default rows: every attribute's values in turn, along their own factors. */
export function defaultRows(): SheetRow[] {
  const man = {beard: 'full'};
  return [
    {label: 'hair colour black → blonde → red → purple → blue', stops: ['black', 'blonde', 'red', 'purple', 'blue'].map((c) => face({hairColor: c}))},
    {label: 'hair colour grey → pink → green → brown', stops: ['grey', 'pink', 'green', 'brown'].map((c) => face({hairColor: c}))},
    {label: 'short → long', stops: [face({hairStyle: 'short'}), face({hairStyle: 'long'})]},
    {label: 'short → bob → curly', stops: [face({hairStyle: 'short'}), face({hairStyle: 'bob'}), face({hairStyle: 'curly'})]},
    {label: 'short → mohawk', stops: [face({hairStyle: 'short', hairColor: 'red'}), face({hairStyle: 'mohawk', hairColor: 'red'})]},
    {label: 'long → bald', stops: [face({hairStyle: 'long', hairColor: 'black'}), face({hairStyle: 'bald', hairColor: 'black'})]},
    {label: 'glasses none → round → sunglasses', stops: [face({glasses: 'none'}), face({glasses: 'round'}), face({glasses: 'sunglasses'})]},
    {label: 'beard none → moustache → goatee → full', stops: [face({beard: 'none'}), face({beard: 'moustache'}), face({beard: 'goatee'}), face(man)]},
    {label: 'mouth neutral → smiling → surprised', stops: [face({mouth: 'neutral'}), face({mouth: 'smiling'}), face({mouth: 'surprised'})]},
    {label: 'lipstick none → red → pink', stops: [face({lipstick: 'none'}), face({lipstick: 'red'}), face({lipstick: 'pink'})]},
    {label: 'skin light → dark; eyes brown → blue → green', stops: [face({skinTone: 'light', eyeColor: 'brown'}), face({skinTone: 'medium', eyeColor: 'blue'}), face({skinTone: 'dark', eyeColor: 'green'})]},
    {label: 'background white → yellow → orange → pink → blue → green', stops: ['white', 'yellow', 'orange', 'pink', 'blue', 'green'].map((b) => face({background: b}))},
  ];
}

/** `cols` faces evenly spaced along a piecewise-linear path through the stops. */
export function pathFaces(stops: readonly Factors[], cols: number): Factors[] {
  if (stops.length < 2) return Array.from({length: cols}, () => stops[0]!);
  return Array.from({length: cols}, (_, i) => {
    const s = (i / (cols - 1)) * (stops.length - 1);
    const k = Math.min(stops.length - 2, Math.floor(s));
    return lerpFactors(stops[k]!, stops[k + 1]!, s - k);
  });
}

async function main(): Promise<void> {
  const {values} = parseArgs({options: {out: {type: 'string'}, size: {type: 'string'}, zoom: {type: 'string'}, random: {type: 'string'}}});
  const size = Number(values.size ?? 64);
  const zoom = Number(values.zoom ?? 2);
  const cols = 11;
  let rows = defaultRows();
  if (values.random) {
    // Random faces with every attribute possibly in between (intermediate 0.5), for a look at the training data.
    const rng = new Rng(Number(values.random));
    rows = Array.from({length: 6}, (_, r) => ({label: `random ${r}`, stops: Array.from({length: cols}, () => sampleFactors(rng, 0.5).factors)}));
  }
  const W = cols * size;
  const H = rows.length * size;
  const sheet = new Uint8Array(W * H * 3).fill(255);
  rows.forEach((row, r) => {
    const faces = values.random ? row.stops : pathFaces(row.stops, cols);
    faces.forEach((f, c) => {
      const img = renderFactors(f, {size});
      for (let y = 0; y < size; y++) sheet.set(img.subarray(y * size * 3, (y + 1) * size * 3), ((r * size + y) * W + c * size) * 3);
    });
    console.log(`row ${r}: ${row.label}`);
  });
  const out = path.resolve(values.out ?? 'scratch/world2-contact-sheet.png');
  mkdirSync(path.dirname(out), {recursive: true});
  const png = await sharp(Buffer.from(sheet), {raw: {width: W, height: H, channels: 3}}).resize(W * zoom, H * zoom, {kernel: 'nearest'}).png().toBuffer();
  writeFileAtomic(out, png);
  console.log(`wrote ${out} (${cols}×${rows.length} faces at ${size} px, shown ×${zoom})`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
