import * as tf from '@tensorflow/tfjs';
import { NetBuilder, NetOptions } from './layers';

/**
 * Net 1 — lineage: the first network of the seeds' ensemble project, itself the DeepFace-style FER net
 * (a 5×5 conv, overlapping pooling, two 3×3 conv pairs with average pooling, then two dense-1024 layers).
 * Kept as the seed had it (valid padding, 5×5/2 max-pool, 3×3/2 average pools, dropout 0.2), modernised only
 * with BatchNorm after every conv, which lets it train at a higher LR in few epochs.
 * The cheapest of the three in FLOPs; most of its parameters are in the dense head.
 */
export function buildNet1(opts: NetOptions = {}): tf.Sequential {
  return new NetBuilder(opts)
    .convBnRelu(64, 5, 'valid') // 44×44
    .maxPool(5, 2) // 20×20
    .convBnRelu(64, 3, 'valid')
    .convBnRelu(64, 3, 'valid') // 16×16
    .avgPool(3, 2) // 7×7
    .convBnRelu(128, 3, 'valid')
    .convBnRelu(128, 3, 'valid') // 3×3
    .avgPool(3, 2) // 1×1
    .flatten()
    .dense(1024).dropout(0.2)
    .dense(1024).dropout(0.2)
    .classifier()
    .build('net1');
}
