import * as tf from '@tensorflow/tfjs';
import { NetBuilder, NetOptions } from './layers';

/**
 * Net 3 — lineage: the seeds' VGG-style project: pairs of 3×3 convs (64, 128, 256, 512) with BatchNorm, max-pool
 * and dropout after each pair, then a dense head.
 * Modernised for a CPU: widths 32 → 256 instead of 64 → 512, and the first stage (at full 48×48 resolution,
 * where a conv pair costs the most) is a single conv. The deepest of the three and the one meant to be the
 * most accurate.
 */
export function buildNet3(opts: NetOptions = {}): tf.Sequential {
  return new NetBuilder(opts)
    .convBnRelu(32, 3).maxPool() // 24×24
    .convBnRelu(64, 3).convBnRelu(64, 3).maxPool().dropout(0.2) // 12×12
    .convBnRelu(128, 3).convBnRelu(128, 3).maxPool().dropout(0.3) // 6×6
    .convBnRelu(256, 3).convBnRelu(256, 3).maxPool().dropout(0.4) // 3×3
    .flatten()
    .dense(256, true).dropout(0.5)
    .classifier()
    .build('net3');
}
