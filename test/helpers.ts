import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
/** ../shared beside the checkout (read-only data and media); tests that need it skip when it is absent. */
export const SHARED = process.env.FER_SHARED ?? path.resolve(ROOT, '..', 'shared');

export function sharedFile(rel: string): string | undefined {
  const p = path.join(SHARED, rel);
  return fs.existsSync(p) ? p : undefined;
}

/** `describe` that skips, with a message saying why, when a file from ../shared is missing. */
export function describeWithShared(rel: string, name: string, fn: (file: string) => void): void {
  const file = sharedFile(rel);
  if (!file) {
    describe.skip(`${name} (skipped: ${path.join(SHARED, rel)} not found)`, () => { it('needs shared data', () => undefined); });
    // eslint-disable-next-line no-console
    console.warn(`skipping "${name}": ${path.join(SHARED, rel)} not found`);
    return;
  }
  describe(name, () => fn(file));
}

export function tmpDir(prefix = 'fer-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Run the built CLI (`bin/fer`, i.e. dist/) as a child process, as a user would. */
export function runFer(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [path.join(ROOT, 'bin', 'fer'), ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeout ?? 300000,
    input: opts.input,
  });
}

/** max |a − b| / max |b|: the error relative to the reference's scale. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
