import * as path from 'path';
import { Chalk } from 'chalk';
import { CLASS_NAMES } from '../data/classes';
import { confusionHeatmap } from '../charts/heatmap';
import { writeFileAtomic } from '../util/atomic';
import { ConfusionMatrix } from './metrics';
import { ModelReport } from './evaluate';

/** The `fer eval --json` document (keys are stable; documented in README). */
export interface EvalReport {
  split: string;
  source: { kind: 'data' | 'csv'; path: string };
  images: number;
  classes: string[];
  tta: boolean;
  /** Which TTA: none, flip, 5crop, 10crop. */
  ttaMode: string;
  backend: string;
  batchSize: number;
  /** Split the ensemble weights were fitted on (`--fit-weights`), else null. */
  weightsFittedOn: string | null;
  models: (ModelReport & { files: string[] })[];
  files: string[];
}

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
const fix = (v: number, d = 3): string => v.toFixed(d);

function padCells(cells: string[], widths: number[], align: ('l' | 'r')[]): string[] {
  return cells.map((s, i) => (align[i] === 'l' ? s.padEnd(widths[i]) : s.padStart(widths[i])));
}

/** Rows of plain strings → aligned lines; `paint(row, col, padded)` colours a cell after padding. */
function table(rows: string[][], align: ('l' | 'r')[], paint?: (r: number, c: number, s: string) => string): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows
    .map((row, r) => padCells(row, widths, align).map((s, c) => (paint ? paint(r, c, s) : s)).join('  '))
    .join('\n');
}

export function summaryTable(models: ModelReport[], c: Chalk): string {
  const rows = [['model', 'accuracy', 'top-2', 'macro F1', 'weighted F1', 'log loss', 'img/s']];
  for (const m of models) {
    rows.push([
      m.name === 'ensemble' ? `ensemble (${m.nets.map((n, i) => `${n}:${m.weights[i].toFixed(2)}`).join(' ')})` : m.name,
      pct(m.metrics.accuracy), pct(m.metrics.top2Accuracy), fix(m.metrics.macroF1), fix(m.metrics.weightedF1), fix(m.metrics.logLoss),
      Math.round(m.throughput.imagesPerSecond).toString(),
    ]);
  }
  const best = Math.max(...models.map((m) => m.metrics.accuracy));
  return table(rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r'], (r, col, s) => {
    if (r === 0) return c.bold(s);
    if (col === 1 && models[r - 1].metrics.accuracy === best) return c.green.bold(s);
    return s;
  });
}

/** One row per class: support, then precision/recall/F1 of each model. */
export function perClassTable(models: ModelReport[], c: Chalk): string {
  const rows = [['class', 'support', ...models.map((m) => `${m.name} P/R/F1`)]];
  CLASS_NAMES.forEach((name, k) => {
    rows.push([name, String(models[0].metrics.perClass[k].support), ...models.map((m) => {
      const pc = m.metrics.perClass[k];
      return `${fix(pc.precision, 2)}/${fix(pc.recall, 2)}/${fix(pc.f1, 2)}`;
    })]);
  });
  return table(rows, ['l', 'r', ...models.map(() => 'r' as const)], (r, _col, s) => (r === 0 ? c.bold(s) : s));
}

/**
 * The confusion matrix as two aligned tables, counts then row percentages. Diagonal cells are green;
 * off-diagonal cells are red from 15% of the row, yellow from 5%, dim below.
 */
export function confusionTable(confusion: ConfusionMatrix, c: Chalk): string {
  const short = confusion.classes.map((n) => n.slice(0, 8));
  const paint = (values: number[][]) => (r: number, col: number, s: string): string => {
    if (r === 0 || col === 0) return c.bold(s);
    const v = values[r - 1][col - 1];
    if (r === col) return v >= 0.5 ? c.green.bold(s) : c.green(s);
    if (v >= 0.15) return c.red(s);
    if (v >= 0.05) return c.yellow(s);
    return c.dim(s);
  };
  const align = ['l' as const, ...short.map(() => 'r' as const), 'r' as const];
  const alignNormalized = align.slice(0, -1);
  const counts = [['true \\ predicted', ...short, 'support'], ...confusion.counts.map((row, r) => [
    confusion.classes[r], ...row.map(String), String(row.reduce((a, b) => a + b, 0)),
  ])];
  const normalized = [['true \\ predicted (row %)', ...short], ...confusion.normalized.map((row, r) => [
    confusion.classes[r], ...row.map((v) => (v * 100).toFixed(1)),
  ])];
  return `${table(counts, align, paint(confusion.normalized))}\n\n${table(normalized, alignNormalized, paint(confusion.normalized))}`;
}

function csvMatrix(classes: string[], rows: string[][]): string {
  return [['true\\predicted', ...classes].join(','), ...rows.map((row, r) => [classes[r], ...row].join(','))].join('\n') + '\n';
}

/**
 * Write one model's confusion matrix to `outDir` as `confusion-<model>-<split>` .csv (counts),
 * -normalized.csv (row fractions), .json (both), .png and .svg (heatmap). Returns the paths written.
 */
export async function writeConfusionFiles(outDir: string, model: string, split: string, confusion: ConfusionMatrix, title?: string): Promise<string[]> {
  const base = path.join(outDir, `confusion-${model}-${split}`);
  const files = {
    csv: `${base}.csv`,
    normalizedCsv: `${base}-normalized.csv`,
    json: `${base}.json`,
    png: `${base}.png`,
    svg: `${base}.svg`,
  };
  writeFileAtomic(files.csv, csvMatrix(confusion.classes, confusion.counts.map((row) => row.map(String))));
  writeFileAtomic(files.normalizedCsv, csvMatrix(confusion.classes, confusion.normalized.map((row) => row.map((v) => v.toFixed(6)))));
  writeFileAtomic(files.json, `${JSON.stringify({ model, split, ...confusion }, null, 2)}\n`);
  const canvas = confusionHeatmap(confusion, title ?? `${model} on ${split}`);
  writeFileAtomic(files.svg, canvas.toSVG());
  writeFileAtomic(files.png, await canvas.toPNG());
  return Object.values(files);
}
