import * as fs from 'fs';
import * as path from 'path';
import { MODEL_JSON } from './io';
import { NET_IDS } from './nets';

/**
 * Checkpoint layout, shared by `fer train` (writer) and eval/predict/video (readers):
 *   <models>/net<k>/best/   model.json + weights.bin of the best epoch by validation accuracy
 *   <models>/net<k>/last/   the last finished epoch, plus training state for --resume
 */
/** Where `fer train` writes unless --out says otherwise (relative to the current folder). */
export const DEFAULT_MODELS_DIR = 'checkpoints';

/**
 * The models shipped with fer, found relative to the installed package (not the current folder), so a global
 * install, `npm link` or `npx fer` finds them from anywhere. eval/predict/compare/video read these unless --models.
 */
export const SHIPPED_MODELS_DIR = path.resolve(__dirname, '..', '..', 'checkpoints');

// The net ids come from the registry (nets.ts); re-exported for the checkpoint readers.
export { NET_IDS, NetId } from './nets';

export function netDir(modelsDir: string, net: number): string {
  return path.join(modelsDir, `net${net}`);
}

export function bestModelDir(modelsDir: string, net: number): string {
  return path.join(netDir(modelsDir, net), 'best');
}

export function lastModelDir(modelsDir: string, net: number): string {
  return path.join(netDir(modelsDir, net), 'last');
}

/** Nets that have a `best` model in `modelsDir`, in order. */
export function findTrainedNets(modelsDir: string): number[] {
  return NET_IDS.filter((n) => fs.existsSync(path.join(bestModelDir(modelsDir, n), MODEL_JSON)));
}
