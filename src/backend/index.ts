import * as os from 'os';
import * as tf from '@tensorflow/tfjs';
import { FerError } from '../util/errors';
import { installWasmTrainingKernels } from './wasmTraining';
import { MAX_WASM_THREADS, startWasm } from './wasmThreads';
import { NATIVE_BUILD_HINT, installNativeKernels, loadNative, setNativeActive } from './native';

export { installWasmTrainingKernels, setFastWasmKernels } from './wasmTraining';
export { loadNative, nativeActive, nativeCalls, setNativeWinograd, NATIVE_ADDON_PATH, NATIVE_BUILD_HINT } from './native';

/** `native` is the wasm backend with fer's oneDNN addon running its hot kernels (tfjs sees 'wasm'). */
export type BackendName = 'tensorflow' | 'webgpu' | 'native' | 'wasm' | 'cpu';
/** In the order `auto` tries them: fastest first. */
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'webgpu', 'native', 'wasm', 'cpu'];

export interface BackendInfo {
  /** What was asked for: 'auto' or a forced name. */
  requested: string;
  /** The backend now active: a tfjs backend's name, or 'native' (tfjs' wasm backend with fer's oneDNN kernels). */
  name: BackendName;
  /** One line for users, e.g. "wasm (XNNPACK, SIMD, fast conv gradients)". */
  description: string;
  /** Compute threads (wasm: XNNPACK's pool; others: undefined = the engine decides). */
  threads?: number;
  /** Faster backends `auto` passed over, each with the reason (e.g. "webgpu: not installed"). */
  skipped: string[];
}

export interface BackendOptions {
  /** wasm threads (default: env FER_THREADS, else the number of CPU cores, at most 8). */
  threads?: number;
}

/** How to get each optional accelerator; printed when one is forced but missing. */
export const INSTALL_HINTS: Record<BackendName, string> = {
  tensorflow: 'npm install @tensorflow/tfjs-node@4.22.0 (CPU, libtensorflow) or @tensorflow/tfjs-node-gpu@4.22.0 (NVIDIA GPU, CUDA 11.2 + cuDNN 8.1)',
  webgpu: 'npm install webgpu @tensorflow/tfjs-backend-webgpu@4.22.0 (needs a GPU with Vulkan, Metal or D3D12 drivers)',
  native: `${NATIVE_BUILD_HINT} (fer's oneDNN accelerator)`,
  wasm: 'npm ci (the wasm backend is a dependency)',
  cpu: 'always available',
};

/** A backend that could not be used, and why. */
class Unavailable extends Error {
  constructor(readonly notInstalled: boolean, message: string) {
    super(message);
  }
}

type Loaded = { module: Record<string, unknown> };

/** require() an optional package; Unavailable when it is absent or fails to load (e.g. missing CUDA). */
function requireOptional(name: string): Loaded {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return { module: require(name) as Record<string, unknown> };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err?.code === 'MODULE_NOT_FOUND' && String(err.message).includes(`'${name}'`)) {
      throw new Unavailable(true, `${name} is not installed`);
    }
    throw new Unavailable(false, `${name} failed to load: ${String(err?.message ?? e).split('\n')[0]}`);
  }
}

/** tfjs prints an "install tfjs-node" banner on first use of its cpu backend; fer chooses backends itself. */
function silenceTfjsBanner(): void {
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
}
// Also for code that builds models before choosing a backend (tfjs then starts on cpu).
silenceTfjsBanner();

async function activate(name: string): Promise<void> {
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new Unavailable(false, `${name} failed to initialise: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
  }
  if (!ok) throw new Unavailable(false, `${name} failed to initialise`);
  await tf.ready();
}

async function startTensorflow(): Promise<Partial<BackendInfo>> {
  let pkg = '';
  const errors: Unavailable[] = [];
  for (const candidate of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      requireOptional(candidate);
      pkg = candidate;
      break;
    } catch (e) {
      if (!(e instanceof Unavailable)) throw e;
      errors.push(e);
    }
  }
  if (!pkg) {
    const real = errors.find((e) => !e.notInstalled);
    throw real ?? new Unavailable(true, '@tensorflow/tfjs-node(-gpu) is not installed');
  }
  if (!tf.findBackendFactory('tensorflow')) {
    throw new Unavailable(false, `${pkg} registered with another copy of @tensorflow/tfjs: install the version matching @tensorflow/tfjs ${tf.version.tfjs}`);
  }
  await activate('tensorflow');
  const gpu = pkg.endsWith('-gpu');
  return { description: `tensorflow (${pkg.replace('@tensorflow/', '')}, libtensorflow${gpu ? ' with CUDA' : ' CPU'})` };
}

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string };
  requestDevice(descriptor?: unknown): Promise<unknown>;
}

async function startWebgpu(): Promise<Partial<BackendInfo>> {
  const dawn = requireOptional('webgpu').module as { create?: (flags: string[]) => { requestAdapter(o?: unknown): Promise<GpuAdapterLike | null> }; globals?: object };
  if (typeof dawn.create !== 'function') throw new Unavailable(false, 'the installed `webgpu` package has no create()');
  Object.assign(globalThis, dawn.globals ?? {});
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Unavailable(false, 'no WebGPU adapter found (no GPU or driver)');
  // tfjs-backend-webgpu looks for navigator.gpu when it is loaded.
  const nav = (globalThis as { navigator?: object }).navigator ?? {};
  Object.defineProperty(globalThis, 'navigator', { value: Object.assign(Object.create(nav), { gpu }), configurable: true, writable: true });
  const webgpu = requireOptional('@tensorflow/tfjs-backend-webgpu').module as { WebGPUBackend?: new (device: unknown, info?: unknown) => tf.KernelBackend };
  if (!tf.findBackendFactory('webgpu')) {
    const WebGPUBackend = webgpu.WebGPUBackend;
    if (!WebGPUBackend) throw new Unavailable(false, '@tensorflow/tfjs-backend-webgpu did not register a backend');
    tf.registerBackend('webgpu', async () => new WebGPUBackend(await adapter.requestDevice(), adapter.info), 3);
  }
  await activate('webgpu');
  const what = [adapter.info?.vendor, adapter.info?.architecture || adapter.info?.description].filter(Boolean).join(' ');
  return { description: `webgpu (Dawn${what ? `, ${what}` : ''})` };
}

/** Threads for wasm: option, then FER_THREADS, then the CPU count. */
export function wasmThreadCount(options: BackendOptions = {}): number {
  if (options.threads !== undefined) return Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(options.threads)));
  const env = process.env.FER_THREADS;
  if (env) {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new FerError(`FER_THREADS=${env}: expected an integer ≥ 1`);
    return Math.min(MAX_WASM_THREADS, n);
  }
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.min(MAX_WASM_THREADS, cores);
}

let wasmThreads: number | undefined;

async function startWasmBackend(options: BackendOptions): Promise<Partial<BackendInfo>> {
  setNativeActive(false);
  let note = '';
  if (wasmThreads === undefined) {
    // The thread pool is fixed when the wasm module starts: later calls reuse it.
    let started;
    try {
      started = await startWasm(wasmThreadCount(options));
    } catch (e) {
      if (e instanceof FerError) throw e;
      throw new Unavailable(false, `wasm failed to initialise: ${String((e as Error)?.message ?? e).split('\n')[0]}`);
    }
    wasmThreads = started.threads;
    if (started.reason) note = `; ${started.reason}`;
  } else {
    await activate('wasm');
  }
  installWasmTrainingKernels();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = wasmThreads;
  return {
    threads,
    description: `wasm (XNNPACK${simd ? ', SIMD' : ''}, ${threads} thread${threads === 1 ? '' : 's'}, fast conv gradients${note})`,
  };
}

/** Why a built accelerator could not be used (a broken build, a missing libdnnl): said once in wasm's line. */
let nativeNote: string | undefined;

async function startNative(options: BackendOptions): Promise<Partial<BackendInfo>> {
  const native = loadNative();
  if (!native.addon) {
    if (!native.missing) nativeNote = native.reason;
    throw new Unavailable(native.missing, native.reason);
  }
  const wasm = await startWasmBackend(options);
  const threads = wasm.threads ?? 1;
  native.addon.setThreads(threads);
  installNativeKernels(native.addon);
  setNativeActive(true);
  const { version, isa } = native.addon.info();
  return {
    threads,
    description: `wasm+onednn (oneDNN ${version}, ${isa}, ${threads} thread${threads === 1 ? '' : 's'}; ${wasm.description})`,
  };
}

async function startCpu(): Promise<Partial<BackendInfo>> {
  await activate('cpu');
  return { description: 'cpu (plain JavaScript, slow: use it only to check results)' };
}

const STARTERS: Record<BackendName, (o: BackendOptions) => Promise<Partial<BackendInfo>>> = {
  tensorflow: startTensorflow,
  webgpu: startWebgpu,
  native: startNative,
  wasm: startWasmBackend,
  cpu: startCpu,
};

/**
 * Select and initialise the compute backend. `requested` is a flag value: 'auto' (default) takes the fastest
 * one present (tensorflow, webgpu, native, wasm, cpu in that order); a name forces it, and a missing one is a
 * FerError saying how to install it. The environment variable FER_BACKEND overrides 'auto'.
 *
 * @example
 * ```ts
 * import { initBackend } from 'fer';
 *
 * const info = await initBackend('auto', { threads: 2 });
 * console.log(info.name, info.description);   // e.g. wasm 'wasm (XNNPACK, SIMD, 2 threads, fast conv gradients)'
 * if (info.skipped.length > 0) console.log('passed over:', info.skipped.join('; '));
 * ```
 */
export async function initBackend(requested: string = 'auto', options: BackendOptions = {}): Promise<BackendInfo> {
  const fromEnv = requested === 'auto' && Boolean(process.env.FER_BACKEND);
  const want = fromEnv ? String(process.env.FER_BACKEND).trim().toLowerCase() : requested;
  const source = fromEnv ? `FER_BACKEND=${want}` : `--backend ${want}`;
  if (want !== 'auto' && !BACKEND_NAMES.includes(want as BackendName)) {
    throw new FerError(`${source}: unknown backend (choose auto, ${BACKEND_NAMES.join(', ')})`);
  }
  silenceTfjsBanner();
  const candidates = want === 'auto' ? BACKEND_NAMES : [want as BackendName];
  const skipped: string[] = [];
  for (const name of candidates) {
    try {
      const started = await STARTERS[name](options);
      silenceTfjsBanner();
      let description = started.description ?? name;
      if (name === 'wasm' && nativeNote && want === 'auto') description += ` — native accelerator not used: ${nativeNote}`;
      return { requested, name, description, threads: started.threads, skipped };
    } catch (e) {
      if (!(e instanceof Unavailable)) throw e;
      if (want !== 'auto') {
        throw new FerError(`${source}: ${e.message}${e.notInstalled ? ` — ${INSTALL_HINTS[name]}` : ''}`);
      }
      skipped.push(`${name}: ${e.message}`);
    }
  }
  throw new FerError(`no compute backend could start (${skipped.join('; ')})`);
}
