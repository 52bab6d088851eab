import * as tf from '@tensorflow/tfjs';

/**
 * Adam (Kingma & Ba) with optional decoupled weight decay (AdamW, Loshchilov & Hutter). Our own rather than
 * tf.train.adam because its whole state (step, moments) must round-trip through a checkpoint byte for byte, and
 * the LR must change between epochs (ReduceLROnPlateau): both are plain fields here.
 */
export interface AdamOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay per step, as a fraction of LR × weight; applied to `decay` variables only. */
  weightDecay: number;
}

export const DEFAULT_ADAM: AdamOptions = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0 };

export interface AdamState {
  step: number;
  /** First and second moments, one array per variable, in variable order. */
  m: Float32Array[];
  v: Float32Array[];
}

export class Adam {
  readonly options: AdamOptions;
  step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  /** `decay[i]` says whether variable i gets weight decay (kernels yes; biases and BN parameters no). */
  constructor(readonly variables: tf.Variable[], readonly decay: boolean[], options: Partial<AdamOptions> = {}) {
    this.options = { ...DEFAULT_ADAM, ...options };
    // tidy: the zeros tensor would otherwise outlive the variable made from it.
    this.m = variables.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
    this.v = variables.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
  }

  /** Apply one update with gradients in variable order. */
  apply(grads: tf.Tensor[], lr: number): void {
    const { beta1, beta2, epsilon, weightDecay } = this.options;
    this.step += 1;
    const t = this.step;
    const stepSize = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
    tf.tidy(() => {
      this.variables.forEach((x, i) => {
        const g = grads[i];
        const m = this.m[i].mul(beta1).add(g.mul(1 - beta1));
        const v = this.v[i].mul(beta2).add(g.square().mul(1 - beta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        let next = x.sub(m.div(v.sqrt().add(epsilon)).mul(stepSize));
        if (weightDecay > 0 && this.decay[i]) next = next.sub(x.mul(lr * weightDecay));
        x.assign(next);
      });
    });
  }

  getState(): AdamState {
    return { step: this.step, m: this.m.map((t) => t.dataSync() as Float32Array), v: this.v.map((t) => t.dataSync() as Float32Array) };
  }

  setState(state: AdamState): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw new Error(`optimizer state has ${state.m.length} variables, model has ${this.m.length}`);
    }
    this.step = state.step;
    tf.tidy(() => {
      this.m.forEach((t, i) => t.assign(tf.tensor(state.m[i], t.shape)));
      this.v.forEach((t, i) => t.assign(tf.tensor(state.v[i], t.shape)));
    });
  }

  dispose(): void {
    this.m.forEach((t) => t.dispose());
    this.v.forEach((t) => t.dispose());
  }
}
