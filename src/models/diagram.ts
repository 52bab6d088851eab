import { Canvas, Color } from '../charts/canvas';
import { LayerRow, ModelSummary, megas, thousands } from './summary';

/**
 * A block diagram of one or more nets side by side (what Keras' plot_model drew for the seeds): one box per
 * layer, with BatchNorm and activation folded into the conv/dense box before them, and the output shape.
 */
interface Block {
  label: string;
  shape: string;
  color: Color;
}

const COLORS: Record<string, Color> = {
  Conv2D: '#cfe2f3', Dense: '#fce5cd', MaxPooling2D: '#d9ead3', AveragePooling2D: '#d9ead3', GlobalAveragePooling2D: '#d9ead3',
  Dropout: '#eeeeee', Flatten: '#eeeeee',
};

function shortType(l: LayerRow): string {
  switch (l.type) {
    case 'Conv2D': return `Conv ${l.detail.split(',')[0]}, ${l.outputShape[2]}`;
    case 'Dense': return l.name === 'predictions' ? `Dense ${l.outputShape[0]}, softmax` : `Dense ${l.outputShape[0]}`;
    case 'MaxPooling2D': return `MaxPool ${l.detail}`;
    case 'AveragePooling2D': return `AvgPool ${l.detail}`;
    case 'GlobalAveragePooling2D': return 'GlobalAvgPool';
    case 'Dropout': return `Dropout ${l.detail.replace('rate ', '')}`;
    default: return l.type;
  }
}

// The PNG's Hershey font is ASCII-only: write 5x5, not 5×5.
const ascii = (t: string): string => t.replace(/×/g, 'x');

export function blocksOf(s: ModelSummary): Block[] {
  const blocks: Block[] = [{ label: 'Input', shape: '48x48x1', color: '#ffffff' }];
  for (const l of s.layers) {
    const shape = l.outputShape.join('x');
    const last = blocks[blocks.length - 1];
    if ((l.type === 'BatchNormalization' || l.type === 'Activation') && blocks.length > 1) {
      last.label += l.type === 'BatchNormalization' ? ' + BN' : ` + ${l.detail === 'relu' ? 'ReLU' : l.detail}`;
      last.shape = shape;
      continue;
    }
    blocks.push({ label: ascii(shortType(l)), shape, color: l.name === 'predictions' ? '#f4cccc' : COLORS[l.type] ?? '#ffffff' });
  }
  return blocks;
}

export function modelDiagram(summaries: { title: string; summary: ModelSummary }[]): Canvas {
  const colW = 350;
  const boxW = 320;
  const boxH = 24;
  const gap = 10;
  const top = 58;
  const columns = summaries.map((s) => blocksOf(s.summary));
  const rows = Math.max(...columns.map((c) => c.length));
  const height = top + rows * (boxH + gap) + 30;
  const c = new Canvas(colW * summaries.length, height);
  summaries.forEach(({ title, summary }, i) => {
    const cx = i * colW + colW / 2;
    const x = cx - boxW / 2;
    c.text(cx, 22, title, { size: 14, anchor: 'middle', bold: true });
    c.text(cx, 42, `${thousands(summary.totalParams)} params, ${megas(summary.flops)}FLOPs/image`, { size: 10, anchor: 'middle', color: '#444444' });
    columns[i].forEach((b, k) => {
      const y = top + k * (boxH + gap);
      if (k > 0) c.line(cx, y - gap, cx, y, '#666666', 1);
      c.rect(x, y, boxW, boxH, { fill: b.color, stroke: '#666666' });
      c.text(x + 6, y + 16, b.label, { size: 9 });
      c.text(x + boxW - 6, y + 16, b.shape, { size: 9, anchor: 'end', color: '#333333' });
    });
  });
  return c;
}
