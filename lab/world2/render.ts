/**
 * Renderer v2 of the demo world: a cartoon face drawn from continuous factors (factors.ts), with the signed-distance
 * shapes and the anti-aliased rasteriser of src/demo (sdf.ts, canvas.ts). Every factor moves geometry or colour
 * continuously — shapes grow from nothing by erosion (`appear`), curves bend, colours move in OKLab — so a small
 * factor step is a small pixel step everywhere (no thresholds, no cross-fades between two drawings), and every point
 * between two named faces is itself a clean face. Visible amounts follow smoothstep ramps aligned with the named
 * regions, so a face well inside "no glasses" shows no frame and the change happens in the gap between regions.
 *
 * Coordinates are face units on a 64×64 canvas (as in v1: face centre (32, 33)), scaled to any size.
 * Layout: HWC bytes for images, CHW floats in [-1, 1] for models.
 */
import {Canvas, type Rgb} from '../../src/demo/canvas.js';
import {hex, shade} from '../../src/demo/color.js';
import {capsule, circle, ellipse, halfPlaneY, intersect, offset, outsideBandX, polygon, ring, roundedBox, subtract, union, curlTexture, textured, type Point, type Shape} from '../../src/demo/sdf.js';
import type {Factors} from './factors.js';
import {mixOklab, oklabToRgb, oklch, rgbToOklab, shadeOklab} from './oklab.js';

/** Seed of the curl texture's per-cell jitter (one fixed pattern for every face). */
const CURL_SEED = 0x2545f491;

export interface RenderOptions {
  /** Output width = height in pixels (default 64). */
  size?: number;
  /** Use the slow per-pixel reference rasteriser (for tests). */
  reference?: boolean;
}

const faceX = 32;
const faceY = 33;

const clamp01 = (x: number): number => Math.min(1, Math.max(0, x));
const lerp = (a: number, b: number, t: number): number => a + (b - a) * t;
/** Smoothstep from 0 at a to 1 at b (C¹, so no kink at the ends either). */
export function ramp(x: number, a: number, b: number): number {
  const t = clamp01((x - a) / (b - a));
  return t * t * (3 - 2 * t);
}

/** Erosion past a shape's inradius at which neither its anti-aliasing ramp nor an outline (≤ 0.6 units) reaches a
 *  pixel at 64 px or larger (the rasteriser covers distances below 0.5 px). */
const VANISH = 1.2;

/** A shape that grows out of nothing: eroded by (1 − amount)·(size + VANISH) units, so at amount 0 not even its
 *  outline touches a pixel (size ≥ the shape's inradius) and at 1 it is whole. */
function appear(s: Shape, amount: number, size: number): Shape {
  return amount >= 1 ? s : offset(s, -(1 - amount) * (size + VANISH));
}

/** The band |x − cx| ≤ hw (unbounded vertically; only for `intersect`). */
function bandX(cx: number, hw: number): Shape {
  return {sdf: (x) => Math.abs(x - cx) - hw, bounds: [cx - hw, -Infinity, cx + hw, Infinity], trust: 1};
}

// ---------------------------------------------------------------------------------------------------------------
// Colours

/** Skin tone curve: piecewise linear in OKLab through the v1 palette (light, medium, tan, dark). */
const skinAnchors: readonly [number, Rgb][] = [[0.08, hex('#f6d7be')], [0.38, hex('#dba57c')], [0.62, hex('#b67a4d')], [0.92, hex('#774829')]];

function skinColour(t: number): Rgb {
  let k = 0;
  while (k < skinAnchors.length - 2 && t > skinAnchors[k + 1]![0]) k++;
  const [t0, c0] = skinAnchors[k]!;
  const [t1, c1] = skinAnchors[k + 1]!;
  const a = rgbToOklab(c0);
  const b = rgbToOklab(c1);
  const u = (t - t0) / (t1 - t0); // extrapolates past the end anchors
  return oklabToRgb([lerp(a[0], b[0], u), lerp(a[1], b[1], u), lerp(a[2], b[2], u)]);
}

/** Lipstick: OKLCh chroma 0.21 at the given hue, darker toward red (L 0.56 at the v1 red #d21c2c's hue 24.5°, 0.605 at
 *  pink's 355°); a periodic function of the hue, so there is no seam anywhere on the circle. */
function lipstickColour(h: number): Rgb {
  return oklch(0.605 - 0.1 * Math.sin(((h - 355) * Math.PI) / 180), 0.21, h);
}

interface Palette {
  hair: Rgb; hairLine: Rgb; hairDark: Rgb; beard: Rgb; brow: Rgb;
  skin: Rgb; skinShadow: Rgb; skinLine: Rgb; lip: Rgb; eye: Rgb; background: Rgb; shirt: Rgb; frame: Rgb;
}

function palette(f: Factors): Palette {
  const hair = oklch(f.hairL, f.hairC, f.hairH);
  const skin = skinColour(f.skinTone);
  const natural = mixOklab(skin, hex('#9c3a32'), 0.55);
  const bald = 1 - ramp(f.hairCoverage, 0.15, 0.6);
  return {
    hair,
    hairLine: shade(hair, 0.55),
    hairDark: mixOklab(shade(hair, 0.62), hair, 0.15),
    beard: shadeOklab(hair, 0.9),
    brow: mixOklab(shadeOklab(hair, 0.75), mixOklab(skin, hex('#2e2018'), 0.75), bald),
    skin,
    skinShadow: shade(skin, 0.82),
    skinLine: shade(skin, 0.62),
    lip: mixOklab(natural, lipstickColour(f.lipstickHue), ramp(f.lipstickIntensity, 0.08, 0.65)),
    eye: oklch(f.eyeL, f.eyeC, f.eyeH),
    background: oklch(f.bgL, f.bgC, f.bgH),
    shirt: oklch(f.shirtL, f.shirtC, f.shirtH),
    frame: oklch(f.frameL, f.frameC, f.frameH),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Geometry

interface Layout {
  rx: number; ry: number; top: number; eyeY: number; eyeDx: number; noseY: number; mouthY: number; mouthW: number;
}

function layoutOf(f: Factors): Layout {
  const ry = f.faceRy;
  return {rx: f.faceRx, ry, top: faceY - ry, eyeY: faceY - 3 + f.eyeY, eyeDx: f.eyeDx, noseY: faceY + 4.3 + f.noseY, mouthY: faceY + 11 + f.mouthY, mouthW: f.mouthW};
}

/** Where the hair reaches below the head: 0 → the temples, 0.45 → the jaw, 0.75 → the shoulders, 1 → the image's edge. */
function hairBottom(length: number): number {
  return length <= 0.45 ? faceY - 4 + (20.5 / 0.45) * length : faceY + 16.5 + (length - 0.45) * (16.5 / 0.55);
}

interface Hair {
  back: Shape;
  front: Shape;
  /** Region of the shaved sides (stubble tint) and its strength. */
  stubble: Shape;
  stubbleAmount: number;
}

function hairShapes(f: Factors, L: Layout): Hair {
  const {rx, ry, top, eyeY} = L;
  const V = f.hairVolume;
  const K = ramp(f.hairCurl, 0.15, 0.75);
  const coverage = f.hairCoverage;
  // Receding hair also shortens (a bald head keeps no long strands).
  const length = f.hairLength * Math.min(1, coverage / 0.5);
  const yb = hairBottom(length);
  const reach = ramp(length, 0, 0.25);

  const capRx = rx + 1.6 + 1.1 * V + 1.2 * K;
  const capRy = ry + 1.3 + 1.1 * V + 0.9 * K;
  const capY = faceY - 1 - 0.4 * V;
  const cap = ellipse(faceX, capY, capRx, capRy);
  const window = ellipse(faceX + 0.3 * f.hairPart, faceY + 3.5 + f.hairline, rx - 1.4, ry - 2.5);

  // Behind the head: an outline around the cap that widens with length, down to the hair's bottom.
  const backRx = capRx + 1.0 * reach;
  const backRy = capRy + 0.6 * reach;
  const topBox = faceY - 2;
  const boxHalf = Math.max(0.5, (yb - topBox) / 2);
  const parts: Shape[] = [ellipse(faceX, capY, backRx, backRy), roundedBox(faceX, topBox + boxHalf, backRx + 0.4, boxHalf, Math.min(4, boxHalf))];
  // Curls: bumps along the outline from below one ear over the top to the other.
  const n = 15;
  for (let k = 0; k < n; k++) {
    const a = ((-28 + (236 * (k + f.curlPhase * 0.5)) / (n - 0.5)) * Math.PI) / 180;
    parts.push(appear(circle(faceX + backRx * Math.cos(a), capY - backRy * Math.sin(a), 3.6), K, 3.6));
  }
  let back = intersect(union(...parts), halfPlaneY(yb));

  // In front: the cap above the temples minus the forehead window, a fringe, strands beside the face, curls at the hairline.
  const fringeBottom = top + 4 + f.hairFringe * (eyeY - 5.4 + 0.4 * f.hairline - top - 4);
  const fringe = intersect(cap, halfPlaneY(fringeBottom));
  const strands = intersect(back, outsideBandX(faceX, rx - 1.6 - 0.6 * f.hairFringe), halfPlaneY(Math.min(yb, faceY + 15)));
  const frontCurls: Shape[] = [];
  for (let k = 0; k < 5; k++) {
    const a = ((48 + 21 * k) * Math.PI) / 180;
    frontCurls.push(appear(circle(faceX + (rx - 1.4) * Math.cos(a), faceY + 3.5 + f.hairline - (ry - 2.5) * Math.sin(a), 2.1), K, 2.1));
  }
  let front = union(subtract(intersect(cap, halfPlaneY(eyeY + 1)), window), fringe, strands, ...frontCurls);

  // Mohawk: the sides shave down to a strip, a crest rises from it.
  const sides = bandX(faceX, 3.4 + f.hairSides * (capRx + 14));
  back = intersect(back, sides);
  const R = f.hairCrest;
  const w = 3.4;
  const base = top + 5.5 + f.hairline; // above the forehead window, so a flat crest is hidden in the cap
  const tipY = top - 1 - R * (9 + V);
  const crest = polygon([
    [faceX - w, base], [faceX - w - 0.6 * R, top - 1], [faceX - w - 1.4 * R, top - 1 - R * (5.5 + 0.5 * V)],
    [faceX - 1.3, top - 1 - 2.8 * R], [faceX, tipY], [faceX + 1.3, top - 1 - 2.8 * R],
    [faceX + w + 1.4 * R, top - 1 - R * (5.5 + 0.5 * V)], [faceX + w + 0.6 * R, top - 1], [faceX + w, base],
  ] as Point[]);
  front = union(intersect(front, sides), crest);

  // Baldness: the edge of a wide ellipse above the head comes down over the crown (deepest in the middle, so the
  // sides keep their hair longest); above B = 0.7 it stays clear of the highest crest.
  const u = clamp01((0.7 - coverage) / 0.7);
  const d = -16 + 70 * u;
  if (d > -16) {
    const crown = ellipse(faceX, top - 40, 1.5 * (40 + d), 40 + d);
    back = subtract(back, crown);
    front = subtract(front, crown);
  }
  const skull = subtract(intersect(ellipse(faceX, faceY - 1, rx + 0.4, ry + 0.4), halfPlaneY(eyeY - 1)), window);
  return {back, front, stubble: skull, stubbleAmount: 0.22 * (1 - ramp(f.hairSides, 0.3, 0.7)) * ramp(coverage, 0.05, 0.3)};
}

function beardShape(f: Factors, L: Layout): Shape {
  const {rx, ry, eyeY, mouthY: my, mouthW: mw} = L;
  const jaw = ramp(f.beardJaw, 0.05, 0.75);
  const chin = ramp(f.beardChin, 0.05, 0.65);
  const moustache = ramp(f.beardMoustache, 0.05, 0.65);
  const jawTop = lerp(faceY + ry + 2.5, eyeY + 3.5, jaw);
  const jawBand = subtract(
    intersect(ellipse(faceX, faceY + 0.9, rx + 1, ry + 1.4), halfPlaneY(jawTop, true)),
    ellipse(faceX, eyeY + 2.5, rx - 3.6, 8.3),
  );
  const reach = 0.5 + 3.8 * moustache;
  const lip = union(
    capsule(faceX - 0.5, my - 2.7, faceX - reach * mw, my - 2.7 + 1.2 * moustache, -VANISH + (1.15 + VANISH) * moustache),
    capsule(faceX + 0.5, my - 2.7, faceX + reach * mw, my - 2.7 + 1.2 * moustache, -VANISH + (1.15 + VANISH) * moustache),
  );
  return union(jawBand, appear(ellipse(faceX, my + 5, 3.3 * mw, 3.5), chin, 3.3), lip);
}

/** Outline of the mouth opening: the upper and lower lip curves from corner to corner (a closed polygon; zero area
 *  when the mouth is shut, which the lip ring then draws as a line). */
function mouthOutline(f: Factors, L: Layout): {outline: Shape; teeth: Shape; corners: [number, number]} {
  const S = f.smile;
  const O = f.mouthOpen;
  const W = (3.6 + 2.6 * S - 1.3 * O * (1 - S)) * L.mouthW;
  const cy = L.mouthY - 1.2 * S;
  const open = O * (3.0 + 2.6 * S);
  const hu = open * (1 - S) * 0.5;
  const hl = open * (0.5 + 0.5 * S);
  const m = 12;
  const upper: Point[] = [];
  const lower: Point[] = [];
  const teethEdge: Point[] = [];
  const teethDepth = 1.6 * S * Math.min(1, open / 2);
  for (let k = 0; k <= m; k++) {
    const x = -W + (2 * W * k) / m;
    const g = Math.sqrt(Math.max(0, 1 - (x / W) ** 2));
    const yc = cy - 1.4 * S * (x / W) ** 2;
    upper.push([faceX + x, yc - hu * g]);
    lower.push([faceX + x, yc + hl * g]);
    teethEdge.push([faceX + x, yc - hu * g + teethDepth * g]);
  }
  const outline = polygon([...upper, ...lower.reverse()]);
  const teeth = polygon([...upper, ...teethEdge.reverse()]);
  return {outline, teeth: intersect(teeth, outline), corners: [W, cy - 1.4 * S]};
}

function drawMouth(c: Canvas, f: Factors, L: Layout, P: Palette): void {
  const {outline, teeth, corners: [W, yc]} = mouthOutline(f, L);
  c.paint(outline, hex('#5e1616'));
  c.paint(teeth, hex('#fbfbf6'));
  c.paint(ring(outline, 0.55 + 0.45 * ramp(f.lipstickIntensity, 0.08, 0.65)), P.lip);
  const dimple = -0.7 + 1.12 * ramp(f.smile, 0.25, 0.8);
  for (const side of [-1, 1]) c.paint(capsule(faceX + side * W, yc, faceX + side * (W + 0.9), yc - 1.1, dimple), P.skinLine);
}

function drawEyes(c: Canvas, f: Factors, L: Layout, P: Palette): void {
  const browY = L.eyeY - 4.3 + f.browLift - 1.3 * ramp(f.mouthOpen, 0.2, 0.8) * (1 - ramp(f.smile, 0.2, 0.6));
  for (const side of [-1, 1]) {
    const ex = faceX + side * L.eyeDx;
    const ey = L.eyeY;
    c.paintOutlined(ellipse(ex, ey, 2.9, 2.1), hex('#fbfbf8'), shade(P.skin, 0.45), 0.35);
    c.paint(circle(ex, ey + 0.1, 1.6), P.eye);
    c.paint(circle(ex, ey + 0.1, 0.75), hex('#111111'));
    c.paint(circle(ex + 0.55, ey - 0.5, 0.38), hex('#ffffff'), 0.9);
    c.paint(capsule(ex - side * 2.7, browY + 0.5, ex + side * 2.5, browY - 0.1 - f.browTilt, 0.68), P.brow);
  }
}

function drawGlasses(c: Canvas, f: Factors, L: Layout, P: Palette): void {
  const alpha = ramp(f.glassesFrame, 0.12, 0.65);
  if (alpha <= 0) return;
  const D = f.glassesDark;
  const ey = L.eyeY;
  // The lens morphs from a circle (radius 4.1) to the sunglasses' rounded box as it darkens.
  const hy = 4.1 - 1.1 * D;
  const lensDark = ramp(D, 0.1, 0.85);
  for (const side of [-1, 1]) {
    const ex = faceX + side * L.eyeDx;
    const lens = roundedBox(ex, ey + 0.4 * D, 4.1, hy, 4.1 - 2.4 * D);
    c.paint(lens, mixOklab(hex('#ffffff'), hex('#121316'), lensDark), alpha * (0.22 + 0.78 * lensDark));
    c.paint(ring(lens, 0.6), P.frame, alpha);
    c.paint(capsule(ex - 2.2, ey - 0.9, ex - 0.9, ey - 1.8, 0.42), hex('#ffffff'), 0.4 * alpha * lensDark);
    c.paint(capsule(faceX + side * (L.eyeDx + 4.1), ey - 0.6, faceX + side * (L.rx - 0.2), ey - 0.2, 0.5), P.frame, alpha);
  }
  c.paint(capsule(faceX - L.eyeDx + 4, ey - 0.6, faceX + L.eyeDx - 4, ey - 0.6, 0.5 + 0.2 * D), P.frame, alpha);
}

/** Draw one face into a float HWC canvas ([0, 255]). */
function drawFace(f: Factors, size: number, reference: boolean): Float32Array {
  if (!Number.isInteger(size) || size < 16) throw new RangeError(`render size must be an integer >= 16, got ${size}`);
  const L = layoutOf(f);
  const P = palette(f);
  const c = new Canvas(size, {center: [32 + f.offsetX, 32 + f.offsetY], angle: f.angle, scale: f.scale}, !reference);
  const {rx, ry} = L;
  const curl = ramp(f.hairCurl, 0.15, 0.75);
  const texture = curl > 0 ? curlTexture(CURL_SEED, 3.7, 1.15, -0.7 + 1.1 * curl, f.curlPhase) : undefined;

  c.fill(P.background);
  c.paintOutlined(ellipse(faceX, faceY + ry + 17, 27, 13), P.shirt, shade(P.shirt, 0.7), 0.55);

  const hair = hairShapes(f, L);
  c.paintOutlined(hair.back, P.hair, P.hairLine, 0.55);
  if (texture) c.paint(textured(hair.back, texture), P.hairDark);

  c.paint(roundedBox(faceX, faceY + ry + 3, 5.6, 9, 2.5), P.skinShadow);
  for (const side of [-1, 1]) c.paintOutlined(ellipse(faceX + side * (rx - 0.3), L.eyeY + 2.6, 2.4, 3.6), P.skin, P.skinLine, 0.55);
  c.paintOutlined(ellipse(faceX, faceY, rx, ry), P.skin, P.skinLine, 0.55);

  const beardAlpha = ramp(f.beardDensity, 0.05, 0.6);
  if (beardAlpha > 0) c.paintOutlined(beardShape(f, L), P.beard, shade(P.beard, 0.6), 0.45, beardAlpha);

  c.paint(ellipse(faceX, L.noseY, 1.8, 1.1), P.skinShadow);
  drawMouth(c, f, L, P);
  drawEyes(c, f, L, P);

  if (hair.stubbleAmount > 0) c.paint(hair.stubble, P.hair, hair.stubbleAmount);
  c.paintOutlined(hair.front, P.hair, P.hairLine, 0.55);
  if (texture) c.paint(textured(hair.front, texture), P.hairDark);
  const shine = 0.28 * (1 - ramp(f.hairCoverage, 0.1, 0.5));
  if (shine > 0) c.paint(ellipse(faceX - rx * 0.35, faceY - ry + 4, 3.4, 1.9), hex('#ffffff'), shine);

  drawGlasses(c, f, L, P);
  return c.data;
}

/** Render one face as unrounded RGB floats in [0, 255], HWC (what the bytes are rounded from). */
export function renderFactorsFloat(f: Factors, {size = 64, reference = false}: RenderOptions = {}): Float32Array {
  return drawFace(f, size, reference);
}

/** Render one face as RGB bytes, HWC: [size, size, 3]. */
export function renderFactors(f: Factors, {size = 64, reference = false}: RenderOptions = {}): Uint8Array {
  const d = drawFace(f, size, reference);
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Math.round(Math.min(255, Math.max(0, d[i]!)));
  return out;
}

/** Render one face as CHW floats in [-1, 1] (the rounded bytes / 127.5 − 1), into `out` at `at` or a new array. */
export function renderFactorsTensor(f: Factors, size = 64, out = new Float32Array(3 * size * size), at = 0): Float32Array {
  const d = drawFace(f, size, false);
  const plane = size * size;
  for (let p = 0; p < plane; p++) {
    for (let ch = 0; ch < 3; ch++) out[at + ch * plane + p] = Math.round(Math.min(255, Math.max(0, d[p * 3 + ch]!))) / 127.5 - 1;
  }
  return out;
}
