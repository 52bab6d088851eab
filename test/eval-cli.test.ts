import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { initBackend } from '../src/backend';
import { CLASS_NAMES } from '../src/data/classes';
import { asymmetricNet, brightnessNet, fer2013Csv, uniformFaces, writeCheckpoints, writePreparedDir } from './eval-fixtures';
import { runFer, tmpDir } from './helpers';

// 14 val faces. The brightness net predicts the brightness class each face shows; 3 of them (10, 11, 13) show
// the wrong one.
const LABELS = [0, 1, 2, 3, 4, 5, 6, 0, 2, 3, 3, 4, 5, 6];
const SHOWN = [0, 1, 2, 3, 4, 5, 6, 0, 2, 3, 5, 2, 5, 3];

let root: string;
let prep: string;
let ckpt: string;

beforeAll(async () => {
  await initBackend('cpu');
  root = tmpDir('fer-eval-cli-');
  prep = writePreparedDir(path.join(root, 'prep'), {
    train: { images: uniformFaces([1, 2]), labels: [1, 2] },
    val: { images: uniformFaces(SHOWN), labels: LABELS },
    test: { images: new Uint8Array(0), labels: [] },
  });
  const bright = brightnessNet();
  ckpt = await writeCheckpoints(path.join(root, 'ckpt'), { 1: bright, 2: bright, 3: asymmetricNet() });
});

describe('fer eval (CLI)', () => {
  it('--json prints one document with per-net and ensemble metrics, and --confusion writes every file', async () => {
    const out = path.join(root, 'reports');
    const r = runFer(['eval', '--data', prep, '--models', ckpt, '--net', '1,2', '--split', 'val', '--json', '--confusion', '--out', out, '--tta', '--batch-size', '4']);
    expect(r.stderr).toContain('evaluating net1, net2 on val (14 images, flip TTA');
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual(['split', 'source', 'images', 'classes', 'tta', 'ttaMode', 'backend', 'batchSize', 'weightsFittedOn', 'models', 'files']);
    expect(doc).toMatchObject({ split: 'val', source: { kind: 'data', path: prep }, images: 14, classes: [...CLASS_NAMES], tta: true, batchSize: 4, weightsFittedOn: null });
    expect(doc.models.map((m: { name: string }) => m.name)).toEqual(['net1', 'net2', 'ensemble']);
    const [net1, , ensemble] = doc.models;
    expect(Object.keys(net1)).toEqual(['name', 'nets', 'weights', 'metrics', 'throughput', 'files']);
    expect(Object.keys(net1.metrics)).toEqual(['count', 'accuracy', 'top2Accuracy', 'logLoss', 'macroPrecision', 'macroRecall', 'macroF1', 'weightedF1', 'perClass', 'confusion']);
    expect(net1.metrics.accuracy).toBeCloseTo(11 / 14, 10);
    expect(net1.metrics.confusion.counts[3]).toEqual([0, 0, 0, 2, 0, 1, 0]);
    expect(net1.metrics.confusion.counts[6]).toEqual([0, 0, 0, 1, 0, 0, 1]);
    expect(net1.metrics.confusion.counts[4]).toEqual([0, 0, 1, 0, 1, 0, 0]);
    expect(net1.metrics.perClass[3]).toMatchObject({ name: 'Happy', support: 3, predicted: 3 });
    expect(net1.throughput.images).toBe(14);
    expect(net1.throughput.imagesPerSecond).toBeGreaterThan(0);
    // Two identical nets: the ensemble is the single net.
    expect(ensemble.nets).toEqual([1, 2]);
    expect(ensemble.metrics.confusion).toEqual(net1.metrics.confusion);
    expect(ensemble.metrics.macroF1).toBeCloseTo(net1.metrics.macroF1, 10);

    expect(doc.files).toHaveLength(15);
    for (const f of doc.files) expect(fs.existsSync(f)).toBe(true);
    expect(net1.files.map((f: string) => path.basename(f))).toContain('confusion-net1-val.png');
    const png = await sharp(path.join(out, 'confusion-ensemble-val.png')).metadata();
    expect(png.format).toBe('png');
    expect(png.width).toBeGreaterThan(500);
    expect(fs.readFileSync(path.join(out, 'confusion-net1-val.csv'), 'utf8').split('\n')[4]).toBe('Happy,0,0,0,2,0,1,0');
  });

  it('prints the summary, per-class and confusion tables on stdout without --json', () => {
    const r = runFer(['eval', '--data', prep, '--models', ckpt, '--split', 'val', '--confusion', '--out', path.join(root, 'r2')]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^model\s+accuracy\s+top-2\s+macro F1\s+weighted F1\s+log loss\s+img\/s\n/);
    expect(r.stdout).toMatch(/\nnet1\s+78\.6%/);
    expect(r.stdout).toMatch(/\nensemble \(1:0\.33 2:0\.33 3:0\.33\)/);
    expect(r.stdout).toMatch(/\nHappy\s+3\s+0\.67\/0\.67\/0\.67/);
    expect(r.stdout).toContain('net3: confusion matrix on val (rows true, columns predicted)');
    expect(r.stdout).not.toContain('\u001b[');
    expect(r.stderr).toMatch(/wrote 20 files to /);
  });

  it('-q keeps the tables on stdout and prints nothing on stderr', () => {
    const r = runFer(['eval', '--data', prep, '--models', ckpt, '--split', 'val', '-q']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\nnet1\s+78\.6%/);
    expect(r.stderr).toBe('');
  });

  it('fits ensemble weights on val, warning that measuring on val is then optimistic', () => {
    const r = runFer(['eval', '--data', prep, '--models', ckpt, '--split', 'val', '--fit-weights', '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/ensemble weights fitted on val: net1 [\d.]+, net2 [\d.]+, net3 [\d.]+/);
    expect(r.stderr).toMatch(/optimistic/);
    const doc = JSON.parse(r.stdout);
    expect(doc.weightsFittedOn).toBe('val');
    const ensemble = doc.models[3];
    expect(ensemble.weights.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 10);
    expect(ensemble.weights).not.toEqual([1 / 3, 1 / 3, 1 / 3]);
    // Fitted and measured on the same split here, so the reported log loss is the fitted one, ≤ the plain mean's.
    const [, fitted, equal] = /val log loss ([\d.]+); equal weights ([\d.]+)/.exec(r.stderr) ?? [];
    expect(Number(fitted)).toBeLessThan(Number(equal));
    expect(ensemble.metrics.logLoss).toBeCloseTo(Number(fitted), 3);
  });

  it('--csv reads and cleans the FER2013 CSV in memory and evaluates its split', () => {
    const csv = path.join(root, 'mini.csv');
    fs.writeFileSync(csv, fer2013Csv([
      ...[0, 1, 2, 3, 4, 5, 6].map((c) => ({ label: c, shown: c, usage: 'PublicTest' as const })),
      { label: 3, shown: 5, usage: 'PublicTest' },
      { label: 1, shown: 1, usage: 'Training' },
      { label: 4, shown: 4, usage: 'Training' },
    ]));
    const r = runFer(['eval', '--csv', csv, '--models', ckpt, '--net', '1', '--split', 'val', '--json']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ split: 'val', source: { kind: 'csv', path: csv }, images: 8 });
    expect(doc.models.map((m: { name: string }) => m.name)).toEqual(['net1']);
    expect(doc.models[0].metrics.accuracy).toBeCloseTo(7 / 8, 10);
    expect(doc.models[0].metrics.confusion.counts[3][5]).toBe(1);

    const empty = runFer(['eval', '--csv', csv, '--models', ckpt, '--split', 'test']);
    expect(empty.status).toBe(1);
    expect(empty.stderr).toContain(`fer: ${csv}: split 'test' has no rows (FER2013's PrivateTest rows are withheld from this data); evaluate another split with --split val or --split train`);
  });

  it('refuses an empty --split test with one line naming it and suggesting --split val (without --split, val is picked)', () => {
    const r = runFer(['eval', '--data', prep, '--models', ckpt, '--split', 'test']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `fer: ${prep}: split 'test' has no rows (FER2013's PrivateTest rows are withheld from this data); evaluate another split with --split val or --split train`,
    ]);
    expect(r.stdout).toBe('');
  });

  it('names the flag or path on bad input, without a stack trace', () => {
    const cases: [string[], number, RegExp][] = [
      [['--net', '4'], 2, /--net 4: expected 1, 2, 3, a list like 1,3, or all/],
      [['--split', 'holdout'], 2, /'holdout' is invalid/],
      [['--csv', 'x.csv'], 2, /--data.*cannot be used with option '--csv/],
      [['--weights', '1,-1'], 2, /--weights 1,-1: expected/],
      [['--split', 'val', '--net', '1,2', '--weights', '1,2,3'], 2, /--weights: 3 weights for 2 nets/],
      [['--split', 'val', '--models', path.join(root, 'nothing')], 1, /no trained model in .*nothing/],
    ];
    for (const [args, code, message] of cases) {
      const r = runFer(['eval', '--data', prep, '--models', ckpt, ...args]);
      expect([args.join(' '), r.status]).toEqual([args.join(' '), code]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('--help describes every flag with its default and shows examples', () => {
    const r = runFer(['eval', '--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--data', '--csv', '--split', '--models', '--net', '--confusion', '--tta', '--fit-weights', '--weights', '--json', '--out', '--batch-size', '--backend']) {
      expect(r.stdout).toContain(flag);
    }
    const help = r.stdout.replace(/\s+/g, ' ');
    expect(help).toContain('(default: "data/prepared")');
    expect(help).toContain('default: test if it has rows, else val');
    expect(help).toContain('(default: "reports")');
    expect(help).toContain('(default: 256)');
    expect(r.stdout).toMatch(/Examples:\n\s+\$ fer eval --split val/);
  });
});
