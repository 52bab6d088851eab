import * as tf from '@tensorflow/tfjs';
import { FerError } from '../util/errors';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendInfo {
  /** What was asked for: 'auto' or a forced name. */
  requested: string;
  /** The tfjs backend now active. */
  name: BackendName;
  /** One line for users, e.g. "wasm (XNNPACK, SIMD, fast conv gradients)". */
  description: string;
}

/**
 * Select and initialise the compute backend. `requested` is a flag value ('auto' or a name); FER_BACKEND
 * overrides 'auto'. Placeholder: the full selection (issue 3) replaces this body, keeping the signature.
 */
export async function initBackend(requested: string = 'auto'): Promise<BackendInfo> {
  const want = requested === 'auto' && process.env.FER_BACKEND ? process.env.FER_BACKEND : requested;
  if (want !== 'auto' && !BACKEND_NAMES.includes(want as BackendName)) {
    throw new FerError(`--backend ${want}: unknown backend (choose auto, ${BACKEND_NAMES.join(', ')})`);
  }
  const name: BackendName = want === 'cpu' ? 'cpu' : 'wasm';
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(name))) throw new FerError(`backend ${name} failed to initialise`);
  await tf.ready();
  return { requested, name, description: name };
}
