/**
 * The demo evaluation classifier's training pieces (masked targets, stable log-softmax, fp16 asset round trip,
 * deterministic data) on the first, categorical world; the shipped classifier is tested in world2-models.test.ts.
 */
import {describe, expect, it} from 'vitest';
import {attributeNames, attributeValues, isAttributeVisible, sampleAttributes} from '../../src/demo/attributes.js';
import {
  type ClassifierConfig, DemoClassifier, demoClassifierFromBytes, initClassifierState, logSoftmax,
} from '../../src/demo/classifier.js';
import {renderBatch} from '../../src/demo/render.js';
import {Rng} from '../../src/demo/rng.js';
import {
  classifierAssetBytes, encodeTargets, learningRate, trainingBatch,
} from '../demo/train-classifier.js';
import {compile} from '../../src/engine/session.js';
import {input} from '../../src/engine/tensor.js';


describe('classifier training pieces', () => {
  it('masks invisible labels in the one-hot targets', () => {
    const rng = new Rng(5);
    const attrs = Array.from({length: 64}, () => sampleAttributes(rng));
    const t = encodeTargets(attrs);
    const width = attributeNames.reduce((n, a) => n + attributeValues(a).length, 0);
    attrs.forEach((a, i) => {
      let off = 0;
      for (const name of attributeNames) {
        const C = attributeValues(name).length;
        const block = Array.from(t.subarray(i * width + off, i * width + off + C));
        expect(block.reduce((s, v) => s + v, 0)).toBe(isAttributeVisible(a, name) ? 1 : 0);
        off += C;
      }
    });
  });

  it('computes a stable log-softmax', async () => {
    const x = input('x', [2, 3]);
    const prog = await compile([x], [logSoftmax(x)]);
    const [out] = await prog.run([Float32Array.from([1000, 1001, 1002, -3, 0, 2])]);
    const ref = (v: number[]) => {
      const m = Math.max(...v);
      const l = Math.log(v.reduce((s, u) => s + Math.exp(u - m), 0));
      return v.map((u) => u - m - l);
    };
    const expected = [...ref([1000, 1001, 1002]), ...ref([-3, 0, 2])];
    Array.from(out!.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
  });

  it('draws the same training batch for the same step, different ones for different steps', () => {
    const opts = {batch: 2, seed: 0, noise: 0.05};
    const a = trainingBatch(7, opts);
    const b = trainingBatch(7, opts);
    const c = trainingBatch(8, opts);
    expect(a.images).toEqual(b.images);
    expect(a.targets).toEqual(b.targets);
    expect(a.images).not.toEqual(c.images);
  });

  it('warms up then decays the learning rate', () => {
    const o = {steps: 100, lr: 1, warmup: 10};
    expect(learningRate(0, o)).toBeCloseTo(0.1);
    expect(learningRate(9, o)).toBeCloseTo(1);
    expect(learningRate(99, o)).toBeLessThan(0.05);
  });

  it('round-trips an fp16 asset with the same predictions', async () => {
    const cfg: ClassifierConfig = {inputSize: 16, convs: [{out: 4, kernel: 4, stride: 2}, {out: 8, kernel: 3, stride: 2}], slope: 0.2};
    const sd = initClassifierState(cfg, 3);
    const full = new DemoClassifier(sd, {strides: '2,2', input_size: '16'});
    const half = demoClassifierFromBytes(classifierAssetBytes(sd, cfg, {}));
    expect(half.config).toEqual(cfg);
    const r = renderBatch(2, 11, 16);
    const img = {dtype: 'float32' as const, shape: [2, 3, 16, 16], data: r.images};
    const [pa, pb] = [await full.classify(img), await half.classify(img)];
    pa.forEach((p, i) => {
      for (const a of attributeNames) for (const v of attributeValues(a)) expect(pb[i]![a][v]).toBeCloseTo(p[a][v]!, 3);
    });
    expect(() => new DemoClassifier(sd, {strides: '2,1', input_size: '16'})).toThrow(/shape/);
  });
});
