/**
 * Progress for long jobs: a bar with ETA and the current loss terms on a TTY (cli-progress), plain lines
 * otherwise (every `every` steps and at the end), always on stderr so stdout stays machine-readable.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, fields?: Record<string, number | string>): void;
  stop(): void;
}

function fmt(fields: Record<string, number | string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? (Math.abs(v) >= 1e3 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4)) : v}`)
    .join('  ');
}

export function createProgress(label: string, total: number, {every = Math.max(1, Math.round(total / 20)), quiet = false} = {}): Progress {
  if (quiet) return {update: () => {}, stop: () => {}};
  const start = Date.now();
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted} | {fields}`, hideCursor: true, stream: process.stderr, etaBuffer: 20},
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, {fields: ''});
    return {
      update: (done, fields = {}) => bar.update(done, {fields: fmt(fields)}),
      stop: () => bar.stop(),
    };
  }
  let last = -1;
  return {
    update(done, fields = {}) {
      if (done !== total && done - last < every) return;
      last = done;
      const elapsed = (Date.now() - start) / 1000;
      const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
      process.stderr.write(`${label} ${done}/${total}  ${fmt(fields)}  elapsed ${elapsed.toFixed(1)}s  eta ${Number.isFinite(eta) ? eta.toFixed(1) + 's' : '?'}\n`);
    },
    stop() {},
  };
}
