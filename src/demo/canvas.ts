/**
 * Rasteriser for the demo renderer: composites signed-distance shapes onto an RGB float canvas with
 * analytic anti-aliasing (coverage = clamp(0.5 - d/pixel, 0, 1), one sample per pixel), through a
 * similarity transform from face units to pixels (scale, rotation, translation). Only the pixels inside
 * each shape's transformed bounding box are visited.
 */
import type {Shape} from './sdf.js';

export type Rgb = readonly [number, number, number];

/** Face-units-to-pixels similarity: the face frame is a 64x64 canvas whose point (32, 32) lands at
 *  canonical position `center` (also in 64-units), rotated by `angle` (radians) and scaled by `scale`. */
export interface FaceFrame {
  readonly center: readonly [number, number];
  readonly angle: number;
  readonly scale: number;
}

export class Canvas {
  readonly size: number;
  /** HWC, RGB in [0, 255]. */
  readonly data: Float32Array;
  // Pixel (i, j) centre -> face units: q = [ax*i + bx*j + cx, ay*i + by*j + cy].
  private readonly ax: number;
  private readonly bx: number;
  private readonly cx: number;
  private readonly ay: number;
  private readonly by: number;
  private readonly cy: number;
  /** Pixels per face unit; 1 / this is the anti-aliasing ramp width in face units. */
  private readonly pixelsPerUnit: number;
  private readonly frame: FaceFrame;
  /** False: evaluate every pixel in the box (the slow reference the run-skipping path is tested against). */
  private readonly skipRuns: boolean;

  constructor(size: number, frame: FaceFrame, skipRuns = true) {
    this.size = size;
    this.frame = frame;
    this.skipRuns = skipRuns;
    this.data = new Float32Array(size * size * 3);
    const k = size / 64; // pixels per canonical unit
    const {center: [ox, oy], angle, scale} = frame;
    const c = Math.cos(angle) / (scale * k);
    const s = Math.sin(angle) / (scale * k);
    const px0 = 0.5 - ox * k; // pixel-centre offset, in pixels, relative to the frame centre
    const py0 = 0.5 - oy * k;
    // q = (32, 32) + R(-angle) (p - center) / scale, with p = (i + 0.5) / k.
    this.ax = c; this.bx = s; this.cx = 32 + c * px0 + s * py0;
    this.ay = -s; this.by = c; this.cy = 32 - s * px0 + c * py0;
    this.pixelsPerUnit = scale * k;
  }

  /** Fill every pixel with one colour. */
  fill(color: Rgb): void {
    const d = this.data;
    for (let i = 0; i < d.length; i += 3) {
      d[i] = color[0]; d[i + 1] = color[1]; d[i + 2] = color[2];
    }
  }

  /** Composite `shape` in `color` with opacity `alpha` (over operator, straight alpha). */
  paint(shape: Shape, color: Rgb, alpha = 1): void {
    this.paintOutlined(shape, color, color, 0, alpha);
  }

  /**
   * Composite `shape` in `fill` over a band of width `lineWidth` (face units) around it in `line`, in
   * one pass: both coverages come from one distance evaluation. Runs of pixels that are surely outside
   * (or surely fully covered) are skipped along the row using the distance itself (sphere tracing,
   * scaled by `shape.trust`), which leaves the image unchanged and saves most evaluations.
   */
  paintOutlined(shape: Shape, fill: Rgb, line: Rgb, lineWidth: number, alpha = 1): void {
    const [bx0, by0, bx1, by1] = shape.bounds;
    if (!(bx0 - lineWidth < bx1 + lineWidth && by0 - lineWidth < by1 + lineWidth)) return;
    const [i0, j0, i1, j1] = this.pixelBounds(bx0 - lineWidth, by0 - lineWidth, bx1 + lineWidth, by1 + lineWidth);
    const f = shape.sdf;
    const trust = this.skipRuns ? shape.trust : 0;
    const ppu = this.pixelsPerUnit;
    const w = lineWidth * ppu; // line width in pixels
    const hasLine = w > 0;
    const d = this.data;
    const size = this.size;
    const [fr, fg, fb] = fill;
    const [lr, lg, lb] = line;
    const {ax, ay, bx, by, cx, cy} = this;
    for (let j = j0; j <= j1; j++) {
      const rowX = bx * j + cx;
      const rowY = by * j + cy;
      for (let i = i0; i <= i1; i++) {
        const dist = f(ax * i + rowX, ay * i + rowY) * ppu; // signed distance in pixels
        const outer = dist - w;
        if (outer >= 0.5) {
          // Pixel i + k is at least (outer * trust - k) pixels outside.
          i += Math.max(0, Math.floor(outer * trust - 0.5));
          continue;
        }
        let run = 0; // extra pixels surely fully inside the fill
        if (dist <= -0.5) run = Math.max(0, Math.min(i1 - i, Math.floor(-dist * trust - 0.5)));
        for (let k = 0; k <= run; k++) {
          const o = (j * size + i + k) * 3;
          if (k === 0 && dist > -0.5) {
            if (hasLine) {
              const aLine = Math.min(1, 0.5 - outer) * alpha;
              d[o] += (lr - d[o]!) * aLine;
              d[o + 1] += (lg - d[o + 1]!) * aLine;
              d[o + 2] += (lb - d[o + 2]!) * aLine;
            }
            const cov = 0.5 - dist;
            if (cov <= 0) continue;
            const a = Math.min(1, cov) * alpha;
            d[o] += (fr - d[o]!) * a;
            d[o + 1] += (fg - d[o + 1]!) * a;
            d[o + 2] += (fb - d[o + 2]!) * a;
          } else if (alpha >= 1) {
            d[o] = fr; d[o + 1] = fg; d[o + 2] = fb;
          } else {
            // Fully covered: the line underneath is fully covered too, then the fill goes over it.
            if (hasLine) {
              d[o] += (lr - d[o]!) * alpha; d[o + 1] += (lg - d[o + 1]!) * alpha; d[o + 2] += (lb - d[o + 2]!) * alpha;
            }
            d[o] += (fr - d[o]!) * alpha; d[o + 1] += (fg - d[o + 1]!) * alpha; d[o + 2] += (fb - d[o + 2]!) * alpha;
          }
        }
        i += run;
      }
    }
  }

  /** Inclusive pixel rectangle covering the face-unit box (transformed corners, plus the AA ramp). */
  private pixelBounds(x0: number, y0: number, x1: number, y1: number): [number, number, number, number] {
    const k = this.size / 64;
    const {center: [ox, oy], angle, scale} = this.frame;
    const c = Math.cos(angle) * scale;
    const s = Math.sin(angle) * scale;
    // Clamp unbounded boxes (half-planes) to a generous face-space window before transforming.
    const cx0 = Math.max(x0, -64), cy0 = Math.max(y0, -64), cx1 = Math.min(x1, 128), cy1 = Math.min(y1, 128);
    let pi0 = Infinity, pj0 = Infinity, pi1 = -Infinity, pj1 = -Infinity;
    for (const [qx, qy] of [[cx0, cy0], [cx1, cy0], [cx0, cy1], [cx1, cy1]] as const) {
      const dx = qx - 32, dy = qy - 32;
      const pi = (ox + c * dx - s * dy) * k - 0.5;
      const pj = (oy + s * dx + c * dy) * k - 0.5;
      pi0 = Math.min(pi0, pi); pi1 = Math.max(pi1, pi);
      pj0 = Math.min(pj0, pj); pj1 = Math.max(pj1, pj);
    }
    const n = this.size - 1;
    return [
      Math.max(0, Math.floor(pi0 - 1)), Math.max(0, Math.floor(pj0 - 1)),
      Math.min(n, Math.ceil(pi1 + 1)), Math.min(n, Math.ceil(pj1 + 1)),
    ];
  }
}
