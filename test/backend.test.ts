import { spawnSync } from 'child_process';
import * as path from 'path';
import * as fs from 'fs';
import { initBackend, loadNative } from '../src/backend';
import { FerError } from '../src/util/errors';
import { ROOT, tmpDir } from './helpers';

function installed(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** Run a snippet against the built library in a fresh process (backends are process-wide). */
function runNode(code: string, env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['-e', code], {
    cwd: ROOT,
    env: { ...process.env, FER_BACKEND: '', FER_THREADS: '', ...env },
    encoding: 'utf8',
    timeout: 60000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const DIST_BACKEND = JSON.stringify(path.join(ROOT, 'dist', 'backend'));

describe('initBackend', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    process.env = { ...savedEnv };
  });

  it('rejects an unknown name with a one-line FerError naming the flag', async () => {
    await expect(initBackend('tpu')).rejects.toThrow(FerError);
    await expect(initBackend('tpu')).rejects.toThrow(/^--backend tpu: unknown backend \(choose auto, tensorflow, webgpu, native, wasm, cpu\)$/);
  });

  it('lets FER_BACKEND override auto, and names the variable when it is wrong', async () => {
    process.env.FER_BACKEND = 'cpu';
    const info = await initBackend('auto');
    expect(info.name).toBe('cpu');
    expect(info.description).toMatch(/^cpu/);
    process.env.FER_BACKEND = 'gpu';
    await expect(initBackend()).rejects.toThrow(/^FER_BACKEND=gpu: unknown backend/);
    // A forced --backend wins over the variable.
    expect((await initBackend('wasm')).name).toBe('wasm');
  });

  (installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu') ? it.skip : it)(
    'says how to install tfjs-node when tensorflow is forced but absent',
    async () => {
      const err = await initBackend('tensorflow').then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(FerError);
      expect((err as Error).message).toMatch(/^--backend tensorflow: .*not installed — npm install @tensorflow\/tfjs-node@4\.22\.0 .*tfjs-node-gpu.*CUDA 11\.2/);
      expect((err as Error).message).not.toContain('\n');
    },
  );

  (installed('webgpu') ? it.skip : it)('says how to install WebGPU support when webgpu is forced but absent', async () => {
    await expect(initBackend('webgpu')).rejects.toThrow(/^--backend webgpu: webgpu is not installed — npm install webgpu @tensorflow\/tfjs-backend-webgpu/);
  });

  it('auto falls through absent accelerators to native (when built) or wasm and says why', async () => {
    const info = await initBackend('auto');
    if (installed('@tensorflow/tfjs-node') || installed('webgpu')) return; // a faster engine may legitimately win
    expect(info.requested).toBe('auto');
    const absent = [expect.stringMatching(/^tensorflow: .*not installed/), expect.stringMatching(/^webgpu: .*not installed/)];
    if (loadNative().addon) {
      expect(info.name).toBe('native');
      expect(info.description).toMatch(/^wasm\+onednn \(oneDNN \d+\.\d+\.\d+, [^,]+, \d+ threads?; wasm \(XNNPACK, SIMD, \d+ threads?, fast conv gradients/);
      expect(info.skipped).toEqual(absent);
    } else {
      expect(info.name).toBe('wasm');
      expect(info.description).toMatch(/^wasm \(XNNPACK, SIMD, \d+ threads?, fast conv gradients[^)]*\)$/);
      expect(info.skipped).toEqual([...absent, expect.stringMatching(/^native: the oneDNN addon is not built/)]);
    }
  });

  it('rejects a bad FER_THREADS', async () => {
    process.env.FER_THREADS = 'many';
    const { wasmThreadCount } = await import('../src/backend');
    expect(() => wasmThreadCount()).toThrow(/^FER_THREADS=many: expected an integer ≥ 1$/);
    expect(wasmThreadCount({ threads: 3 })).toBe(3);
  });
});

describe('the native accelerator when it is absent or broken (fresh processes)', () => {
  const start = (backend: string): string => `
    const tf = require('@tensorflow/tfjs');
    require(${DIST_BACKEND}).initBackend('${backend}').then(
      (info) => console.log(JSON.stringify({ name: info.name, description: info.description, skipped: info.skipped, sum: tf.ones([4]).sum().dataSync()[0] })),
      (e) => { console.log(JSON.stringify({ error: e.message, ferError: e.constructor.name })); });`;

  it('not built: auto quietly uses wasm; forcing it is a one-line error saying how to build it', () => {
    const env = { FER_NATIVE_ADDON: path.join(tmpDir(), 'fer_onednn.node') };
    const auto = runNode(start('auto'), env);
    expect(auto.status).toBe(0);
    expect(auto.stderr).toBe('');
    const info = JSON.parse(auto.stdout);
    if (installed('@tensorflow/tfjs-node') || installed('webgpu')) return;
    expect(info.name).toBe('wasm');
    expect(info.description).toMatch(/^wasm \(XNNPACK[^)]*\)$/);
    expect(info.skipped).toContainEqual(expect.stringMatching(/^native: the oneDNN addon is not built/));
    expect(info.sum).toBe(4);
    const forced = JSON.parse(runNode(start('native'), env).stdout);
    expect(forced.ferError).toBe('FerError');
    expect(forced.error).toMatch(/^--backend native: the oneDNN addon is not built \(.*fer_onednn\.node\) — apt-get install -y libdnnl-dev && npm run build:native/);
    expect(forced.error).not.toContain('\n');
  });

  it('a broken build: auto falls back to wasm with one note saying why; forcing it says why too', () => {
    const broken = path.join(tmpDir(), 'fer_onednn.node');
    fs.writeFileSync(broken, 'not a shared library');
    const env = { FER_NATIVE_ADDON: broken };
    const auto = runNode(start('auto'), env);
    expect(auto.status).toBe(0);
    expect(auto.stderr).toBe('');
    const info = JSON.parse(auto.stdout);
    if (installed('@tensorflow/tfjs-node') || installed('webgpu')) return;
    expect(info.name).toBe('wasm');
    expect(info.description).toMatch(/^wasm \(XNNPACK[^)]*\) — native accelerator not used: the oneDNN addon failed to load: .*fer_onednn\.node/);
    expect(info.description).not.toContain('\n');
    expect(info.sum).toBe(4);
    const forced = JSON.parse(runNode(start('native'), env).stdout);
    expect(forced.error).toMatch(/^--backend native: the oneDNN addon failed to load: /);
    expect(forced.error).not.toContain('\n');
  });

  (loadNative().addon ? it : it.skip)('built: --backend wasm runs plain wasm, and --backend native names oneDNN', () => {
    const wasm = JSON.parse(runNode(start('wasm')).stdout);
    expect(wasm.name).toBe('wasm');
    expect(wasm.description).toMatch(/^wasm \(XNNPACK[^)]*\)$/);
    const native = JSON.parse(runNode(start('native'), { FER_THREADS: '2' }).stdout);
    expect(native.name).toBe('native');
    expect(native.description).toMatch(/^wasm\+onednn \(oneDNN \d+\.\d+\.\d+, [^,]+, 2 threads; wasm \(XNNPACK, SIMD, 2 threads/);
    expect(native.sum).toBe(4);
  });
});

describe('wasm threads (fresh processes)', () => {
  const convSum = `
    const tf = require('@tensorflow/tfjs');
    require(${DIST_BACKEND}).initBackend('wasm').then(async (info) => {
      const x = tf.range(0, 2 * 20 * 20 * 8).reshape([2, 20, 20, 8]).div(3000).sin();
      const f = tf.range(0, 3 * 3 * 8 * 16).reshape([3, 3, 8, 16]).div(500).cos();
      const y = tf.conv2d(x, f, 1, 'same');
      console.log(JSON.stringify({ threads: info.threads, description: info.description, sum: (await y.sum().data())[0] }));
    });`;

  it('starts the threaded build with the requested threads, computes the same result, and lets the process exit', () => {
    const one = runNode(convSum, { FER_THREADS: '1' });
    const two = runNode(convSum, { FER_THREADS: '2' });
    expect(one.status).toBe(0);
    expect(two.status).toBe(0); // a pthread keeping Node alive would hit the timeout instead
    const a = JSON.parse(one.stdout);
    const b = JSON.parse(two.stdout);
    expect(a.threads).toBe(1);
    expect(b.threads).toBe(2);
    expect(b.description).toContain('2 threads');
    expect(Math.abs(a.sum - b.sum)).toBeLessThan(1e-3 * Math.abs(a.sum));
    expect(two.stderr).toBe('');
  });

  it('falls back to one thread, saying why, when the threaded start-up fails', () => {
    const r = runNode(`
      const tf = require('@tensorflow/tfjs');
      require('@tensorflow/tfjs-backend-wasm'); // loaded first: the loader reads it with fs.readFileSync too
      const fs = require('fs');
      const readFileSync = fs.readFileSync;
      fs.readFileSync = function (p, ...rest) {
        if (String(p).endsWith('tf-backend-wasm.node.js')) throw new Error('simulated failure');
        return readFileSync.call(this, p, ...rest);
      };
      require(${DIST_BACKEND}).initBackend('wasm').then((info) => {
        console.log(JSON.stringify({ threads: info.threads, description: info.description, sum: tf.ones([4]).sum().dataSync()[0] }));
      });`, { FER_THREADS: '2' });
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.threads).toBe(1);
    expect(info.description).toMatch(/^wasm \(XNNPACK, SIMD, 1 thread, fast conv gradients; threaded wasm failed to start: simulated failure\)$/);
    expect(info.sum).toBe(4);
  });

  it('prints no tfjs "install tfjs-node" banner on the cpu backend, even before initBackend', () => {
    const r = runNode(`
      const tf = require('@tensorflow/tfjs');
      require(${DIST_BACKEND}).initBackend('cpu').then(() => { tf.ones([3]).square().dataSync(); console.log('ok'); });`);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('ok');
    expect(r.stderr).toBe('');
    const early = runNode(`
      const tf = require('@tensorflow/tfjs');
      require(${DIST_BACKEND});
      tf.setBackend('cpu').then(() => { tf.ones([3]).square().dataSync(); console.log('ok'); });`);
    expect(early.stdout.trim()).toBe('ok');
    expect(early.stderr).toBe('');
  });
});
