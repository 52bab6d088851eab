import * as tf from '@tensorflow/tfjs';
import { AdamState } from './adam';

/**
 * SGD with (Nesterov) momentum and L2 weight decay on the `decay` variables (kernels), as PyTorch's torch.optim.SGD
 * computes it:  g ← g + wd·w;  v ← μ·v + g;  w ← w − lr·(g + μ·v)  (Nesterov)  or  w ← w − lr·v  (classic).
 * Its state (the velocities) round-trips through optimizer.bin like Adam's moments, as one slot per variable.
 */
export interface SgdOptions {
  momentum: number;
  nesterov: boolean;
  /** L2 coefficient added to the gradient of `decay` variables (PyTorch's weight_decay, e.g. 5e-4). */
  weightDecay: number;
}

export const DEFAULT_SGD: SgdOptions = { momentum: 0.9, nesterov: true, weightDecay: 5e-4 };

export class Sgd {
  readonly options: SgdOptions;
  step = 0;
  private readonly velocity: tf.Variable[];

  constructor(readonly variables: tf.Variable[], readonly decay: boolean[], options: Partial<SgdOptions> = {}) {
    this.options = { ...DEFAULT_SGD, ...options };
    this.velocity = variables.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
  }

  apply(grads: tf.Tensor[], lr: number): void {
    const { momentum, nesterov, weightDecay } = this.options;
    this.step += 1;
    tf.tidy(() => {
      this.variables.forEach((x, i) => {
        let g = grads[i];
        if (weightDecay > 0 && this.decay[i]) g = g.add(x.mul(weightDecay));
        const v = this.velocity[i].mul(momentum).add(g);
        this.velocity[i].assign(v);
        const update = nesterov ? g.add(v.mul(momentum)) : v;
        x.assign(x.sub(update.mul(lr)));
      });
    });
  }

  /** The velocities as the first slot (`m`); `v` is empty. */
  getState(): AdamState {
    return { step: this.step, m: this.velocity.map((t) => t.dataSync() as Float32Array), v: [] };
  }

  setState(state: AdamState): void {
    if (state.m.length !== this.velocity.length) throw new Error(`optimizer state has ${state.m.length} variables, model has ${this.velocity.length}`);
    this.step = state.step;
    tf.tidy(() => this.velocity.forEach((t, i) => t.assign(tf.tensor(state.m[i], t.shape))));
  }

  dispose(): void {
    this.velocity.forEach((t) => t.dispose());
  }
}
