import * as path from 'path';
import { writeFileAtomic } from '../util/atomic';
import { lineChart } from '../charts/lines';
import { Canvas } from '../charts/canvas';
import { EpochRecord } from './state';

/** Files written beside best/ and last/ in <out>/net<k>/ after every epoch. */
export const HISTORY_FILES = { json: 'history.json', csv: 'history.csv', svg: 'curves.svg', png: 'curves.png' } as const;

const CSV_COLUMNS: (keyof EpochRecord)[] = ['epoch', 'loss', 'acc', 'val_loss', 'val_acc', 'lr', 'seconds', 'imgPerSec', 'peakRssMB', 'lrChangedBy'];

export function historyCsv(history: EpochRecord[]): string {
  // With --ema, the trained weights' val accuracy too (val_acc is the average's); other runs keep the old columns.
  const cols: (keyof EpochRecord)[] = history.some((r) => r.rawValAcc !== undefined) ? [...CSV_COLUMNS, 'rawValAcc'] : CSV_COLUMNS;
  const rows = history.map((r) => cols.map((k) => String(r[k] ?? '')).join(','));
  return [cols.join(','), ...rows].join('\n') + '\n';
}

/** Loss and accuracy, train vs validation, per epoch. */
export function curvesChart(history: EpochRecord[], title: string): Canvas {
  const pts = (k: 'loss' | 'acc' | 'val_loss' | 'val_acc'): [number, number][] => history.map((r) => [r.epoch, r[k]]);
  return lineChart([
    {
      title: `${title}: loss`, xLabel: 'epoch', yLabel: 'cross-entropy',
      series: [{ name: 'train', color: '#1f77b4', points: pts('loss') }, { name: 'validation', color: '#d62728', points: pts('val_loss') }],
    },
    {
      title: `${title}: accuracy`, xLabel: 'epoch', yLabel: 'accuracy',
      yFormat: (v) => `${Math.round(v * 1000) / 10}%`,
      series: [{ name: 'train', color: '#1f77b4', points: pts('acc') }, { name: 'validation', color: '#d62728', points: pts('val_acc') }],
    },
  ]);
}

/** Write history.json / .csv and the curves (SVG and PNG) into `dir`, each atomically. */
export async function writeHistory(dir: string, history: EpochRecord[], title: string): Promise<string[]> {
  const files = Object.values(HISTORY_FILES).map((f) => path.join(dir, f));
  writeFileAtomic(files[0], JSON.stringify(history, null, 2) + '\n');
  writeFileAtomic(files[1], historyCsv(history));
  const chart = curvesChart(history, title);
  writeFileAtomic(files[2], chart.toSVG());
  writeFileAtomic(files[3], await chart.toPNG());
  return files;
}
