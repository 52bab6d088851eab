import * as tf from '@tensorflow/tfjs';
import { IMAGE_SIZE, NUM_CLASSES } from '../data/classes';

/** Options every net builder takes. */
export interface NetOptions {
  /** Seed for the weight initialisers (same seed → same initial weights). Default 1. */
  seed?: number;
  /**
   * Width multiplier on every conv/dense layer (MobileNet's alpha): 1 is the documented net; small values make
   * tiny nets of the same shape for tests and quick trials.
   */
  width?: number;
  /** Side of the square input (default 48, the face); smaller for nets trained on random crops (`--crop`). */
  inputSize?: number;
  /** Multiplier on the rate of every dropout before the flatten (the conv blocks'); 0 removes them. Default 1. */
  convDropout?: number;
  /** Rate of every dropout after the flatten (the head's), replacing the net's own; 0 removes them. Default: the net's. */
  headDropout?: number;
}

/**
 * Builds a Sequential model layer by layer with seeded initialisers and readable layer names (conv1, bn1, …),
 * so `fer models` tables read like the seeds' Keras summaries. Only stock tfjs layers: any tfjs can load them.
 */
export class NetBuilder {
  readonly layers: tf.layers.Layer[] = [];
  private readonly seed: number;
  private readonly width: number;
  private readonly inputSize: number;
  private readonly convDropout: number;
  private readonly headDropout: number | undefined;
  private inHead = false;
  private seedCounter = 0;
  private readonly counts = new Map<string, number>();

  constructor(opts: NetOptions = {}) {
    this.seed = opts.seed ?? 1;
    this.width = opts.width ?? 1;
    if (!(this.width > 0)) throw new RangeError(`width must be > 0, got ${this.width}`);
    this.inputSize = opts.inputSize ?? IMAGE_SIZE;
    this.convDropout = opts.convDropout ?? 1;
    this.headDropout = opts.headDropout;
  }

  /** Channels after the width multiplier (at least 2, so tiny nets still have a shape). */
  ch(n: number): number {
    return Math.max(2, Math.round(n * this.width));
  }

  private name(kind: string): string {
    const k = (this.counts.get(kind) ?? 0) + 1;
    this.counts.set(kind, k);
    return `${kind}${k}`;
  }

  private nextSeed(): number {
    // Distinct, reproducible seeds per layer; the multiplier spreads neighbouring base seeds apart.
    this.seedCounter += 1;
    return (Math.imul(this.seed, 1000003) + this.seedCounter * 7919) >>> 0;
  }

  private inputShape(): { inputShape?: number[] } {
    return this.layers.length === 0 ? { inputShape: [this.inputSize, this.inputSize, 1] } : {};
  }

  private add(layer: tf.layers.Layer): this {
    this.layers.push(layer);
    return this;
  }

  /** Conv (no bias: BN follows) → BatchNorm → ReLU. `filters` is before the width multiplier. */
  convBnRelu(filters: number, kernel: number, padding: 'same' | 'valid' = 'same'): this {
    const n = this.counts.get('conv') ?? 0;
    this.add(tf.layers.conv2d({
      ...this.inputShape(), name: this.name('conv'), filters: this.ch(filters), kernelSize: kernel, padding, useBias: false,
      kernelInitializer: tf.initializers.heNormal({ seed: this.nextSeed() }),
    }));
    this.add(tf.layers.batchNormalization({ name: `bn${n + 1}` }));
    return this.add(tf.layers.activation({ name: `relu${n + 1}`, activation: 'relu' }));
  }

  maxPool(size = 2, stride = size): this {
    return this.add(tf.layers.maxPooling2d({ name: this.name('pool'), poolSize: size, strides: stride }));
  }

  avgPool(size = 2, stride = size): this {
    return this.add(tf.layers.averagePooling2d({ name: this.name('avgpool'), poolSize: size, strides: stride }));
  }

  globalAvgPool(): this {
    this.inHead = true;
    return this.add(tf.layers.globalAveragePooling2d({ name: this.name('gap') }));
  }

  flatten(): this {
    this.inHead = true;
    return this.add(tf.layers.flatten({ name: this.name('flatten') }));
  }

  dropout(rate: number): this {
    const r = this.inHead ? this.headDropout ?? rate : rate * this.convDropout;
    if (!(r > 0)) return this;
    // No seed here: a fixed tfjs dropout seed repeats the same mask every batch. src/train seeds it per batch.
    return this.add(tf.layers.dropout({ name: this.name('drop'), rate: Math.min(r, 0.95) }));
  }

  /** Dense with ReLU; with `bn`, Dense (no bias) → BatchNorm → ReLU. */
  dense(units: number, bn = false): this {
    const d = this.name('dense');
    const k = d.slice('dense'.length);
    this.add(tf.layers.dense({
      name: d, units: this.ch(units), useBias: !bn, activation: bn ? 'linear' : 'relu',
      kernelInitializer: tf.initializers.heNormal({ seed: this.nextSeed() }),
    }));
    if (bn) {
      this.add(tf.layers.batchNormalization({ name: `dense_bn${k}` }));
      this.add(tf.layers.activation({ name: `dense_relu${k}`, activation: 'relu' }));
    }
    return this;
  }

  /** The 7-way softmax classifier every net ends with. */
  classifier(): this {
    return this.add(tf.layers.dense({
      name: 'predictions', units: NUM_CLASSES, activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: this.nextSeed() }),
    }));
  }

  build(name: string): tf.Sequential {
    return tf.sequential({ name, layers: this.layers });
  }
}
