/**
 * Colour helpers for the demo renderer: hex parsing, HSL jitter (per-face hue/saturation/lightness
 * variation) and mixing. Colours are RGB triples in [0, 255].
 */
import type {Rgb} from './canvas.js';

export function hex(s: string): Rgb {
  const v = parseInt(s.replace('#', ''), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/** Linear blend: t = 0 gives a, t = 1 gives b. */
export function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** Multiply towards black (f < 1) or scale up, clamped. */
export function shade(c: Rgb, f: number): Rgb {
  return [Math.min(255, c[0] * f), Math.min(255, c[1] * f), Math.min(255, c[2] * f)];
}

/** RGB [0,255] -> HSL with h in degrees, s and l in [0, 1]. */
function rgbToHsl([r8, g8, b8]: Rgb): [number, number, number] {
  const r = r8 / 255, g = g8 / 255, b = b8 / 255;
  const max = Math.max(r, g, b), min = Math.min(r, g, b);
  const l = (max + min) / 2;
  if (max === min) return [0, 0, l];
  const d = max - min;
  const s = l > 0.5 ? d / (2 - max - min) : d / (max + min);
  let h: number;
  if (max === r) h = (g - b) / d + (g < b ? 6 : 0);
  else if (max === g) h = (b - r) / d + 2;
  else h = (r - g) / d + 4;
  return [h * 60, s, l];
}

export function hslToRgb(h: number, s: number, l: number): Rgb {
  const hue = (((h % 360) + 360) % 360) / 360;
  if (s <= 0) return [l * 255, l * 255, l * 255];
  const q = l < 0.5 ? l * (1 + s) : l + s - l * s;
  const p = 2 * l - q;
  const channel = (t: number): number => {
    const u = t < 0 ? t + 1 : t > 1 ? t - 1 : t;
    if (u < 1 / 6) return p + (q - p) * 6 * u;
    if (u < 1 / 2) return q;
    if (u < 2 / 3) return p + (q - p) * (2 / 3 - u) * 6;
    return p;
  };
  return [channel(hue + 1 / 3) * 255, channel(hue) * 255, channel(hue - 1 / 3) * 255];
}

/** Shift hue by dh degrees and add ds, dl to saturation and lightness (clamped to [0, 1]). */
export function jitterHsl(c: Rgb, dh: number, ds: number, dl: number): Rgb {
  const [h, s, l] = rgbToHsl(c);
  const clamp = (v: number): number => Math.min(1, Math.max(0, v));
  return hslToRgb(h + dh, clamp(s + ds), clamp(l + dl));
}
