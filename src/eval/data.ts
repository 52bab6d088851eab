import * as fs from 'fs';
import * as path from 'path';
import { MANIFEST, SPLITS, Split, SplitName, loadPreparedSplit, splitFiles } from '../data/dataset';
import { readNpy } from '../data/npy';
import { EXIT, InvalidParameterError, OptionNamer } from '../util/errors';

/** Rows in a prepared split without loading its images (0 when the split is absent). */
export function preparedSplitRows(dir: string, split: SplitName): number {
  const { labels } = splitFiles(dir, split);
  if (!fs.existsSync(labels)) return 0;
  return readNpy(labels).shape[0] ?? 0;
}

/** The error for an empty split, naming it and the splits that do have rows. */
export function emptySplitError(source: string, split: string, rowsOf: (s: SplitName) => number): InvalidParameterError {
  const others = SPLITS.filter((s) => s !== split && rowsOf(s) > 0)
    // Evaluating on the training split measures memorisation; suggest it last.
    .sort((a, b) => Number(a === 'train') - Number(b === 'train'));
  const why = split === 'test' ? ' (FER2013\'s PrivateTest rows are withheld from this data)' : '';
  const hint = (n: OptionNamer): string => (others.length > 0 ? `; evaluate another split with ${others.map((s) => `${n('split')} ${s}`).join(' or ')}` : '');
  return new InvalidParameterError('split', (n) => `${source}: split '${split}' has no rows${why}${hint(n)}`, EXIT.ERROR);
}

/** Load one split of a prepared dataset for evaluation; an empty or absent split is an error suggesting another. */
export function loadEvalSplit(dir: string, split: SplitName): Split {
  if (fs.existsSync(path.join(dir, MANIFEST)) && preparedSplitRows(dir, split) === 0) {
    throw emptySplitError(dir, split, (s) => preparedSplitRows(dir, s));
  }
  return loadPreparedSplit(dir, split);
}
