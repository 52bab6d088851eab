import { Canvas, Color } from './canvas';

/** A labelled grid of coloured cells, each with one or two lines of text; renders to SVG and PNG via Canvas. */
export interface HeatmapSpec {
  rowLabels: string[];
  colLabels: string[];
  /** Colour intensity of each cell, 0..1 (clamped). */
  values: number[][];
  /** Text lines drawn in each cell (first line larger). */
  cellText: string[][][];
  title?: string;
  /** Axis names: above the column labels, and above the row labels. */
  xTitle?: string;
  yTitle?: string;
  footer?: string;
  cellWidth?: number;
  cellHeight?: number;
}

// A white → dark-blue ramp (ColorBrewer "Blues" end points and midpoint).
const RAMP: [number, [number, number, number]][] = [
  [0, [247, 251, 255]],
  [0.5, [107, 174, 214]],
  [1, [8, 48, 107]],
];

export function rampColor(value: number): Color {
  const v = Math.min(1, Math.max(0, Number.isFinite(value) ? value : 0));
  let i = 0;
  while (i < RAMP.length - 2 && v > RAMP[i + 1][0]) i++;
  const [v0, c0] = RAMP[i];
  const [v1, c1] = RAMP[i + 1];
  const t = (v - v0) / (v1 - v0);
  const hex = c0.map((c, k) => Math.round(c + (c1[k] - c) * t).toString(16).padStart(2, '0')).join('');
  return `#${hex}`;
}

export function heatmapCanvas(spec: HeatmapSpec): Canvas {
  const rows = spec.rowLabels.length;
  const cols = spec.colLabels.length;
  const cw = spec.cellWidth ?? 80;
  const ch = spec.cellHeight ?? 56;
  const labelSize = 11;
  const rowLabelWidth = Math.max(...spec.rowLabels.map((l) => Canvas.textWidth(l, labelSize)), Canvas.textWidth(spec.yTitle ?? '', 12));
  const left = Math.ceil(16 + rowLabelWidth + 10);
  const top = (spec.title ? 44 : 8) + (spec.xTitle ? 22 : 0) + 22;
  const width = Math.max(left + cols * cw + 16, spec.title ? Math.ceil(Canvas.textWidth(spec.title, 14) + 32) : 0);
  const height = top + rows * ch + (spec.footer ? 34 : 12);
  const canvas = new Canvas(width, height);

  if (spec.title) canvas.text(width / 2, 26, spec.title, { size: 14, anchor: 'middle', bold: true });
  const gridCenterX = left + (cols * cw) / 2;
  if (spec.xTitle) canvas.text(gridCenterX, top - 30, spec.xTitle, { size: 12, anchor: 'middle', bold: true });
  if (spec.yTitle) canvas.text(left - 10, top - 8, spec.yTitle, { size: 12, anchor: 'end', bold: true });
  spec.colLabels.forEach((label, c) => canvas.text(left + c * cw + cw / 2, top - 8, label, { size: labelSize, anchor: 'middle' }));

  for (let r = 0; r < rows; r++) {
    const y = top + r * ch;
    canvas.text(left - 10, y + ch / 2 + labelSize / 2, spec.rowLabels[r], { size: labelSize, anchor: 'end' });
    for (let c = 0; c < cols; c++) {
      const x = left + c * cw;
      const v = spec.values[r]?.[c] ?? 0;
      canvas.rect(x, y, cw, ch, { fill: rampColor(v), stroke: '#d0d0d0' });
      const ink = v > 0.55 ? '#ffffff' : '#1a1a1a';
      const lines = spec.cellText[r]?.[c] ?? [];
      if (lines.length === 1) {
        canvas.text(x + cw / 2, y + ch / 2 + 6, lines[0], { size: 13, anchor: 'middle', color: ink });
      } else if (lines.length >= 2) {
        canvas.text(x + cw / 2, y + ch / 2 - 3, lines[0], { size: 13, anchor: 'middle', color: ink });
        canvas.text(x + cw / 2, y + ch / 2 + 16, lines[1], { size: 10, anchor: 'middle', color: ink });
      }
    }
  }
  if (spec.footer) canvas.text(left, top + rows * ch + 24, spec.footer, { size: 10, color: '#555555' });
  return canvas;
}

/** A confusion matrix (rows true, columns predicted) with counts and row percentages in each cell. */
export function confusionHeatmap(confusion: { classes: string[]; counts: number[][]; normalized: number[][] }, title?: string): Canvas {
  return heatmapCanvas({
    rowLabels: confusion.classes,
    colLabels: confusion.classes,
    values: confusion.normalized,
    cellText: confusion.counts.map((row, r) => row.map((count, c) => [String(count), `${(confusion.normalized[r][c] * 100).toFixed(1)}%`])),
    title,
    xTitle: 'predicted',
    yTitle: 'true',
    footer: 'cell: count, and % of the true class (row); colour = row %',
  });
}
