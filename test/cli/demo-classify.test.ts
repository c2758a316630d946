/** `styleclip demo classify` through the real CLI entry point: JSON and text output, one-line errors. */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {type FaceAttributes, attributeNames, attributeValues} from '../../src/demo/attributes.js';
import {prototypeFactors} from '../../lab/world2/factors.js';
import {renderFactors} from '../../lab/world2/render.js';
import {expectOneLineError, runCli} from '../helpers/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-demo-classify-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

// Faces of the shipped demo world (lab/world2's renderer), each value in the middle of its region.
const faces: {attrs: FaceAttributes; size: number}[] = [
  {
    attrs: {hairColor: 'purple', hairStyle: 'mohawk', glasses: 'round', beard: 'full', mouth: 'smiling', lipstick: 'none', skinTone: 'dark', eyeColor: 'blue', background: 'yellow'},
    size: 64,
  },
  {
    // Rendered at 128 px: the classifier area-resizes it to its 64 px input.
    attrs: {hairColor: 'blonde', hairStyle: 'long', glasses: 'sunglasses', beard: 'none', mouth: 'surprised', lipstick: 'red', skinTone: 'light', eyeColor: 'green', background: 'blue'},
    size: 128,
  },
];
const files = faces.map((_, i) => path.join(tmp, `face${i}.png`));

beforeAll(async () => {
  await Promise.all(
    faces.map(({attrs, size}, i) =>
      sharp(renderFactors(prototypeFactors(attrs), {size}), {raw: {width: size, height: size, channels: 3}}).png().toFile(files[i]!),
    ),
  );
});

describe('styleclip demo classify', () => {
  it('prints per-image attribute probabilities as JSON, each named by its file, with the right top values', async () => {
    // The files in reverse order: each result carries the name of the file it belongs to.
    const order = [files[1]!, files[0]!];
    const r = await runCli('demo', 'classify', ...order, '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {file: string; probabilities: Record<string, Record<string, number>>}[];
    expect(out.map((o) => o.file)).toEqual(order);
    out.forEach(({file, probabilities: probs}) => {
      const i = files.indexOf(file);
      expect(Object.keys(probs)).toEqual(attributeNames);
      for (const a of attributeNames) {
        expect(Object.keys(probs[a]!)).toEqual([...attributeValues(a)]);
        expect(Object.values(probs[a]!).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 4);
        if (a === 'eyeColor' && faces[i]!.attrs.glasses === 'sunglasses') continue; // invisible: not measurable
        const top = Object.entries(probs[a]!).reduce((b, e) => (e[1] > b[1] ? e : b))[0];
        expect(top, `image ${i} ${a}`).toBe(faces[i]!.attrs[a]);
      }
    });
  });

  it('prints the top value and its probability per attribute as text', async () => {
    const r = await runCli('demo', 'classify', files[0]!);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(files[0]);
    expect(lines).toHaveLength(1 + attributeNames.length);
    expect(r.stdout).toMatch(/hairColor\s+purple\s+0\.\d{3}|hairColor\s+purple\s+1\.000/);
    expect(r.stdout).toMatch(/hairStyle\s+mohawk\s/);
  });

  it('names an unreadable or missing image in a one-line error', async () => {
    const bad = path.join(tmp, 'bad.png');
    writeFileSync(bad, 'not a png at all');
    expectOneLineError(await runCli('demo', 'classify', files[0]!, bad, '--json'), /image '.*bad\.png'/, {emptyStdout: true});
    expectOneLineError(await runCli('demo', 'classify', path.join(tmp, 'missing.png')), /missing\.png/, {emptyStdout: true});
  });
});
