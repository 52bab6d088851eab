import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import { FIXTURES, ROOT, sharedFile } from './helpers';
import { findFfmpeg } from '../src/video/ffmpeg';

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Absolute path of a program on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch { /* next */ }
  }
  return undefined;
}

export function ffmpeg(args: string[]): void {
  const r = spawnSync(findFfmpeg(), ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

/**
 * Short test clips: cuts of the bundled pan clip (public domain, a face in every frame), plus cuts of
 * ../shared/media/faces.mp4 when it is there. Different lengths and sizes, so jobs take different times.
 */
export function makeClips(dir: string, n: number): string[] {
  const pan = path.join(FIXTURES, 'astronaut-pan.mp4');
  const faces = sharedFile('media/faces.mp4');
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(dir, `clip${i + 1}.mp4`);
    const src = faces && i % 3 === 2 ? faces : pan;
    const start = (i * 0.3).toFixed(2);
    const dur = (0.8 + (i % 3) * 0.4).toFixed(2);
    ffmpeg(['-ss', start, '-i', src, '-t', dur, '-vf', 'scale=320:-2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-an', file]);
    out.push(file);
  }
  return out;
}

/** A child process whose stdout/stderr lines are collected and can be waited for. */
export interface Proc {
  child: ChildProcess;
  out: string[];
  err: string[];
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  exited: Promise<number | null>;
}

export function startProc(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: string[] = [];
  const err: string[] = [];
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const feed = (sink: string[]) => {
    let buf = '';
    return (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        sink.push(l);
        for (const w of [...waiters]) {
          const m = w.re.exec(l);
          if (m) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(m);
          }
        }
      }
    };
  };
  child.stdout!.on('data', feed(out));
  child.stderr!.on('data', feed(err));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child, out, err, exited,
    waitFor(re: RegExp, timeoutMs = 60000): Promise<RegExpExecArray> {
      for (const l of [...out, ...err]) {
        const m = re.exec(l);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re}; stdout:\n${out.join('\n')}\nstderr:\n${err.join('\n')}`)), timeoutMs);
        waiters.push({ re, resolve: (m) => { clearTimeout(t); resolve(m); } });
        void exited.then((code) => { clearTimeout(t); reject(new Error(`exited (${code}) before ${re}; stderr:\n${err.join('\n')}`)); });
      });
    },
  };
}

/** `fer <args>` as a child process (the built CLI). */
export function startFer(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  return startProc(process.execPath, [path.join(ROOT, 'bin', 'fer'), ...args], env);
}

/** Stop a child we started, by its own pid; SIGKILL after `graceMs`. */
export async function stopProc(p: Proc, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10000): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.child.exitCode;
  p.child.kill(signal);
  const t = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  const code = await p.exited;
  clearTimeout(t);
  return code;
}

/** A real redis-server on 127.0.0.1 with no persistence, in a temp directory. */
export async function startRedis(bin: string, dir: string): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const proc = startProc(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning', '--protected-mode', 'yes']);
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return { url, proc };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server did not start on ${port}: ${proc.err.join('\n')}`);
}

export function filesEqual(a: string, b: string): boolean {
  return fs.readFileSync(a).equals(fs.readFileSync(b));
}

/** `fer <args>` to completion without blocking the test's event loop; resolves to the exit code and stderr. */
export function runFerAsync(args: string[]): Promise<{ status: number | null; stderr: string }> {
  const p = startFer(args);
  return p.exited.then((status) => ({ status, stderr: p.err.join('\n') }));
}

/** Run async tasks `limit` at a time. */
export async function inBatches<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  }));
  return out;
}
