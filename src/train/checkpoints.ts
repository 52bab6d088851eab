import * as fs from 'fs';
import * as path from 'path';
import { MODEL_JSON, WEIGHTS_BIN } from '../models/io';
import { bestModelDir, lastModelDir, netDir } from '../models/checkpoints';
import { recoverDir, removeStaleTemps } from '../util/atomic';
import { RunLock, acquireLock } from '../util/lock';
import { checkOutputDir, checkOutputSafety } from '../util/outputSafety';
import { TRAIN_STATE } from './state';

/**
 * The checkpoint folder of one net while `fer train` writes it: <out>/net<k>/{best,last} are replaced whole after
 * each epoch (a recoverable swap, src/util/atomic.ts), under a run lock (src/util/lock.ts) so two runs never mix.
 */
export interface OpenedCheckpoints {
  lock: RunLock;
  /** One line per repair made to a previous run's interrupted swap (for a note). */
  repairs: string[];
}

/** A checkpoint copy written before the staged swap existed is complete when its files parse and add up. */
function completeModelDir(dir: string): boolean {
  try {
    const json = JSON.parse(fs.readFileSync(path.join(dir, MODEL_JSON), 'utf8')) as { weightsManifest?: { weights: { shape: number[]; dtype?: string }[] }[] };
    const floats = (json.weightsManifest ?? []).flatMap((g) => g.weights).reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
    if (fs.statSync(path.join(dir, WEIGHTS_BIN)).size !== floats * 4) return false;
    if (path.basename(dir).startsWith('.tmp-last-')) JSON.parse(fs.readFileSync(path.join(dir, TRAIN_STATE), 'utf8'));
    return true;
  } catch {
    return false;
  }
}

/**
 * Before training net `net` into `out`: check `out` can be written, take the run lock for <out>/net<k>, and repair
 * what a crashed run left there (newest complete best/ and last/ win, stale temps go). `inputs` (the dataset
 * folder) may not lie inside what training replaces.
 */
export function openCheckpoints(out: string, net: number, inputs: string[] = []): OpenedCheckpoints {
  checkOutputDir(out, '--out');
  const dir = netDir(out, net);
  checkOutputDir(dir, '--out');
  checkOutputSafety(inputs.map((p) => ({ path: p, what: 'input' })), [
    { path: bestModelDir(out, net), what: '--out checkpoint', kind: 'dir' },
    { path: lastModelDir(out, net), what: '--out checkpoint', kind: 'dir' },
  ]);
  const lock = acquireLock(dir, `fer train --out ${out} (net ${net})`);
  const repairs: string[] = [];
  if (lock.tookOverFrom !== undefined) repairs.push(`took over the lock of pid ${lock.tookOverFrom}, which is no longer running`);
  try {
    if (fs.existsSync(dir)) {
      for (const target of [bestModelDir(out, net), lastModelDir(out, net)]) {
        const r = recoverDir(target, completeModelDir);
        if (r.restored) repairs.push(`${target}: restored the newest complete copy left by an interrupted run (${path.basename(r.restored)})`);
        if (r.removed.length > 0) repairs.push(`${dir}: removed ${r.removed.length} incomplete or superseded cop${r.removed.length === 1 ? 'y' : 'ies'} left by an interrupted run`);
      }
      const temps = removeStaleTemps(dir);
      if (temps.length > 0) repairs.push(`${dir}: removed ${temps.length} temporary file${temps.length === 1 ? '' : 's'} left by an interrupted run`);
    }
  } catch (e) {
    lock.release();
    throw e;
  }
  return { lock, repairs };
}
