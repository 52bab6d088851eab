import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { DetectorEngine } from '../vision/detector';
import { Box, DetectOptions } from '../vision/types';

/**
 * Haar detection on a worker thread. OpenCV.js runs single-threaded and is the costliest per-frame stage;
 * on its own thread it overlaps with classification (and the ffmpeg processes) instead of adding to it,
 * which is what keeps `fer video` real time on 2 cores.
 */
export class DetectWorker {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (b: Box[]) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  private constructor(private readonly worker: Worker, readonly engine: string) {
    worker.on('message', (m: { id: number; boxes?: Box[]; error?: string }) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.error !== undefined) w.reject(new Error(`face detection failed: ${m.error}`));
      else w.resolve(m.boxes ?? []);
    });
    const failAll = (e: Error): void => {
      this.failure ??= e;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', () => failAll(new Error('face detection worker stopped')));
  }

  /**
   * Start a worker with its own detector, or resolve undefined when workers cannot be used here (no built
   * worker script, or it failed to start): callers then detect on the main thread.
   */
  static async start(engine: DetectorEngine): Promise<DetectWorker | undefined> {
    const script = workerScript();
    if (!script) return undefined;
    const worker = new Worker(script, { workerData: { engine } });
    const ready = await new Promise<string | undefined>((resolve) => {
      const done = (v: string | undefined): void => {
        worker.removeAllListeners('message');
        worker.removeAllListeners('error');
        resolve(v);
      };
      worker.once('message', (m: { ready?: string }) => done(m.ready));
      worker.once('error', () => done(undefined));
    });
    if (!ready) {
      await worker.terminate();
      return undefined;
    }
    return new DetectWorker(worker, ready);
  }

  /** Detect faces in a grey frame; the frame is copied to the worker, so the caller may keep using it. */
  detect(gray: Uint8Array, width: number, height: number, opts: DetectOptions): Promise<Box[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<Box[]>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, gray, width, height, opts });
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('face detection worker closed');
    await this.worker.terminate();
  }
}

/** The compiled worker script: beside this module in dist/, or dist/ when running from src/ (tests). */
function workerScript(): string | undefined {
  for (const p of [path.join(__dirname, 'detectWorker.js'), path.resolve(__dirname, '..', '..', 'dist', 'video', 'detectWorker.js')]) {
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}
