import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { buildNet, parseNetList } from '../src/models/nets';
import { formatSummary, summarizeModel } from '../src/models/summary';
import { blocksOf, modelDiagram } from '../src/models/diagram';
import { loadModelDir, saveModelDir } from '../src/models/io';
import { facesToTensor } from '../src/preprocess/normalize';
import { runFer, tmpDir } from './helpers';

// The documented sizes (README "Models"): a change to a net must update them there too.
const EXPECTED = {
  1: { params: 1_487_175, mflops: 58.8 },
  2: { params: 1_149_607, mflops: 104.8 },
  3: { params: 1_757_863, mflops: 194.4 },
} as const;

beforeAll(async () => {
  await initBackend('cpu');
});

describe('the three nets', () => {
  it.each([1, 2, 3] as const)('net %i takes [48,48,1] in [0,1] and outputs a softmax over 7, with the documented size', (id) => {
    const model = buildNet(id, 1);
    expect(model.inputs[0].shape).toEqual([null, 48, 48, 1]);
    const faces = Uint8Array.from({ length: 2 * 2304 }, (_, i) => (i * 31) % 256);
    const p = tf.tidy(() => (model.predict(facesToTensor(faces, 2)) as tf.Tensor).arraySync() as number[][]);
    expect(p).toHaveLength(2);
    for (const row of p) {
      expect(row).toHaveLength(7);
      expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    const s = summarizeModel(model);
    expect(s.totalParams).toBe(EXPECTED[id].params);
    expect(s.totalParams).toBe(model.countParams());
    expect(s.flops / 1e6).toBeCloseTo(EXPECTED[id].mflops, 1);
    model.dispose();
  });

  it('same seed → same initial weights; another seed → different ones', () => {
    const w = (seed: number): Float32Array => {
      const m = buildNet(2, seed, { width: 0.25 });
      const v = m.getWeights()[0].dataSync() as Float32Array;
      m.dispose();
      return v;
    };
    expect(w(5)).toEqual(w(5));
    expect(w(5)).not.toEqual(w(6));
  });

  it('the width multiplier scales channels and keeps the shape of the net', () => {
    const small = summarizeModel(buildNet(3, 1, { width: 0.25 }));
    const full = summarizeModel(buildNet(3, 1));
    expect(small.layers.map((l) => l.name)).toEqual(full.layers.map((l) => l.name));
    expect(small.layers[0].outputShape).toEqual([48, 48, 8]);
    expect(small.flops).toBeLessThan(full.flops / 10);
  });

  it('saves and loads through saveModelDir/loadModelDir with identical predictions', async () => {
    const model = buildNet(1, 3, { width: 0.125 });
    const dir = path.join(tmpDir(), 'm');
    await saveModelDir(model, dir);
    const back = await loadModelDir(dir);
    const x = facesToTensor(Uint8Array.from({ length: 2304 }, (_, i) => i % 256), 1);
    expect((back.predict(x) as tf.Tensor).dataSync()).toEqual((model.predict(x) as tf.Tensor).dataSync());
  });

  it('rejects an unknown net id and parses net lists', () => {
    expect(() => buildNet(4)).toThrow(/^net 4: no such net \(choose 1, 2 or 3\)$/);
    expect(parseNetList('all')).toEqual([1, 2, 3]);
    expect(parseNetList('3,1,3')).toEqual([3, 1]);
    expect(() => parseNetList('1,x')).toThrow(/^net 1,x: expected 1, 2, 3, a list like 1,3, or all$/);
  });
});

describe('summaries and diagrams', () => {
  it('counts FLOPs of a conv and a dense layer by hand', () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [48, 48, 1], filters: 8, kernelSize: 3, padding: 'same', useBias: true }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 7, activation: 'softmax' }),
      ],
    });
    const s = summarizeModel(m);
    expect(s.layers[0].flops).toBe(2 * 48 * 48 * 8 * 9 + 48 * 48 * 8);
    expect(s.layers[0].params).toBe(80);
    expect(s.layers[2].flops).toBe(2 * 48 * 48 * 8 * 7 + 7 + 3 * 7);
    const table = formatSummary(s);
    expect(table).toMatch(/Output shape/);
    expect(table).toMatch(/\(48, 48, 8\)/);
    expect(table).toMatch(/Total params: 129,111/);
  });

  it('folds BN and ReLU into the conv box and draws one column per net', () => {
    const s = summarizeModel(buildNet(1, 1, { width: 0.125 }));
    const blocks = blocksOf(s);
    expect(blocks[1].label).toBe('Conv 5x5, 8 + BN + ReLU');
    expect(blocks[1].shape).toBe('44x44x8');
    expect(blocks[blocks.length - 1].label).toBe('Dense 7, softmax');
    const svg = modelDiagram([{ title: 'a', summary: s }, { title: 'b', summary: s }]).toSVG();
    expect(svg).toMatch(/<svg[^>]+width="700"/);
    expect(svg.match(/<rect/g)!.length).toBeGreaterThan(2 * blocks.length);
  });
});

describe('fer models (CLI)', () => {
  it('prints the layer tables and writes a diagram', () => {
    const dir = tmpDir();
    const svg = path.join(dir, 'nets.svg');
    const r = runFer(['models', '--svg', svg]);
    expect(r.status).toBe(0);
    for (const id of [1, 2, 3]) expect(r.stdout).toContain(`Model: net${id}`);
    expect(r.stdout).toMatch(/FLOPs per image \(forward\): 58\.8 MFLOPs/);
    expect(fs.readFileSync(svg, 'utf8')).toMatch(/^<svg[\s\S]*Conv 5x5, 64 \+ BN \+ ReLU[\s\S]*<\/svg>\n$/);
  });

  it('--json gives machine-readable summaries; fer train --summary prints the same table', () => {
    const r = runFer(['models', '--net', '2', '--json']);
    expect(r.status).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list).toHaveLength(1);
    expect(list[0].net).toBe(2);
    expect(list[0].totalParams).toBe(EXPECTED[2].params);
    const t = runFer(['train', '--summary', '--net', '2']);
    expect(t.status).toBe(0);
    expect(t.stdout).toContain('Model: net2');
    expect(t.stdout).toContain('conv2 (Conv2D, 5×5, same)');
  });

  it('a bad --net is a usage error on one line', () => {
    const r = runFer(['models', '--net', '7']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--net 7/);
  });
});
