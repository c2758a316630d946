/**
 * Procedural cartoon-face renderer of the offline demo world: draws a face with known
 * attributes (attributes.ts), deterministically from a seed, at any size (coordinates are defined on a
 * 64x64 canvas and scaled). Faces are centred and roughly aligned like FFHQ crops (eyes near 47% of the
 * height, mouth near 69%); the seed jitters position (±2 px), size, rotation, face shape, feature placement
 * and colours (hue/saturation/lightness) so that a small StyleGAN2 sees a diverse but learnable domain.
 *
 * All jitter is drawn up front in a fixed order, independent of the attributes, so two renders with the
 * same seed differ only where their attributes differ (the tests rely on this, and so can edit metrics).
 *
 * Shapes are signed-distance functions (sdf.ts) composited with analytic anti-aliasing (canvas.ts).
 * Layout: HWC = [H, W, 3] bytes for images, CHW = [3, H, W] floats in [-1, 1] for models.
 */
import {sampleAttributes, type FaceAttributes} from './attributes.js';
import {Canvas, type Rgb} from './canvas.js';
import {hex, hslToRgb, jitterHsl, mix, shade} from './color.js';
import {hashSeed, Rng} from './rng.js';
import {
  capsule, circle, ellipse, halfPlaneY, intersect, offset, outsideBandX, polygon, ring, roundedBox, subtract,
  union, curlTexture, textured, type Shape,
} from './sdf.js';

export interface RenderOptions {
  /** Output width = height in pixels (default 64; coordinates scale, anti-aliasing stays one pixel wide). */
  size?: number;
  /** Seed of the per-face jitter (pose, shape, colours); default 0. */
  seed?: number;
  /** Use the slow reference rasteriser (every pixel of every shape's box evaluated); for tests. */
  reference?: boolean;
  /**
   * An explicit jitter source: `JITTER_UNIFORMS` numbers in [0, 1), consumed in the order the seed's stream
   * would be (see `jitterSlots`), in place of that stream; `seed` is then ignored. Lets a caller make the jitter
   * a deterministic, continuous function of its own variables (the demo generator's latent decoding does).
   */
  jitter?: ArrayLike<number>;
}

/** How many uniforms the per-face jitter consumes. */
export const JITTER_UNIFORMS = 34;

/** Slots of the jitter stream that are not a plain `uniform(lo, hi)`: the Box–Muller pair of the rotation
 *  (u, v: angle = 0.04·√(−2 ln(1 − u))·cos(2πv), clamped to ±0.09), the glasses-frame colour (an integer draw
 *  over 4 colours) and the curl-texture seed (an integer hash seed). */
export const jitterSlots = {angleU: 3, angleV: 4, glassesFrame: 32, textureSeed: 33} as const;

/** An Rng whose uniforms come from an explicit array (throws when it runs out). */
class ArrayRng extends Rng {
  private i = 0;
  private readonly values: ArrayLike<number>;
  constructor(values: ArrayLike<number>) {
    super(0);
    this.values = values;
  }
  override next(): number {
    if (this.i >= this.values.length) throw new RangeError(`jitter source has ${this.values.length} uniforms, the renderer needs ${JITTER_UNIFORMS}`);
    const v = this.values[this.i++]!;
    if (!(v >= 0 && v < 1)) throw new RangeError(`jitter uniform ${this.i - 1} is ${v}, expected a number in [0, 1)`);
    return v;
  }
}

const hairPalette: Record<FaceAttributes['hairColor'], string> = {
  black: '#221d1c', brown: '#6f4526', blonde: '#e9c25a', red: '#cc4a1e', grey: '#a9a9ae',
  purple: '#8b3fc8', blue: '#2f66db', pink: '#f27bb8', green: '#3aa84f',
};
const skinPalette: Record<FaceAttributes['skinTone'], string> = {
  light: '#f6d7be', medium: '#dba57c', tan: '#b67a4d', dark: '#774829',
};
const eyePalette: Record<FaceAttributes['eyeColor'], string> = {
  brown: '#6b3c1a', blue: '#3b7ee0', green: '#3ca04c',
};
const backgroundPalette: Record<FaceAttributes['background'], string> = {
  white: '#f3f3ef', yellow: '#f8e88e', blue: '#b6d6f4', green: '#bfe6b5', pink: '#f7c3d8', orange: '#f6b26e',
};
const lipstickPalette: Record<Exclude<FaceAttributes['lipstick'], 'none'>, string> = {
  red: '#d21c2c', pink: '#ec4f98',
};
const glassesFramePalette = ['#1b1b1b', '#3b2416', '#202c4a', '#4a1818'];

/** Per-face jitter, all drawn from the seed in a fixed order (see file header). */
interface FaceLayout {
  // frame
  offsetX: number; offsetY: number; angle: number; scale: number;
  // geometry, face units
  rx: number; ry: number; eyeY: number; eyeDx: number; browLift: number; browTilt: number;
  noseY: number; mouthY: number; mouthW: number;
  hairline: number; part: number; volume: number; hairLength: number; curlPhase: number;
  // colours
  hairJitter: [number, number, number]; skinJitter: [number, number, number];
  backgroundJitter: [number, number, number]; eyeJitter: number;
  shirt: Rgb; glassesFrame: Rgb;
  textureSeed: number;
}

function sampleLayout(seed: number, jitter?: ArrayLike<number>): FaceLayout {
  const rng = jitter ? new ArrayRng(jitter) : new Rng(seed);
  const u = (lo: number, hi: number): number => rng.uniform(lo, hi);
  const faceY = 33;
  const ry = u(17.2, 19.3);
  return {
    offsetX: u(-2, 2), offsetY: u(-2, 2),
    angle: Math.max(-0.09, Math.min(0.09, rng.normal(0, 0.04))),
    scale: u(0.93, 1.06),
    rx: u(13.6, 15.6), ry,
    eyeY: faceY - 3 + u(-0.7, 0.7), eyeDx: u(6.5, 7.5), browLift: u(-0.4, 0.4), browTilt: u(-0.35, 0.35),
    noseY: faceY + 4.3 + u(-0.4, 0.4), mouthY: faceY + 11 + u(-0.6, 0.6), mouthW: u(0.9, 1.1),
    hairline: u(-1, 1), part: u(-2.5, 2.5), volume: u(0, 1.6), hairLength: u(-2, 2), curlPhase: u(0, 1),
    hairJitter: [u(-6, 6), u(-0.06, 0.06), u(-0.045, 0.045)],
    skinJitter: [u(-4, 4), u(-0.05, 0.05), u(-0.035, 0.035)],
    backgroundJitter: [u(-8, 8), u(-0.08, 0.05), u(-0.03, 0.03)],
    eyeJitter: u(-0.05, 0.05),
    shirt: hslToRgb(u(0, 360), u(0.25, 0.5), u(0.28, 0.45)),
    glassesFrame: hex(glassesFramePalette[rng.int(0, glassesFramePalette.length - 1)]!),
    textureSeed: rng.int(0, 0x7fffffff),
  };
}

/** Resolved colours of one face. */
interface FacePalette {
  hair: Rgb; hairLine: Rgb; hairDark: Rgb; beard: Rgb; brow: Rgb;
  skin: Rgb; skinShadow: Rgb; skinLine: Rgb; lip: Rgb; eye: Rgb; background: Rgb; shirt: Rgb; frame: Rgb;
}

function resolvePalette(attrs: FaceAttributes, L: FaceLayout): FacePalette {
  const hair = jitterHsl(hex(hairPalette[attrs.hairColor]), ...L.hairJitter);
  const skin = jitterHsl(hex(skinPalette[attrs.skinTone]), ...L.skinJitter);
  const beard = jitterHsl(hair, 0, 0, -0.08);
  const lip = attrs.lipstick === 'none' ? mix(skin, hex('#9c3a32'), 0.55) : hex(lipstickPalette[attrs.lipstick]);
  return {
    hair,
    hairLine: shade(hair, 0.55),
    hairDark: mix(shade(hair, 0.62), hair, 0.15),
    beard,
    brow: attrs.hairStyle === 'bald' ? mix(skin, hex('#2e2018'), 0.75) : shade(hair, 0.7),
    skin,
    skinShadow: shade(skin, 0.82),
    skinLine: shade(skin, 0.62),
    lip,
    eye: jitterHsl(hex(eyePalette[attrs.eyeColor]), 0, 0, L.eyeJitter),
    background: jitterHsl(hex(backgroundPalette[attrs.background]), ...L.backgroundJitter),
    shirt: L.shirt,
    frame: L.glassesFrame,
  };
}

const faceX = 32;
const faceY = 33;

/** Paint a shape with a darker outline of width w under it. */
function outlined(c: Canvas, s: Shape, fill: Rgb, line: Rgb, w = 0.55): void {
  c.paintOutlined(s, fill, line, w);
}

/** Hair behind the head (long, bob, curly volume); undefined for styles without one. */
function hairBack(attrs: FaceAttributes, L: FaceLayout): Shape | undefined {
  const {rx, ry} = L;
  switch (attrs.hairStyle) {
    case 'long': {
      const bottom = faceY + 26 + L.hairLength;
      const top = faceY - 2;
      return union(
        ellipse(faceX, faceY - 1, rx + 3, ry + 2 + L.volume * 0.5),
        roundedBox(faceX, (top + bottom) / 2, rx + 3.6, (bottom - top) / 2, 4),
      );
    }
    case 'bob':
      return union(
        ellipse(faceX, faceY - 1, rx + 2.6, ry + 1.8 + L.volume * 0.4),
        roundedBox(faceX, faceY + 5, rx + 3.1, 11.5, 2.5),
      );
    case 'curly': {
      const Rx = rx + 3.4 + L.volume * 0.4;
      const Ry = ry + 2.4 + L.volume * 0.5;
      const bumps: Shape[] = [ellipse(faceX, faceY - 1, Rx, Ry)];
      const n = 15;
      for (let k = 0; k < n; k++) {
        const a = ((-28 + (236 * (k + L.curlPhase * 0.5)) / (n - 0.5)) * Math.PI) / 180;
        bumps.push(circle(faceX + Rx * Math.cos(a), faceY - 1 - Ry * Math.sin(a), 3.6));
      }
      return intersect(union(...bumps), halfPlaneY(faceY + 12));
    }
    default:
      return undefined;
  }
}

/** The forehead window: face area left uncovered by a fringe-less hairline. */
function hairWindow(L: FaceLayout, shiftX = 0): Shape {
  return ellipse(faceX + shiftX, faceY + 3.5 + L.hairline, L.rx - 1.4, L.ry - 2.5);
}

/** Hair in front of the face (caps, fringes, side strands, mohawk); undefined when bald. */
function hairFront(attrs: FaceAttributes, L: FaceLayout, back: Shape | undefined): Shape | undefined {
  const {rx, ry, eyeY} = L;
  const top = faceY - ry;
  switch (attrs.hairStyle) {
    case 'short': {
      const cap = ellipse(faceX, faceY - 1 - L.volume * 0.5, rx + 1.6, ry + 1.2 + L.volume);
      return subtract(intersect(cap, halfPlaneY(eyeY + 1)), hairWindow(L, L.part * 0.3));
    }
    case 'long': {
      const cap = ellipse(faceX, faceY - 1, rx + 2, ry + 1.6 + L.volume * 0.5);
      const strands = intersect(back!, outsideBandX(faceX, rx - 1.6), halfPlaneY(faceY + 14));
      return union(subtract(cap, hairWindow(L, L.part)), strands);
    }
    case 'bob': {
      const cap = ellipse(faceX, faceY - 1, rx + 2.6, ry + 1.8 + L.volume * 0.4);
      const fringe = intersect(cap, halfPlaneY(eyeY - 5.4 + L.hairline * 0.4));
      const sides = intersect(back!, outsideBandX(faceX, rx - 2.2), halfPlaneY(faceY + 16.5));
      return union(fringe, sides);
    }
    case 'curly': {
      const cap = ellipse(faceX, faceY - 1.5, rx + 2.4, ry + 2 + L.volume * 0.5);
      const window = hairWindow(L);
      const curls: Shape[] = [];
      for (let k = 0; k < 5; k++) {
        const a = ((48 + 21 * k) * Math.PI) / 180;
        curls.push(circle(faceX + (rx - 1.4) * Math.cos(a), faceY + 3.5 + L.hairline - (ry - 2.5) * Math.sin(a), 2.1));
      }
      return union(subtract(intersect(cap, halfPlaneY(eyeY + 2)), window), ...curls);
    }
    case 'mohawk': {
      const w = 3.4;
      const base = top + 7 + L.hairline;
      const tip = top - 10 - L.volume;
      return polygon([
        [faceX - w, base], [faceX - w - 0.6, top - 1], [faceX - w - 1.4, top - 6.5 - L.volume * 0.5],
        [faceX - 1.3, top - 3.8], [faceX, tip], [faceX + 1.3, top - 3.8],
        [faceX + w + 1.4, top - 6.5 - L.volume * 0.5], [faceX + w + 0.6, top - 1], [faceX + w, base],
      ]);
    }
    default:
      return undefined;
  }
}

function beardShape(attrs: FaceAttributes, L: FaceLayout): Shape | undefined {
  const {rx, ry, eyeY, mouthY: my, mouthW: mw} = L;
  const moustache = union(
    capsule(faceX - 0.5, my - 2.7, faceX - 4.3 * mw, my - 1.5, 1.15),
    capsule(faceX + 0.5, my - 2.7, faceX + 4.3 * mw, my - 1.5, 1.15),
  );
  switch (attrs.beard) {
    case 'full':
      return subtract(
        intersect(ellipse(faceX, faceY + 0.9, rx + 1, ry + 1.4), halfPlaneY(eyeY + 3.5, true)),
        ellipse(faceX, eyeY + 2.5, rx - 3.6, 8.3),
      );
    case 'goatee':
      return union(ellipse(faceX, my + 5, 3.3 * mw, 3.5), moustache);
    case 'moustache':
      return moustache;
    default:
      return undefined;
  }
}

function drawMouth(c: Canvas, attrs: FaceAttributes, L: FaceLayout, P: FacePalette): void {
  const my = L.mouthY;
  const mw = L.mouthW;
  const lipstick = attrs.lipstick !== 'none';
  const lipW = lipstick ? 0.8 : 0.5;
  const inside = hex('#5e1616');
  switch (attrs.mouth) {
    case 'neutral':
      if (lipstick) {
        c.paint(ellipse(faceX, my, 3.9 * mw, 1.55), P.lip);
        c.paint(capsule(faceX - 3.4 * mw, my, faceX + 3.4 * mw, my, 0.3), shade(P.lip, 0.55));
      } else {
        c.paint(capsule(faceX - 3.6 * mw, my, faceX + 3.6 * mw, my, 0.62), P.lip);
      }
      break;
    case 'smiling': {
      // An open D-shaped grin with a row of teeth, upturned corners: unlike the neutral line at any size.
      const cy = my - 1.8;
      const rx = 6.2 * mw;
      const mouth = intersect(ellipse(faceX, cy, rx, 5.4), halfPlaneY(cy, true));
      c.paint(mouth, inside);
      c.paint(intersect(mouth, halfPlaneY(cy + 1.5)), hex('#fbfbf6'));
      c.paint(ring(mouth, lipW), P.lip);
      for (const side of [-1, 1]) c.paint(capsule(faceX + side * rx, cy, faceX + side * (rx + 0.9), cy - 1.1, 0.42), P.skinLine);
      break;
    }
    case 'surprised': {
      const mouth = ellipse(faceX, my + 0.6, 2.3 * mw, 3.0);
      c.paint(mouth, inside);
      c.paint(ring(mouth, lipW), P.lip);
      break;
    }
  }
}

function drawEyes(c: Canvas, attrs: FaceAttributes, L: FaceLayout, P: FacePalette): void {
  const browY = L.eyeY - 4.3 + L.browLift - (attrs.mouth === 'surprised' ? 1.3 : 0);
  for (const side of [-1, 1]) {
    const ex = faceX + side * L.eyeDx;
    const ey = L.eyeY;
    outlined(c, ellipse(ex, ey, 2.9, 2.1), hex('#fbfbf8'), shade(P.skin, 0.45), 0.35);
    c.paint(circle(ex, ey + 0.1, 1.6), P.eye);
    c.paint(circle(ex, ey + 0.1, 0.75), hex('#111111'));
    c.paint(circle(ex + 0.55, ey - 0.5, 0.38), hex('#ffffff'), 0.9);
    // Brow: the outer end sits lower than the inner one; tilt jitter lifts the inner end.
    c.paint(capsule(ex - side * 2.7, browY + 0.5, ex + side * 2.5, browY - 0.1 - L.browTilt, 0.68), P.brow);
  }
}

function drawGlasses(c: Canvas, attrs: FaceAttributes, L: FaceLayout, P: FacePalette): void {
  if (attrs.glasses === 'none') return;
  const ey = L.eyeY;
  const arm = (side: number, from: number): void =>
    c.paint(capsule(faceX + side * from, ey - 0.6, faceX + side * (L.rx - 0.2), ey - 0.2, 0.5), P.frame);
  if (attrs.glasses === 'round') {
    const r = 4.1;
    for (const side of [-1, 1]) {
      const lens = circle(faceX + side * L.eyeDx, ey, r);
      c.paint(lens, hex('#ffffff'), 0.22);
      c.paint(ring(lens, 0.62), P.frame);
      arm(side, L.eyeDx + r);
    }
    c.paint(capsule(faceX - L.eyeDx + r, ey - 0.6, faceX + L.eyeDx - r, ey - 0.6, 0.5), P.frame);
  } else {
    for (const side of [-1, 1]) {
      const ex = faceX + side * L.eyeDx;
      const lens = roundedBox(ex, ey + 0.4, 4.1, 3.0, 1.7);
      c.paint(offset(lens, 0.5), P.frame);
      c.paint(lens, hex('#121316'));
      c.paint(capsule(ex - 2.2, ey - 0.9, ex - 0.9, ey - 1.8, 0.42), hex('#ffffff'), 0.4);
      arm(side, L.eyeDx + 4.1);
    }
    c.paint(capsule(faceX - L.eyeDx + 4, ey - 0.4, faceX + L.eyeDx - 4, ey - 0.4, 0.75), P.frame);
  }
}

/** Draw one face into a float HWC canvas ([0, 255]). */
function drawFace(attrs: FaceAttributes, size: number, seed: number, reference = false, jitter?: ArrayLike<number>): Float32Array {
  if (!Number.isInteger(size) || size < 16) throw new RangeError(`render size must be an integer >= 16, got ${size}`);
  const L = sampleLayout(seed, jitter);
  const P = resolvePalette(attrs, L);
  const c = new Canvas(size, {center: [32 + L.offsetX, 32 + L.offsetY], angle: L.angle, scale: L.scale}, !reference);
  const {rx, ry} = L;
  const texture = attrs.hairStyle === 'curly' ? curlTexture(L.textureSeed, 3.7, 1.15, 0.4, L.curlPhase) : undefined;

  c.fill(P.background);
  outlined(c, ellipse(faceX, faceY + ry + 17, 27, 13), P.shirt, shade(P.shirt, 0.7));

  const back = hairBack(attrs, L);
  if (back) {
    outlined(c, back, P.hair, P.hairLine);
    if (texture) c.paint(textured(back, texture), P.hairDark);
  }

  c.paint(roundedBox(faceX, faceY + ry + 3, 5.6, 9, 2.5), P.skinShadow);
  for (const side of [-1, 1]) outlined(c, ellipse(faceX + side * (rx - 0.3), L.eyeY + 2.6, 2.4, 3.6), P.skin, P.skinLine);
  outlined(c, ellipse(faceX, faceY, rx, ry), P.skin, P.skinLine);

  const beard = beardShape(attrs, L);
  if (beard) outlined(c, beard, P.beard, shade(P.beard, 0.6), 0.45);

  c.paint(ellipse(faceX, L.noseY, 1.8, 1.1), P.skinShadow);
  drawMouth(c, attrs, L, P);
  drawEyes(c, attrs, L, P);

  const front = hairFront(attrs, L, back);
  if (attrs.hairStyle === 'mohawk') {
    // Shaved sides: a faint stubble tint where a short cut would be.
    c.paint(subtract(intersect(ellipse(faceX, faceY - 1, rx + 0.4, ry + 0.4), halfPlaneY(L.eyeY - 1)), hairWindow(L)), P.hair, 0.22);
  }
  if (front) {
    outlined(c, front, P.hair, P.hairLine);
    if (texture) c.paint(textured(front, texture), P.hairDark);
  }
  if (attrs.hairStyle === 'bald') c.paint(ellipse(faceX - rx * 0.35, faceY - ry + 4, 3.4, 1.9), hex('#ffffff'), 0.28);

  drawGlasses(c, attrs, L, P);
  return c.data;
}

/** Render one face as RGB bytes, HWC: [size, size, 3]. */
export function renderFace(attrs: FaceAttributes, {size = 64, seed = 0, reference = false, jitter}: RenderOptions = {}): Uint8Array {
  const f = drawFace(attrs, size, seed, reference, jitter);
  const out = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) out[i] = Math.round(Math.min(255, Math.max(0, f[i]!)));
  return out;
}

/** Write a rendered face as CHW floats in [-1, 1] into `out` at element offset `at`. The bytes are rounded
 *  first, so tensors match the PNGs a user would see exactly (x = byte / 127.5 - 1). */
function writeTensor(attrs: FaceAttributes, size: number, seed: number, out: Float32Array, at: number, jitter?: ArrayLike<number>): void {
  const f = drawFace(attrs, size, seed, false, jitter);
  const plane = size * size;
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < 3; ch++) {
      const byte = Math.round(Math.min(255, Math.max(0, f[p * 3 + ch]!)));
      out[at + ch * plane + p] = byte / 127.5 - 1;
    }
  }
}

/** Render one face as CHW floats in [-1, 1]: [3, size, size]. */
export function renderFaceTensor(attrs: FaceAttributes, {size = 64, seed = 0, jitter}: RenderOptions = {}): Float32Array {
  const out = new Float32Array(3 * size * size);
  writeTensor(attrs, size, seed, out, 0, jitter);
  return out;
}

export interface RenderedBatch {
  /** The attributes of each face. */
  attributes: FaceAttributes[];
  /** The jitter seed of each face (renderFace(attributes[i], {seed: seeds[i]}) reproduces image i). */
  seeds: number[];
  /** [n, 3, size, size] floats in [-1, 1]. */
  images: Float32Array;
}

/** Sample n faces (attributes and jitter) from one batch seed and render them: images [n, 3, size, size]. */
export function renderBatch(n: number, seed: number, size = 64): RenderedBatch {
  const attributes: FaceAttributes[] = [];
  const seeds: number[] = [];
  const images = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < n; i++) {
    const faceSeed = hashSeed(seed, i);
    const attrs = sampleAttributes(new Rng(hashSeed(faceSeed, 1)));
    writeTensor(attrs, size, faceSeed, images, i * 3 * size * size);
    attributes.push(attrs);
    seeds.push(faceSeed);
  }
  return {attributes, seeds, images};
}
