import {readFileSync} from 'node:fs';
import {describe, expect, it} from 'vitest';
import {hostDataBytes, isHostTensor, toFloat32, type HostTensor, type StateDict} from '../../src/io/host-tensor.js';
import {selectPrefix} from '../../src/io/keymap.js';
import {PyObject} from '../../src/io/pickle.js';
import {parseSafetensors} from '../../src/io/safetensors.js';
import {extractStateDict, loadTorch, torchScriptStateDict} from '../../src/io/torch.js';
import {fixtureBytes, fixtureJson} from '../helpers/fixtures.js';
import {expectSameTensor, styleclipErrorOf} from '../helpers/io.js';
import {op, pickle} from '../helpers/pickle-builder.js';
import {writeZip} from '../helpers/zip-writer.js';

const dataBytes = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`./data/${name}`, import.meta.url)));

function expectSameStateDict(a: StateDict, b: StateDict, what: string, scalarAsOne = false): void {
  expect([...a.keys()], what).toEqual([...b.keys()]);
  for (const [k, t] of a) expectSameTensor(t, b.get(k), `${what} ${k}`, scalarAsOne);
}

const manifestKeys = (name: string): string[] => fixtureJson<{state_dict: Array<{key: string}>}>(name).state_dict.map((e) => e.key);

describe('torch.save zip checkpoints (fixtures)', () => {
  it('stylegan2: state_dict.pt, ckpt.pt g_ema and safetensors are bit-identical, in manifest order', () => {
    const keys = manifestKeys('stylegan2_tiny.json');
    const fromPt = extractStateDict(loadTorch(fixtureBytes('stylegan2_tiny_state_dict.pt')));
    const ckpt = loadTorch(fixtureBytes('stylegan2_tiny_ckpt.pt'));
    expect(ckpt).toBeInstanceOf(Map);
    expect([...(ckpt as Map<string, unknown>).keys()]).toEqual(['g_ema', 'latent_avg']);
    const fromCkpt = extractStateDict(ckpt, {prefer: ['g_ema']});
    const fromSt = parseSafetensors(fixtureBytes('stylegan2_tiny_weights.safetensors')).tensors;
    expect([...fromPt.keys()]).toEqual(keys);
    expectSameStateDict(fromPt, fromSt, 'state_dict.pt vs safetensors');
    expectSameStateDict(fromCkpt, fromSt, 'ckpt.pt g_ema vs safetensors');
    const latentAvg = (ckpt as Map<string, unknown>).get('latent_avg') as HostTensor;
    expect(isHostTensor(latentAvg)).toBe(true);
    expect(latentAvg.dtype).toBe('float32');
    expect(latentAvg.shape).toEqual([64]);
    // The default preference list also finds g_ema.
    expectSameStateDict(extractStateDict(ckpt), fromSt, 'ckpt.pt default prefer');
  });

  it('clip: the TorchScript archive gives the state dict plus 3 int64 extras after logit_scale', () => {
    const sd = extractStateDict(loadTorch(fixtureBytes('clip_tiny_state_dict.pt')));
    expect([...sd.keys()]).toEqual(manifestKeys('clip_tiny.json'));
    expect(sd.size).toBe(62); // clip_tiny.json lists 62 keys (the README's "65" counts the extras)
    expectSameStateDict(sd, parseSafetensors(fixtureBytes('clip_tiny_weights.safetensors')).tensors, 'state_dict.pt vs safetensors', true);
    expect(sd.get('logit_scale')!.shape).toEqual([]);
    const tree = loadTorch(fixtureBytes('clip_tiny_jit.pt'), {what: 'clip_tiny_jit.pt'});
    expect(tree).toBeInstanceOf(PyObject);
    expect((tree as PyObject).className).toMatch(/^__torch__\./);
    const jit = torchScriptStateDict(tree);
    expect(jit.size).toBe(65);
    const extras = ['input_resolution', 'context_length', 'vocab_size'];
    const keys = [...jit.keys()];
    const at = keys.indexOf('logit_scale');
    expect(keys.slice(at + 1, at + 4)).toEqual(extras);
    expect(keys.filter((k) => !extras.includes(k))).toEqual([...sd.keys()]);
    for (const [k, t] of sd) expectSameTensor(jit.get(k), t, k);
    const values = extras.map((k) => {
      const t = jit.get(k)!;
      expect(t.dtype).toBe('int64');
      expect(t.shape).toEqual([]);
      return Number((t.data as BigInt64Array)[0]);
    });
    expect(values).toEqual([28, 77, 49408]);
    for (const k of keys) expect(k).not.toMatch(/training|_is_full_backward_hook/);
    // extractStateDict recognises a TorchScript tree too.
    expect([...extractStateDict(tree).keys()]).toEqual(keys);
  });

  it('clip TorchScript constants.pkl loads (causal mask and scalar constants)', () => {
    const consts = loadTorch(fixtureBytes('clip_tiny_jit.pt'), {pickle: 'constants.pkl'}) as unknown[];
    expect(Array.isArray(consts)).toBe(true);
    expect(consts.length).toBe(5);
    const shapes = consts.map((t) => (t as HostTensor).shape);
    expect(shapes).toContainEqual([77, 77]);
  });

  it('mapper checkpoint: opts dict and mapper.* state dict', () => {
    const ckpt = loadTorch(fixtureBytes('mapper_tiny_ckpt.pt')) as Map<string, unknown>;
    expect([...ckpt.keys()]).toEqual(['state_dict', 'opts']);
    const opts = ckpt.get('opts') as Map<string, unknown>;
    expect(opts).toBeInstanceOf(Map);
    expect(opts.get('mapper_type')).toBe('LevelsMapper');
    expect(opts.get('no_coarse_mapper')).toBe(false);
    const sd = selectPrefix(extractStateDict(ckpt, {prefer: ['state_dict']}), 'mapper.');
    expect([...sd.keys()]).toEqual(manifestKeys('mapper_tiny.json'));
    expectSameStateDict(sd, parseSafetensors(fixtureBytes('mapper_tiny_weights.safetensors')).tensors, 'mapper');
  });

  it('irse: float32 weights and int64 0-dim num_batches_tracked', () => {
    const sd = extractStateDict(loadTorch(fixtureBytes('irse_tiny_state_dict.pt')));
    expect([...sd.keys()]).toEqual(manifestKeys('irse_tiny.json'));
    const st = parseSafetensors(fixtureBytes('irse_tiny_weights.safetensors')).tensors;
    expect([...st.keys()]).toEqual([...sd.keys()]);
    let counters = 0;
    for (const [k, t] of sd) {
      const s = st.get(k)!;
      if (k.endsWith('num_batches_tracked')) {
        counters++;
        expect(t.dtype).toBe('int64');
        expect(t.shape).toEqual([]);
        expect(s.dtype).toBe('int64');
        expect(s.shape).toEqual([1]); // safetensors fixtures store scalars as (1,)
        expect(Buffer.from(hostDataBytes(t.data)).equals(Buffer.from(hostDataBytes(s.data)))).toBe(true);
      } else {
        expectSameTensor(t, s, k);
      }
    }
    expect(counters).toBeGreaterThan(0);
  });

  it('cutting a .pt fixture in half gives a named truncation error', () => {
    const bytes = fixtureBytes('stylegan2_tiny_state_dict.pt');
    expect(styleclipErrorOf(() => loadTorch(bytes.subarray(0, bytes.length >> 1), {what: 'half.pt'})).message)
      .toMatch(/^half\.pt: truncated or corrupt: no end-of-central-directory record/);
  });
});

type Expected = Record<string, {dtype: string; shape: number[]; values: Array<number | string | boolean>}>;

describe('torch-generated files (test/io/data, torch 1.13)', () => {
  const expected = JSON.parse(readFileSync(new URL('./data/mixed_expected.json', import.meta.url), 'utf8')) as Expected;
  const dtypeName: Record<string, string> = {float32: 'float32', float64: 'float64', float16: 'float16', bfloat16: 'bfloat16', int64: 'int64', int32: 'int32', int16: 'int16', int8: 'int8', uint8: 'uint8', bool: 'bool'};

  function checkMixed(sd: StateDict, what: string): void {
    expect([...sd.keys()], what).toEqual(Object.keys(expected));
    for (const [k, e] of Object.entries(expected)) {
      const t = sd.get(k)!;
      expect(t.dtype, `${what} ${k}`).toBe(dtypeName[e.dtype]);
      expect(t.shape, `${what} ${k}`).toEqual(e.shape);
      const got = t.dtype === 'int64' ? [...(t.data as BigInt64Array)].map(String)
        : t.dtype === 'bool' ? [...t.data].map((v) => v !== 0)
        : t.dtype === 'float16' || t.dtype === 'bfloat16' ? [...toFloat32(t)]
        : Array.from(t.data as ArrayLike<number>);
      expect(got, `${what} ${k}`).toEqual(e.values);
    }
  }

  it('zip and legacy files give every dtype, views, strides, 0-dim and empty tensors', () => {
    checkMixed(extractStateDict(loadTorch(dataBytes('mixed_zip.pt'))), 'zip');
    checkMixed(extractStateDict(loadTorch(dataBytes('mixed_legacy.pt'))), 'legacy');
  });

  it('reads argparse.Namespace, numpy scalars, nested containers and int keys', () => {
    for (const name of ['extras_zip.pt', 'extras_legacy.pt']) {
      const obj = loadTorch(dataBytes(name)) as Map<unknown, unknown>;
      checkMixed(extractStateDict(obj, {prefer: ['sd']}), name);
      expect(obj.get('opts')).toEqual(new Map<string, unknown>([['lr', 0.5], ['name', 'grey hair'], ['layers', [1, 2]]]));
      expect(obj.get('np_scalar')).toBe(2.5);
      const nested = obj.get('nested') as Map<unknown, unknown>;
      expect(nested.get('list')).toEqual([1, 2.5, 'x', null, true]);
      expect(nested.get('tuple')).toEqual([1, 2]);
      expect(nested.get(3)).toBe('int key');
    }
  });

  it('bare tensors load from zip and legacy files', () => {
    for (const name of ['latent_zip.pt', 'latent_legacy.pt']) {
      const t = loadTorch(dataBytes(name)) as HostTensor;
      expect(t.shape).toEqual([2, 4, 8]);
      expect([...(t.data as Float32Array)]).toEqual(Array.from({length: 64}, (_, i) => i / 8));
    }
  });

  it('a truncated legacy file gives a named error', () => {
    const bytes = dataBytes('mixed_legacy.pt');
    expect(styleclipErrorOf(() => loadTorch(bytes.subarray(0, bytes.length - 10), {what: 'cut.pt'})).message).toMatch(/^cut\.pt: truncated: storage record/);
    expect(styleclipErrorOf(() => loadTorch(bytes.subarray(0, 200), {what: 'cut.pt'})).message).toMatch(/^cut\.pt \(object pickle\): truncated/);
  });
});

// ---- hand-built archives ---------------------------------------------------------------------------------

const u8 = (xs: number[]): Uint8Array => Uint8Array.from(xs);
const f32bytes = (xs: number[]): Uint8Array => new Uint8Array(Float32Array.from(xs).buffer);

/** `{name: _rebuild_tensor_v2(persid(storage, FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict())}` */
function tensorDictPickle(name: string, key: string, numel: number, offset: number, size: number[], stride: number[]): Uint8Array {
  const tup = (xs: number[]): number[] => (xs.length === 0 ? [op.emptyTuple] : [op.mark, ...xs.flatMap(op.int), op.tuple]);
  return pickle(
    op.proto(2), op.emptyDict, op.unicode(name),
    op.global('torch._utils', '_rebuild_tensor_v2'),
    op.mark,
    op.mark, op.unicode('storage'), op.global('torch', 'FloatStorage'), op.unicode(key), op.unicode('cpu'), op.int(numel), op.tuple,
    op.binpersid,
    op.int(offset), tup(size), tup(stride), op.newfalse,
    op.global('collections', 'OrderedDict'), op.emptyTuple, op.reduce,
    op.tuple, op.reduce,
    op.setitem, op.stop,
  );
}

describe('hand-built torch archives', () => {
  it('reads a minimal zip checkpoint with a strided view, deflated entries and any root name', () => {
    const zip = writeZip([
      {name: 'my_root/data.pkl', data: tensorDictPickle('w', '0', 6, 1, [2, 2], [1, 3]), method: 'deflate'},
      {name: 'my_root/data/0', data: f32bytes([0, 1, 2, 3, 4, 5])},
      {name: 'my_root/version', data: '3\n'},
    ], {align: 64});
    const sd = extractStateDict(loadTorch(zip));
    // offset 1, size [2, 2], stride [1, 3] → [[1, 4], [2, 5]]
    expect(sd.get('w')!.shape).toEqual([2, 2]);
    expect([...sd.get('w')!.data]).toEqual([1, 4, 2, 5]);
  });

  it('names a missing data.pkl, a missing storage record and a too-short storage', () => {
    const noPkl = writeZip([{name: 'r/data/0', data: f32bytes([1])}]);
    expect(styleclipErrorOf(() => loadTorch(noPkl, {what: 'a.pt'})).message).toBe("a.pt: not a PyTorch archive: missing 'r/data.pkl'");
    const noRecord = writeZip([{name: 'r/data.pkl', data: tensorDictPickle('w', '7', 4, 0, [4], [1])}]);
    expect(styleclipErrorOf(() => loadTorch(noRecord, {what: 'b.pt'})).message).toBe("b.pt: missing storage record 'r/data/7'");
    const short = writeZip([
      {name: 'r/data.pkl', data: tensorDictPickle('w', '0', 4, 2, [2, 2], [2, 1])},
      {name: 'r/data/0', data: f32bytes([1, 2, 3, 4])},
    ]);
    expect(styleclipErrorOf(() => loadTorch(short, {what: 'c.pt'})).message).toMatch(/^c\.pt: storage '0' is too short for the tensor view: shape \[2, 2\] stride \[2, 1\] offset 2 needs 6 elements but the storage has 4$/);
    const shortRecord = writeZip([
      {name: 'r/data.pkl', data: tensorDictPickle('w', '0', 4, 0, [4], [1])},
      {name: 'r/data/0', data: f32bytes([1, 2])},
    ]);
    expect(styleclipErrorOf(() => loadTorch(shortRecord, {what: 'd.pt'})).message).toMatch(/storage record 'r\/data\/0' has 8 bytes but 4 float32 elements need 16/);
    expect(styleclipErrorOf(() => loadTorch(u8([1, 2, 3, 4, 5, 6, 7, 8, 9]), {what: 'e.pt'})).message)
      .toBe('e.pt: not a PyTorch file: neither a zip archive nor a legacy torch.save file (starts with 01 02 03 04 05 06 07 08)');
  });

  it('refuses a checkpoint whose pickle references os.system, before anything runs', () => {
    const evil = pickle(op.proto(2), op.global('os', 'system'), op.unicode('touch /tmp/pwned'), op.tuple1, op.reduce, op.stop);
    const zip = writeZip([{name: 'r/data.pkl', data: evil}]);
    expect(styleclipErrorOf(() => loadTorch(zip, {what: 'evil.pt'})).message)
      .toBe("evil.pt (r/data.pkl): pickle references the global 'os.system', which is not in the allow-list (at byte 2)");
  });

  it('reads a legacy file built byte by byte, with a storage view and unaligned data', () => {
    const enc = (...parts: Array<number | number[]>): number[] => [...pickle(...parts)];
    const magic = enc(op.proto(2), op.long1(0x1950a86a20f9469cfc6cn), op.stop);
    const version = enc(op.proto(2), op.int(1001), op.stop);
    const sysInfo = enc(op.proto(2), op.emptyDict, op.mark,
      op.unicode('protocol_version'), op.int(1001), op.unicode('little_endian'), op.newtrue, op.setitems, op.stop);
    // {'a': tensor on root storage 'k' (6 floats) [2,3]; 'v': tensor on a view of 'k' at element offset 2, size 3}
    const pid = (view: number[] | null): number[] => [
      op.mark, ...op.unicode('storage'), ...op.global('torch', 'FloatStorage'), ...op.unicode('k'), ...op.unicode('cpu'), ...op.int(6),
      ...(view === null ? [op.none] : [op.mark, ...op.unicode('kv'), ...op.int(view[0]!), ...op.int(view[1]!), op.tuple]),
      op.tuple, op.binpersid,
    ];
    const tensor = (view: number[] | null, size: number[], stride: number[]): number[] => [
      ...op.global('torch._utils', '_rebuild_tensor'),
      op.mark, ...pid(view), ...op.int(0),
      op.mark, ...size.flatMap(op.int), op.tuple, op.mark, ...stride.flatMap(op.int), op.tuple,
      op.tuple, op.reduce,
    ];
    const obj = enc(op.proto(2), op.emptyDict, op.mark,
      op.unicode('a'), tensor(null, [2, 3], [3, 1]),
      op.unicode('v'), tensor([2, 3], [3], [1]),
      op.setitems, op.stop);
    const keys = enc(op.proto(2), op.emptyList, op.unicode('k'), op.append, op.stop);
    const head = [...magic, ...version, ...sysInfo, ...obj, ...keys];
    const count = [6, 0, 0, 0, 0, 0, 0, 0];
    const file = Uint8Array.from([...head, ...count, ...f32bytes([10, 11, 12, 13, 14, 15])]);
    expect((head.length + 8) % 4).not.toBe(0); // the float data really is unaligned
    const out = loadTorch(file) as Map<string, HostTensor>;
    expect(out.get('a')!.shape).toEqual([2, 3]);
    expect([...out.get('a')!.data]).toEqual([10, 11, 12, 13, 14, 15]);
    expect([...out.get('v')!.data]).toEqual([12, 13, 14]);
    // A legacy file whose storage data is missing.
    const cut = Uint8Array.from(head);
    expect(styleclipErrorOf(() => loadTorch(cut, {what: 'l.pt'})).message).toBe("l.pt: truncated: storage record 'k' is missing at byte " + head.length);
  });
});
