/**
 * Optimizers against steps computed here from the textbook formulas: SGD, Adam (bias-corrected), AdamW (decoupled
 * decay on the masked parameters only), Ranger (un-rectified then rectified RAdam steps, lookahead, GC);
 * parameter groups with their own learning rates and schedules; state() / load() continue exactly.
 */
import {describe, expect, it} from 'vitest';
import {Adam, AdamW, type Optimizer, type Param, Ranger, SGD, radamStepSize} from '../../src/train/optim.js';

const param = (name: string, values: number[], shape: number[] = [values.length]): Param => ({name, shape, data: Float32Array.from(values)});
const grads = (g: Record<string, number[]>) => new Map(Object.entries(g).map(([k, v]) => [k, Float32Array.from(v)]));
const f32 = (x: number) => Math.fround(x);

describe('SGD', () => {
  it('p ← p − lr·g, with a schedule of the step index', () => {
    const p = param('p', [1, -2]);
    const opt = new SGD([p], {lr: (t) => 0.1 * (t + 1)});
    opt.step(grads({p: [0.5, -4]}));
    opt.step(grads({p: [1, 1]}));
    expect(Array.from(p.data)).toEqual([f32(f32(1 - 0.1 * 0.5) - 0.2 * 1), f32(f32(-2 + 0.1 * 4) - 0.2 * 1)]);
    expect(opt.steps).toBe(2);
  });
});

/** One Adam step by the textbook formula (Kingma & Ba, Algorithm 1), in float64. */
function adamRef(x: number[], gs: number[][], lr: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number[] {
  const m = x.map(() => 0);
  const v = x.map(() => 0);
  const p = [...x];
  gs.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
      p[i] = p[i]! - (lr * (m[i]! / (1 - b1 ** t))) / (Math.sqrt(v[i]! / (1 - b2 ** t)) + eps);
    }
  });
  return p;
}

describe('Adam and AdamW', () => {
  it('Adam matches the textbook bias-corrected steps', () => {
    const p = param('p', [1, -2, 0.25]);
    const opt = new Adam([p], {lr: 0.1});
    const gs = [[0.5, -4, 0], [1, 0, 2], [-0.3, 0.7, 2]];
    for (const g of gs) opt.step(grads({p: g}));
    adamRef([1, -2, 0.25], gs, 0.1).forEach((want, i) => expect(p.data[i]).toBeCloseTo(want, 6));
    // Step 1 moves each coordinate by about lr·sign(g).
    const q = param('q', [1, -2]);
    new Adam([q], {lr: 0.1}).step(grads({q: [0.5, -4]}));
    expect(q.data[0]).toBeCloseTo(0.9, 6);
    expect(q.data[1]).toBeCloseTo(-1.9, 6);
  });

  it('Adam refuses weight decay (that is AdamW)', () => {
    expect(() => new Adam([{params: [param('p', [1])], weightDecay: 0.1}], {lr: 0.1})).toThrow(/AdamW/);
  });

  it('AdamW decays the masked parameters by (1 − lr·wd) before the Adam step, and only those', () => {
    const w = param('w', [2, -1]);
    const b = param('b', [0.5]);
    const opt = new AdamW([w, b], {lr: 0.01, weightDecay: 0.1, decay: (p) => p.name === 'w'});
    opt.step(grads({w: [0.2, 0.4], b: [0.3]}));
    // Step 1 of Adam is lr·g/(|g| + ε) per coordinate.
    const adam1 = (g: number) => (0.01 * g) / (Math.abs(g) + 1e-8);
    expect(w.data[0]).toBeCloseTo(2 * (1 - 0.01 * 0.1) - adam1(0.2), 6);
    expect(w.data[1]).toBeCloseTo(-1 * (1 - 0.01 * 0.1) - adam1(0.4), 6);
    expect(b.data[0]).toBeCloseTo(0.5 - adam1(0.3), 6);
  });
});

describe('parameter groups', () => {
  it('each group steps at its own learning rate or schedule; one step count drives the bias correction', () => {
    const a = param('a', [1, 2]);
    const b = param('b', [3]);
    const opt = new Adam([{params: [a]}, {params: [b], lr: (t) => 0.5 / (t + 1)}], {lr: 0.1});
    expect([opt.lr(0), opt.lr(1)]).toEqual([0.1, 0.5]);
    const gs = [[[0.5, -1], [2]], [[0.1, 0.3], [-1]]];
    for (const [ga, gb] of gs) opt.step(grads({a: ga!, b: gb!}));
    expect(opt.lr(1)).toBe(0.5 / 3);
    const wantA = adamRef([1, 2], gs.map(([ga]) => ga!), 0.1);
    wantA.forEach((want, i) => expect(a.data[i]).toBeCloseTo(want, 6));
    // b: lr 0.5 at t = 0, 0.25 at t = 1.
    let m = 0, v = 0, x = 3;
    [[2, 0.5], [-1, 0.25]].forEach(([g, lr], k) => {
      m = 0.9 * m + 0.1 * g!;
      v = 0.999 * v + 0.001 * g! ** 2;
      x -= (lr! * (m / (1 - 0.9 ** (k + 1)))) / (Math.sqrt(v / (1 - 0.999 ** (k + 1))) + 1e-8);
    });
    expect(b.data[0]).toBeCloseTo(x, 5);
  });

  it('rejects a parameter in two groups and a missing gradient', () => {
    const a = param('a', [1]);
    expect(() => new SGD([{params: [a]}, {params: [a]}], {lr: 1})).toThrow(/two parameter groups/);
    expect(() => new SGD([a], {lr: 1}).step(grads({b: [1]}))).toThrow(/no gradient.*parameter a/);
  });
});

describe('Ranger', () => {
  it('uses the official defaults and the RAdam rectification threshold', () => {
    const r = new Ranger([param('p', [0, 0])], {lr: 0.1});
    expect([r.alpha, r.k, r.nSmaThreshold, r.betas, r.eps, r.groups[0]!.weightDecay, r.useGc]).toEqual([0.5, 6, 5, [0.95, 0.999], 1e-5, 0, true]);
    // ρ_1 = ρ∞ − 2·β2/(1 − β2) = 1999 − 1998 = 1; ρ_t crosses 5 at t = 6.
    expect(radamStepSize(1, [0.95, 0.999]).nSma).toBeCloseTo(1, 9);
    expect([1, 2, 3, 4, 5, 6].map((t) => radamStepSize(t, [0.95, 0.999]).rectified)).toEqual([false, false, false, false, false, true]);
  });

  it('matches hand-computed first steps (un-rectified momentum SGD, then the rectified update)', () => {
    const p = param('p', [1, -2]);
    const opt = new Ranger([p], {lr: 0.1}); // 1-D: no GC
    opt.step(grads({p: [0.5, -4]}));
    // m = 0.05·g, step size 1/(1 − 0.95) = 20 → p −= 0.1·20·0.05·g = 0.1·g.
    expect(p.data[0]).toBeCloseTo(0.95, 6);
    expect(p.data[1]).toBeCloseTo(-1.6, 6);
    opt.step(grads({p: [1, 0]}));
    // m0 = 0.95·0.025 + 0.05·1 = 0.07375; step size 1/(1 − 0.95²).
    expect(p.data[0]).toBeCloseTo(0.95 - (0.1 * 0.07375) / (1 - 0.95 ** 2), 6);
    // Steps 3–5 un-rectified, step 6 rectified: check step 6 against the formula with the tracked m, v.
    let m = 0.07375, v = 0.999 * 0.001 * 0.25 + 0.001, x = p.data[0]!;
    for (let t = 3; t <= 5; t++) {
      opt.step(grads({p: [1, 0]}));
      m = 0.95 * m + 0.05;
      v = 0.999 * v + 0.001;
      x -= (0.1 * m) / (1 - 0.95 ** t);
      expect(p.data[0]).toBeCloseTo(x, 5);
    }
    const q = param('q', [1, -2]);
    const k6 = new Ranger([q], {lr: 0.1, k: 1000}); // same math without the lookahead sync at t = 6
    for (const g of [[0.5, -4], [1, 0], [1, 0], [1, 0], [1, 0], [1, 0]]) k6.step(grads({q: g}));
    m = 0.95 * m + 0.05;
    v = 0.999 * v + 0.001;
    const rho = radamStepSize(6, [0.95, 0.999]).nSma;
    const rt = Math.sqrt(((1 - 0.999 ** 6) * (rho - 4) * (rho - 2) * 1999) / (1995 * 1997 * rho));
    expect(q.data[0]).toBeCloseTo(x - (0.1 * rt * m) / (1 - 0.95 ** 6) / (Math.sqrt(v) + 1e-5), 5);
  });

  it('syncs the lookahead weights every k = 6 steps: slow ← slow + ½(fast − slow), fast ← slow', () => {
    // With a constant gradient the update deltas do not depend on p, so the synced run is predictable from a
    // run without lookahead.
    const g = () => grads({p: [0.3, -1, 2]});
    const a = param('p', [1, 2, 3]);
    const b = param('p', [1, 2, 3]);
    const ra = new Ranger([a], {lr: 0.2});
    const rb = new Ranger([b], {lr: 0.2, k: 1_000_000});
    const trace: number[][] = [];
    for (let t = 1; t <= 12; t++) {
      ra.step(g());
      rb.step(g());
      trace.push(Array.from(b.data));
      if (t === 5) expect(Array.from(a.data)).toEqual(Array.from(b.data)); // no sync before step 6
    }
    const p0 = [1, 2, 3];
    const d1 = trace[5]!.map((v, i) => v - p0[i]!);
    const d2 = trace[11]!.map((v, i) => v - trace[5]![i]!);
    const s6 = p0.map((v, i) => v + 0.5 * d1[i]!);
    const want12 = s6.map((v, i) => v + 0.5 * d2[i]!);
    a.data.forEach((v, i) => expect(v).toBeCloseTo(want12[i]!, 5));
  });

  it('centralises the gradients of matrices over the input axis, not those of vectors', () => {
    const W = param('W', [0, 0, 0, 0, 0, 0], [2, 3]);
    const b = param('b', [0, 0]);
    const gs = grads({W: [1, 2, 6, -3, 0, 3], b: [1, 5]});
    new Ranger([W, b], {lr: 1}).step(gs);
    // Row means 3 and 0 removed (in place, as ranger.py does); step 1 moves p by −lr·g_c.
    expect(Array.from(gs.get('W')!)).toEqual([-2, -1, 3, -3, 0, 3]);
    expect(Array.from(W.data).map((v) => Number(v.toFixed(5)))).toEqual([2, 1, -3, 3, 0, -3]);
    expect(Array.from(b.data).map((v) => Number(v.toFixed(5)))).toEqual([-1, -5]);
    // Adam has no GC.
    const g2 = grads({q: [1, 2, 6, -3, 0, 3]});
    new Adam([param('q', [0, 0, 0, 0, 0, 0], [2, 3])], {lr: 1}).step(g2);
    expect(Array.from(g2.get('q')!)).toEqual([1, 2, 6, -3, 0, 3]);
  });
});

describe('state() / load()', () => {
  const make: Record<string, (p: Param[]) => Optimizer> = {
    sgd: (p) => new SGD(p, {lr: 0.1}),
    adam: (p) => new Adam(p, {lr: 0.1}),
    adamw: (p) => new AdamW(p, {lr: 0.1, weightDecay: 0.2}),
    ranger: (p) => new Ranger(p, {lr: 0.3}),
  };
  for (const [kind, opt] of Object.entries(make)) {
    it(`continue exactly (${kind}), with torch's buffer names per parameter`, () => {
      const g = (t: number) => grads({w: [Math.sin(t), Math.cos(3 * t), 0.5, t % 3, -1, 2], b: [t, -t]});
      const init = () => [param('w', [1, 2, 3, 4, 5, 6], [2, 3]), param('b', [0.5, -0.5])];
      const a = init();
      const oa = opt(a);
      for (let t = 0; t < 14; t++) oa.step(g(t));
      const b = init();
      const ob = opt(b);
      for (let t = 0; t < 7; t++) ob.step(g(t));
      const s = ob.state();
      expect(s.step).toBe(7);
      const names = {sgd: [], adam: ['exp_avg', 'exp_avg_sq'], adamw: ['exp_avg', 'exp_avg_sq'], ranger: ['exp_avg', 'exp_avg_sq', 'slow_buffer']}[kind]!;
      expect([...s.buffers.keys()]).toEqual(['w', 'b'].flatMap((p) => names.map((n) => `${p}.${n}`)));
      const oc = opt(b);
      oc.load({step: s.step, buffers: new Map([...s.buffers].map(([k, v]) => [k, Float32Array.from(v)]))});
      for (let t = 7; t < 14; t++) oc.step(g(t));
      b.forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(a[i]!.data)));
    });
  }

  it('rejects a state with missing or foreign buffers', () => {
    const p = param('p', [1, 2]);
    const opt = new Adam([p], {lr: 0.1});
    expect(() => opt.load({step: 3, buffers: new Map([['p.exp_avg', new Float32Array(2)]])})).toThrow(/p\.exp_avg_sq' is missing/);
    expect(() => opt.load({step: 3, buffers: new Map([['q.exp_avg', new Float32Array(2)]])})).toThrow(/belongs to no parameter/);
  });
});
