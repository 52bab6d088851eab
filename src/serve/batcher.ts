import { IMAGE_SIZE, NUM_CLASSES } from '../data/classes';

const FACE_BYTES = IMAGE_SIZE * IMAGE_SIZE;

export interface MicroBatcherOptions {
  /** Classify as soon as this many faces wait (default 64). */
  maxFaces?: number;
  /**
   * How long the first waiting request may wait for others, ms (default 2). 0 batches only what arrived in
   * the same event-loop turn.
   */
  waitMs?: number;
  /** Called after each batch with the number of requests and faces it served. */
  onBatch?: (requests: number, faces: number) => void;
}

interface Waiting {
  faces: Uint8Array;
  count: number;
  resolve: (scores: Float32Array) => void;
  reject: (e: unknown) => void;
}

/**
 * Collects the face crops of concurrent requests and classifies them in one call: a batch of n faces costs far
 * less than n calls of one (see BATCH_FRAMES in video/process.ts). Each caller gets back exactly its own
 * rows of scores, in order.
 */
export class MicroBatcher {
  private waiting: Waiting[] = [];
  private waitingFaces = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly maxFaces: number;
  private readonly waitMs: number;

  constructor(private readonly classify: (faces: Uint8Array, count: number) => Float32Array, private readonly opts: MicroBatcherOptions = {}) {
    this.maxFaces = Math.max(1, opts.maxFaces ?? 64);
    this.waitMs = Math.max(0, opts.waitMs ?? 2);
  }

  /** Scores (count × 7) of `count` 48×48 faces. */
  run(faces: Uint8Array, count: number): Promise<Float32Array> {
    if (count === 0) return Promise.resolve(new Float32Array(0));
    return new Promise((resolve, reject) => {
      this.waiting.push({ faces, count, resolve, reject });
      this.waitingFaces += count;
      if (this.waitingFaces >= this.maxFaces) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.waitMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    const total = this.waitingFaces;
    this.waiting = [];
    this.waitingFaces = 0;
    if (batch.length === 0) return;
    let scores: Float32Array;
    try {
      let input: Uint8Array;
      if (batch.length === 1) {
        input = batch[0].faces;
      } else {
        input = new Uint8Array(total * FACE_BYTES);
        let off = 0;
        for (const w of batch) {
          input.set(w.faces.subarray(0, w.count * FACE_BYTES), off);
          off += w.count * FACE_BYTES;
        }
      }
      scores = this.classify(input, total);
    } catch (e) {
      batch.forEach((w) => w.reject(e));
      return;
    }
    this.opts.onBatch?.(batch.length, total);
    let row = 0;
    for (const w of batch) {
      w.resolve(scores.slice(row * NUM_CLASSES, (row + w.count) * NUM_CLASSES));
      row += w.count;
    }
  }

  /** Reject whatever still waits (server shutdown). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    this.waiting = [];
    this.waitingFaces = 0;
    batch.forEach((w) => w.reject(new Error('server closing')));
  }
}
