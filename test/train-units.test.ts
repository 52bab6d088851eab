import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { EarlyStopping, ReduceLROnPlateau } from '../src/train/plateau';
import { Rng } from '../src/train/rng';
import { drawAffine, gatherBatch, warpFace, DEFAULT_AUGMENT } from '../src/train/augment';
import { Adam } from '../src/train/adam';
import { decodeOptimizer, encodeOptimizer } from '../src/train/state';
import { balancedClassWeights } from '../src/train/trainer';
import sharp from 'sharp';
import { lineChart, niceStep } from '../src/charts/lines';
import { curvesChart, historyCsv } from '../src/train/history';

/** Feed a scripted metric sequence; return the 1-based epochs at which the LR changed, and the LRs. */
function run(p: ReduceLROnPlateau, values: number[], lr0: number): { fired: number[]; lrs: number[] } {
  let lr = lr0;
  const fired: number[] = [];
  const lrs: number[] = [];
  values.forEach((v, i) => {
    const r = p.step(v, lr);
    if (r.reduced) fired.push(i + 1);
    lr = r.lr;
    lrs.push(lr);
  });
  return { fired, lrs };
}

describe('ReduceLROnPlateau (Keras semantics)', () => {
  it('fires after `patience` epochs without improvement, then counts again from zero', () => {
    const p = new ReduceLROnPlateau({ monitor: 'val_loss', factor: 0.5, patience: 2, cooldown: 0, minLr: 0, minDelta: 0 });
    // epoch:             1    2    3     4     5    6     7     8     9
    const { fired, lrs } = run(p, [1.0, 0.8, 0.85, 0.81, 0.7, 0.75, 0.75, 0.71, 0.72], 0.1);
    // 3 and 4 fail to beat 0.8 → fires at 4; 5 improves; 6, 7 fail → fires at 7; 8 fails (wait 1), 9 fails → fires at 9.
    expect(fired).toEqual([4, 7, 9]);
    expect(lrs[3]).toBeCloseTo(0.05);
    expect(lrs[8]).toBeCloseTo(0.0125);
  });

  it('requires an improvement larger than min_delta', () => {
    const p = new ReduceLROnPlateau({ monitor: 'val_loss', factor: 0.1, patience: 2, minDelta: 0.05, minLr: 0 });
    // 0.97 and 0.96 improve by less than 0.05 over 1.0: no improvement → fires at epoch 3.
    expect(run(p, [1.0, 0.97, 0.96, 0.9], 1).fired).toEqual([3]);
  });

  it('maximises accuracies, waits out the cooldown, and never goes below min_lr', () => {
    const p = new ReduceLROnPlateau({ monitor: 'val_acc', factor: 0.5, patience: 1, cooldown: 2, minLr: 0.3, minDelta: 0 });
    // Flat accuracy: fires at 2 (cooldown counter 2). As in Keras, the counter is decremented at the start of
    // epochs 3 and 4, and epoch 4 already counts (counter 0): fires at 4, LR 0.5 → max(0.25, 0.3) = 0.3.
    // From then on LR == min_lr, so it never fires again.
    const { fired, lrs } = run(p, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 1);
    expect(fired).toEqual([2, 4]);
    expect(lrs[lrs.length - 1]).toBeCloseTo(0.3);
    // A rising accuracy never fires.
    const q = new ReduceLROnPlateau({ monitor: 'val_acc', patience: 1 });
    expect(run(q, [0.1, 0.2, 0.3, 0.4], 1).fired).toEqual([]);
  });

  it('restores its state: a resumed sequence fires exactly where the uninterrupted one does', () => {
    const opts = { monitor: 'val_loss' as const, factor: 0.5, patience: 3, cooldown: 1, minLr: 0, minDelta: 0 };
    const seq = [1, 0.9, 0.95, 0.96, 0.97, 0.92, 0.93, 0.94, 0.99, 1.0];
    const whole = run(new ReduceLROnPlateau(opts), seq, 1);
    const first = new ReduceLROnPlateau(opts);
    const a = run(first, seq.slice(0, 4), 1);
    const second = new ReduceLROnPlateau(opts);
    second.setState(JSON.parse(JSON.stringify(first.getState())));
    const b = run(second, seq.slice(4), a.lrs[a.lrs.length - 1]);
    expect([...a.fired, ...b.fired.map((e) => e + 4)]).toEqual(whole.fired);
    expect(whole.fired.length).toBeGreaterThan(0);
  });
});

describe('EarlyStopping', () => {
  it('stops after `patience` epochs without a better value', () => {
    const es = new EarlyStopping('val_acc', 2);
    const stops = [0.3, 0.4, 0.39, 0.41, 0.40, 0.40].map((v) => es.step(v));
    expect(stops).toEqual([false, false, false, false, false, true]);
  });
});

describe('Rng', () => {
  it('is reproducible from a seed and from a saved state', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const xs = Array.from({ length: 5 }, () => a.uint32());
    expect(Array.from({ length: 5 }, () => b.uint32())).toEqual(xs);
    const saved = a.getState();
    const next = Array.from({ length: 5 }, () => a.float());
    const c = new Rng(saved);
    expect(Array.from({ length: 5 }, () => c.float())).toEqual(next);
    expect(new Rng(8).uint32()).not.toBe(xs[0]);
  });

  it('draws permutations and roughly uniform floats', () => {
    const r = new Rng(1);
    const p = Array.from(r.permutation(100));
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(p).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    let sum = 0;
    for (let i = 0; i < 10000; i++) sum += r.float();
    expect(sum / 10000).toBeGreaterThan(0.48);
    expect(sum / 10000).toBeLessThan(0.52);
  });
});

describe('augmentation', () => {
  const face = Uint8Array.from({ length: 2304 }, (_, i) => (i * 7) % 256);

  it('the identity transform copies the face; a flip mirrors every row', () => {
    const out = new Uint8Array(2304);
    warpFace(face, 0, out, 0, { flip: false, dx: 0, dy: 0, angleDeg: 0, scale: 1 });
    expect(out).toEqual(face);
    warpFace(face, 0, out, 0, { flip: true, dx: 0, dy: 0, angleDeg: 0, scale: 1 });
    for (let y = 0; y < 48; y++) for (let x = 0; x < 48; x++) expect(out[y * 48 + x]).toBe(face[y * 48 + 47 - x]);
  });

  it('a whole-pixel shift moves the content and replicates the edge', () => {
    const out = new Uint8Array(2304);
    warpFace(face, 0, out, 0, { flip: false, dx: 3, dy: 0, angleDeg: 0, scale: 1 });
    expect(out[10 * 48 + 20]).toBe(face[10 * 48 + 17]);
    expect(out[10 * 48 + 1]).toBe(face[10 * 48 + 0]);
  });

  it('draws parameters within the configured ranges and gathers batches', () => {
    const r = new Rng(3);
    for (let i = 0; i < 200; i++) {
      const a = drawAffine(r, DEFAULT_AUGMENT);
      expect(Math.abs(a.dx)).toBeLessThanOrEqual(4.8);
      expect(Math.abs(a.angleDeg)).toBeLessThanOrEqual(10);
      expect(a.scale).toBeGreaterThanOrEqual(0.9);
      expect(a.scale).toBeLessThanOrEqual(1.1);
    }
    const two = new Uint8Array(2 * 2304);
    two.set(face, 2304);
    const out = gatherBatch(two, [1, 0], new Uint8Array(2 * 2304), null, null);
    expect(out.subarray(0, 2304)).toEqual(face);
    expect(out.subarray(2304).every((v) => v === 0)).toBe(true);
  });
});

describe('Adam', () => {
  it('matches the closed form of the first steps and round-trips its state', async () => {
    await initBackend('cpu');
    const w = tf.variable(tf.tensor1d([1, -2]));
    const adam = new Adam([w], [false]);
    adam.apply([tf.tensor1d([0.5, -0.1])], 0.1);
    // Step 1: m̂ = g, v̂ = g², update = lr · g / (|g| + ε) = ±lr.
    expect(Array.from(w.dataSync())[0]).toBeCloseTo(0.9, 5);
    expect(Array.from(w.dataSync())[1]).toBeCloseTo(-1.9, 5);
    const bytes = encodeOptimizer(adam.getState());
    const restored = decodeOptimizer(bytes, adam.step, [2], 'x');
    const w2 = tf.variable(w.clone());
    const adam2 = new Adam([w2], [false]);
    adam2.setState(restored);
    adam.apply([tf.tensor1d([0.2, 0.3])], 0.1);
    adam2.apply([tf.tensor1d([0.2, 0.3])], 0.1);
    expect(Array.from(w2.dataSync())).toEqual(Array.from(w.dataSync()));
    expect(() => decodeOptimizer(bytes.subarray(4), 1, [2], 'opt.bin')).toThrow(/opt\.bin: expected 16 bytes/);
  });

  it('decays only the variables marked for weight decay', async () => {
    await initBackend('cpu');
    const a = tf.variable(tf.tensor1d([1]));
    const b = tf.variable(tf.tensor1d([1]));
    const adam = new Adam([a, b], [true, false], { weightDecay: 0.5 });
    adam.apply([tf.tensor1d([0]), tf.tensor1d([0])], 0.1);
    expect(a.dataSync()[0]).toBeCloseTo(0.95, 6);
    expect(b.dataSync()[0]).toBe(1);
  });
});

describe('history and class weights', () => {
  it('writes a CSV with a header and one row per epoch', () => {
    const csv = historyCsv([{ epoch: 1, loss: 1.5, acc: 0.4, val_loss: 1.4, val_acc: 0.45, lr: 0.001, seconds: 10, imgPerSec: 90, peakRssMB: 300 },
      { epoch: 2, loss: 1.2, acc: 0.5, val_loss: 1.3, val_acc: 0.5, lr: 0.0005, seconds: 9, imgPerSec: 95, peakRssMB: 301, lrChangedBy: 'plateau' }]);
    expect(csv).toBe('epoch,loss,acc,val_loss,val_acc,lr,seconds,imgPerSec,peakRssMB,lrChangedBy\n1,1.5,0.4,1.4,0.45,0.001,10,90,300,\n'
      + '2,1.2,0.5,1.3,0.5,0.0005,9,95,301,plateau\n');
  });

  it('balanced weights are n / (K · n_c), 0 for an absent class', () => {
    const w = balancedClassWeights(Uint8Array.from([0, 0, 0, 1, 3, 3, 4, 5, 6, 6, 6, 6, 6, 6]));
    expect(w[0]).toBeCloseTo(14 / (7 * 3));
    expect(w[1]).toBeCloseTo(2);
    expect(w[2]).toBe(0);
    expect(w[6]).toBeCloseTo(14 / 42);
  });

  it('draws the curves as SVG and PNG, with the legend in a corner the curves avoid', async () => {
    const rising = lineChart([{ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'up', color: '#ff0000', points: [[1, 0], [2, 1], [3, 2]] }] }]);
    const legend = /<rect x="([\d.]+)" y="([\d.]+)" width="[\d.]+" height="[\d.]+" fill="#ffffff" stroke="#cccccc"\/>/.exec(rising.toSVG());
    expect(legend).not.toBeNull();
    // A curve from bottom-left to top-right leaves the top-left and bottom-right corners free.
    const [lx, ly] = [Number(legend![1]), Number(legend![2])];
    const topRight = lx > 210 && ly < 100;
    const bottomLeft = lx < 210 && ly > 150;
    expect(topRight || bottomLeft).toBe(false);

    const history = [1, 2, 3].map((epoch) => ({ epoch, loss: 2 / epoch, acc: 0.2 * epoch, val_loss: 2.2 / epoch, val_acc: 0.18 * epoch, lr: 1e-3, seconds: 1, imgPerSec: 1, peakRssMB: 1 }));
    const chart = curvesChart(history, 'net9');
    const svg = chart.toSVG();
    expect(svg.match(/<polyline/g)!.length).toBeGreaterThanOrEqual(4);
    expect(svg).toContain('net9: accuracy');
    const meta = await sharp(await chart.toPNG()).metadata();
    expect([meta.width, meta.height]).toEqual([840, 300]);
  });

  it('chart ticks use 1-2-5 steps', () => {
    expect(niceStep(1, 5)).toBeCloseTo(0.2);
    expect(niceStep(2.3, 5)).toBeCloseTo(0.5);
    expect(niceStep(37, 8)).toBe(5);
  });
});
