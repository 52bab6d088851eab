import * as fs from 'fs';
import os = require('os');
import workerThreads = require('worker_threads');
import * as tf from '@tensorflow/tfjs';

/**
 * Start tfjs' threaded-SIMD wasm build under Node. tfjs only enables it in browsers: its pthread workers are
 * created from blob: URLs, which Node's worker_threads cannot load, and the bundled pthread code expects the
 * bundle's module-scope variables. During the backend's start-up we
 *   - record the text of the Blobs tfjs creates (the pthread worker script and the main script),
 *   - hand Emscripten a Worker constructor that runs that text with `eval: true`, and that makes the worker's
 *     `importScripts(blob:…)` evaluate the recorded main script behind a prelude declaring the bundle's
 *     module-scope names (`commonjsGlobal`, `require$$N`),
 *   - report enough logical cores that XNNPACK's pool gets the requested size (tfjs caps it at cores / 2).
 * Workers are unref'ed so they never keep the process alive. The patches are removed once the backend is up,
 * except the Worker constructor Emscripten keeps on `globalThis` (it only differs for blob: URLs).
 */

/** The tfjs-backend-wasm version this start-up was verified against; other versions run single-threaded. */
export const THREADED_WASM_VERSION = '4.22.0';
/** tfjs builds the threaded module with a pool of 8 pthread workers: more threads would only wait. */
export const MAX_WASM_THREADS = 8;

const MAIN_SCRIPT_HEAD = 'var WasmBackendModuleThreadedSimd';

function wasmPackageVersion(): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require('@tensorflow/tfjs-backend-wasm/package.json') as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** `var require$$N = require('mod');` lines of the node bundle: the pthread's copy of the main script needs them. */
function bundlePrelude(): string {
  const bundle = fs.readFileSync(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js'), 'utf8');
  const requires = bundle.match(/^var require\$\$\d+ = require\('[\w:/-]+'\);$/gm) ?? [];
  return `var commonjsGlobal = globalThis;${requires.join('')}\n`;
}

// Runs in each pthread worker after Emscripten's worker script: blob: scripts are the recorded main script.
const WORKER_TAIL = `
;(function () {
  const { workerData } = require('worker_threads');
  const importFile = globalThis.importScripts;
  globalThis.importScripts = function (f) {
    if (String(f).startsWith('blob:')) (0, eval)(workerData.prelude + workerData.mainScript);
    else importFile(f);
  };
})();`;

interface Recorded {
  workerSource?: string;
  mainScript?: string;
  prelude?: string;
}

type WorkerLike = InstanceType<typeof workerThreads.Worker>;

function makeWorkerConstructor(recorded: Recorded): unknown {
  const RealWorker = workerThreads.Worker;
  // Called with `new`: returning an object makes it the result. Every blob: worker tfjs creates has the same
  // (recorded) pthread script, including workers added after start-up.
  return function PthreadWorker(url: string | URL, options?: workerThreads.WorkerOptions): WorkerLike {
    if (!String(url).startsWith('blob:')) return new RealWorker(url, options);
    if (recorded.workerSource === undefined || recorded.mainScript === undefined) {
      throw new Error('threaded wasm: the pthread scripts were not captured');
    }
    const worker = new RealWorker(recorded.workerSource + WORKER_TAIL, {
      eval: true,
      workerData: { mainScript: recorded.mainScript, prelude: recorded.prelude },
    });
    // XNNPACK's pool threads run forever; the main thread waits for them inside each kernel anyway.
    worker.unref();
    worker.ref = () => worker;
    return worker;
  };
}

export interface ThreadedStart {
  /** Threads XNNPACK actually uses (1 when the threaded build could not be used). */
  threads: number;
  /** Why the threaded build was not used, when it was not. */
  reason?: string;
}

/**
 * Initialise the wasm backend with `threads` XNNPACK threads (1 = the plain SIMD build). Must run before
 * the wasm backend is first initialised; returns the thread count in use.
 */
export async function startWasm(threads: number): Promise<ThreadedStart> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const version = wasmPackageVersion();
  const wantThreads = Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(threads)));
  let reason: string | undefined;
  if (wantThreads > 1 && version !== THREADED_WASM_VERSION) {
    reason = `threads need @tensorflow/tfjs-backend-wasm ${THREADED_WASM_VERSION} (found ${version ?? 'unknown'})`;
  }
  if (wantThreads === 1 || reason) return startSingleThreaded(reason);
  try {
    return { threads: await startThreaded(wasm, wantThreads) };
  } catch (e) {
    // A failure tfjs reports (a rejected start-up) leaves the backend unregistered, so the plain build can
    // still start. (An error thrown inside a worker would end the process; none is known for 4.22.0.)
    return startSingleThreaded(`threaded wasm failed to start: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
  }
}

async function startSingleThreaded(reason?: string): Promise<ThreadedStart> {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise');
  return { threads: 1, reason };
}

async function startThreaded(wasm: typeof import('@tensorflow/tfjs-backend-wasm'), wantThreads: number): Promise<number> {
  const recorded: Recorded = { prelude: bundlePrelude() };
  const blobTexts = new WeakMap<Blob, string>();
  const RealBlob = globalThis.Blob;
  const realCreateObjectURL = URL.createObjectURL;
  const realCpus = os.cpus;
  const realWorker = workerThreads.Worker;
  class RecordingBlob extends RealBlob {
    constructor(parts: ConstructorParameters<typeof Blob>[0] = [], options?: ConstructorParameters<typeof Blob>[1]) {
      super(parts, options);
      if (parts && parts.every((p) => typeof p === 'string')) {
        const text = (parts as string[]).join('');
        blobTexts.set(this, text);
        if (text.startsWith(MAIN_SCRIPT_HEAD)) recorded.mainScript = text;
      }
    }
  }
  const mutableOs = os as { cpus: typeof os.cpus };
  const mutableWorkerThreads = workerThreads as { Worker: unknown };
  try {
    globalThis.Blob = RecordingBlob;
    URL.createObjectURL = (obj: Blob): string => {
      const href = realCreateObjectURL.call(URL, obj);
      const text = blobTexts.get(obj);
      if (text !== undefined && !text.startsWith(MAIN_SCRIPT_HEAD)) recorded.workerSource = text;
      return href;
    };
    // tfjs sizes XNNPACK's pool as min(requested, logical cores / 2).
    const cpus = realCpus.call(os);
    mutableOs.cpus = () => Array.from({ length: 2 * wantThreads }, (_, i) => cpus[i % cpus.length]);
    mutableWorkerThreads.Worker = makeWorkerConstructor(recorded);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(wantThreads);
    if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend failed to initialise');
  } finally {
    globalThis.Blob = RealBlob;
    URL.createObjectURL = realCreateObjectURL;
    mutableOs.cpus = realCpus;
    mutableWorkerThreads.Worker = realWorker;
  }
  return wasm.getThreadsCount();
}
