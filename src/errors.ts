/** Errors meant for users: one line that names the problem. The CLI prints `error: <message>` and exits 1. */
export class StyleclipError extends Error {
  override name = 'StyleclipError';
}

/** Throw a StyleclipError unless `cond` holds. */
export function check(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) throw new StyleclipError(typeof message === 'string' ? message : message());
}
