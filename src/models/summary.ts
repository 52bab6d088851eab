import * as tf from '@tensorflow/tfjs';

/**
 * Keras-style model summaries with a FLOPs column. FLOPs are counted for one image's forward pass (inference):
 * 2 per multiply-accumulate in convs and dense layers (+1 per output for a bias), 2 per element for BatchNorm
 * (scale and shift), 1 per element for ReLU, 3 for softmax, k² per output for pooling; dropout, flatten: 0.
 */
export interface LayerRow {
  name: string;
  type: string;
  /** Output shape without the batch dimension. */
  outputShape: number[];
  params: number;
  flops: number;
  /** Short description of the layer's settings, e.g. "5×5, valid" or "rate 0.25". */
  detail: string;
}

export interface ModelSummary {
  name: string;
  layers: LayerRow[];
  totalParams: number;
  trainableParams: number;
  flops: number;
}

type Shape = (number | null)[];

function dims(shape: Shape | Shape[]): number[] {
  const s = (Array.isArray(shape[0]) ? shape[0] : shape) as Shape;
  return s.slice(1).map((d) => d ?? 0);
}

function count(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function activationFlops(activation: unknown, elements: number): number {
  if (activation === 'relu') return elements;
  if (activation === 'softmax') return 3 * elements;
  return 0;
}

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v), Number(v)];
}

function layerRow(layer: tf.layers.Layer): LayerRow {
  const type = layer.getClassName();
  const cfg = layer.getConfig() as Record<string, unknown>;
  const out = dims(layer.outputShape as Shape | Shape[]);
  const inp = dims((layer.input as tf.SymbolicTensor).shape as Shape);
  const outN = count(out);
  let flops = 0;
  let detail = '';
  switch (type) {
    case 'Conv2D': {
      const [kh, kw] = pair(cfg.kernelSize);
      const [sh, sw] = pair(cfg.strides);
      flops = 2 * outN * kh * kw * inp[2] + (cfg.useBias ? outN : 0) + activationFlops(cfg.activation, outN);
      detail = `${kh}×${kw}${sh > 1 || sw > 1 ? `/${sh}` : ''}, ${cfg.padding}`;
      break;
    }
    case 'Dense':
      flops = 2 * count(inp) * outN + (cfg.useBias ? outN : 0) + activationFlops(cfg.activation, outN);
      detail = cfg.activation === 'linear' ? '' : String(cfg.activation);
      break;
    case 'BatchNormalization':
      flops = 2 * outN;
      break;
    case 'Activation':
      flops = activationFlops(cfg.activation, outN);
      detail = String(cfg.activation);
      break;
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const [ph, pw] = pair(cfg.poolSize);
      const [sh] = pair(cfg.strides);
      flops = outN * ph * pw;
      detail = `${ph}×${pw}/${sh}`;
      break;
    }
    case 'GlobalAveragePooling2D':
      flops = count(inp);
      break;
    case 'Dropout':
      detail = `rate ${cfg.rate}`;
      break;
    default:
      break;
  }
  return { name: layer.name, type, outputShape: out, params: layer.countParams(), flops, detail };
}

export function summarizeModel(model: tf.LayersModel): ModelSummary {
  const layers = model.layers.map(layerRow);
  const trainableParams = model.trainableWeights.reduce((a, w) => a + count(w.shape as number[]), 0);
  return {
    name: model.name,
    layers,
    totalParams: layers.reduce((a, l) => a + l.params, 0),
    trainableParams,
    flops: layers.reduce((a, l) => a + l.flops, 0),
  };
}

/** 1234567 → "1,234,567". */
export function thousands(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 58_000_000 → "58.0 M". */
export function megas(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : `${n}`;
}

/** The summary as a text table, as Keras' model.summary() printed it for the seeds, plus FLOPs. */
export function formatSummary(s: ModelSummary, title?: string): string {
  const head = ['Layer (type)', 'Output shape', 'Param #', 'FLOPs'];
  const rows = s.layers.map((l) => [
    `${l.name} (${l.type}${l.detail ? `, ${l.detail}` : ''})`,
    `(${l.outputShape.join(', ')})`,
    thousands(l.params),
    megas(l.flops),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i >= 2 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('   ');
  const total = widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1);
  const out = [
    title ?? `Model: ${s.name}`,
    '='.repeat(total),
    line(head),
    '='.repeat(total),
    ...rows.map(line),
    '='.repeat(total),
    `Total params: ${thousands(s.totalParams)}`,
    `Trainable params: ${thousands(s.trainableParams)}`,
    `Non-trainable params: ${thousands(s.totalParams - s.trainableParams)}`,
    `FLOPs per image (forward): ${megas(s.flops)}FLOPs (${thousands(s.flops)})`,
  ];
  return out.join('\n');
}
