import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, runFer, tmpDir } from './helpers';
import { synthSplit, writePrepared } from './trainData';

// scripts/ship-models.js on a tiny net 2 (width 1/8) trained for two epochs on synthetic faces: seconds.
const ship = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath,
  [path.join(ROOT, 'scripts', 'ship-models.js'), ...args],
  { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 300000 });

function float32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function float16(file: string): Float32Array {
  const b = fs.readFileSync(file);
  const h = new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return Float32Array.from(h, (x) => {
    const e = (x >> 10) & 0x1f;
    const m = x & 0x3ff;
    const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
    return x & 0x8000 ? -v : v;
  });
}

describe('scripts/ship-models.js', () => {
  let data: string;
  let run: string;
  beforeAll(() => {
    data = writePrepared(path.join(tmpDir(), 'd'), { train: synthSplit(32, 3), val: synthSplit(21, 4) });
    run = tmpDir();
    const r = runFer(['train', '--net', '2', '--width', '0.125', '--data', data, '--out', run, '--epochs', '2', '--batch-size', '8',
      '--ema', '0.9', '-q']);
    expect(r.status).toBe(0);
  });

  it('--checkpoint last ships the final epoch\'s trained weights as float16, with a train-info.json saying so, and measures them', () => {
    const to = tmpDir();
    const scratch = tmpDir();
    const r = ship(['--from', run, '--nets', '2', '--to', to, '--data', data, '--checkpoint', 'last'], { TMPDIR: scratch });
    expect(r.stderr).toContain(`net2: ${path.join(run, 'net2')}/last`);
    expect(r.status).toBe(0);
    // The staging copy of last/ is gone, and no temporary name is left among the outputs.
    expect(fs.readdirSync(scratch)).toEqual([]);
    const names = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? names(path.join(dir, e.name)) : [e.name]));
    expect(names(to).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const best = path.join(to, 'net2', 'best');
    // The model only: not last/'s optimizer, EMA and resume state.
    expect(fs.readdirSync(best).sort()).toEqual(['model.json', 'train-info.json', 'weights.bin']);
    const state = JSON.parse(fs.readFileSync(path.join(run, 'net2', 'last', 'train-state.json'), 'utf8'));
    const rec = state.history[1];
    const info = JSON.parse(fs.readFileSync(path.join(best, 'train-info.json'), 'utf8'));
    expect(info).toMatchObject({ net: 2, epoch: 2, checkpoint: 'last', weights: 'trained', val_acc: rec.rawValAcc, emaValAcc: rec.val_acc });
    expect(info.settings).toEqual(state.settings);
    // The trained weights (last/weights.bin), not the EMA average that best/ holds, rounded to float16.
    const trained = float32(path.join(run, 'net2', 'last', 'weights.bin'));
    const shipped = float16(path.join(best, 'weights.bin'));
    expect(shipped.length).toBe(trained.length);
    let worst = 0;
    for (let i = 0; i < trained.length; i++) worst = Math.max(worst, Math.abs(shipped[i] - trained[i]) / Math.max(1e-3, Math.abs(trained[i])));
    expect(worst).toBeLessThan(2e-3);
    const ema = float32(path.join(run, 'net2', 'best', 'weights.bin'));
    expect(ema.some((v, i) => Math.abs(v - trained[i]) > 1e-3)).toBe(true);
    const report = JSON.parse(fs.readFileSync(path.join(to, 'reports', 'eval-val.json'), 'utf8'));
    expect(report.models.map((m: { name: string }) => m.name)).toEqual(['net2']);
  });

  it('refuses a run stopped inside an epoch, and an unknown --checkpoint, in one line', () => {
    const partial = tmpDir();
    fs.cpSync(path.join(run, 'net2'), path.join(partial, 'net2'), { recursive: true });
    const file = path.join(partial, 'net2', 'last', 'train-state.json');
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), partial: { batch: 1 } }));
    const to = tmpDir();
    const r = ship(['--from', partial, '--nets', '2', '--to', to, '--data', data, '--checkpoint', 'last']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([`ship-models: ${path.join(partial, 'net2')}/last: the run stopped inside an epoch; finish it (fer train --resume) first`]);
    expect(fs.existsSync(path.join(to, 'net2'))).toBe(false);
    const bad = ship(['--from', run, '--to', to, '--checkpoint', 'first']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('ship-models: --checkpoint must be best or last, not first');
  });
});
