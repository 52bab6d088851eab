import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import sharp from 'sharp';
import { readNpy } from '../src/data/npy';
import { runFer, tmpDir } from './helpers';
import { csvText, fakeImage, mixedRows, pixelsText, row, writeCsv } from './prepare-fixtures';

describe('fer prepare (CLI)', () => {
  it('prepares a CSV end to end: .npy shapes, values and counts, --json report equal to manifest.json, charts', () => {
    const { rows, lines } = mixedRows();
    const dir = tmpDir('fer-prep-cli-');
    const csv = writeCsv(rows, { dir, gzip: true, name: 'fer2013.csv.gz' });
    const out = path.join(dir, 'prepared');
    const r = runFer(['prepare', csv, '--out', out, '--json', '--chart']);
    expect(r.stderr).toMatch(/prepared .*prepared from fer2013\.csv\.gz .*gzip.*: 49 rows read, 35 kept, 14 dropped/);
    expect(r.stderr).toMatch(new RegExp(`dropped leak +2 +e\\.g\\. line ${lines.leakTrain}: `));
    expect(r.status).toBe(0);

    const report = JSON.parse(r.stdout);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'))).toEqual(report);
    expect(report.splits.train.count).toBe(21);
    expect(report.dropped.duplicate.examples).toEqual([{ line: lines.dupSame, message: expect.stringContaining(`line ${lines.train0_0}`) }]);
    expect(report.options).toEqual({ valFraction: 0, seed: 42, minStd: 3, keepDuplicates: false, keepLeaks: false, parser: 'auto' });

    const images = readNpy(path.join(out, 'train_images.npy'));
    const labels = readNpy(path.join(out, 'train_labels.npy'));
    expect([images.dtype, images.shape]).toEqual(['uint8', [21, 48, 48]]);
    expect([labels.dtype, labels.shape]).toEqual(['uint8', [21]]);
    expect(Array.from(labels.data)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]);
    expect(Array.from(images.data.subarray(20 * 2304))).toEqual(Array.from(fakeImage(162)));
    const test = readNpy(path.join(out, 'test_images.npy'));
    expect(test.shape).toEqual([7, 48, 48]);
    expect(Array.from(test.data.subarray(0, 2304))).toEqual(Array.from(fakeImage(300)));
    expect(readNpy(path.join(out, 'val_labels.npy')).shape).toEqual([7]);

    expect(report.charts).toEqual(['train_classes.svg', 'train_classes.png', 'val_classes.svg', 'val_classes.png', 'test_classes.svg', 'test_classes.png']);
    const svg = fs.readFileSync(path.join(out, 'train_classes.svg'), 'utf8');
    for (const c of ['Angry', 'Disgust', 'Neutral', 'train: 21 images']) expect(svg).toContain(c);
    expect((svg.match(/<rect /g) ?? []).length).toBe(1 + 7); // background + one bar per class
    return sharp(path.join(out, 'val_classes.png')).metadata().then((m) => {
      expect([m.format, m.width! > 300, m.height! > 200]).toEqual(['png', true, true]);
    });
  });

  it('prints nothing on stderr with --quiet, only the JSON on stdout', () => {
    const dir = tmpDir('fer-prep-cli-');
    const csv = writeCsv([row(3, fakeImage(1), 'Training'), row(4, fakeImage(2), 'PublicTest')], { dir });
    const r = runFer(['prepare', csv, '--out', path.join(dir, 'o'), '--quiet', '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout).rows).toEqual({ read: 2, kept: 2, dropped: 0 });
  });

  it('--help lists every flag with its default, and an example', () => {
    const r = runFer(['prepare', '--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--out', '--val-fraction', '--seed', '--min-std', '--keep-duplicates', '--keep-leaks', '--max-examples', '--parser', '--chart', '--json', '--quiet']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toContain('(default: "data/prepared")');
    expect(r.stdout).toContain('(default: 3)');
    expect(r.stdout).toMatch(/Examples:\n {2}\$ fer prepare /);
  });
});

describe('fer prepare: bad input gives one line, non-zero exit, and leaves nothing behind', () => {
  const good = csvText([row(3, fakeImage(1), 'Training')]);
  const cases: [string, (dir: string) => string, RegExp, number?][] = [
    ['missing file', (d) => path.join(d, 'nope.csv'), /nope\.csv: no such file or directory$/],
    ['empty file', (d) => put(d, 'empty.csv', ''), /empty\.csv: empty file$/],
    ['wrong header', (d) => put(d, 'h.csv', `label,pixels,usage\n3,${pixelsText(fakeImage(1))},Training\n`), /h\.csv: line 1: expected the header emotion,pixels,Usage, got 'label,pixels,usage'$/],
    ['binary file', (d) => put(d, 'img.csv', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48])), /img\.csv: binary data, not a FER2013 CSV$/],
    ['truncated gzip', (d) => {
      const gz = zlib.gzipSync(csvText(Array.from({ length: 40 }, (_, i) => row(i % 7, fakeImage(i), 'Training'))));
      return put(d, 'cut.csv.gz', gz.subarray(0, Math.floor(gz.length / 2)));
    }, /cut\.csv\.gz: truncated gzip file/],
    ['every row broken', (d) => put(d, 'bad.csv', csvText([row(8, fakeImage(1), 'Training'), row(1, '1 2 3', 'Training'), '1,2']),),
      /bad\.csv: no usable rows: all 3 dropped \(bad-columns 1, bad-label 1, bad-pixel-count 1\); e\.g\. line 2: emotion '8' is not an integer 0\.\.6$/],
    ['directory as input', (d) => d, /: is a directory$/],
  ];

  it.each(cases)('%s', (_name, make, message) => {
    const dir = tmpDir('fer-prep-bad-');
    const input = make(dir);
    const before = fs.readdirSync(dir).sort();
    const out = path.join(dir, 'out');
    const r = runFer(['prepare', input, '--out', out]);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^fer: /);
    expect(lines[0]).toMatch(message);
    expect(r.stdout).toBe('');
    expect(fs.readdirSync(dir).sort()).toEqual(before);
  });

  it('an output directory that cannot be written', () => {
    const dir = tmpDir('fer-prep-bad-');
    const csv = put(dir, 'ok.csv', good);
    put(dir, 'blocker', 'a file where a directory should be');
    const r = runFer(['prepare', csv, '--out', path.join(dir, 'blocker', 'out')]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^fer: --out .*blocker\/out: .*not a directory$/)]);
    expect(fs.readdirSync(dir).sort()).toEqual(['blocker', 'ok.csv']);
  });

  it('an output directory holding something else is not replaced', () => {
    const dir = tmpDir('fer-prep-bad-');
    const csv = put(dir, 'ok.csv', good);
    fs.mkdirSync(path.join(dir, 'docs'));
    put(path.join(dir, 'docs'), 'notes.txt', 'mine');
    const r = runFer(['prepare', csv, '--out', path.join(dir, 'docs')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/docs: exists and is not a prepared dataset written by fer \(no fer manifest\.json\); refusing to replace it\n$/);
    expect(fs.readdirSync(path.join(dir, 'docs'))).toEqual(['notes.txt']);
  });

  it('a bad flag value is a usage error (exit 2) naming the flag', () => {
    const dir = tmpDir('fer-prep-bad-');
    const csv = put(dir, 'ok.csv', good);
    for (const args of [['--val-fraction', '1.5'], ['--min-std', 'x'], ['--parser', 'fast']]) {
      const r = runFer(['prepare', csv, '--out', path.join(dir, 'out'), ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(args[0]);
      expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
    }
  });

  it('a CSV with some bad rows prepares the good ones and says what was dropped', () => {
    const dir = tmpDir('fer-prep-bad-');
    const csv = put(dir, 'some.csv', csvText([row(3, fakeImage(1), 'Training'), row(3, '1 2', 'Training'), row(2, fakeImage(2), 'Nope')]));
    const r = runFer(['prepare', csv, '--out', path.join(dir, 'out')]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/3 rows read, 1 kept, 2 dropped/);
    expect(r.stderr).toMatch(/dropped bad-usage +1 +e\.g\. line 4: Usage 'Nope' is not Training, PublicTest or PrivateTest/);
    expect(r.stderr).toMatch(/dropped bad-pixel-count +1 +e\.g\. line 3: 2 pixels, expected 2304/);
    expect(readNpy(path.join(dir, 'out', 'train_images.npy')).shape).toEqual([1, 48, 48]);
  });
});

function put(dir: string, name: string, data: string | Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, data);
  return file;
}
