import * as tf from '@tensorflow/tfjs';
import { FerError } from '../util/errors';

/**
 * Exponential moving average of the trainable weights (Polyak averaging as tf.train.ExponentialMovingAverage
 * does it): after every step  ema ← d·ema + (1 − d)·w  with  d = min(decay, (1 + t)/(10 + t)),  so the first
 * steps do not drag in the random initial weights. The average is evaluated (after BatchNorm re-estimation,
 * since averaged weights have their own activation statistics) and becomes the `best` model when it wins.
 * Its state (update count, shadow weights) goes to last/ema.bin so --resume continues it.
 * With decay 'mean' it is stochastic weight averaging instead: d = t/(t + 1), the plain mean of the weights after
 * every update so far.
 */
export class Ema {
  updates = 0;
  private readonly shadow: tf.Variable[];

  constructor(readonly variables: tf.Variable[], readonly decay: number | 'mean') {
    if (decay !== 'mean' && !(decay > 0 && decay < 1)) throw new RangeError(`EMA decay must be in (0, 1) or 'mean', got ${decay}`);
    this.shadow = variables.map((v) => tf.tidy(() => tf.variable(v.clone(), false)));
  }

  /** The decay used at the next update. */
  currentDecay(): number {
    if (this.decay === 'mean') return this.updates / (this.updates + 1);
    return Math.min(this.decay, (1 + this.updates) / (10 + this.updates));
  }

  update(): void {
    const d = this.currentDecay();
    this.updates += 1;
    tf.tidy(() => this.shadow.forEach((s, i) => s.assign(s.mul(d).add(this.variables[i].mul(1 - d)))));
  }

  /** Exchange the model's weights with the averages (call twice to undo). */
  swap(): void {
    tf.tidy(() => {
      this.shadow.forEach((s, i) => {
        const w = this.variables[i].clone();
        this.variables[i].assign(s);
        s.assign(w);
      });
    });
  }

  /** Run `fn` with the averaged weights in the model, then put the trained weights back. */
  async withAverage<T>(fn: () => Promise<T> | T): Promise<T> {
    this.swap();
    try {
      return await fn();
    } finally {
      this.swap();
    }
  }

  encode(): Uint8Array {
    const arrays = this.shadow.map((s) => s.dataSync() as Float32Array);
    const all = new Float32Array(arrays.reduce((a, b) => a + b.length, 0));
    let off = 0;
    for (const a of arrays) {
      all.set(a, off);
      off += a.length;
    }
    return new Uint8Array(all.buffer);
  }

  restore(bytes: Uint8Array, updates: number, file: string): void {
    const total = this.shadow.reduce((a, s) => a + s.size, 0);
    if (bytes.byteLength !== total * 4) throw new FerError(`${file}: expected ${total * 4} bytes of EMA weights, found ${bytes.byteLength}`);
    const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    let off = 0;
    tf.tidy(() => {
      for (const s of this.shadow) {
        s.assign(tf.tensor(all.subarray(off, off + s.size), s.shape));
        off += s.size;
      }
    });
    this.updates = updates;
  }

  dispose(): void {
    this.shadow.forEach((s) => s.dispose());
  }
}
