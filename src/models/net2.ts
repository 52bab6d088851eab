import * as tf from '@tensorflow/tfjs';
import { NetBuilder, NetOptions } from './layers';

/**
 * Net 2 — lineage: the seeds' Keras project: four conv blocks (64, 128 with a 5×5 kernel, 512, 512), each
 * Conv → BatchNorm → ReLU → 2×2 max-pool → dropout 0.25, then dense 256 and dense 512 (each with BatchNorm,
 * ReLU, dropout) and the softmax.
 * Modernised for a CPU: widths 32 / 64 (5×5) / 128 / 256 instead of 64 / 128 / 512 / 512, which cuts the
 * FLOPs about 5× (the 5×5 conv and the two 512-wide convs dominated) while keeping the block structure.
 */
export function buildNet2(opts: NetOptions = {}): tf.Sequential {
  return new NetBuilder(opts)
    .convBnRelu(32, 3).maxPool().dropout(0.25) // 24×24
    .convBnRelu(64, 5).maxPool().dropout(0.25) // 12×12
    .convBnRelu(128, 3).maxPool().dropout(0.25) // 6×6
    .convBnRelu(256, 3).maxPool().dropout(0.25) // 3×3
    .flatten()
    .dense(256, true).dropout(0.25)
    .dense(512, true).dropout(0.25)
    .classifier()
    .build('net2');
}
