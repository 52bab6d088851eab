import * as cliProgress from 'cli-progress';

export interface Progress {
  update(value: number, payload?: Record<string, unknown>): void;
  increment(delta?: number, payload?: Record<string, unknown>): void;
  setTotal(total: number): void;
  stop(): void;
}

const silent: Progress = { update() {}, increment() {}, setTotal() {}, stop() {} };

/**
 * A progress bar on stderr. Silent when stderr is not a TTY (CI logs, pipes) or when `quiet` is set, so
 * callers never have to check. `format` uses cli-progress tokens ({bar} {value} {total} {eta_formatted} ...)
 * plus any payload keys.
 */
export function createProgress(total: number, format: string, opts: { quiet?: boolean; payload?: Record<string, unknown> } = {}): Progress {
  if (opts.quiet || !process.stderr.isTTY) return silent;
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 50, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, opts.payload ?? {});
  return {
    update: (v, p) => bar.update(v, p ?? {}),
    increment: (d = 1, p) => bar.increment(d, p ?? {}),
    setTotal: (t) => bar.setTotal(t),
    stop: () => bar.stop(),
  };
}
