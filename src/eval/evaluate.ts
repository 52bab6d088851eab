import * as tf from '@tensorflow/tfjs';
import { performance } from 'perf_hooks';
import { IMAGE_SIZE, NUM_CLASSES } from '../data/classes';
import { Split } from '../data/dataset';
import { LoadedNet, ensembleScores, predictScores } from '../models/classifier';
import { TtaMode } from '../models/crops';
import { FerError, invalidParameterError, EXIT } from '../util/errors';
import { Metrics, classificationMetrics } from './metrics';
import { yieldToEventLoop } from '../util/yield';

export const DEFAULT_EVAL_BATCH = 256;

export interface ScoreOptions {
  /** Test-time augmentation: true/'flip' = with the mirror image; '5crop'/'10crop' = multi-crop (± mirror). */
  tta?: boolean | TtaMode;
  batchSize?: number;
  /** Called after each batch with the number of images scored by this call so far. */
  onBatch?: (done: number) => void;
}

export interface Throughput {
  images: number;
  /** Wall time of the forward passes only (loading and metrics excluded). */
  seconds: number;
  imagesPerSecond: number;
}

export interface NetScores {
  net: number;
  /** n × 7 softmax scores, row-major. */
  scores: Float32Array;
  seconds: number;
}

export interface ModelReport {
  /** `net<k>` or `ensemble`. */
  name: string;
  nets: number[];
  /** Weight of each net in `nets`, summing to 1 ([1] for a single net). */
  weights: number[];
  metrics: Metrics;
  throughput: Throughput;
}


function throughput(images: number, seconds: number): Throughput {
  return { images, seconds, imagesPerSecond: seconds > 0 ? images / seconds : 0 };
}

/**
 * Score every image of a split with one model, a batch at a time, so memory stays bounded by the batch and
 * a progress bar can move. Yields to the event loop between batches (signals, progress redraws).
 */
export async function scoreSplit(model: tf.LayersModel, split: Split, opts: ScoreOptions = {}): Promise<{ scores: Float32Array; seconds: number }> {
  const batchSize = opts.batchSize ?? DEFAULT_EVAL_BATCH;
  const px = IMAGE_SIZE * IMAGE_SIZE;
  const scores = new Float32Array(split.count * NUM_CLASSES);
  let seconds = 0;
  for (let start = 0; start < split.count; start += batchSize) {
    const n = Math.min(batchSize, split.count - start);
    const t0 = performance.now();
    const batch = predictScores(model, split.images.subarray(start * px, (start + n) * px), n, { tta: opts.tta, batchSize: n });
    seconds += (performance.now() - t0) / 1000;
    scores.set(batch, start * NUM_CLASSES);
    opts.onBatch?.(start + n);
    await yieldToEventLoop();
  }
  return { scores, seconds };
}

/** Score a split with each net in turn; `onBatch` counts images across all nets. */
export async function scoreNets(nets: LoadedNet[], split: Split, opts: ScoreOptions = {}): Promise<NetScores[]> {
  const out: NetScores[] = [];
  for (const [i, { net, model }] of nets.entries()) {
    const { scores, seconds } = await scoreSplit(model, split, { ...opts, onBatch: (done) => opts.onBatch?.(i * split.count + done) });
    out.push({ net, scores, seconds });
  }
  return out;
}

/**
 * Metrics for each net and, when there are two or more, for their ensemble (mean of softmax scores, or
 * weighted by `weights`, one per net). The ensemble's time is the sum of its nets' times: it runs them all.
 */
export function reportScores(netScores: NetScores[], labels: Uint8Array, weights?: number[]): ModelReport[] {
  if (netScores.length === 0) throw new FerError('no model to evaluate');
  if (weights && weights.length !== netScores.length) {
    throw invalidParameterError('weights', `${weights.length} weights for ${netScores.length} nets (${netScores.map((s) => s.net).join(',')})`, undefined, EXIT.ERROR);
  }
  const reports: ModelReport[] = netScores.map((s) => ({
    name: `net${s.net}`,
    nets: [s.net],
    weights: [1],
    metrics: classificationMetrics(s.scores, labels),
    throughput: throughput(labels.length, s.seconds),
  }));
  if (netScores.length > 1) {
    const raw = weights ?? netScores.map(() => 1);
    const total = raw.reduce((a, b) => a + b, 0);
    if (!(total > 0) || raw.some((w) => w < 0)) throw invalidParameterError('weights', 'weights must be ≥ 0 with a positive sum', undefined, EXIT.ERROR);
    const t0 = performance.now();
    const scores = ensembleScores(netScores.map((s) => s.scores), raw);
    const combine = (performance.now() - t0) / 1000;
    reports.push({
      name: 'ensemble',
      nets: netScores.map((s) => s.net),
      weights: raw.map((w) => w / total),
      metrics: classificationMetrics(scores, labels),
      throughput: throughput(labels.length, netScores.reduce((a, s) => a + s.seconds, combine)),
    });
  }
  return reports;
}

/** Score a split with every net and report each net and their ensemble. */
export async function evaluateNets(nets: LoadedNet[], split: Split, opts: ScoreOptions & { weights?: number[] } = {}): Promise<ModelReport[]> {
  if (split.count === 0) throw new FerError('the split has no rows to evaluate');
  return reportScores(await scoreNets(nets, split, opts), split.labels, opts.weights);
}
