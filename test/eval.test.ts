import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import chalk from 'chalk';
import { initBackend } from '../src/backend';
import { CLASS_NAMES, IMAGE_SIZE, NUM_CLASSES } from '../src/data/classes';
import { argmaxRows, classificationMetrics, confusionMatrix, logLoss, topKAccuracy, LOG_LOSS_EPS } from '../src/eval/metrics';
import { fitEnsembleWeights } from '../src/eval/ensemble';
import { evaluateNets, reportScores, scoreSplit } from '../src/eval/evaluate';
import { loadEvalSplit } from '../src/eval/data';
import { confusionTable, writeConfusionFiles } from '../src/eval/report';
import { confusionHeatmap, rampColor } from '../src/charts/heatmap';
import { loadNets } from '../src/models/classifier';
import { asymmetricNet, brightnessNet, noiseFaces, PX, uniformFaces, writeCheckpoints, writePreparedDir } from './eval-fixtures';
import { tmpDir } from './helpers';

beforeAll(async () => {
  await initBackend('cpu');
});

// Hand-worked example, 4 classes a b c d; d never occurs in the labels but is predicted once.
//   row  label  scores                  arg-max  p(true)  true in top 2?
//   0    a      .7  .1  .1  .1          a        .7       yes
//   1    a      .4  .5  .05 .05         b        .4       yes
//   2    b      .1  .8  .05 .05         b        .8       yes
//   3    b      .2  .6  .1  .1          b        .6       yes
//   4    b      .5  .3  .1  .1          a        .3       yes
//   5    c      .3  .05 .2  .45         d        .2       no (a and d above)
const CLASSES4 = ['a', 'b', 'c', 'd'];
const LABELS = [0, 0, 1, 1, 1, 2];
const SCORES4 = [
  [0.7, 0.1, 0.1, 0.1],
  [0.4, 0.5, 0.05, 0.05],
  [0.1, 0.8, 0.05, 0.05],
  [0.2, 0.6, 0.1, 0.1],
  [0.5, 0.3, 0.1, 0.1],
  [0.3, 0.05, 0.2, 0.45],
];

describe('metrics', () => {
  it('match a hand-computed example, including a predicted class with no support', () => {
    const m = classificationMetrics(Float32Array.from(SCORES4.flat()), LABELS, CLASSES4);
    expect(m.count).toBe(6);
    expect(m.accuracy).toBeCloseTo(3 / 6, 10);
    expect(m.top2Accuracy).toBeCloseTo(5 / 6, 10);
    expect(m.logLoss).toBeCloseTo(-(Math.log(0.7) + Math.log(0.4) + Math.log(0.8) + Math.log(0.6) + Math.log(0.3) + Math.log(0.2)) / 6, 6);
    expect(m.confusion.counts).toEqual([
      [1, 1, 0, 0],
      [1, 2, 0, 0],
      [0, 0, 0, 1],
      [0, 0, 0, 0],
    ]);
    const pc = Object.fromEntries(m.perClass.map((c) => [c.name, c]));
    expect([pc.a.precision, pc.a.recall, pc.a.f1, pc.a.support, pc.a.predicted]).toEqual([0.5, 0.5, 0.5, 2, 2]);
    expect(pc.b.precision).toBeCloseTo(2 / 3, 10);
    expect(pc.b.recall).toBeCloseTo(2 / 3, 10);
    expect(pc.b.f1).toBeCloseTo(2 / 3, 10);
    // c: never predicted → precision 0 by convention; d: no support → recall 0 by convention.
    expect([pc.c.precision, pc.c.recall, pc.c.f1, pc.c.support]).toEqual([0, 0, 0, 1]);
    expect([pc.d.precision, pc.d.recall, pc.d.f1, pc.d.support, pc.d.predicted]).toEqual([0, 0, 0, 0, 1]);
    // Macro over the 4 classes that occur in labels or predictions; weighted by support.
    expect(m.macroF1).toBeCloseTo((0.5 + 2 / 3) / 4, 10);
    expect(m.macroPrecision).toBeCloseTo((0.5 + 2 / 3) / 4, 10);
    expect(m.weightedF1).toBeCloseTo((0.5 * 2 + (2 / 3) * 3) / 6, 10);
    expect(m.confusion.normalized[0]).toEqual([0.5, 0.5, 0, 0]);
    expect(m.confusion.normalized[3]).toEqual([0, 0, 0, 0]);
    expect(JSON.stringify(m)).not.toMatch(/NaN|null|Infinity/);
  });

  it('leave a class absent from labels and predictions out of macro averages, with zeros and no NaN', () => {
    const five = Float32Array.from(SCORES4.flatMap((row) => [...row, 0]));
    const m5 = classificationMetrics(five, LABELS, [...CLASSES4, 'e']);
    const m4 = classificationMetrics(Float32Array.from(SCORES4.flat()), LABELS, CLASSES4);
    expect(m5.perClass[4]).toEqual({ name: 'e', precision: 0, recall: 0, f1: 0, support: 0, predicted: 0 });
    expect(m5.macroF1).toBeCloseTo(m4.macroF1, 12);
    expect(m5.weightedF1).toBeCloseTo(m4.weightedF1, 12);
    expect(m5.confusion.normalized[4]).toEqual([0, 0, 0, 0, 0]);
  });

  it('break ties towards the lower class index, for arg-max and top-k alike', () => {
    const s = Float32Array.from([0.4, 0.4, 0.2, 0.3, 0.3, 0.4]);
    expect(Array.from(argmaxRows(s, 3))).toEqual([0, 2]);
    // Row 0, label 1: tied with class 0, which ranks first → top-1 miss, top-2 hit.
    expect(topKAccuracy(s.subarray(0, 3), [1], 1, 3)).toBe(0);
    expect(topKAccuracy(s.subarray(0, 3), [1], 2, 3)).toBe(1);
  });

  it('clip log loss so a confident miss stays finite', () => {
    expect(logLoss(Float32Array.from([1, 0]), [1], 2)).toBeCloseTo(-Math.log(LOG_LOSS_EPS), 6);
    expect(logLoss(Float32Array.from([0, 1]), [1], 2)).toBe(0);
  });

  it('reject out-of-range labels and an empty split with a message', () => {
    expect(() => classificationMetrics(Float32Array.from([0.5, 0.5]), [2], ['x', 'y'])).toThrow(/label 2 at index 0 is out of range 0\.\.1/);
    expect(() => classificationMetrics(new Float32Array(0), [], ['x', 'y'])).toThrow(/no rows/);
  });

  it('build a confusion matrix with rows = true class', () => {
    const c = confusionMatrix([0, 0, 1], [1, 1, 1], ['x', 'y']);
    expect(c.counts).toEqual([[0, 2], [0, 1]]);
    expect(c.normalized).toEqual([[0, 1], [0, 1]]);
  });
});

describe('ensemble weights', () => {
  it('move weight towards the better net and never fit worse than the plain mean', () => {
    const labels = [0, 1, 2, 0, 1, 2, 0, 1];
    const good = Float32Array.from(labels.flatMap((l) => [0, 1, 2].map((c) => (c === l ? 0.8 : 0.1))));
    const bad = Float32Array.from(labels.flatMap((l) => [0, 1, 2].map((c) => (c === (l + 1) % 3 ? 0.8 : 0.1))));
    const fitted = fitEnsembleWeights([bad, good], labels, { numClasses: 3 });
    expect(fitted.weights[1]).toBeGreaterThan(0.9);
    expect(fitted.weights[0] + fitted.weights[1]).toBeCloseTo(1, 10);
    expect(fitted.logLoss).toBeLessThan(fitted.equalLogLoss);
  });

  it('keep equal weights when the nets are identical', () => {
    const labels = [0, 1, 1];
    const s = Float32Array.from([0.6, 0.4, 0.3, 0.7, 0.55, 0.45]);
    const fitted = fitEnsembleWeights([s, s, s], labels, { numClasses: 2 });
    fitted.weights.forEach((w) => expect(w).toBeCloseTo(1 / 3, 10));
  });
});

describe('scoring and evaluation with real tfjs models', () => {
  it('average each face with its mirror image under --tta, whatever the batch size', async () => {
    const model = asymmetricNet();
    const count = 5;
    const faces = noiseFaces(count);
    const mirrored = new Uint8Array(faces.length);
    for (let i = 0; i < count; i++) {
      for (let y = 0; y < IMAGE_SIZE; y++) {
        for (let x = 0; x < IMAGE_SIZE; x++) mirrored[i * PX + y * IMAGE_SIZE + x] = faces[i * PX + y * IMAGE_SIZE + (IMAGE_SIZE - 1 - x)];
      }
    }
    const split = (images: Uint8Array) => ({ images, labels: new Uint8Array(count), count });
    const plain = (await scoreSplit(model, split(faces), { batchSize: 2 })).scores;
    const flipped = (await scoreSplit(model, split(mirrored), { batchSize: 256 })).scores;
    const seen: number[] = [];
    const tta = (await scoreSplit(model, split(faces), { tta: true, batchSize: 2, onBatch: (d) => seen.push(d) })).scores;
    expect(seen).toEqual([2, 4, 5]);
    let maxDiff = 0;
    for (let i = 0; i < plain.length; i++) {
      expect(tta[i]).toBeCloseTo((plain[i] + flipped[i]) / 2, 5);
      maxDiff = Math.max(maxDiff, Math.abs(plain[i] - flipped[i]));
    }
    // The model does see the mirror as a different face, so the test above means something.
    expect(maxDiff).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it('report the ensemble of identical models exactly as the single model', async () => {
    const dir = tmpDir('fer-eval-');
    const model = brightnessNet();
    await writeCheckpoints(path.join(dir, 'ckpt'), { 1: model, 3: model });
    const nets = await loadNets(path.join(dir, 'ckpt'));
    expect(nets.map((n) => n.net)).toEqual([1, 3]);
    const labels = [0, 1, 2, 3, 4, 5, 6, 3, 3, 6];
    const shown = [0, 1, 2, 3, 4, 5, 6, 4, 3, 0]; // the brightness each face shows = what the net predicts
    const split = { images: uniformFaces(shown), labels: Uint8Array.from(labels), count: labels.length };
    const reports = await evaluateNets(nets, split, { batchSize: 4 });
    expect(reports.map((r) => r.name)).toEqual(['net1', 'net3', 'ensemble']);
    const [single, , ensemble] = reports;
    expect(single.metrics.accuracy).toBeCloseTo(8 / 10, 10);
    expect(single.metrics.confusion.counts[3][4]).toBe(1);
    expect(single.metrics.confusion.counts[6][0]).toBe(1);
    expect(ensemble.nets).toEqual([1, 3]);
    expect(ensemble.weights).toEqual([0.5, 0.5]);
    expect(ensemble.metrics.confusion).toEqual(single.metrics.confusion);
    expect(ensemble.metrics.perClass).toEqual(single.metrics.perClass);
    expect(ensemble.metrics.logLoss).toBeCloseTo(single.metrics.logLoss, 6);
    expect(ensemble.throughput.images).toBe(10);
    expect(ensemble.throughput.seconds).toBeGreaterThanOrEqual(single.throughput.seconds);
    nets.forEach((n) => n.model.dispose());
    model.dispose();
  });

  it('weight the ensemble when asked: all weight on one net reproduces that net', () => {
    const labels = Uint8Array.from([0, 1]);
    const a = Float32Array.from([0.9, 0.1, 0, 0, 0, 0, 0, 0.2, 0.8, 0, 0, 0, 0, 0]);
    const b = Float32Array.from([0.1, 0.9, 0, 0, 0, 0, 0, 0.9, 0.1, 0, 0, 0, 0, 0]);
    const reports = reportScores([{ net: 1, scores: a, seconds: 1 }, { net: 2, scores: b, seconds: 2 }], labels, [0, 3]);
    const ens = reports[2];
    expect(ens.weights).toEqual([0, 1]);
    expect(ens.metrics.accuracy).toBe(0);
    expect(ens.metrics.logLoss).toBeCloseTo(reports[1].metrics.logLoss, 6);
    expect(ens.throughput.seconds).toBeGreaterThanOrEqual(3);
    expect(() => reportScores([{ net: 1, scores: a, seconds: 1 }, { net: 2, scores: b, seconds: 1 }], labels, [1])).toThrow(/2 nets/);
  });
});

describe('prepared splits for eval', () => {
  it('refuse an empty split, naming it and suggesting one that has rows', () => {
    const dir = writePreparedDir(path.join(tmpDir('fer-eval-'), 'prep'), {
      train: { images: uniformFaces([1, 2]), labels: [1, 2] },
      val: { images: uniformFaces([3]), labels: [3] },
      test: { images: new Uint8Array(0), labels: [] },
    });
    expect(() => loadEvalSplit(dir, 'test')).toThrow(/prep: split 'test' has no rows .*evaluate another split with split val or split train$/);
    expect(loadEvalSplit(dir, 'val').count).toBe(1);
    fs.rmSync(path.join(dir, 'test_labels.npy'));
    expect(() => loadEvalSplit(dir, 'test')).toThrow(/split 'test' has no rows/);
  });
});

describe('confusion outputs', () => {
  const confusion = confusionMatrix([0, 0, 1, 3, 3, 3, 6], [0, 1, 1, 3, 3, 5, 6], CLASS_NAMES);

  it('draw a heatmap PNG of the canvas size, dark where a row is all on the diagonal, and a parseable SVG', async () => {
    const canvas = confusionHeatmap(confusion, 'test heatmap');
    const png = await canvas.toPNG();
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([canvas.width, canvas.height, 3]);
    expect(canvas.width).toBeGreaterThan(7 * 60);
    const svg = canvas.toSVG();
    // librsvg (via sharp) parses and rasterises it: a real XML/SVG parse.
    const meta = await sharp(Buffer.from(svg)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['svg', canvas.width, canvas.height]);
    for (const name of CLASS_NAMES) expect(svg.split(`>${name}</text>`).length - 1).toBe(2);
    expect(svg).toContain('>66.7%</text>');
    // Locate cells from the SVG's own rects: Neutral→Neutral (100%) is dark, Angry→Neutral (0%) near white.
    const rects = [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="(#[0-9a-f]{6})" stroke/g)]
      .map((m) => ({ x: +m[1], y: +m[2], w: +m[3], h: +m[4], fill: m[5] }));
    expect(rects).toHaveLength(NUM_CLASSES * NUM_CLASSES);
    const pixel = (r: { x: number; y: number }) => {
      const o = ((Math.round(r.y) + 3) * info.width + Math.round(r.x) + 3) * 3;
      return [data[o], data[o + 1], data[o + 2]];
    };
    expect(pixel(rects[6 * 7 + 6])).toEqual([8, 48, 107]);
    expect(pixel(rects[0 * 7 + 6])).toEqual([247, 251, 255]);
    expect(rects[6 * 7 + 6].fill).toBe(rampColor(1));
  });

  it('write counts CSV, normalised CSV, JSON, PNG and SVG atomically into --out', async () => {
    const out = path.join(tmpDir('fer-eval-'), 'reports');
    const files = await writeConfusionFiles(out, 'net2', 'val', confusion);
    expect(files.map((f) => path.basename(f)).sort()).toEqual([
      'confusion-net2-val-normalized.csv', 'confusion-net2-val.csv', 'confusion-net2-val.json', 'confusion-net2-val.png', 'confusion-net2-val.svg',
    ]);
    expect(fs.readdirSync(out).sort()).toEqual(files.map((f) => path.basename(f)).sort());
    const csv = fs.readFileSync(path.join(out, 'confusion-net2-val.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('true\\predicted,Angry,Disgust,Fear,Happy,Sad,Surprise,Neutral');
    expect(csv[4]).toBe('Happy,0,0,0,2,0,1,0');
    const norm = fs.readFileSync(path.join(out, 'confusion-net2-val-normalized.csv'), 'utf8').trim().split('\n');
    expect(norm[1]).toBe('Angry,0.500000,0.500000,0.000000,0.000000,0.000000,0.000000,0.000000');
    const json = JSON.parse(fs.readFileSync(path.join(out, 'confusion-net2-val.json'), 'utf8'));
    expect(json).toMatchObject({ model: 'net2', split: 'val', classes: [...CLASS_NAMES], counts: confusion.counts });
    expect((await sharp(path.join(out, 'confusion-net2-val.png')).metadata()).format).toBe('png');
  });

  it('print an aligned terminal table, coloured only when colour is on', () => {
    const plain = confusionTable(confusion, new chalk.Instance({ level: 0 }));
    const lines = plain.split('\n');
    expect(lines[0]).toMatch(/^true \\ predicted\s+Angry\s+Disgust\s+Fear\s+Happy\s+Sad\s+Surprise\s+Neutral\s+support$/);
    expect(lines[4]).toMatch(/^Happy\s+0\s+0\s+0\s+2\s+0\s+1\s+0\s+3$/);
    expect(plain).toMatch(/\nHappy\s+0\.0\s+0\.0\s+0\.0\s+66\.7\s+0\.0\s+33\.3\s+0\.0/);
    expect(new Set(lines.slice(0, 8).map((l) => l.length)).size).toBe(1);
    expect(plain).not.toContain('\u001b[');
    const coloured = confusionTable(confusion, new chalk.Instance({ level: 2 }));
    expect(coloured).toContain('\u001b[');
    expect(coloured.replace(/\u001b\[[0-9;]*m/g, '')).toBe(plain);
  });
});

afterAll(() => {
  tf.disposeVariables();
});
