import * as tf from '@tensorflow/tfjs';

/**
 * Inference-only rewrite of a trained Sequential model, giving the same outputs with fewer kernels:
 * - Conv2D/Dense (linear) → BatchNormalization → ReLU becomes one Conv2D/Dense with the batch-norm folded
 *   into its weights and bias and ReLU fused (one XNNPACK call instead of three kernels);
 * - Dropout layers are removed (identity at inference).
 * In the nets here batch-norm and ReLU were about a third of the kernel time for one face.
 * Models of any other shape are returned unchanged.
 */
export function foldForInference(model: tf.LayersModel): tf.LayersModel {
  if (!(model instanceof tf.Sequential)) return model;
  const layers = model.layers;
  if (!layers.some((l) => l.getClassName() === 'BatchNormalization' || l.getClassName() === 'Dropout')) return model;

  const rebuilt: { layer: tf.layers.Layer; weights: tf.Tensor[] }[] = [];
  let changed = false;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    const cls = layer.getClassName();
    if (cls === 'Dropout') {
      changed = true;
      continue;
    }
    const bn = layers[i + 1];
    const act = layers[i + 2];
    const config = layer.getConfig() as tf.serialization.ConfigDict;
    if ((cls === 'Conv2D' || cls === 'Dense') && config.activation === 'linear'
      && bn?.getClassName() === 'BatchNormalization' && foldableNorm(bn, layer)
      && act?.getClassName() === 'Activation' && (act.getConfig() as tf.serialization.ConfigDict).activation === 'relu') {
      const [kernel, bias] = foldWeights(layer, bn);
      const fused = { ...config, useBias: true, activation: 'relu' };
      rebuilt.push({ layer: fromConfig(layer, fused), weights: [kernel, bias] });
      i += 2;
      changed = true;
      continue;
    }
    rebuilt.push({ layer: fromConfig(layer, config), weights: layer.getWeights() });
  }
  if (!changed) return model;
  const folded = tf.sequential({ name: model.name, layers: rebuilt.map((r) => r.layer) });
  rebuilt.forEach((r) => r.layer.setWeights(r.weights));
  return folded;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type LayerClass = { fromConfig(cls: any, config: tf.serialization.ConfigDict): tf.layers.Layer };

function fromConfig(layer: tf.layers.Layer, config: tf.serialization.ConfigDict): tf.layers.Layer {
  const cls = layer.constructor as unknown as LayerClass;
  return cls.fromConfig(cls, config);
}

/** Batch-norm over the channel (last) axis of `prev`'s output, with mean and variance weights. */
function foldableNorm(bn: tf.layers.Layer, prev: tf.layers.Layer): boolean {
  const c = bn.getConfig() as tf.serialization.ConfigDict;
  const axis = Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : c.axis;
  const rank = (prev.outputShape as number[]).length;
  return (axis === -1 || axis === rank - 1) && bn.getWeights().length === 2 + (c.scale !== false ? 1 : 0) + (c.center !== false ? 1 : 0);
}

/** W' = W·γ/√(σ²+ε) per output channel; b' = (b − μ)·γ/√(σ²+ε) + β. */
function foldWeights(layer: tf.layers.Layer, bn: tf.layers.Layer): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const c = bn.getConfig() as tf.serialization.ConfigDict;
    const w = bn.getWeights();
    let k = 0;
    const gamma = c.scale !== false ? w[k++] : undefined;
    const beta = c.center !== false ? w[k++] : undefined;
    const mean = w[k++];
    const variance = w[k++];
    const [kernel, bias] = layer.getWeights();
    let scale = tf.rsqrt(variance.add(c.epsilon as number));
    if (gamma) scale = scale.mul(gamma);
    let b = (bias ?? tf.zerosLike(mean)).sub(mean).mul(scale);
    if (beta) b = b.add(beta);
    return [kernel.mul(scale), b];
  });
}
