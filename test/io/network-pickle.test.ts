/**
 * NVIDIA network pickles and StyleCLIP's S_mean_std through the restricted unpickler (fixtures README §11): the
 * snapshot is read as data (persistence records, EasyDict, pickled legacy storages), and anything outside the
 * allow-list — os.system / builtins.eval through GLOBAL or STACK_GLOBAL, an unknown persistent class, a record
 * of another version — is a named error before anything could run.
 */
import {describe, expect, it} from 'vitest';
import {parseSMeanStd} from '../../src/edit/global-relevance-file.js';
import {StyleclipError} from '../../src/errors.js';
import {isHostTensor, toFloat32} from '../../src/io/host-tensor.js';
import {numpyArrayGlobals, unpickle} from '../../src/io/pickle.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {PersistentRecord, isPlainPickle, loadNetworkPickle, persistentStateDict} from '../../src/io/torch.js';
import {fixtureBytes, fixtureJson} from '../helpers/fixtures.js';
import {RawGlobal, RawRecord, writeNetworkPickle} from '../helpers/network-pickle-writer.js';
import {op, pickle} from '../helpers/pickle-builder.js';

interface TinyManifest {
  init_kwargs: Record<string, unknown>;
  G_ema_state_dict: [string, number[], string][];
}

const manifest = fixtureJson<TinyManifest>('sg2ada_tiny.json');

describe('NVIDIA network pickle (sg2ada_tiny.pkl)', () => {
  const root = loadNetworkPickle(fixtureBytes('sg2ada_tiny.pkl'), {what: 'sg2ada_tiny.pkl'}) as Map<string, unknown>;

  it('reads the snapshot dict with G, D and G_ema as persistence records', () => {
    expect(isPlainPickle(fixtureBytes('sg2ada_tiny.pkl'))).toBe(true);
    expect([...root.keys()]).toEqual(['training_set_kwargs', 'G', 'D', 'G_ema', 'augment_pipe']);
    expect(root.get('augment_pipe')).toBeNull();
    expect((root.get('training_set_kwargs') as Map<string, unknown>).get('resolution')).toBe(32);
    for (const [k, cls] of [['G', 'Generator'], ['D', 'Discriminator'], ['G_ema', 'Generator']] as const) {
      const r = root.get(k);
      expect(r).toBeInstanceOf(PersistentRecord);
      expect((r as PersistentRecord).className).toBe(cls);
      expect((r as PersistentRecord).attrs.has('module_src')).toBe(false);
    }
  });

  it("gives G_ema's init_kwargs (EasyDicts as maps, numpy scalars as numbers) and its state dict keys and shapes", () => {
    const g = root.get('G_ema') as PersistentRecord;
    const kw = g.attrs.get('_init_kwargs') as Map<string, unknown>;
    const plain = (m: unknown): unknown => (m instanceof Map ? Object.fromEntries([...m].map(([k, v]) => [k, plain(v)])) : m);
    expect(plain(kw)).toEqual(manifest.init_kwargs);
    const sd = persistentStateDict(g);
    expect([...sd].map(([k, t]) => [k, t.shape])).toEqual(manifest.G_ema_state_dict.map(([k, s]) => [k, s]));
    // A numpy float64 scalar among the plain fields: FullyConnectedLayer.weight_gain = lr_multiplier / √in.
    const fc0 = ((g.attrs.get('_modules') as Map<string, PersistentRecord>).get('mapping')!.attrs.get('_modules') as Map<string, PersistentRecord>).get('fc0')!;
    expect(fc0.attrs.get('weight_gain')).toBeCloseTo(0.01 / 8, 15);
  });

  it('keeps G and G_ema apart (they hold different weights)', () => {
    const a = persistentStateDict(root.get('G') as PersistentRecord).get('mapping.fc0.weight')!;
    const b = persistentStateDict(root.get('G_ema') as PersistentRecord).get('mapping.fc0.weight')!;
    expect(toFloat32(a)).not.toEqual(toFloat32(b));
  });
});

describe('refused network pickles', () => {
  const expectRefused = (bytes: Uint8Array, re: RegExp) => {
    let err: unknown;
    try {
      loadNetworkPickle(bytes, {what: 'evil.pkl'});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StyleclipError);
    expect((err as Error).message).toMatch(re);
    expect((err as Error).message).not.toContain('\n');
  };

  for (const [module, name] of [['os', 'system'], ['builtins', 'eval'], ['posix', 'system'], ['subprocess', 'Popen']] as const) {
    for (const stack of [false, true]) {
      it(`refuses ${module}.${name} through ${stack ? 'STACK_GLOBAL' : 'GLOBAL'}`, () => {
        const bytes = writeNetworkPickle(new Map<string, unknown>([['G_ema', new RawGlobal(module, name, ['echo pwned'], stack)]]));
        expectRefused(bytes, new RegExp(`global '${module}\\.${name}', which is not in the allow-list`));
      });
    }
  }

  it('refuses os.system hidden as the argument of an allowed call', () => {
    const bytes = pickle(op.proto(2), op.global('collections', 'OrderedDict'), op.global('os', 'system'), op.tuple1, op.reduce, op.stop);
    expectRefused(bytes, /'os\.system', which is not in the allow-list/);
  });

  const record = (className: string, version = 6) =>
    new RawRecord(new Map<string, unknown>([['type', 'class'], ['version', version], ['module_src', 'import os\nos.system("echo pwned")\nclass Evil: pass\n'], ['class_name', className], ['state', new Map()]]));

  it('refuses a persistent object whose class only its embedded source defines', () => {
    expectRefused(writeNetworkPickle(new Map([['G_ema', record('Evil')]])), /persistent object of class 'Evil'.*module_src.*never run/);
  });

  it('refuses a persistence record of another version or type', () => {
    expectRefused(writeNetworkPickle(record('Generator', 5)), /record version 5, expected 6/);
    const meta = new Map<string, unknown>([['type', 'function'], ['version', 6], ['module_src', ''], ['class_name', 'Generator'], ['state', new Map()]]);
    expectRefused(writeNetworkPickle(new RawRecord(meta)), /type 'function'/);
  });

  it('refuses a pickled storage that is not a legacy torch.save stream of a storage', () => {
    const bytes = writeNetworkPickle(new RawGlobal('torch.storage', '_load_from_bytes', [new Uint8Array([0x80, 0x02, 0x4b, 0x01, 0x2e])]));
    expectRefused(bytes, /pickled storage/);
  });
});

describe("StyleCLIP's S_mean_std (S_mean_std_tiny)", () => {
  it('loads through the restricted unpickler and equals S_mean_std_tiny.safetensors', () => {
    const v = unpickle(fixtureBytes('S_mean_std_tiny'), {resolveGlobal: numpyArrayGlobals()}) as unknown[][];
    const ref = parseSafetensors(fixtureBytes('S_mean_std_tiny.safetensors')).tensors;
    expect(v.length).toBe(2);
    expect(v[0]!.length).toBe(11);
    for (const [i, kind] of [[0, 'mean'], [1, 'std']] as const) {
      v[i]!.forEach((t, k) => {
        expect(isHostTensor(t)).toBe(true);
        const r = ref.get(`${kind}_${String(k).padStart(2, '0')}`)!;
        expect((t as {shape: number[]}).shape).toEqual(r.shape);
        expect(toFloat32(t as never)).toEqual(toFloat32(r));
      });
    }
    const {mean, std} = parseSMeanStd(fixtureBytes('S_mean_std_tiny'));
    expect(mean.length).toBe(296);
    const flat = (kind: string) => Float32Array.from([...ref].filter(([k]) => k.startsWith(`${kind}_`)).flatMap(([, t]) => [...toFloat32(t)]));
    expect(mean).toEqual(flat('mean'));
    expect(std).toEqual(flat('std'));
  });

  it('allows numpy arrays and nothing else: a torch or os global in S_mean_std is refused', () => {
    const evil = pickle(op.proto(2), op.mark, op.global('os', 'system'), op.unicode('echo pwned'), op.tuple1, op.reduce, op.emptyList, op.tuple, op.stop);
    expect(() => parseSMeanStd(evil)).toThrow(/'os\.system', which is not in the allow-list/);
    const torch = pickle(op.proto(2), op.global('torch._utils', '_rebuild_tensor_v2'), op.stop);
    expect(() => parseSMeanStd(torch)).toThrow(/not in the allow-list/);
    expect(() => parseSMeanStd(pickle(op.proto(2), op.int(3), op.stop))).toThrow(/expected a list \[means, stds\]/);
  });
});
