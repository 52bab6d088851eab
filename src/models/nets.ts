import * as tf from '@tensorflow/tfjs';
import { FerError, EXIT } from '../util/errors';
import { NET_IDS, NetId } from './checkpoints';
import { NetOptions } from './layers';
import { buildNet1 } from './net1';
import { buildNet2 } from './net2';
import { buildNet3 } from './net3';

export { NetOptions } from './layers';

/** One line per net for tables and --help: where it comes from. */
export const NET_TITLES: Record<NetId, string> = {
  1: 'DeepFace-style (the ensemble project\'s first net): 5×5 conv, pooling, two dense-1024',
  2: 'Keras project: conv 32/64(5×5)/128/256, each BN+ReLU+pool+dropout, dense 256 + 512',
  3: 'VGG-style: 3×3 conv pairs 32→256 with BN and dropout, dense 256',
};

const BUILDERS: Record<NetId, (opts: NetOptions) => tf.Sequential> = { 1: buildNet1, 2: buildNet2, 3: buildNet3 };

export function isNetId(n: number): n is NetId {
  return (NET_IDS as readonly number[]).includes(n);
}

/**
 * Build net `id` (1, 2 or 3) with fresh weights: input [48, 48, 1] float in [0, 1] (facesToTensor), output
 * softmax over the 7 classes. Same seed → same initial weights.
 */
export function buildNet(id: number, seed = 1, opts: Omit<NetOptions, 'seed'> = {}): tf.Sequential {
  if (!isNetId(id)) throw new FerError(`--net ${id}: no such net (choose 1, 2 or 3)`, EXIT.USAGE);
  return BUILDERS[id]({ ...opts, seed });
}

/** Parse a --net value: "1", "2", "3", "1,3" or "all". */
export function parseNetList(value: string): NetId[] {
  if (value.trim() === 'all') return [...NET_IDS];
  const parts = value.split(',').map((s) => s.trim());
  const out: NetId[] = [];
  for (const p of parts) {
    const n = Number(p);
    if (p === '' || !isNetId(n)) throw new FerError(`--net ${value}: expected 1, 2, 3, a list like 1,3, or all`, EXIT.USAGE);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}
