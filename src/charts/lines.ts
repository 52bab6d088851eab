import { Canvas, Color } from './canvas';

/** Line charts on Canvas (SVG and PNG from one drawing): used for training curves. */
export interface Series {
  name: string;
  color: Color;
  /** [x, y] points; non-finite y values are skipped. */
  points: [number, number][];
  dashed?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Format y tick labels, e.g. as percentages. */
  yFormat?: (v: number) => string;
}

/** "Nice" tick step (1, 2 or 5 × 10^k) giving about `count` ticks over `range`. */
export function niceStep(range: number, count: number): number {
  if (!(range > 0)) return 1;
  const raw = range / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

function trimNumber(v: number): string {
  return Number(v.toPrecision(6)).toString();
}

/** Draw one panel into `c` inside the box (x, y, w, h). */
export function drawPanel(c: Canvas, p: Panel, x: number, y: number, w: number, h: number): void {
  const m = { left: 58, right: 12, top: 30, bottom: 46 };
  const px = x + m.left;
  const py = y + m.top;
  const pw = w - m.left - m.right;
  const ph = h - m.top - m.bottom;
  const pts = p.series.flatMap((s) => s.points.filter(([, v]) => Number.isFinite(v)));
  const xs = pts.map(([a]) => a);
  const ys = pts.map(([, b]) => b);
  let x0 = xs.length ? Math.min(...xs) : 0;
  let x1 = xs.length ? Math.max(...xs) : 1;
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
  let y0 = ys.length ? Math.min(...ys) : 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const yStep = niceStep(y1 - y0, 5);
  y0 = Math.floor(y0 / yStep) * yStep;
  y1 = Math.ceil(y1 / yStep) * yStep;
  const sx = (v: number): number => px + ((v - x0) / (x1 - x0)) * pw;
  const sy = (v: number): number => py + ph - ((v - y0) / (y1 - y0)) * ph;

  c.text(x + w / 2, y + 20, p.title, { size: 13, anchor: 'middle', bold: true });
  const fmt = p.yFormat ?? trimNumber;
  for (let v = y0; v <= y1 + yStep / 2; v += yStep) {
    c.line(px, sy(v), px + pw, sy(v), '#e6e6e6', 1);
    c.text(px - 6, sy(v) + 4, fmt(v), { size: 9, anchor: 'end', color: '#444444' });
  }
  const xStep = Math.max(1, niceStep(x1 - x0, 8));
  for (let v = Math.ceil(x0 / xStep) * xStep; v <= x1 + 1e-9; v += xStep) {
    c.line(sx(v), py + ph, sx(v), py + ph + 4, '#444444', 1);
    c.text(sx(v), py + ph + 17, trimNumber(v), { size: 9, anchor: 'middle', color: '#444444' });
  }
  c.rect(px, py, pw, ph, { stroke: '#888888' });
  c.text(px + pw / 2, y + h - 8, p.xLabel, { size: 10, anchor: 'middle' });
  c.text(x + 4, py - 8, p.yLabel, { size: 10 });

  const drawn: [number, number][][] = [];
  for (const s of p.series) {
    const line = s.points.filter(([, v]) => Number.isFinite(v)).map(([a, b]) => [sx(a), sy(b)] as [number, number]);
    drawn.push(line);
    c.polyline(line, s.color, s.dashed ? 1 : 2);
    // A single point is invisible as a line: mark every point with a small square.
    for (const [a, b] of line) c.rect(a - 2, b - 2, 4, 4, { fill: s.color });
  }
  // Legend on a white box, in the corner the curves cross least.
  const lw = 24 + Math.max(...p.series.map((s) => Canvas.textWidth(s.name, 10))) + 10;
  const lh = p.series.length * 15 + 6;
  const samples = drawn.flatMap((line) => line.slice(1).flatMap(([bx, by], i) => {
    const [ax, ay] = line[i];
    return Array.from({ length: 41 }, (_, k) => [ax + ((bx - ax) * k) / 40, ay + ((by - ay) * k) / 40] as [number, number]);
  }).concat(line));
  const corners: [number, number][] = [
    [px + pw - lw - 6, py + 6], [px + pw - lw - 6, py + ph - lh - 6], [px + 6, py + 6], [px + 6, py + ph - lh - 6],
  ];
  const crossings = corners.map(([cx, cy]) => samples.filter(([a, b]) => a >= cx - 12 && a <= cx + lw + 12 && b >= cy - 12 && b <= cy + lh + 12).length);
  const [lx, ly] = corners[crossings.indexOf(Math.min(...crossings))];
  c.rect(lx, ly, lw, lh, { fill: '#ffffff', stroke: '#cccccc' });
  p.series.forEach((s, i) => {
    const ty = ly + 15 + i * 15;
    c.line(lx + 5, ty - 4, lx + 23, ty - 4, s.color, 2);
    c.text(lx + 28, ty, s.name, { size: 10 });
  });
}

/** Panels side by side on one canvas. */
export function lineChart(panels: Panel[], opts: { panelWidth?: number; height?: number } = {}): Canvas {
  const pw = opts.panelWidth ?? 420;
  const h = opts.height ?? 300;
  const c = new Canvas(pw * panels.length, h);
  panels.forEach((p, i) => drawPanel(c, p, i * pw, 0, pw, h));
  return c;
}
