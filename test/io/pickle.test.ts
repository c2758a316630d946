import {describe, expect, it} from 'vitest';
import {PyObject, pyState, unpickle, unpickleAt} from '../../src/io/pickle.js';
import {errorOf} from '../helpers/io.js';
import {op, pickle} from '../helpers/pickle-builder.js';

describe('restricted pickle VM', () => {
  it('builds plain values from protocol 2 opcodes', () => {
    const bytes = pickle(
      op.proto(2), op.emptyDict, op.binput(0), op.mark,
      op.unicode('int'), op.int(5), op.unicode('neg'), op.int(-7), op.unicode('big'), op.int(70000),
      op.unicode('long'), op.long1(-(2n ** 70n)), op.unicode('safe'), op.long1(2n ** 40n),
      op.unicode('float'), op.binfloat(-0.125), op.unicode('none'), op.none,
      op.unicode('t'), op.newtrue, op.unicode('f'), op.newfalse,
      op.unicode('bytes'), op.shortBinbytes([1, 2, 3]), op.unicode('py2str'), op.shortBinstring('abc'),
      op.unicode('tuple'), op.int(1), op.int(2), op.int(3), op.tuple3,
      op.unicode('list'), op.emptyList, op.mark, op.int(1), op.unicode('ü'), op.appends,
      op.unicode('self'), op.binget(0),
      op.setitems, op.stop,
    );
    const v = unpickle(bytes) as Map<string, unknown>;
    expect(v.get('int')).toBe(5);
    expect(v.get('neg')).toBe(-7);
    expect(v.get('big')).toBe(70000);
    expect(v.get('long')).toBe(-(2n ** 70n));
    expect(v.get('safe')).toBe(2 ** 40);
    expect(v.get('float')).toBe(-0.125);
    expect(v.get('none')).toBeNull();
    expect(v.get('t')).toBe(true);
    expect(v.get('f')).toBe(false);
    expect(v.get('bytes')).toEqual(Uint8Array.from([1, 2, 3]));
    expect(v.get('py2str')).toBe('abc');
    expect(v.get('tuple')).toEqual([1, 2, 3]);
    expect(v.get('list')).toEqual([1, 'ü']);
    expect(v.get('self')).toBe(v); // memo keeps identity (cycles are fine)
    expect([...v.keys()][0]).toBe('int'); // insertion order
  });

  it('handles protocol 4 framing, STACK_GLOBAL, MEMOIZE and OrderedDict state', () => {
    const body = pickle(
      op.unicode('collections'), op.memoize, op.unicode('OrderedDict'), op.memoize, op.stackGlobal, op.memoize,
      op.emptyTuple, op.reduce, op.memoize,
      op.unicode('a'), op.int(1), op.setitem,
      op.emptyDict, op.unicode('_metadata'), op.unicode('meta'), op.setitem, op.build,
      op.stop,
    );
    const frame = [0x95, body.length, 0, 0, 0, 0, 0, 0, 0];
    const v = unpickle(pickle(op.proto(4), frame, body)) as Map<string, unknown>;
    expect(v).toEqual(new Map([['a', 1]]));
    expect(pyState(v)).toEqual(new Map([['_metadata', 'meta']]));
  });

  it('reports where a pickle ends so several can be read back to back', () => {
    const one = pickle(op.proto(2), op.int(1), op.stop);
    const two = pickle(op.proto(2), op.unicode('x'), op.stop);
    const both = pickle(one, two);
    const a = unpickleAt(both, 0);
    expect(a).toEqual({value: 1, end: one.length});
    expect(unpickleAt(both, a.end).value).toBe('x');
  });

  it('refuses os.system at the GLOBAL opcode, before anything after it is read or called', () => {
    let persistentCalls = 0;
    const evil = pickle(
      op.proto(2), op.global('os', 'system'), op.unicode('echo pwned'), op.tuple1, op.reduce,
      op.unicode('pid'), op.binpersid, op.stop,
    );
    const msg = errorOf(() => unpickle(evil, {persistentLoad: () => ++persistentCalls}));
    expect(msg).toBe("pickle: pickle references the global 'os.system', which is not in the allow-list (at byte 2)");
    expect(persistentCalls).toBe(0);
  });

  it('refuses other dangerous globals however they are spelled', () => {
    expect(errorOf(() => unpickle(pickle(op.proto(4), op.unicode('builtins'), op.unicode('eval'), op.stackGlobal, op.stop))))
      .toMatch(/the global 'builtins\.eval', which is not in the allow-list/);
    expect(errorOf(() => unpickle(pickle(op.proto(2), op.global('__builtin__', 'getattr'), op.stop))))
      .toMatch(/the global 'builtins\.getattr', which is not in the allow-list/);
    expect(errorOf(() => unpickle(pickle(op.proto(2), op.global('torch', 'load'), op.stop))))
      .toMatch(/'torch\.load', which is not in the allow-list/);
    expect(errorOf(() => unpickle(pickle(op.proto(2), op.global('subprocess', 'Popen'), op.stop))))
      .toMatch(/'subprocess\.Popen'/);
    // INST (protocol 0 "module name" instantiation) is refused outright.
    expect(errorOf(() => unpickle(pickle(op.mark, 0x69, ...new TextEncoder().encode('os\nsystem\n'), op.stop))))
      .toMatch(/INST .* not supported/);
  });

  it('gives named errors for truncated and corrupt pickles', () => {
    expect(errorOf(() => unpickle(pickle(op.proto(2), op.unicode('abcdef')).subarray(0, 6), {what: 'p.pkl'})))
      .toMatch(/^p\.pkl: truncated: needs 6 more bytes/);
    expect(errorOf(() => unpickle(pickle(op.proto(2), op.int(1))))).toMatch(/truncated/);
    expect(errorOf(() => unpickle(pickle(op.proto(2), op.stop)))).toMatch(/stack underflow/);
    expect(errorOf(() => unpickle(pickle(op.proto(2), op.binget(9), op.stop)))).toMatch(/memo key 9 is missing/);
    expect(errorOf(() => unpickle(pickle(op.proto(2), 0xff, op.stop)))).toMatch(/unsupported or invalid pickle opcode 0xff/);
    expect(errorOf(() => unpickle(pickle(op.proto(2), op.unicode('x'), op.binpersid, op.stop)))).toMatch(/persistent id found/);
  });

  it('turns argparse.Namespace into a dict and __torch__ classes need a resolver', () => {
    const ns = pickle(
      op.proto(2), op.global('argparse', 'Namespace'), op.emptyTuple, op.newobj,
      op.emptyDict, op.unicode('lr'), op.binfloat(0.1), op.setitem, op.build, op.stop,
    );
    expect(unpickle(ns)).toEqual(new Map([['lr', 0.1]]));
    const ts = pickle(op.proto(2), op.global('__torch__.m', 'Net'), op.emptyTuple, op.newobj, op.stop);
    expect(errorOf(() => unpickle(ts))).toMatch(/'__torch__\.m\.Net', which is not in the allow-list/);
    const obj = unpickle(ts, {resolveGlobal: (m, n) => (m.startsWith('__torch__') ? {newobj: () => new PyObject(`${m}.${n}`)} : undefined)});
    expect(obj).toBeInstanceOf(PyObject);
    expect((obj as PyObject).className).toBe('__torch__.m.Net');
  });
});
