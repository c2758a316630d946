/**
 * Request validation for the web API: every field of a JSON body is checked (type, range, length) and unknown
 * fields are refused, so a typo never silently falls back to a default. Failures are HttpErrors (4xx + one line).
 */

/** An error with an HTTP status; the app turns it into `{error: message}` with that status. */
export class HttpError extends Error {
  override name = 'HttpError';
  readonly status: 400 | 403 | 404 | 409 | 413 | 415 | 429 | 503;

  constructor(status: HttpError['status'], message: string) {
    super(message);
    this.status = status;
  }
}

export function badRequest(message: string): HttpError {
  return new HttpError(400, message);
}

/** A JSON object body with a fixed set of allowed keys. */
export class Fields {
  private readonly body: Record<string, unknown>;

  constructor(body: unknown, allowed: readonly string[]) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
    this.body = body as Record<string, unknown>;
    const unknown = Object.keys(this.body).filter((k) => !allowed.includes(k));
    if (unknown.length) throw badRequest(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k.slice(0, 40)}'`).join(', ')} (allowed: ${allowed.join(', ')})`);
  }

  private get(key: string): unknown {
    return this.body[key];
  }

  has(key: string): boolean {
    return this.body[key] !== undefined;
  }

  /** A finite number in [min, max]; `def` when absent (required when def is undefined). */
  number(key: string, min: number, max: number, def?: number): number {
    const v = this.get(key);
    if (v === undefined) {
      if (def === undefined) throw badRequest(`'${key}' is required (a number in ${min}…${max})`);
      return def;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`'${key}' must be a finite number in ${min}…${max}, got ${describe(v)}`);
    if (v < min || v > max) throw badRequest(`'${key}' must be in ${min}…${max}, got ${v}`);
    return v;
  }

  /** An integer in [min, max]. */
  int(key: string, min: number, max: number, def?: number): number {
    const v = this.number(key, min, max, def);
    if (!Number.isInteger(v)) throw badRequest(`'${key}' must be an integer in ${min}…${max}, got ${v}`);
    return v;
  }

  /** A non-blank string of at most maxLen characters (trimmed). */
  text(key: string, maxLen: number, def?: string): string {
    const v = this.get(key);
    if (v === undefined) {
      if (def === undefined) throw badRequest(`'${key}' is required (a non-empty string)`);
      return def;
    }
    if (typeof v !== 'string') throw badRequest(`'${key}' must be a string, got ${describe(v)}`);
    const s = v.trim();
    if (s === '') throw badRequest(`'${key}' is empty`);
    if (s.length > maxLen) throw badRequest(`'${key}' is longer than ${maxLen} characters`);
    return s;
  }

  /** One of a fixed set of strings. */
  choice<T extends string>(key: string, choices: readonly T[], def?: T): T {
    const v = this.get(key);
    if (v === undefined) {
      if (def === undefined) throw badRequest(`'${key}' is required (one of ${choices.join(', ')})`);
      return def;
    }
    if (typeof v !== 'string' || !choices.includes(v as T)) throw badRequest(`'${key}' must be one of ${choices.join(', ')}, got ${describe(v)}`);
    return v as T;
  }

  /** An opaque id (letters, digits, '-', '_'); existence is checked by the caller. */
  id(key: string, def?: string): string {
    const v = this.get(key);
    if (v === undefined && def !== undefined) return def;
    if (typeof v !== 'string' || !ID_RE.test(v)) throw badRequest(`'${key}' must be an id (1–64 letters, digits, '-' or '_'), got ${describe(v)}`);
    return v;
  }
}

const ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function checkId(v: string, what: string): string {
  if (!ID_RE.test(v)) throw badRequest(`${what} must be an id (1–64 letters, digits, '-' or '_')`);
  return v;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `'${v.slice(0, 40)}'`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/**
 * An uploaded file's name: a plain base name (no directories, no '..', no control characters) ending in one of
 * the allowed extensions. The server never writes it to disk; the check refuses path-like names outright.
 */
export function checkUploadName(name: string, exts: readonly string[]): string {
  if (name.length === 0 || name.length > 200) throw badRequest('the file name must have 1–200 characters');
  if (/[/\\:\u0000-\u001f]/.test(name) || name.includes('..') || name.startsWith('.')) {
    throw badRequest(`the file name '${name.slice(0, 60)}' is not a plain file name`);
  }
  const lower = name.toLowerCase();
  const ext = exts.find((e) => lower.endsWith(e));
  if (!ext) throw badRequest(`the file must be ${exts.join(', ')}, got '${name.slice(0, 60)}'`);
  return ext;
}
