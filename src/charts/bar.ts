import { Canvas, Color } from './canvas';

/** A vertical bar chart on Canvas (one drawing → SVG and PNG). */
export interface BarChartSpec {
  title: string;
  labels: string[];
  values: number[];
  yLabel?: string;
  /** One colour for all bars, or one per bar. */
  colors?: Color | Color[];
  width?: number;
  height?: number;
  /** Text printed above each bar (default: the value). */
  valueFormat?: (v: number) => string;
}

const PALETTE: Color[] = ['#d62728', '#8c564b', '#9467bd', '#2ca02c', '#1f77b4', '#ff7f0e', '#7f7f7f'];

/** Tick step of 1, 2 or 5 × 10^k giving about `count` ticks up to `max`. */
function tickStep(max: number, count: number): number {
  if (!(max > 0)) return 1;
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return Math.max(1, (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag);
}

export function barChart(spec: BarChartSpec): Canvas {
  const { labels, values } = spec;
  if (labels.length !== values.length) throw new Error(`barChart: ${labels.length} labels for ${values.length} values`);
  const width = spec.width ?? Math.max(360, 90 + labels.length * 70);
  const height = spec.height ?? 320;
  const m = { left: 64, right: 16, top: 52, bottom: 44 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const fmt = spec.valueFormat ?? ((v: number) => String(v));
  const step = tickStep(Math.max(0, ...values), 5);
  const top = Math.max(step, Math.ceil(Math.max(0, ...values) / step) * step);
  const sy = (v: number): number => m.top + ph - (v / top) * ph;

  const c = new Canvas(width, height);
  c.text(width / 2, 24, spec.title, { size: 12, anchor: 'middle' });
  for (let v = 0; v <= top + step / 2; v += step) {
    c.line(m.left, sy(v), m.left + pw, sy(v), v === 0 ? '#000000' : '#e6e6e6', 1);
    c.text(m.left - 6, sy(v) + 4, String(v), { size: 9, anchor: 'end', color: '#444444' });
  }
  if (spec.yLabel) c.text(8, m.top - 18, spec.yLabel, { size: 9, color: '#444444' });
  const slot = pw / Math.max(1, labels.length);
  const barW = slot * 0.7;
  labels.forEach((label, i) => {
    const color = Array.isArray(spec.colors) ? spec.colors[i % spec.colors.length] : spec.colors ?? PALETTE[i % PALETTE.length];
    const x = m.left + i * slot + (slot - barW) / 2;
    const v = Math.max(0, values[i]);
    if (v > 0) c.rect(x, sy(v), barW, sy(0) - sy(v), { fill: color });
    c.text(x + barW / 2, sy(v) - 5, fmt(values[i]), { size: 9, anchor: 'middle' });
    c.text(x + barW / 2, m.top + ph + 18, label, { size: 10, anchor: 'middle' });
  });
  return c;
}

/** Class-distribution chart: one bar per class, in class order. */
export function classBarChart(title: string, classNames: string[], counts: number[]): Canvas {
  return barChart({ title, labels: classNames, values: counts, yLabel: 'images' });
}
