import { spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { loadPreparedSplit } from '../src/data/dataset';
import { readNpy } from '../src/data/npy';
import { ROOT, describeWithShared, runFer, tmpDir } from './helpers';

/** Wait until process `pid` has `file` open (Linux /proc; elsewhere just wait two seconds). */
async function waitForOpenFile(pid: number, file: string, timeoutMs = 60000): Promise<void> {
  const fdDir = `/proc/${pid}/fd`;
  if (!fs.existsSync(fdDir)) return new Promise((resolve) => setTimeout(resolve, 2000));
  const target = fs.realpathSync(file);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = (() => {
      try {
        return fs.readdirSync(fdDir).some((fd) => { try { return fs.readlinkSync(path.join(fdDir, fd)) === target; } catch { return false; } });
      } catch {
        return false;
      }
    })();
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`process ${pid} did not open ${file} within ${timeoutMs} ms`);
}

describeWithShared('data/fer2013.csv.gz', 'fer prepare on the shared FER2013 CSV', (csv) => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('prepares plausible train/val counts, an empty test split, and a manifest naming the source', () => {
    const dir = tmpDir('fer-prep-shared-');
    dirs.push(dir); // 70 MB of tensors: not left in /tmp
    const out = path.join(dir, 'prepared');
    const r = runFer(['prepare', csv, '--out', out, '--json', '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    // 28,558 Training + 3,579 PublicTest rows, none malformed; about 5% are duplicates or leaks.
    expect(report.rows.read).toBe(28558 + 3579);
    for (const reason of ['bad-columns', 'bad-label', 'bad-usage', 'bad-pixel', 'bad-pixel-count', 'csv-syntax']) {
      expect([reason, report.dropped[reason].count]).toEqual([reason, 0]);
    }
    expect(report.splits.train.count).toBeGreaterThan(26500);
    expect(report.splits.train.count).toBeLessThan(28558);
    expect(report.splits.val.count).toBeGreaterThan(3450);
    expect(report.splits.val.count).toBeLessThan(3579);
    expect(report.splits.test.count).toBe(0);
    expect(report.dropped.duplicate.count).toBeGreaterThan(0);
    expect(report.dropped.leak.count).toBeGreaterThan(0);
    // Class balance as documented in shared/README (Happy largest, Disgust smallest), minus what was dropped.
    const per = report.splits.train.perClass;
    expect(Object.values(per).reduce((a: number, b) => a + (b as number), 0)).toBe(report.splits.train.count);
    expect(per.Happy).toBeGreaterThan(6800);
    expect(per.Happy).toBeLessThanOrEqual(7186);
    expect(per.Disgust).toBeGreaterThan(300);
    expect(per.Disgust).toBeLessThanOrEqual(435);
    expect(report.source).toEqual({
      file: 'fer2013.csv.gz', bytes: fs.statSync(csv).size, gzip: true,
      sha256: crypto.createHash('sha256').update(fs.readFileSync(csv)).digest('hex'),
    });

    const train = loadPreparedSplit(out, 'train');
    expect(train.count).toBe(report.splits.train.count);
    expect(train.images.length).toBe(train.count * 48 * 48);
    expect(readNpy(path.join(out, 'test_images.npy')).shape).toEqual([0, 48, 48]);
    // No two kept images in train are identical, and no val image appears in train.
    const seen = new Set<string>();
    for (let i = 0; i < train.count; i++) seen.add(crypto.createHash('md5').update(train.images.subarray(i * 2304, (i + 1) * 2304)).digest('hex'));
    expect(seen.size).toBe(train.count);
    const val = loadPreparedSplit(out, 'val');
    for (let i = 0; i < val.count; i++) {
      expect(seen.has(crypto.createHash('md5').update(val.images.subarray(i * 2304, (i + 1) * 2304)).digest('hex'))).toBe(false);
    }
  });

  it('an interrupted run (SIGINT) exits 130 and leaves no output or temp directory', async () => {
    const dir = tmpDir('fer-prep-int-');
    dirs.push(dir);
    const out = path.join(dir, 'prepared');
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'fer'), 'prepare', csv, '--out', out, '--quiet', '--parser', 'csv-parse'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    // Signal once the CSV is open (the handler is installed before that); the csv-parse-only path then needs
    // about ten seconds for the whole file. A fixed delay was not enough on a loaded machine.
    await waitForOpenFile(child.pid!, csv);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(130);
    expect(stderr).toMatch(/^fer: interrupted \(SIGINT\)/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
