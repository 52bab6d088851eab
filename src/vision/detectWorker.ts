import * as fs from 'fs';
import * as path from 'path';
import { Worker, isMainThread, parentPort, workerData } from 'worker_threads';
import { FerError, isFerError } from '../util/errors';
import { DetectorEngine, createDetector, isCnnEngine, resolveEngine } from './detector';
import { Box, DetectOptions, EngineName, FaceDetector } from './types';

/**
 * Face detection in a worker thread, so that in a batch the next image is detected while the current one is
 * classified: OpenCV.js and a one-thread tfjs wasm backend are single-threaded, and on 2 cores the second
 * one is otherwise mostly idle. A CNN detector starts its own tfjs backend in the worker.
 * This file is both the client (createWorkerDetector) and, when loaded as a worker, the worker itself.
 */
export interface AsyncFaceDetector {
  readonly engine: EngineName;
  /** True when detection really runs off the main thread (false: in-thread fallback). */
  readonly threaded: boolean;
  detect(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): Promise<Box[]>;
  dispose(): Promise<void>;
}

interface Request { id: number; gray: Uint8Array; width: number; height: number; opts?: DetectOptions }
type Reply = { id: number; boxes: Box[] } | { id: number; error: string; userError: boolean } | { ready: EngineName } | { failed: string };

const MARKER = 'fer-detect-worker';

if (!isMainThread && workerData?.[MARKER] && parentPort) {
  const port = parentPort;
  const engine = resolveEngine(workerData.engine as DetectorEngine);
  // tfjs in this thread is a separate instance: the CNN needs a backend of its own (one compute thread).
  const backend = isCnnEngine(engine)
    ? import('../backend').then((b) => b.initBackend(String(workerData.backend ?? 'auto'), { threads: 1 }))
    : Promise.resolve();
  backend.then(() => createDetector(engine, undefined, workerData.modelFile as string | undefined)).then((detector: FaceDetector) => {
    port.on('message', (req: Request) => {
      try {
        port.postMessage({ id: req.id, boxes: detector.detect(req.gray, req.width, req.height, req.opts) } satisfies Reply);
      } catch (e) {
        port.postMessage({ id: req.id, error: (e as Error)?.message ?? String(e), userError: isFerError(e) } satisfies Reply);
      }
    });
    port.postMessage({ ready: detector.engine } satisfies Reply);
  }, (e: unknown) => port.postMessage({ failed: (e as Error)?.message ?? String(e) } satisfies Reply));
}

/** The compiled worker script: beside this file, or in dist/ when running from TypeScript sources (jest). */
function workerScript(): string | undefined {
  const candidates = [path.join(__dirname, 'detectWorker.js'), path.resolve(__dirname, '..', '..', 'dist', 'vision', 'detectWorker.js')];
  return candidates.find((p) => fs.existsSync(p));
}

class InThread implements AsyncFaceDetector {
  readonly threaded = false;
  constructor(private readonly detector: FaceDetector, private readonly owned: boolean) {}
  get engine(): EngineName { return this.detector.engine; }
  async detect(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): Promise<Box[]> {
    return this.detector.detect(gray, width, height, opts);
  }
  async dispose(): Promise<void> { if (this.owned) this.detector.dispose(); }
}

class Threaded implements AsyncFaceDetector {
  readonly threaded = true;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (b: Box[]) => void; reject: (e: Error) => void }>();
  private dead: Error | undefined;

  constructor(private readonly worker: Worker, readonly engine: EngineName) {
    worker.on('message', (m: Reply) => {
      if (!('id' in m)) return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if ('error' in m) p.reject(m.userError ? new FerError(m.error) : new Error(m.error)); else p.resolve(m.boxes);
    });
    const fail = (e: Error) => {
      this.dead = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`face detection worker exited (code ${code})`)));
  }

  detect(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): Promise<Box[]> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<Box[]>((resolve, reject) => {
      // Keep the process alive only while an answer is awaited (an idle worker must not block exit).
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      // Copied, not transferred: the caller still needs the pixels to crop faces.
      this.worker.postMessage({ id, gray: gray.subarray(0, width * height), width, height, opts } satisfies Request);
    });
  }

  async dispose(): Promise<void> {
    this.dead = new Error('detector disposed');
    await this.worker.terminate();
  }
}

/**
 * A detector running in a worker thread. Falls back to `fallback` (or a new in-thread detector) when the
 * compiled worker script is not available.
 */
export async function createWorkerDetector(engine: DetectorEngine = 'auto', fallback?: FaceDetector, backend = 'auto', modelFile?: string): Promise<AsyncFaceDetector> {
  const script = workerScript();
  if (!script) return new InThread(fallback ?? await createDetector(engine, undefined, modelFile), !fallback);
  const worker = new Worker(script, { workerData: { [MARKER]: true, engine, backend, modelFile } });
  const ready = await new Promise<EngineName>((resolve, reject) => {
    const onMessage = (m: Reply) => {
      if ('ready' in m) { cleanup(); resolve(m.ready); } else if ('failed' in m) { cleanup(); reject(new Error(m.failed)); }
    };
    const onError = (e: Error) => { cleanup(); reject(e); };
    const cleanup = () => { worker.off('message', onMessage); worker.off('error', onError); };
    worker.on('message', onMessage);
    worker.on('error', onError);
  }).catch(async (e) => {
    await worker.terminate();
    // The worker's message is the detector's one-line FerError text (e.g. a corrupt model file).
    throw new FerError((e as Error)?.message ?? String(e));
  });
  worker.unref();
  return new Threaded(worker, ready);
}

/** Wrap a synchronous detector (no thread). */
export function inThread(detector: FaceDetector): AsyncFaceDetector {
  return new InThread(detector, false);
}
