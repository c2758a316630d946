/**
 * 2-D signed distance shapes for the demo renderer: negative inside, positive outside, in face units
 * (1 unit = 1 pixel of a 64x64 render). Exact or first-order distances so that `coverage = 0.5 - d / pixel`
 * gives analytic anti-aliasing with one sample per pixel. Formulas follow Inigo Quilez, "2D distance
 * functions" (iquilezles.org/articles/distfunctions2d): sdCircle, sdBox/rounded box, sdSegment, sdPolygon,
 * and the gradient-normalised ellipse approximation f/|grad f|.
 * Each shape carries a conservative bounding box so the rasteriser only visits nearby pixels.
 */

export type Sdf = (x: number, y: number) => number;

/** Axis-aligned bounds [x0, y0, x1, y1] in face units. */
export type Bounds = readonly [number, number, number, number];

export interface Shape {
  readonly sdf: Sdf;
  readonly bounds: Bounds;
  /** Fraction of |sdf| that is guaranteed to be free of the boundary (1 for exact distances; less for
   *  the ellipse approximation, which can overestimate far from the curve). The rasteriser uses it to
   *  skip runs of pixels that are surely outside or surely inside. */
  readonly trust: number;
}

export type Point = readonly [number, number];

export function circle(cx: number, cy: number, r: number): Shape {
  return {
    sdf: (x, y) => {
      const dx = x - cx;
      const dy = y - cy;
      return Math.sqrt(dx * dx + dy * dy) - r; // Math.hypot is several times slower in V8
    },
    bounds: [cx - r, cy - r, cx + r, cy + r],
    trust: 1,
  };
}

/** Axis-aligned ellipse. Distance is f/|grad f| with f = |p/r| - 1 scaled back to units (exact on the
 *  boundary, first-order near it, which is all anti-aliasing needs). */
export function ellipse(cx: number, cy: number, rx: number, ry: number): Shape {
  const irx = 1 / rx;
  const iry = 1 / ry;
  return {
    sdf: (x, y) => {
      const px = (x - cx) * irx;
      const py = (y - cy) * iry;
      const k0 = Math.sqrt(px * px + py * py);
      const k1 = Math.sqrt(px * px * irx * irx + py * py * iry * iry);
      return k1 < 1e-9 ? -Math.min(rx, ry) : (k0 * (k0 - 1)) / k1;
    },
    bounds: [cx - rx, cy - ry, cx + rx, cy + ry],
    // Measured: the approximation overestimates by less than the axis ratio (1.35x at 2.6:1, 1.9x at 2.1:1 far out).
    trust: (0.9 * Math.min(rx, ry)) / Math.max(rx, ry),
  };
}

/** Box centred at (cx, cy) with half-sizes (hx, hy) and corner radius r (exact). */
export function roundedBox(cx: number, cy: number, hx: number, hy: number, r = 0): Shape {
  const qx0 = hx - r;
  const qy0 = hy - r;
  return {
    sdf: (x, y) => {
      const qx = Math.abs(x - cx) - qx0;
      const qy = Math.abs(y - cy) - qy0;
      const ox = Math.max(qx, 0);
      const oy = Math.max(qy, 0);
      return Math.sqrt(ox * ox + oy * oy) + Math.min(Math.max(qx, qy), 0) - r;
    },
    bounds: [cx - hx, cy - hy, cx + hx, cy + hy],
    trust: 1,
  };
}

/** Segment a-b thickened to radius r (a capsule: strokes for brows, frames, moustaches). */
export function capsule(ax: number, ay: number, bx: number, by: number, r: number): Shape {
  const ex = bx - ax;
  const ey = by - ay;
  const ee = ex * ex + ey * ey || 1;
  return {
    sdf: (x, y) => {
      const wx = x - ax;
      const wy = y - ay;
      const t = Math.min(Math.max((wx * ex + wy * ey) / ee, 0), 1);
      const dx = wx - ex * t;
      const dy = wy - ey * t;
      return Math.sqrt(dx * dx + dy * dy) - r;
    },
    bounds: [Math.min(ax, bx) - r, Math.min(ay, by) - r, Math.max(ax, bx) + r, Math.max(ay, by) + r],
    trust: 1,
  };
}

/** Simple polygon (any winding), exact distance with the crossing-number sign rule. */
export function polygon(points: readonly Point[]): Shape {
  const n = points.length;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  points.forEach(([px, py], i) => {
    xs[i] = px;
    ys[i] = py;
  });
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    x0 = Math.min(x0, xs[i]!); y0 = Math.min(y0, ys[i]!);
    x1 = Math.max(x1, xs[i]!); y1 = Math.max(y1, ys[i]!);
  }
  return {
    sdf: (x, y) => {
      let d = Infinity;
      let inside = false;
      for (let i = 0, j = n - 1; i < n; j = i++) {
        const vix = xs[i]!, viy = ys[i]!, vjx = xs[j]!, vjy = ys[j]!;
        const ex = vjx - vix, ey = vjy - viy;
        const wx = x - vix, wy = y - viy;
        const t = Math.min(Math.max((wx * ex + wy * ey) / (ex * ex + ey * ey || 1), 0), 1);
        const bx = wx - ex * t, by = wy - ey * t;
        d = Math.min(d, bx * bx + by * by);
        if ((viy > y) !== (vjy > y) && x < vix + ((y - viy) * ex) / ey) inside = !inside;
      }
      return inside ? -Math.sqrt(d) : Math.sqrt(d);
    },
    bounds: [x0, y0, x1, y1],
    trust: 1,
  };
}

/** Half-plane {y < y0} (or {y > y0} when `below`); unbounded, so only use it inside `intersect`. */
export function halfPlaneY(y0: number, below = false): Shape {
  return {
    sdf: below ? (_x, y) => y0 - y : (_x, y) => y - y0,
    bounds: below ? [-Infinity, y0, Infinity, Infinity] : [-Infinity, -Infinity, Infinity, y0],
    trust: 1,
  };
}

/** Half-plane {|x - cx| > hx} (two outer strips); unbounded, only for `intersect`. */
export function outsideBandX(cx: number, hx: number): Shape {
  return {sdf: (x) => hx - Math.abs(x - cx), bounds: [-Infinity, -Infinity, Infinity, Infinity], trust: 1};
}

function minTrust(shapes: Shape[]): number {
  return Math.min(...shapes.map((s) => s.trust));
}

export function union(...shapes: Shape[]): Shape {
  const fs = shapes.map((s) => s.sdf);
  const boxes = Float64Array.from(shapes.flatMap((s) => s.bounds));
  const n = fs.length;
  return {
    sdf: (x, y) => {
      let d = Infinity;
      for (let i = 0; i < n; i++) {
        // The distance to a child's box bounds its distance from below: skip children that cannot win.
        const o = 4 * i;
        const gap = Math.max(boxes[o]! - x, x - boxes[o + 2]!, boxes[o + 1]! - y, y - boxes[o + 3]!);
        if (gap >= d) continue;
        const di = fs[i]!(x, y);
        if (di < d) d = di;
      }
      return d;
    },
    bounds: [
      Math.min(...shapes.map((s) => s.bounds[0])),
      Math.min(...shapes.map((s) => s.bounds[1])),
      Math.max(...shapes.map((s) => s.bounds[2])),
      Math.max(...shapes.map((s) => s.bounds[3])),
    ],
    trust: minTrust(shapes),
  };
}

export function intersect(...shapes: Shape[]): Shape {
  const fs = shapes.map((s) => s.sdf);
  return {
    sdf: (x, y) => {
      let d = -Infinity;
      for (const f of fs) d = Math.max(d, f(x, y));
      return d;
    },
    bounds: [
      Math.max(...shapes.map((s) => s.bounds[0])),
      Math.max(...shapes.map((s) => s.bounds[1])),
      Math.min(...shapes.map((s) => s.bounds[2])),
      Math.min(...shapes.map((s) => s.bounds[3])),
    ],
    trust: minTrust(shapes),
  };
}

/** a minus b. */
export function subtract(a: Shape, b: Shape): Shape {
  const fa = a.sdf;
  const fb = b.sdf;
  return {sdf: (x, y) => Math.max(fa(x, y), -fb(x, y)), bounds: a.bounds, trust: Math.min(a.trust, b.trust)};
}

/** Grow (w > 0) or shrink (w < 0) a shape by w units. */
export function offset(s: Shape, w: number): Shape {
  const f = s.sdf;
  const [x0, y0, x1, y1] = s.bounds;
  return {sdf: (x, y) => f(x, y) - w, bounds: [x0 - w, y0 - w, x1 + w, y1 + w], trust: s.trust};
}

/** The band |d| < w around a shape's boundary (outlines, rings, glasses frames). */
export function ring(s: Shape, w: number): Shape {
  const f = s.sdf;
  const [x0, y0, x1, y1] = s.bounds;
  return {sdf: (x, y) => Math.abs(f(x, y)) - w, bounds: [x0 - w, y0 - w, x1 + w, y1 + w], trust: s.trust};
}

/** Cheap per-cell hash (no rest-parameter array, it runs once per pixel). */
function cellHash(seed: number, gx: number, gy: number): number {
  let h = Math.imul(seed ^ Math.imul(gx, 0x27d4eb2d), 0x165667b1) ^ Math.imul(gy, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

/** Brick-pattern ring texture (curls): each cell holds one jittered ring; evaluated in O(1) per point. */
export function curlTexture(seed: number, cell: number, r: number, w: number, phase: number): Sdf {
  return (x, y) => {
    const gy = Math.floor(y / cell + phase);
    const shift = gy & 1 ? 0.5 : 0;
    const gx = Math.floor(x / cell + shift);
    const h = cellHash(seed, gx, gy);
    // Jitter of ±0.08 cell keeps each ring (radius r + w) inside its own cell, so the nearest cell's
    // ring is the only one that can cover a point.
    const jx = ((h & 255) / 255 - 0.5) * 0.16;
    const jy = (((h >>> 8) & 255) / 255 - 0.5) * 0.16;
    const cx = (gx + 0.5 - shift + jx) * cell;
    const cy = (gy + 0.5 - phase + jy) * cell;
    const dx = x - cx;
    const dy = y - cy;
    return Math.abs(Math.sqrt(dx * dx + dy * dy) - r) - w;
  };
}

export function textured(region: Shape, texture: Sdf): Shape {
  const f = region.sdf;
  // Texture distances ignore neighbouring cells, so they give no skipping guarantee (trust 0).
  return {sdf: (x, y) => Math.max(f(x, y), texture(x, y)), bounds: region.bounds, trust: 0};
}
