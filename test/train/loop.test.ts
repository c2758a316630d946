/**
 * The training loop: a small regression converges; metrics, outputs and the scheduled lr are reported; a run
 * killed after a checkpoint or cancelled (which checkpoints) resumes to exactly the uninterrupted result.
 */
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import * as F from '../../src/engine/ops.js';
import {input} from '../../src/engine/tensor.js';
import {loadCheckpoint, parseCheckpoint, serializeCheckpoint, writeTo} from '../../src/train/checkpoint.js';
import {Params, compileStep, trainLoop} from '../../src/train/loop.js';
import {Adam, SGD} from '../../src/train/optim.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'styleclip-train-'));
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

// y = x·Wᵀ + b with W = [[2, -1, 0.5]], b = 0.3; data is a pure function of the step.
function batch(step: number): Float32Array[] {
  const x = new Float32Array(16 * 3);
  const y = new Float32Array(16);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 3; j++) x[i * 3 + j] = 2 * (((Math.sin(step * 12.9898 + i * 78.233 + j * 37.719) * 43758.5453) % 1 + 1) % 1) - 1; // hash noise in [-1, 1)
    y[i] = 2 * x[i * 3]! - x[i * 3 + 1]! + 0.5 * x[i * 3 + 2]! + 0.3;
  }
  return [x, y];
}

const schedule = (t: number) => (t < 30 ? 0.05 : 0.02);

async function setup() {
  const params = new Params([
    ['w', {shape: [1, 3], data: new Float32Array(3)}],
    ['b', {shape: [1], data: new Float32Array(1)}],
  ]);
  const step = await compileStep(params, () => {
    const x = input('x', [16, 3]);
    const y = input('y', [16]);
    const pred = F.add(F.reshape(F.matmul(x, F.transpose(params.get('w'), [1, 0])), [16]), params.get('b'));
    const mse = F.mean(F.square(F.sub(pred, y)));
    return {loss: mse, metrics: {mse, bias: F.sum(params.get('b'))}, outputs: {pred}, dataInputs: [x, y]};
  });
  return {params, step, adam: new Adam(params.all, {lr: schedule})};
}

describe('trainLoop', () => {
  it('fits a linear model and reports loss, metrics, outputs and the scheduled lr', async () => {
    const {params, step, adam} = await setup();
    const reports: {loss: number; bias: number; lr: number; shape: number[]}[] = [];
    const r = await trainLoop(step, adam, {steps: 300, batch, onStep: (i) => void reports.push({loss: i.loss, bias: i.metrics.bias!, lr: i.lr, shape: i.outputs.pred!.shape})});
    expect(r).toEqual({step: 300, stepsRun: 300});
    expect(reports.at(-1)!.loss).toBeLessThan(1e-3 * reports[0]!.loss);
    expect(params.all[0]!.data[0]).toBeCloseTo(2, 1);
    expect(params.all[1]!.data[0]).toBeCloseTo(0.3, 1);
    expect(reports[0]!.bias).toBe(0); // the metrics are computed before the update
    expect(reports.map((x) => x.lr).slice(28, 32)).toEqual([0.05, 0.05, 0.02, 0.02]);
    expect(reports[0]!.shape).toEqual([16]);
  });

  it('resumes exactly from the last checkpoint of a killed run, and from the one a cancelled run writes', async () => {
    const full = await setup();
    await trainLoop(full.step, full.adam, {steps: 40, batch});

    const file = path.join(tmp, 'ck.safetensors');
    const a = await setup();
    const ac = new AbortController();
    const written: [number, Uint8Array][] = [];
    const write = (bytes: Uint8Array, s: number) => {
      written.push([s, bytes]);
      writeTo(file)(bytes);
    };
    await expect(
      trainLoop(a.step, a.adam, {steps: 40, batch, checkpoint: {every: 10, meta: {run: 'x'}, write}, signal: ac.signal, onStep: (i) => void (i.step === 24 && ac.abort())}),
    ).rejects.toThrow(/training cancelled at step 25/);
    expect(written.map(([s]) => s)).toEqual([10, 20, 25]);
    const ck = loadCheckpoint(file);
    expect([ck.step, ck.optimizer?.kind, ck.optimizer?.step, ck.meta.run]).toEqual([25, 'adam', 25, 'x']);

    for (const [resume, runs] of [[ck, 15], [parseCheckpoint(written[1]![1]), 20]] as const) {
      const b = await setup(); // a fresh process would start like this
      const done = await trainLoop(b.step, b.adam, {steps: 40, batch, resume});
      expect(done.stepsRun).toBe(runs);
      b.params.all.forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(full.params.all[i]!.data)));
    }
  });

  it('names divergence and a checkpoint of another optimizer', async () => {
    const {step, adam} = await setup();
    const bad = () => [new Float32Array(48).fill(NaN), new Float32Array(16)];
    await expect(trainLoop(step, adam, {steps: 3, batch: bad, what: 'fitting', divergenceHint: 'try a lower lr'})).rejects.toThrow(/fitting diverged at step 0 \(loss NaN\); try a lower lr/);
    const other = await setup();
    const sgdCk = parseCheckpoint(serializeCheckpoint(other.params.all, new SGD(other.params.all, {lr: 0.1}), 5));
    await expect(trainLoop(other.step, other.adam, {steps: 10, batch, resume: sgdCk})).rejects.toThrow(/checkpoint holds sgd state, the run uses adam/);
  });
});
