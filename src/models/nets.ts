import * as tf from '@tensorflow/tfjs';
import { EXIT, invalidParameterError } from '../util/errors';
import { NetOptions } from './layers';
import { buildNet1 } from './net1';
import { buildNet2 } from './net2';
import { buildNet3 } from './net3';

export { NetOptions } from './layers';

/** One entry of the net registry. */
export interface NetSpec {
  /** The net's number: `net<id>` in checkpoint folders, reports and `--net`. */
  readonly id: number;
  /** One line for tables and --help: where the architecture comes from. */
  readonly title: string;
  /** Build the net with fresh weights (same seed → same weights). */
  readonly build: (opts: NetOptions) => tf.Sequential;
}

/**
 * The nets fer knows, in order: the single place a net is declared. Everything else (NET_IDS, NET_TITLES,
 * buildNet, parseNetList, the CLI's --net help) derives from it.
 *
 * @example
 * ```ts
 * import { NETS } from 'fer';
 * for (const net of NETS) console.log(`net${net.id}: ${net.title}`);
 * const model = NETS[2].build({ seed: 1, width: 0.5 }); // net 3 at half width, fresh weights
 * model.summary();
 * ```
 */
export const NETS = [
  { id: 1, title: 'DeepFace-style (the ensemble project\'s first net): 5×5 conv, pooling, two dense-1024', build: buildNet1 },
  { id: 2, title: 'Keras project: conv 32/64(5×5)/128/256, each BN+ReLU+pool+dropout, dense 256 + 512', build: buildNet2 },
  { id: 3, title: 'VGG-style: 3×3 conv pairs 32→256 with BN and dropout, dense 256', build: buildNet3 },
] as const satisfies readonly NetSpec[];

/** A registered net's number. */
export type NetId = (typeof NETS)[number]['id'];

/** The registered nets' numbers, in order. */
export const NET_IDS: readonly NetId[] = NETS.map((n) => n.id);

export function isNetId(n: number): n is NetId {
  return (NET_IDS as readonly number[]).includes(n);
}

/** The registry entry of net `id`, or undefined. */
export function getNet(id: number): NetSpec | undefined {
  return NETS.find((n) => n.id === id);
}

/** The ids as prose, for messages and --help: "1, 2 or 3". */
export function netIdsText(): string {
  return NET_IDS.length === 1 ? String(NET_IDS[0]) : `${NET_IDS.slice(0, -1).join(', ')} or ${NET_IDS[NET_IDS.length - 1]}`;
}

/** What a net list may be, for messages and --help: "1, 2, 3, a list like 1,3, or all". */
export function netListText(): string {
  const example = NET_IDS.length > 1 ? `${NET_IDS[0]},${NET_IDS[NET_IDS.length - 1]}` : String(NET_IDS[0]);
  return `${NET_IDS.join(', ')}, a list like ${example}, or all`;
}

/** One line per net for tables and --help (derived from NETS). */
export const NET_TITLES = Object.fromEntries(NETS.map((n) => [n.id, n.title])) as Record<NetId, string>;

/**
 * Build net `id` with fresh weights: input [48, 48, 1] float in [0, 1] (facesToTensor), output softmax over the
 * 7 classes. Same seed → same initial weights. Throws an InvalidParameterError naming `net` for an unknown id.
 */
export function buildNet(id: number, seed = 1, opts: Omit<NetOptions, 'seed'> = {}): tf.Sequential {
  const spec = getNet(id);
  if (!spec) throw invalidParameterError('net', `no such net (choose ${netIdsText()})`, id, EXIT.USAGE);
  return spec.build({ ...opts, seed });
}

/**
 * Parse a net list: "1", "2", "3", "1,3" or "all" (duplicates dropped, order kept). Throws an
 * InvalidParameterError naming `option` (default `net`, the CLI's --net).
 */
export function parseNetList(value: string, option = 'net'): NetId[] {
  if (value.trim() === 'all') return [...NET_IDS];
  const parts = value.split(',').map((s) => s.trim());
  const out: NetId[] = [];
  for (const p of parts) {
    const n = Number(p);
    if (p === '' || !isNetId(n)) throw invalidParameterError(option, `expected ${netListText()}`, value, EXIT.USAGE);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}
