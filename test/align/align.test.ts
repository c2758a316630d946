/**
 * FFHQ face alignment against the official align_face outputs (../shared/fixtures/README.md §10: mean |diff| ≤
 * 1.5/255 and 99th percentile ≤ 12/255 per channel), face detection + landmarks against the landmarks the
 * fixtures were made with (face-api on the plain photo), and photo decoding of the awkward formats.
 */
import sharp from 'sharp';
import {describe, expect, it} from 'vitest';
import {alignFace, parseLandmarks} from '../../src/align/align-face.js';
import {alignWithLandmarks, faceQuad, type Point} from '../../src/align/ffhq-align.js';
import {decodePhoto} from '../../src/align/photo.js';
import {configureEngine} from '../../src/engine/session.js';
import {fixtureBytes, fixtureJson} from '../helpers/fixtures.js';
import {channelStats} from '../helpers/image-stats.js';

configureEngine({threads: 1});

interface AlignCase {
  input: string;
  input_size: [number, number];
  landmarks: Point[];
  output: string;
}
const cases = fixtureJson<{cases: Record<string, AlignCase>}>('align.json').cases;

describe('alignWithLandmarks (official align_face at 256 px)', () => {
  for (const [name, c] of Object.entries(cases)) {
    it(`${name}: within the README tolerances`, async () => {
      const photo = await decodePhoto(fixtureBytes(c.input));
      expect([photo.width, photo.height]).toEqual(c.input_size);
      const got = alignWithLandmarks(photo, c.landmarks, 256).image;
      const want = await decodePhoto(fixtureBytes(c.output));
      for (const s of channelStats(got, want)) {
        expect(s.mean).toBeLessThanOrEqual(1.5);
        expect(s.p99).toBeLessThanOrEqual(12);
      }
    });
  }

  it('the quad is a square of side qsize centred below the eyes', () => {
    const {quad, qsize} = faceQuad(cases.plain!.landmarks);
    const side = (i: number, j: number) => Math.hypot(quad[i]![0] - quad[j]![0], quad[i]![1] - quad[j]![1]);
    for (const [i, j] of [[0, 1], [1, 2], [2, 3], [3, 0]] as const) expect(side(i, j)).toBeCloseTo(qsize, 9);
    expect(side(0, 2)).toBeCloseTo(qsize * Math.SQRT2, 9);
  });

  it('refuses a wrong landmark count', () => {
    expect(() => faceQuad(cases.plain!.landmarks.slice(1))).toThrow(/68 landmarks/);
    expect(() => parseLandmarks('[[1,2]]', 'lm.json')).toThrow(/lm\.json must be a JSON array of 68/);
  });
});

describe('alignFace with detection', () => {
  it('finds the astronaut and her landmarks within 0.05 px of the fixture landmarks', {timeout: 60_000}, async () => {
    const r = await alignFace(fixtureBytes('align_plain_input.png'));
    expect(r.faces).toHaveLength(1);
    expect(r.face).toBe(0);
    let max = 0;
    r.landmarks.forEach((p, i) => (max = Math.max(max, Math.hypot(p[0] - cases.plain!.landmarks[i]![0], p[1] - cases.plain!.landmarks[i]![1]))));
    expect(max).toBeLessThan(0.05);
  });

  it('no face is a named error, and --face out of range too', {timeout: 60_000}, async () => {
    const grey = await sharp({create: {width: 96, height: 80, channels: 3, background: {r: 120, g: 130, b: 140}}}).png().toBuffer();
    await expect(alignFace(new Uint8Array(grey), {what: 'grey.png'})).rejects.toThrow(/no face found in grey\.png/);
    await expect(alignFace(fixtureBytes('align_plain_input.png'), {face: 1})).rejects.toThrow(/has 1 face; face index 1 is out of range/);
  });
});

describe('decodePhoto', () => {
  const base = fixtureBytes('align_pad_input.png');
  const ref = () => decodePhoto(base);
  const close = async (bytes: Buffer, tol: number) => {
    const [a, b] = [await decodePhoto(new Uint8Array(bytes)), await ref()];
    expect([a.width, a.height]).toEqual([b.width, b.height]);
    for (const s of channelStats(a, b)) expect(s.mean).toBeLessThanOrEqual(tol);
  };

  it('applies the EXIF orientation', async () => {
    // Stored rotated by 90° clockwise with orientation 8 (rotate 270° to display): decodes to the original.
    const rotated = await sharp(base).rotate(90).withMetadata({orientation: 8}).png().toBuffer();
    const jpeg = await sharp(base).rotate(90).jpeg({quality: 95}).withMetadata({orientation: 8}).toBuffer();
    await close(jpeg, 3);
    expect((await sharp(rotated).metadata()).width).toBe(190);
  });

  it('flattens alpha, expands greyscale, reduces 16-bit and converts CMYK', async () => {
    const alpha = await sharp(base).ensureAlpha(1).png().toBuffer();
    await close(alpha, 0);
    const grey = await decodePhoto(new Uint8Array(await sharp(base).greyscale().png().toBuffer()));
    expect(grey.data.length).toBe(grey.width * grey.height * 3);
    expect(grey.data[0]).toBe(grey.data[1]);
    const sixteen = await sharp(base).png().toColourspace('rgb16').toBuffer();
    expect((await sharp(sixteen).metadata()).depth).toBe('ushort');
    await close(sixteen, 0.6);
    const cmyk = await sharp(base).toColourspace('cmyk').jpeg({quality: 95}).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    await close(cmyk, 10); // a lossy round trip through CMYK JPEG; inverted or unconverted inks would be ~100 off
  });

  it('names a file that is not an image', async () => {
    await expect(decodePhoto(new TextEncoder().encode('{"not": "an image"}'), "'x.json'")).rejects.toThrow(/'x\.json' is not an image/);
  });
});
