/**
 * OKLab / OKLCh colour space (Björn Ottosson, "A perceptual color space for image processing", 2020;
 * bottosson.github.io/posts/oklab) for the v2 demo world: colours are factors in OKLCh (lightness L in [0, 1],
 * chroma C ≥ 0, hue h in degrees), so a straight step in a factor is a perceptually even step in the render.
 * Out-of-gamut colours are clipped per channel in linear sRGB, which is continuous in the input.
 */
import type {Rgb} from '../../src/demo/canvas.js';

export type Lab = readonly [number, number, number];

const toLinear = (c: number): number => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const fromLinear = (c: number): number => (c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055);

/** sRGB bytes [0, 255] → OKLab. */
export function rgbToOklab([r8, g8, b8]: Rgb): Lab {
  const r = toLinear(r8 / 255), g = toLinear(g8 / 255), b = toLinear(b8 / 255);
  const l = Math.cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b);
  const m = Math.cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b);
  const s = Math.cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
  return [
    0.2104542553 * l + 0.793617785 * m - 0.0040720468 * s,
    1.9779984951 * l - 2.428592205 * m + 0.4505937099 * s,
    0.0259040371 * l + 0.7827717662 * m - 0.808675766 * s,
  ];
}

/** OKLab → sRGB bytes [0, 255] (clipped in linear light). */
export function oklabToRgb([L, a, b]: Lab): Rgb {
  const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
  const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
  const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
  const clip = (v: number): number => 255 * fromLinear(Math.min(1, Math.max(0, v)));
  return [
    clip(4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s),
    clip(-1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s),
    clip(-0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s),
  ];
}

/** OKLCh (h in degrees) → OKLab. */
export function oklchToOklab(L: number, C: number, h: number): Lab {
  const r = (h * Math.PI) / 180;
  return [L, C * Math.cos(r), C * Math.sin(r)];
}

/** OKLCh → sRGB bytes. */
export function oklch(L: number, C: number, h: number): Rgb {
  return oklabToRgb(oklchToOklab(L, C, h));
}

/** sRGB bytes → OKLCh [L, C, h°] (h in [0, 360); 0 for greys). */
export function rgbToOklch(c: Rgb): [number, number, number] {
  const [L, a, b] = rgbToOklab(c);
  const C = Math.sqrt(a * a + b * b);
  const h = C < 1e-9 ? 0 : (((Math.atan2(b, a) * 180) / Math.PI) % 360 + 360) % 360;
  return [L, C, h];
}

/** Blend two colours in OKLab (t = 0 gives a, 1 gives b). */
export function mixOklab(a: Rgb, b: Rgb, t: number): Rgb {
  const p = rgbToOklab(a);
  const q = rgbToOklab(b);
  return oklabToRgb([p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t, p[2] + (q[2] - p[2]) * t]);
}

/** Scale OKLab lightness by f (a perceptual "shade"). */
export function shadeOklab(c: Rgb, f: number): Rgb {
  const [L, a, b] = rgbToOklab(c);
  return oklabToRgb([L * f, a * f, b * f]);
}

/** Signed shortest hue difference b − a in degrees, in (−180, 180]. */
export function hueDelta(a: number, b: number): number {
  const d = (((b - a) % 360) + 540) % 360 - 180;
  return d === -180 ? 180 : d;
}
