/**
 * Progress for long jobs, always on stderr so stdout stays machine-readable: on a TTY a bar with ETA and the current
 * loss terms (cli-progress); otherwise plain lines, one at least every `intervalMs` while the job runs (also while a
 * single step takes long) and one at the end.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, fields?: Record<string, number | string>): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Print nothing (e.g. with --json). */
  quiet?: boolean;
  /** Without a TTY: a line at least this often, and never more often (ms). */
  intervalMs?: number;
  /** Where to write; default process.stderr. A TTY gets a bar. */
  stream?: Pick<NodeJS.WriteStream, 'write'> & {isTTY?: boolean};
}

function fmt(fields: Record<string, number | string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) >= 1e3 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4)) : v}`)
    .join('  ');
}

export function createProgress(label: string, total: number, {quiet = false, intervalMs = 2000, stream = process.stderr}: ProgressOptions = {}): Progress {
  if (quiet) return {update: () => {}, stop: () => {}};
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted} | {fields}`, hideCursor: true, stream: stream as NodeJS.WriteStream, etaBuffer: 20},
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, {fields: ''});
    return {
      update: (done, fields = {}) => bar.update(done, {fields: fmt(fields)}),
      stop: () => bar.stop(),
    };
  }
  const start = Date.now();
  let lastLine = start;
  let state = {done: 0, fields: {} as Record<string, number | string>};
  let finished = false;
  const line = () => {
    lastLine = Date.now();
    const {done, fields} = state;
    const elapsed = (lastLine - start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
    const parts = [`${label} ${done}/${total}`, fmt(fields), `elapsed ${elapsed.toFixed(1)}s`, `eta ${Number.isFinite(eta) ? eta.toFixed(1) + 's' : '?'}`];
    stream.write(parts.filter(Boolean).join('  ') + '\n');
  };
  // A line also while nothing reports (a slow first step, a compile): the job is alive and this is where it is.
  const timer = setInterval(() => Date.now() - lastLine >= intervalMs && line(), Math.max(50, intervalMs / 4));
  timer.unref();
  return {
    update(done, fields = {}) {
      if (finished) return;
      state = {done, fields};
      if (done >= total) {
        finished = true;
        clearInterval(timer);
        line();
      } else if (Date.now() - lastLine >= intervalMs) {
        line();
      }
    },
    stop: () => clearInterval(timer),
  };
}
