import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { ROOT, runFer, tmpDir } from './helpers';
import { csvText, fakeImage, row } from './prepare-fixtures';
import { synthSplit, writePrepared } from './trainData';
import { acquireLock, lockFileFor } from '../src/util/lock';

/**
 * Issue 13, "never destroy a user's file", items 6 and 7: crashes (real processes killed with SIGKILL at each
 * step of a checkpoint swap) and concurrent runs. The other items are in safety.test.ts.
 */

/** A refusal: the exit code, one line on stderr (no stack trace, no "internal error"), naming every `names`. */
function expectOneLine(r: { status: number | null; stderr: string }, status: number, ...names: (string | RegExp)[]): void {
  const lines = r.stderr.replace(/^backend: .*\n/m, '').replace(/\(run with --help for usage\)\n$/, '').trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  for (const n of names) expect(lines[0]).toMatch(n);
  expect(r.status).toBe(status);
}

const goodCsv = (): string => csvText([row(3, fakeImage(1), 'Training'), row(4, fakeImage(2), 'PublicTest'), row(5, fakeImage(3), 'Training')]);

describe('6. a crash at any instant of a checkpoint swap is recovered by the next run', () => {
  const dataDir = (): string => writePrepared(path.join(tmpDir('fer-crash-data-'), 'prepared'), { train: synthSplit(32, 1), val: synthSplit(14, 2) });
  const trainArgs = (data: string, out: string, epochs: number): string[] => ['train', '--net', '2', '--width', '0.125', '--batch-size', '16', '--bn-recalibrate', '0',
    '--epochs', String(epochs), '--data', data, '--out', out, '-q'];
  const leftovers = (netDir: string): string[] => fs.readdirSync(netDir).filter((n) => n.startsWith('.'));
  const epochOf = (lastDir: string): number => JSON.parse(fs.readFileSync(path.join(lastDir, 'train-state.json'), 'utf8')).epoch;

  // Steps of the swap (src/util/atomic.ts): 1 copy complete, 2 marked .ready, 3 old copy moved aside, 4 new copy in
  // place, 5 old copy removed. Killed after step k while saving epoch 2's `last`, the next run must find epoch 1
  // (k = 1: the new copy was never marked complete) or epoch 2 (k ≥ 2), and no leftovers.
  it.each([1, 2, 3, 4, 5])('SIGKILL after step %i of the swap of last/ → --resume finds the newest complete copy', (step) => {
    const data = dataDir();
    const out = path.join(tmpDir('fer-crash-'), 'ck');
    const killed = runFer(trainArgs(data, out, 2), { env: { FER_TEST_KILL_AT: `last:${step}:2` } });
    expect(killed.signal).toBe('SIGKILL');
    const net = path.join(out, 'net2');
    if (step < 5) expect(leftovers(net).length).toBeGreaterThan(0);
    // --epochs 1: the run repairs the folder, then has nothing to train.
    const next = runFer([...trainArgs(data, out, 1), '--resume']);
    expect(next.status).toBe(0);
    expect(leftovers(net)).toEqual([]);
    expect(epochOf(path.join(net, 'last'))).toBe(step === 1 ? 1 : 2);
    expect(fs.existsSync(path.join(net, 'best', 'model.json'))).toBe(true);
  });

  it('a crash in the middle of writing a copy, and copies left by an older fer (.tmp-last-*), are recovered too', () => {
    const data = dataDir();
    const out = path.join(tmpDir('fer-crash-'), 'ck');
    expect(runFer(trainArgs(data, out, 2)).status).toBe(0);
    const net = path.join(out, 'net2');
    // The state issue 13 describes: killed between the two renames of the old swap, both copies hidden as .tmp-last-*.
    const older = path.join(net, `.tmp-last-${process.pid}-aaaaaa1`);
    const newer = path.join(net, `.tmp-last-${process.pid}-aaaaaa2`);
    fs.cpSync(path.join(net, 'last'), older, { recursive: true });
    fs.renameSync(path.join(net, 'last'), newer);
    const t = Date.now() / 1000;
    fs.utimesSync(older, t - 100, t - 100);
    // And a half-written copy (no weights yet) plus a temp history file.
    fs.mkdirSync(path.join(net, '.tmp-best-0mx00000-1-abcd'));
    fs.writeFileSync(path.join(net, '.tmp-history.json-0mx00000-1-abcd'), '[');
    const next = runFer([...trainArgs(data, out, 1), '--resume']);
    expect(next.status).toBe(0);
    expect(leftovers(net)).toEqual([]);
    expect(epochOf(path.join(net, 'last'))).toBe(2);
  });

  it('the swap itself, killed at every step (a child process per step), leaves a state recoverDir makes whole', () => {
    const script = `
      const fs = require('fs'); const path = require('path');
      const { writeDirAtomic } = require(${JSON.stringify(path.join(ROOT, 'dist', 'util', 'atomic.js'))});
      const target = process.argv[1];
      writeDirAtomic(target, async (tmp) => {
        fs.writeFileSync(path.join(tmp, 'a'), 'v2');
        if (process.env.KILL_MID_WRITE) process.kill(process.pid, 'SIGKILL');
        fs.writeFileSync(path.join(tmp, 'b'), 'v2');
      });`;
    const { recoverDir } = require('../src/util/atomic') as typeof import('../src/util/atomic');
    for (const step of [0, 1, 2, 3, 4, 5]) {
      const dir = tmpDir('fer-swap-');
      const target = path.join(dir, 'last');
      fs.mkdirSync(target);
      fs.writeFileSync(path.join(target, 'a'), 'v1');
      fs.writeFileSync(path.join(target, 'b'), 'v1');
      const env = { ...process.env, ...(step === 0 ? { KILL_MID_WRITE: '1' } : { FER_TEST_KILL_AT: `last:${step}` }) };
      const r = spawnSync(process.execPath, ['-e', script, target], { env });
      expect(r.signal).toBe('SIGKILL');
      recoverDir(target);
      const want = step < 2 ? 'v1' : 'v2';
      expect([fs.readFileSync(path.join(target, 'a'), 'utf8'), fs.readFileSync(path.join(target, 'b'), 'utf8')]).toEqual([want, want]);
      expect(fs.readdirSync(dir)).toEqual(['last']);
    }
  });
});

describe('7. run locks: two runs never write the same checkpoints or dataset', () => {
  it('a second `fer train` on the same --out/net<k> exits 1 naming the pid of the first; a dead run\'s lock is taken over', async () => {
    const data = writePrepared(path.join(tmpDir('fer-lock-'), 'prepared'), { train: synthSplit(32, 1), val: synthSplit(14, 2) });
    const out = path.join(tmpDir('fer-lock-'), 'ck');
    const args = ['train', '--net', '2', '--width', '0.125', '--batch-size', '16', '--bn-recalibrate', '0', '--data', data, '--out', out, '-q'];
    const first = spawn(process.execPath, [path.join(ROOT, 'bin', 'fer'), ...args, '--epochs', '500'], { stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
    const lock = path.join(out, '.net2.lock');
    try {
      const deadline = Date.now() + 120000;
      while (!fs.existsSync(lock) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(JSON.parse(fs.readFileSync(lock, 'utf8')).pid).toBe(first.pid);
      const second = runFer([...args, '--epochs', '1']);
      expectOneLine(second, 1, `${path.join(out, 'net2')} is in use by another fer run (pid ${first.pid}`);
    } finally {
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
    }
    // The lock is left behind by the killed run; the next run sees its owner is gone and takes it over.
    expect(fs.existsSync(lock)).toBe(true);
    const third = runFer([...args, '--epochs', '1', '--resume'].filter((a) => a !== '-q'));
    expect(third.stderr).toContain(`took over the lock of pid ${first.pid}`);
    expect(third.status).toBe(0);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('`fer prepare` holds a lock on --out: a live holder makes it exit 1 naming the pid; a stale one is taken over and removed', () => {
    const dir = tmpDir('fer-lock-');
    const csv = path.join(dir, 'in.csv');
    fs.writeFileSync(csv, goodCsv());
    const out = path.join(dir, 'prepared');
    const held = acquireLock(out, 'test');
    try {
      expectOneLine(runFer(['prepare', csv, '--out', out, '-q']), 1, `is in use by another fer run (pid ${process.pid}`);
      expect(fs.existsSync(out)).toBe(false);
    } finally {
      held.release();
    }
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    fs.writeFileSync(lockFileFor(out), JSON.stringify({ pid: dead, host: require('os').hostname(), start: null, token: 'x', command: 'fer', since: '' }));
    expect(runFer(['prepare', csv, '--out', out, '-q']).status).toBe(0);
    expect(fs.readdirSync(dir).sort()).toEqual(['in.csv', 'prepared']);
  });
});


describe('6b. a crash during the swap of a prepared dataset is recovered by the next fer prepare', () => {
  // Killed after step k of replacing dataset v1 (1 train row) with v2 (2 rows): the next run, even one that then
  // fails on its own input, first puts the newest complete copy in place and removes every leftover.
  it.each([1, 3, 4])('SIGKILL after step %i', (step) => {
    const dir = tmpDir('fer-crash-prep-');
    const out = path.join(dir, 'pp');
    const v1 = path.join(dir, 'v1.csv');
    const v2 = path.join(dir, 'v2.csv');
    fs.writeFileSync(v1, csvText([row(3, fakeImage(1), 'Training')]));
    fs.writeFileSync(v2, csvText([row(3, fakeImage(1), 'Training'), row(4, fakeImage(2), 'Training')]));
    expect(runFer(['prepare', v1, '--out', out, '-q']).status).toBe(0);
    const killed = runFer(['prepare', v2, '--out', out, '-q'], { env: { FER_TEST_KILL_AT: `pp:${step}` } });
    expect(killed.signal).toBe('SIGKILL');
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.')).length).toBeGreaterThan(0);
    fs.writeFileSync(path.join(dir, 'bad.csv'), 'not,a,fer,csv\n');
    expect(runFer(['prepare', path.join(dir, 'bad.csv'), '--out', out, '-q']).status).toBe(1);
    expect(fs.readdirSync(dir).sort()).toEqual(['bad.csv', 'pp', 'v1.csv', 'v2.csv']);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.rows.kept).toBe(step === 1 ? 1 : 2);
  });
});
