/** Training utilities: a small regression converges; a killed-and-resumed run equals an uninterrupted one. */
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import * as F from '../../src/engine/ops.js';
import {input} from '../../src/engine/tensor.js';
import {Adam, Params, compileStep, loadCheckpoint, trainLoop} from '../../src/train/trainer.js';

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
    return {loss: mse, metrics: {mse}, dataInputs: [x, y]};
  });
  return {params, step, adam: new Adam(params.values.map((v) => v.length))};
}

describe('trainLoop', () => {
  it('fits a linear model', async () => {
    const {params, step, adam} = await setup();
    const losses: number[] = [];
    await trainLoop(step, params, adam, {steps: 300, lr: () => 0.05, batch, onStep: (i) => losses.push(i.loss)});
    expect(losses.at(-1)!).toBeLessThan(1e-3 * losses[0]!);
    expect(params.values[0]![0]).toBeCloseTo(2, 1);
    expect(params.values[1]![0]).toBeCloseTo(0.3, 1);
  });

  it('resumes from its checkpoint exactly', async () => {
    const full = await setup();
    await trainLoop(full.step, full.params, full.adam, {steps: 40, lr: () => 0.05, batch});

    const file = path.join(tmp, 'ck.safetensors');
    const a = await setup();
    const ac = new AbortController();
    await expect(
      trainLoop(a.step, a.params, a.adam, {steps: 40, lr: () => 0.05, batch, checkpoint: {file, every: 10}, signal: ac.signal, onStep: (i) => i.step === 24 && ac.abort()}),
    ).rejects.toThrow(/cancelled/);
    expect(loadCheckpoint(file).step).toBe(20);
    const b = await setup(); // a fresh process would start like this
    const done = await trainLoop(b.step, b.params, b.adam, {steps: 40, lr: () => 0.05, batch, checkpoint: {file, every: 10}});
    expect(done).toBe(20);
    b.params.values.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(full.params.values[i]!)));
  });
});
