import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { FIXTURES, ROOT, runFer, tmpDir } from './helpers';
import { csvText, fakeImage, row, writeCsv } from './prepare-fixtures';
import { synthSplit, writePrepared } from './trainData';
import { checkOutputSafety } from '../src/util/outputSafety';
import { commitTemp, tempSibling, trackTemp, writeFileAtomic } from '../src/util/atomic';
import { planOutputs } from '../src/vision/batch';

/**
 * Issue 13, "never destroy a user's file": each numbered item of the issue is a `describe` here, run against
 * the built CLI on real files (and real killed processes for the crash items).
 */

function md5(file: string): string {
  return crypto.createHash('md5').update(fs.readFileSync(file)).digest('hex');
}

/** A refusal: the exit code, one line on stderr (no stack trace, no "internal error"), naming every `names`. */
function expectOneLine(r: { status: number | null; stderr: string }, status: number, ...names: (string | RegExp)[]): void {
  const lines = r.stderr.replace(/^backend: .*\n/m, '').replace(/\(run with --help for usage\)\n$/, '').trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  for (const n of names) expect(lines[0]).toMatch(n);
  expect(r.status).toBe(status);
}

/** Every entry under `dir`, recursively, with its content hash: what must not change. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const rel = path.relative(dir, p);
      if (e.isSymbolicLink()) out[rel] = `-> ${fs.readlinkSync(p)}`;
      else if (e.isDirectory()) { out[rel] = 'dir'; walk(p); } else out[rel] = md5(p);
    }
  };
  walk(dir);
  return out;
}

const goodCsv = (): string => csvText([row(3, fakeImage(1), 'Training'), row(4, fakeImage(2), 'PublicTest'), row(5, fakeImage(3), 'Training')]);

describe('1. fer video: the output video is never the input', () => {
  it('`fer video in.mp4 in.mp4` (and a hard link or symlink to it) exits 1 naming both, input untouched', () => {
    const dir = tmpDir('fer-safe-');
    const input = path.join(dir, 'in.mp4');
    fs.copyFileSync(path.join(FIXTURES, 'astronaut-pan.mp4'), input);
    fs.linkSync(input, path.join(dir, 'hard.mp4'));
    fs.symlinkSync('in.mp4', path.join(dir, 'soft.mp4'));
    const before = snapshot(dir);
    for (const out of ['in.mp4', 'hard.mp4', 'soft.mp4']) {
      const r = runFer(['video', 'in.mp4', out, '-q'], { cwd: dir });
      expectOneLine(r, 1, `output video ${out}`, 'the input in.mp4', /same file/);
    }
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('2. fer video: data outputs are never the input or another output', () => {
  it('--csv/--jsonl/--summary-json naming the input (by any path) exit 1; two flags naming one file exit 1; a media name for a text file exits 2', () => {
    const dir = tmpDir('fer-safe-');
    fs.copyFileSync(path.join(FIXTURES, 'astronaut-pan.mp4'), path.join(dir, 'in.mp4'));
    fs.symlinkSync('in.mp4', path.join(dir, 'rows.csv'));
    fs.mkdirSync(path.join(dir, 'alias'));
    fs.symlinkSync('..', path.join(dir, 'alias', 'up'));
    const before = snapshot(dir);
    for (const flag of ['--csv', '--jsonl', '--summary-json']) {
      expectOneLine(runFer(['video', 'in.mp4', 'out.mp4', flag, 'rows.csv', '-q'], { cwd: dir }), 1, `${flag} rows.csv is the input in.mp4`);
    }
    expectOneLine(runFer(['video', 'in.mp4', '--jsonl', 'in.mp4', '--no-video', '-q'], { cwd: dir }), 2, '--jsonl in.mp4');
    // `--csv out.mp4` would have overwritten the video just written.
    expectOneLine(runFer(['video', 'in.mp4', 'out.mp4', '--csv', 'out.mp4', '-q'], { cwd: dir }), 2, '--csv out.mp4', /\.mp4 name for a text file/);
    expectOneLine(runFer(['video', 'in.mp4', 'out.mp4', '--csv', 'a.csv', '--summary-json', 'alias/up/a.csv', '-q'], { cwd: dir }), 1,
      '--csv a.csv', '--summary-json alias/up/a.csv', /are the same file/);
    expectOneLine(runFer(['video', 'in.mp4', 'out.xyz', '-q'], { cwd: dir }), 2, /out\.xyz: unknown video type \.xyz/);
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('3. fer prepare: a folder is replaced only when fer wrote everything in it', () => {
  it('refuses a folder with someone else\'s manifest.json, and a prepared dataset with a file added; both left intact', () => {
    const dir = tmpDir('fer-safe-');
    const csv = path.join(dir, 'in.csv');
    fs.writeFileSync(csv, goodCsv());
    fs.mkdirSync(path.join(dir, 'webapp'));
    fs.writeFileSync(path.join(dir, 'webapp', 'manifest.json'), '{"name": "my app", "start_url": "/"}');
    fs.writeFileSync(path.join(dir, 'webapp', 'index.html'), '<h1>mine</h1>');
    let before = snapshot(dir);
    expectOneLine(runFer(['prepare', csv, '--out', path.join(dir, 'webapp'), '-q']), 1, /webapp: exists and is not a prepared dataset written by fer/);
    expect(snapshot(dir)).toEqual(before);

    // A real prepared dataset, then an index.html dropped into it.
    expect(runFer(['prepare', csv, '--out', path.join(dir, 'pp'), '-q']).status).toBe(0);
    fs.writeFileSync(path.join(dir, 'pp', 'index.html'), '<h1>mine</h1>');
    before = snapshot(dir);
    expectOneLine(runFer(['prepare', csv, '--out', path.join(dir, 'pp'), '-q']), 1, `holds ${path.join(dir, 'pp', 'index.html')}, which fer did not write`);
    expect(snapshot(dir)).toEqual(before);
    // Without it, the dataset is fer's alone and is replaced (charts included), leaving nothing else behind.
    fs.unlinkSync(path.join(dir, 'pp', 'index.html'));
    expect(runFer(['prepare', csv, '--out', path.join(dir, 'pp'), '-q', '--chart']).status).toBe(0);
    expect(runFer(['prepare', csv, '--out', path.join(dir, 'pp'), '-q']).status).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['in.csv', 'pp', 'webapp']);
  });
});

describe('4. fer prepare never deletes an input or checkpoints inside --out', () => {
  it('`fer prepare pp/fer2013.csv --out pp` exits 1 naming both; checkpoints trained into a dataset folder block its replacement', () => {
    const dir = tmpDir('fer-safe-');
    const pp = path.join(dir, 'pp');
    expect(runFer(['prepare', writeCsv([row(3, fakeImage(1), 'Training')], { dir }), '--out', pp, '-q']).status).toBe(0);
    const csv = path.join(pp, 'fer2013.csv');
    fs.writeFileSync(csv, goodCsv());
    let before = snapshot(dir);
    expectOneLine(runFer(['prepare', csv, '--out', pp, '-q']), 1, `--out ${pp} would be replaced, but it holds the input ${csv}`);
    // The same through a symlinked folder.
    fs.symlinkSync(pp, path.join(dir, 'pp-link'));
    before = snapshot(dir);
    expectOneLine(runFer(['prepare', path.join(dir, 'pp-link', 'fer2013.csv'), '--out', pp, '-q']), 1, /would be replaced, but it holds the input/);
    expect(snapshot(dir)).toEqual(before);

    fs.unlinkSync(csv);
    fs.mkdirSync(path.join(pp, 'net1', 'best'), { recursive: true });
    fs.writeFileSync(path.join(pp, 'net1', 'best', 'model.json'), '{}');
    before = snapshot(dir);
    expectOneLine(runFer(['prepare', path.join(dir, 'in.csv'), '--out', pp, '-q']), 1, `holds ${path.join(pp, 'net1')}, which fer did not write`);
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('5. fer predict: --out is compared with the inputs by device and inode, not by path string', () => {
  it('`fer predict album/photo.png --out album-link/photo.png` exits 1 and the photo is unchanged', () => {
    const dir = tmpDir('fer-safe-');
    fs.mkdirSync(path.join(dir, 'album'));
    fs.copyFileSync(path.join(FIXTURES, 'astronaut.png'), path.join(dir, 'album', 'photo.png'));
    fs.symlinkSync('album', path.join(dir, 'album-link'));
    fs.linkSync(path.join(dir, 'album', 'photo.png'), path.join(dir, 'hard.png'));
    const before = snapshot(dir);
    expectOneLine(runFer(['predict', 'album/photo.png', '--out', 'album-link/photo.png'], { cwd: dir }), 1,
      '--out album-link/photo.png is the input album/photo.png');
    expectOneLine(runFer(['predict', 'album/photo.png', '--out', 'hard.png'], { cwd: dir }), 1, '--out hard.png is the input album/photo.png');
    // A folder --out that maps an input onto itself.
    expectOneLine(runFer(['predict', 'album', '--out', 'album-link'], { cwd: dir }), 1, 'album: is the --out folder album-link');
    expect(snapshot(dir)).toEqual(before);
  });

  it('the rule as a library function: inputs, outputs and replaced folders', () => {
    const dir = tmpDir('fer-safe-');
    const a = path.join(dir, 'a.txt');
    fs.writeFileSync(a, 'a');
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.symlinkSync(dir, path.join(dir, 'sub', 'loop'));
    const inp = [{ path: a, what: 'input' }];
    expect(() => checkOutputSafety(inp, [{ path: path.join(dir, 'sub', 'loop', 'a.txt'), what: '--out' }])).toThrow(/is the input .*a\.txt/);
    expect(() => checkOutputSafety(inp, [{ path: path.join(dir, 'b', 'c.txt'), what: '--x' }, { path: path.join(dir, 'sub', 'loop', 'b', 'c.txt'), what: '--y' }]))
      .toThrow(/--x .* and --y .* are the same file/);
    expect(() => checkOutputSafety(inp, [{ path: path.join(dir, 'sub', 'loop'), what: '--out', kind: 'dir' }])).toThrow(/would be replaced, but it holds the input/);
    expect(() => checkOutputSafety(inp, [{ path: path.join(dir, 'sub'), what: '--out' }])).toThrow(/is a directory/);
    expect(() => checkOutputSafety(inp, [{ path: path.join(dir, 'b.txt'), what: '--out' }, { path: path.join(dir, 'sub'), what: '--dir', kind: 'dir' }])).not.toThrow();
  });
});

describe('8. fer train: a bad --out is one line, exit 1, never "internal error"', () => {
  it('--out naming a file, a path below a file, or a folder that cannot be created', () => {
    const dir = tmpDir('fer-safe-');
    const data = writePrepared(path.join(dir, 'prepared'), { train: synthSplit(14, 1), val: synthSplit(7, 2) });
    fs.writeFileSync(path.join(dir, 'a-file'), 'mine');
    expectOneLine(runFer(['train', '--net', '1', '--data', data, '--out', 'a-file'], { cwd: dir }), 1, '--out a-file: exists and is not a directory');
    expectOneLine(runFer(['train', '--net', '1', '--data', data, '--out', 'a-file/ck'], { cwd: dir }), 1, /--out a-file\/ck: cannot write: .*a-file is not a directory/);
    // Unwritable: a read-only folder (root may write anywhere, but nobody can create folders in /proc).
    let ro = '/proc/fer-no-such-folder';
    if (process.getuid && process.getuid() !== 0) {
      ro = path.join(dir, 'ro', 'ck');
      fs.mkdirSync(path.dirname(ro));
      fs.chmodSync(path.dirname(ro), 0o500);
    }
    expectOneLine(runFer(['train', '--net', '1', '--data', data, '--out', ro], { cwd: dir }), 1, ro);
    expect(fs.readFileSync(path.join(dir, 'a-file'), 'utf8')).toBe('mine');
  });
});

describe('9. a failed final rename leaves no temp file', () => {
  it('writing a file onto a folder\'s name: one-line error, the folder untouched, no .tmp-* left', () => {
    const dir = tmpDir('fer-safe-');
    fs.mkdirSync(path.join(dir, 'chart.svg'));
    fs.writeFileSync(path.join(dir, 'chart.svg', 'keep'), 'x');
    expect(() => writeFileAtomic(path.join(dir, 'chart.svg'), 'data')).toThrow(/chart\.svg: is a directory/);
    // commitTemp itself, given a complete temp whose rename fails.
    const tmp = trackTemp(tempSibling(path.join(dir, 'chart.svg')));
    fs.writeFileSync(tmp, 'complete');
    expect(() => commitTemp(tmp, path.join(dir, 'chart.svg'))).toThrow(/cannot write .*chart\.svg: is a directory/);
    expect(fs.readdirSync(dir)).toEqual(['chart.svg']);
    // A folder is never swapped over a file of that name.
    fs.writeFileSync(path.join(dir, 'model'), 'mine');
    const tmpDirPath = trackTemp(tempSibling(path.join(dir, 'model')));
    fs.mkdirSync(tmpDirPath);
    expect(() => commitTemp(tmpDirPath, path.join(dir, 'model'))).toThrow(/model: exists and is not a directory/);
    expect(fs.readFileSync(path.join(dir, 'model'), 'utf8')).toBe('mine');
    expect(fs.readdirSync(dir).sort()).toEqual(['chart.svg', 'model']);
    // Through the CLI.
    const r = runFer(['models', '--net', '1', '--svg', 'chart.svg'], { cwd: dir });
    expectOneLine(r, 1, /chart\.svg: is a directory/);
    expect(fs.readdirSync(dir).sort()).toEqual(['chart.svg', 'model']);
  });
});

describe('10. an unclosed quote is reported at the line where it opens', () => {
  it('line 5, not "line 129: longer than 1 MiB"', () => {
    const dir = tmpDir('fer-safe-');
    const rows = [row(3, fakeImage(1), 'Training'), row(4, fakeImage(2), 'Training'), row(5, fakeImage(3), 'Training'),
      `2,"${Array.from(fakeImage(4)).join(' ')},Training`, ...Array.from({ length: 200 }, (_, i) => row(i % 7, fakeImage(10 + i), 'Training'))];
    const csv = writeCsv(rows, { dir });
    expectOneLine(runFer(['prepare', csv, '--out', path.join(dir, 'out'), '-q']), 1, `${csv}: line 5: unclosed quote`);
    const short = writeCsv(rows.slice(0, 8), { dir, name: 'short.csv' });
    expectOneLine(runFer(['prepare', short, '--out', path.join(dir, 'out'), '-q']), 1, /short\.csv: line 5: unclosed quote: .*runs to the end of the input \(line 9\)/);
    expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
  });
});

describe('11. extra positional arguments are a usage error', () => {
  it.each([
    [['prepare', 'a.csv', 'b.csv']],
    [['compare', 'a.jpg', 'b.jpg', 'c.jpg']],
    [['video', 'a.mp4', 'b.mp4', 'c.mp4']],
    [['train', 'extra']],
  ])('fer %j exits 2', (args) => {
    const dir = tmpDir('fer-safe-');
    const r = runFer(args, { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/too many arguments/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('12. a broken manifest.json is not a dataset', () => {
  it('`fer train` and `fer eval` refuse invalid JSON in manifest.json, naming the file', () => {
    const dir = tmpDir('fer-safe-');
    const data = writePrepared(path.join(dir, 'prepared'), { train: synthSplit(14, 1), val: synthSplit(7, 2) });
    fs.writeFileSync(path.join(data, 'manifest.json'), '{"tool": {"name": "fer", ');
    expectOneLine(runFer(['train', '--net', '1', '--data', data, '--out', path.join(dir, 'ck')]), 1, `${path.join(data, 'manifest.json')}: not valid JSON`);
    expectOneLine(runFer(['eval', '--net', '1', '--split', 'val', '--data', data]), 1, `${path.join(data, 'manifest.json')}: not valid JSON`);
    fs.writeFileSync(path.join(data, 'manifest.json'), '[1, 2]');
    expectOneLine(runFer(['train', '--net', '1', '--data', data, '--out', path.join(dir, 'ck')]), 1, /manifest\.json: not a fer manifest/);
  });
});

describe('13. fer predict --out: unknown extensions and one image name for several inputs are usage errors', () => {
  it('--out annotated.xyz exits 2 and creates nothing; --out x.jpg with two inputs exits 2 and creates no folder x.jpg', () => {
    const dir = tmpDir('fer-safe-');
    fs.copyFileSync(path.join(FIXTURES, 'astronaut.png'), path.join(dir, 'a.png'));
    fs.copyFileSync(path.join(FIXTURES, 'camera-no-face.png'), path.join(dir, 'b.png'));
    const before = snapshot(dir);
    expectOneLine(runFer(['predict', 'a.png', '--out', 'annotated.xyz'], { cwd: dir }), 2, /--out annotated\.xyz: unknown image type \.xyz/);
    expectOneLine(runFer(['predict', 'a.png', 'b.png', '--out', 'x.jpg'], { cwd: dir }), 2, /--out x\.jpg names one image, but there are 2 inputs/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('planOutputs: a folder without extension or with a slash mirrors subfolders; clashes get -2', () => {
    const files = ['album/a.png', 'album/2020/a.png', 'other/a.png'];
    const rel = new Map([['album/a.png', 'a.png'], ['album/2020/a.png', path.join('2020', 'a.png')]]);
    const dir = tmpDir('fer-safe-');
    const plan = planOutputs(files, path.join(dir, 'out'), rel);
    expect([...plan.values()].map((p) => path.relative(dir, p))).toEqual(['out/a.png', 'out/2020/a.png', 'out/a-2.png']);
    expect(planOutputs(['a.gif'], path.join(dir, 'o.v2/')).get('a.gif')).toBe(path.join(dir, 'o.v2', 'a.png'));
    expect(() => planOutputs(['a.png'], path.join(dir, 'o.v2'))).toThrow(/unknown image type \.v2/);
  });
});

describe('14. pipes as input', () => {
  it('`fer prepare <(gzip -c x.csv)` and a FIFO read like files; `fer video` on a FIFO is a clear one-line error', () => {
    const dir = tmpDir('fer-safe-');
    const csv = path.join(dir, 'x.csv');
    fs.writeFileSync(csv, goodCsv());
    const fer = `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(ROOT, 'bin', 'fer'))}`;
    const sub = spawnSync('bash', ['-c', `${fer} prepare <(gzip -c x.csv) --out viasub --json -q`], { cwd: dir, encoding: 'utf8' });
    expect(sub.stderr).toBe('');
    expect(sub.status).toBe(0);
    const report = JSON.parse(sub.stdout);
    expect(report.source.gzip).toBe(true);
    expect(report.rows.read).toBe(3);
    expect(report.source.sha256).toBe(crypto.createHash('sha256').update(spawnSync('gzip', ['-c', csv]).stdout).digest('hex'));

    spawnSync('mkfifo', [path.join(dir, 'fifo')]);
    const fifo = spawnSync('bash', ['-c', `cat x.csv > fifo & ${fer} prepare fifo --out viafifo --json -q; wait`], { cwd: dir, encoding: 'utf8' });
    expect(fifo.status).toBe(0);
    expect(JSON.parse(fifo.stdout).source).toMatchObject({ file: 'fifo', bytes: fs.statSync(csv).size, gzip: false });
    const empty = spawnSync('bash', ['-c', `${fer} prepare <(true) --out e -q`], { cwd: dir, encoding: 'utf8' });
    expectOneLine({ status: empty.status, stderr: empty.stderr }, 1, /\/dev\/fd\/\d+: empty input/);

    const vid = spawnSync('bash', ['-c', `${fer} video fifo out.mp4 -q`], { cwd: dir, encoding: 'utf8', timeout: 60000 });
    expectOneLine({ status: vid.status, stderr: vid.stderr }, 1, /fifo: is a pipe; fer video reads its input twice/);
  });
});

describe('runs from anywhere, as users install CLIs', () => {
  it('a linked `fer` (as `npm link` / `npm install -g` make it) run from another folder finds the shipped models and predicts', () => {
    const dir = tmpDir('fer-anywhere-');
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.symlinkSync(path.join(ROOT, 'bin', 'fer'), path.join(dir, 'bin', 'fer'));
    fs.copyFileSync(path.join(FIXTURES, 'astronaut.png'), path.join(dir, 'photo.png'));
    const r = spawnSync(path.join(dir, 'bin', 'fer'), ['predict', 'photo.png', '--net', '1', '--json'], {
      cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` },
    });
    expect(r.stderr).toContain(`from ${path.join(ROOT, 'checkpoints')}`);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)[0].faces).toHaveLength(1);
    expect(fs.readdirSync(dir).sort()).toEqual(['bin', 'photo.png']);
    const help = runFer(['predict', '--help'], { cwd: dir });
    expect(help.stdout).toMatch(/--models <dir>[\s\S]*the models shipped with fer/);
  });

  it('the published package holds the built CLI, the cascade and the shipped models, not the sources or tests', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const files: string[] = JSON.parse(r.stdout)[0].files.map((f: { path: string }) => f.path);
    for (const f of ['bin/fer', 'dist/cli.js', 'dist/vision/detectWorker.js', 'assets/haarcascade_frontalface_default.xml', 'package.json',
      'checkpoints/net1/best/model.json', 'checkpoints/net1/best/weights.bin', 'checkpoints/net3/best/weights.bin']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /^(src|test|bench|data)\//.test(f) || f.includes('/last/'))).toEqual([]);
  });

  it('`fer eval` without --split evaluates the first split with rows (val on public FER2013 data)', () => {
    const dir = tmpDir('fer-anywhere-');
    const data = writePrepared(path.join(dir, 'prepared'), { val: synthSplit(14, 2) });
    const r = runFer(['eval', '--net', '1', '--data', data, '--json'], { cwd: dir });
    expect(r.stderr).toContain('no --split given: evaluating val');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ split: 'val', images: 14 });
  });

  it('`fer predict <folder>` searches subfolders, mirrors them under --out, skips the --out folder; --no-recursive stops that', () => {
    const dir = tmpDir('fer-anywhere-');
    fs.mkdirSync(path.join(dir, 'album', '2020'), { recursive: true });
    fs.copyFileSync(path.join(FIXTURES, 'astronaut.png'), path.join(dir, 'album', 'a.png'));
    fs.copyFileSync(path.join(FIXTURES, 'astronaut.png'), path.join(dir, 'album', '2020', 'a.png'));
    fs.mkdirSync(path.join(dir, 'album', 'annotated'));
    fs.copyFileSync(path.join(FIXTURES, 'camera-no-face.png'), path.join(dir, 'album', 'annotated', 'old.png'));
    const r = runFer(['predict', 'album', '--net', '1', '--out', 'album/annotated', '--json', '-q'], { cwd: dir });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).map((x: { file: string }) => x.file)).toEqual(['album/2020/a.png', 'album/a.png']);
    expect(fs.readdirSync(path.join(dir, 'album', 'annotated')).sort()).toEqual(['2020', 'a.png', 'old.png']);
    expect(fs.existsSync(path.join(dir, 'album', 'annotated', '2020', 'a.png'))).toBe(true);
    const flat = runFer(['predict', 'album', '--net', '1', '--no-recursive', '--json', '-q'], { cwd: dir });
    expect(JSON.parse(flat.stdout).map((x: { file: string }) => x.file)).toEqual(['album/a.png']);
  });
});
