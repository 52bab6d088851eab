import * as fs from 'fs';
import * as path from 'path';
import { prepareDataset, prepareInMemory, PrepareReport } from '../src/data/prepare';
import { loadPreparedSplit, SPLITS } from '../src/data/dataset';
import { readNpy } from '../src/data/npy';
import { FerError } from '../src/util/errors';
import { tmpDir } from './helpers';
import { fakeImage, mixedRows, pixelsText, row, writeCsv } from './prepare-fixtures';

function examples(report: PrepareReport, reason: keyof PrepareReport['dropped']): number[] {
  return report.dropped[reason].examples.map((e) => e.line);
}

describe('prepareInMemory: cleaning rules', () => {
  const { rows, lines } = mixedRows();
  const csv = writeCsv(rows);

  it('maps Usage to splits, drops every malformed, blank, duplicate and leaked row for its reason, with line numbers', async () => {
    const { splits, report } = await prepareInMemory(csv);
    expect(report.rows).toEqual({ read: rows.length, kept: 35, dropped: rows.length - 35 });
    expect([splits.train.count, splits.val.count, splits.test.count]).toEqual([21, 7, 7]);
    expect(examples(report, 'bad-columns')).toEqual([lines.badColumns]);
    expect(report.dropped['bad-columns'].examples[0].message).toMatch(/2 columns, expected 3/);
    expect(examples(report, 'bad-label')).toEqual([lines.badLabel]);
    expect(examples(report, 'bad-usage')).toEqual([lines.badUsage]);
    expect(report.dropped['bad-usage'].examples[0].message).toContain("'Validation'");
    expect(examples(report, 'bad-pixel-count')).toEqual([lines.shortPixels]);
    expect(report.dropped['bad-pixel-count'].examples[0].message).toMatch(/2303 pixels, expected 2304/);
    expect(examples(report, 'bad-pixel')).toEqual([lines.badPixel, lines.nonInteger]);
    expect(report.dropped['bad-pixel'].examples.map((e) => e.message)).toEqual([
      "pixel '256' is not an integer 0..255", "pixel '1.5' is not an integer 0..255"]);
    expect(examples(report, 'blank')).toEqual([lines.blank, lines.nearlyBlank]);
    expect(examples(report, 'duplicate')).toEqual([lines.dupSame]);
    expect(report.dropped.duplicate.examples[0].message).toContain(`line ${lines.train0_0}`);
    expect(examples(report, 'conflicting-duplicate')).toEqual([lines.conflictA, lines.conflictB, lines.conflictC]);
    expect(examples(report, 'leak')).toEqual([lines.leakTrain, lines.leakVal]);
    expect(report.dropped.leak.examples[0].message).toMatch(new RegExp(`also in PublicTest at line ${lines.val4}; dropped from train`));
    expect(report.dropped.leak.examples[1].message).toMatch(new RegExp(`also in PrivateTest at line ${lines.test5}; dropped from val`));
    expect(report.dropped['csv-syntax'].count).toBe(0);
    expect(report.warnings).toEqual([]);

    // The kept rows are exactly the good ones, in input order, pixels and labels intact.
    expect(Array.from(splits.train.labels)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]);
    expect(Array.from(splits.train.images.subarray(4 * 2304, 5 * 2304))).toEqual(Array.from(fakeImage(111)));
    expect(Array.from(splits.test.images.subarray(6 * 2304))).toEqual(Array.from(fakeImage(306)));
    expect(splits.val.images.length).toBe(7 * 2304);
    expect(report.splits.test.perClass).toEqual({ Angry: 1, Disgust: 1, Fear: 1, Happy: 1, Sad: 1, Surprise: 1, Neutral: 1 });
    expect(report.splits.train.from).toBe('Training');
  });

  it('caps the examples per reason but keeps counting', async () => {
    const { report } = await prepareInMemory(csv, { maxExamples: 1 });
    expect(report.dropped['bad-pixel'].count).toBe(2);
    expect(examples(report, 'bad-pixel')).toEqual([lines.badPixel]);
  });

  it('--keep-duplicates / --keep-leaks / --min-std 0 turn each rule off', async () => {
    const dups = await prepareInMemory(csv, { keepDuplicates: true });
    expect(dups.splits.train.count).toBe(21 + 1 + 3);
    expect(dups.report.dropped.duplicate.count + dups.report.dropped['conflicting-duplicate'].count).toBe(0);
    const leaks = await prepareInMemory(csv, { keepLeaks: true });
    expect([leaks.splits.train.count, leaks.splits.val.count]).toEqual([22, 8]);
    expect(leaks.report.dropped.leak.count).toBe(0);
    const blanks = await prepareInMemory(csv, { minStd: 0 });
    expect([blanks.splits.train.count, blanks.splits.val.count]).toEqual([22, 8]);
    // Every well-formed row below the threshold: nothing usable is an error, not an empty dataset.
    await expect(prepareInMemory(csv, { minStd: 200 })).rejects.toThrow(/all 49 dropped \(.*blank 43\); e.g. line 2: blank or near-constant image/);
  });

  it('gives identical results from gzip (detected by magic bytes, not the name), CRLF input and the csv-parse-only parser', async () => {
    const base = await prepareInMemory(csv);
    const gz = writeCsv(rows, { gzip: true, name: 'looks-plain.csv' });
    const crlf = writeCsv(rows, { eol: '\r\n' });
    for (const [file, parser] of [[gz, 'auto'], [crlf, 'auto'], [csv, 'csv-parse']] as const) {
      const other = await prepareInMemory(file, { parser });
      for (const s of SPLITS) {
        expect(other.splits[s].count).toBe(base.splits[s].count);
        expect(Buffer.compare(other.splits[s].images, base.splits[s].images)).toBe(0);
        expect(Buffer.compare(other.splits[s].labels, base.splits[s].labels)).toBe(0);
      }
      expect(other.report.dropped).toEqual(base.report.dropped);
    }
    expect((await prepareInMemory(gz)).report.source.gzip).toBe(true);
  });

  it('reads quoted fields through csv-parse with the same result', async () => {
    const quotedRows = rows.map((r, i) => (i % 3 === 0 ? r.replace(/^(\d),([^,]*),/, '"$1","$2",') : r));
    expect(quotedRows[0].startsWith('"0","')).toBe(true);
    const quoted = await prepareInMemory(writeCsv(quotedRows));
    const base = await prepareInMemory(csv);
    for (const s of SPLITS) expect(Buffer.compare(quoted.splits[s].images, base.splits[s].images)).toBe(0);
    expect(quoted.report.dropped).toEqual(base.report.dropped);
  });
});

describe('prepareInMemory: validation carving and empty splits', () => {
  const trainOnly: string[] = [];
  for (let c = 0; c < 7; c++) for (let k = 0; k < 20; k++) trainOnly.push(row(c, fakeImage(1000 + c * 100 + k), 'Training'));
  const csv = writeCsv(trainOnly);

  it('reports empty splits, and carves a seeded stratified val from train when PublicTest is absent', async () => {
    const plain = await prepareInMemory(csv);
    expect([plain.splits.train.count, plain.splits.val.count, plain.splits.test.count]).toEqual([140, 0, 0]);
    expect(plain.splits.val.images.length).toBe(0);
    expect(plain.report.warnings.join('\n')).toMatch(/split val is empty .*--val-fraction/);
    expect(plain.report.warnings.join('\n')).toMatch(/split test is empty/);

    const a = await prepareInMemory(csv, { valFraction: 0.1, seed: 3 });
    expect([a.splits.train.count, a.splits.val.count]).toEqual([126, 14]);
    expect(Object.values(a.report.splits.val.perClass)).toEqual([2, 2, 2, 2, 2, 2, 2]);
    expect(a.report.splits.val.from).toMatch(/--val-fraction 0.1, seed 3/);
    const b = await prepareInMemory(csv, { valFraction: 0.1, seed: 3 });
    expect(Buffer.compare(a.splits.val.images, b.splits.val.images)).toBe(0);
    const c = await prepareInMemory(csv, { valFraction: 0.1, seed: 4 });
    expect(Buffer.compare(a.splits.val.images, c.splits.val.images)).not.toBe(0);
  });

  it('ignores --val-fraction, with a warning, when PublicTest rows exist', async () => {
    const withVal = writeCsv([...trainOnly, row(3, fakeImage(9), 'PublicTest')]);
    const r = await prepareInMemory(withVal, { valFraction: 0.2 });
    expect([r.splits.train.count, r.splits.val.count]).toEqual([140, 1]);
    expect(r.report.warnings[0]).toMatch(/--val-fraction 0.2 ignored: the CSV has 1 PublicTest rows/);
  });

  it('rejects bad options and inputs with a FerError naming the file and line', async () => {
    await expect(prepareInMemory(csv, { valFraction: 1 })).rejects.toThrow(/valFraction 1/);
    const broken = writeCsv([row(9, fakeImage(1), 'Training'), row(1, '1 2 3', 'Training')]);
    await expect(prepareInMemory(broken)).rejects.toThrow(FerError);
    await expect(prepareInMemory(broken)).rejects.toThrow(/no usable rows: all 2 dropped \(bad-label 1, bad-pixel-count 1\); e.g. line 2: emotion '9'/);
    const dir = tmpDir();
    const badHeader = path.join(dir, 'h.csv');
    fs.writeFileSync(badHeader, `emotion,Usage,pixels\n0,Training,${pixelsText(fakeImage(1))}\n`);
    await expect(prepareInMemory(badHeader)).rejects.toThrow(/h\.csv: line 1: expected the header emotion,pixels,Usage, got 'emotion,Usage,pixels'/);
  });
});

describe('prepareDataset', () => {
  it('writes the layout train/eval read, with a manifest equal to the report, and replaces an older dataset', async () => {
    const { rows } = mixedRows();
    const csv = writeCsv(rows);
    const out = path.join(tmpDir(), 'prepared');
    const progress: number[] = [];
    const report = await prepareDataset(csv, { out, onProgress: (p) => progress.push(p.bytesRead) });
    expect(progress[progress.length - 1]).toBe(fs.statSync(csv).size);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toEqual(JSON.parse(JSON.stringify(report)));
    expect(manifest.classes).toEqual(['Angry', 'Disgust', 'Fear', 'Happy', 'Sad', 'Surprise', 'Neutral']);
    expect(manifest.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.source.sha256).toBe(require('crypto').createHash('sha256').update(fs.readFileSync(csv)).digest('hex'));
    expect(manifest.tool.version).toBe(require('../package.json').version);
    const train = loadPreparedSplit(out, 'train');
    expect(train.count).toBe(21);
    expect(readNpy(path.join(out, 'test_images.npy')).shape).toEqual([7, 48, 48]);

    // A second run with different options swaps the whole directory.
    const onlyTrain = writeCsv([row(3, fakeImage(42), 'Training')]);
    await prepareDataset(onlyTrain, { out });
    expect(loadPreparedSplit(out, 'train').count).toBe(1);
    expect(readNpy(path.join(out, 'val_images.npy')).shape).toEqual([0, 48, 48]);
    expect(readNpy(path.join(out, 'val_labels.npy')).shape).toEqual([0]);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['prepared']);
  });

  it('refuses to replace a directory that is not a prepared dataset, before reading the CSV', async () => {
    const dir = tmpDir();
    fs.writeFileSync(path.join(dir, 'precious.txt'), 'keep me');
    await expect(prepareDataset('/nonexistent.csv', { out: dir })).rejects.toThrow(/refusing to replace it/);
    expect(fs.readFileSync(path.join(dir, 'precious.txt'), 'utf8')).toBe('keep me');
  });
});
