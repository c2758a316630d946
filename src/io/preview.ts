/**
 * Short, bounded descriptions of parsed values for error messages. A value read from a file may be huge, deeply
 * nested, shared (a memoised list referenced a billion times) or cyclic, so messages never serialise it whole:
 * `preview` stops after `maxChars` characters of output, visits each container at most once per path, and
 * prints `…` for what it leaves out.
 */

/** At most `maxChars` characters (plus a closing `…`) describing `x`; never recurses deeper than the output allows. */
export function preview(x: unknown, maxChars = 60): string {
  let out = '';
  let full = false;
  const emit = (s: string): void => {
    if (full) return;
    if (out.length + s.length > maxChars) {
      out += s.slice(0, Math.max(0, maxChars - out.length));
      full = true;
    } else {
      out += s;
    }
  };
  const onPath = new Set<object>();
  // Each nesting level emits at least one character, so the recursion depth is bounded by maxChars.
  const walk = (v: unknown): void => {
    if (full) return;
    if (v === null) return emit('None');
    if (v === undefined) return emit('undefined');
    switch (typeof v) {
      case 'string':
        // Python-style quotes; escapes keep control characters (newlines) out of the one-line message.
        return emit(`'${JSON.stringify(v.length > maxChars ? `${v.slice(0, maxChars)}…` : v).slice(1, -1)}'`);
      case 'number':
      case 'boolean':
        return emit(String(v));
      case 'bigint':
        return emit(v.toString().length > 24 ? `<int of ${v.toString(16).length * 4} bits>` : v.toString());
      case 'object':
        break;
      default:
        return emit(`<${typeof v}>`);
    }
    const o = v as object;
    if (ArrayBuffer.isView(o)) return emit(`<${o.constructor.name} of ${o.byteLength} bytes>`);
    if (onPath.has(o)) return emit('<cycle>');
    const items: Iterable<unknown> | undefined = Array.isArray(o) ? o : o instanceof Set ? o : undefined;
    onPath.add(o);
    if (items !== undefined) {
      const [open, close] = Array.isArray(o) ? ['[', ']'] : ['{', '}'];
      emit(open);
      let i = 0;
      for (const item of items) {
        if (full) break;
        if (i++ > 0) emit(', ');
        walk(item);
      }
      emit(close);
    } else if (o instanceof Map) {
      emit('{');
      let i = 0;
      for (const [k, val] of o) {
        if (full) break;
        if (i++ > 0) emit(', ');
        walk(k);
        emit(': ');
        walk(val);
      }
      emit('}');
    } else {
      const name = (o as {className?: unknown}).className;
      emit(`<${typeof name === 'string' ? name : o.constructor?.name ?? 'object'}>`);
    }
    onPath.delete(o);
  };
  walk(x);
  return full ? `${out}…` : out;
}
