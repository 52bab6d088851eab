import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { NETS, NET_IDS, NET_TITLES, buildNet, getNet, netIdsText, netListText, parseNetList } from '../src/models/nets';
import { findTrainedNets } from '../src/models/checkpoints';
import { loadNets } from '../src/models/classifier';
import { AbortedError, EXIT, FerError, InvalidParameterError, invalidParameterError } from '../src/util/errors';
import { EvalProgress, EvalStart, evaluate } from '../src/eval/run';
import { prepareDataset } from '../src/data/prepare';
import { asymmetricNet, brightnessNet, uniformFaces, writeCheckpoints, writePreparedDir } from './eval-fixtures';
import { mixedRows, writeCsv } from './prepare-fixtures';
import { cliMessage, flagFor } from '../src/commands/common';
import * as api from '../src';
import { makeTinyModels } from './fixtures/tinyModels';
import { runFer, tmpDir } from './helpers';

beforeAll(async () => {
  await initBackend('cpu');
});

describe('the net registry', () => {
  it('declares each net once, with a title and a builder; ids, titles and lists derive from it', () => {
    expect(NETS.map((n) => n.id)).toEqual([1, 2, 3]);
    expect(NET_IDS).toEqual(NETS.map((n) => n.id));
    for (const n of NETS) {
      expect(n.title.length).toBeGreaterThan(10);
      expect(NET_TITLES[n.id]).toBe(n.title);
      expect(getNet(n.id)).toBe(n);
    }
    expect(getNet(4)).toBeUndefined();
    expect(netIdsText()).toBe('1, 2 or 3');
    expect(netListText()).toBe('1, 2, 3, a list like 1,3, or all');
    expect(parseNetList('all')).toEqual([...NET_IDS]);
    // The public entry point exports the registry itself.
    expect(api.NETS).toBe(NETS);
  });

  it('a registry builder and buildNet give the same net with the same seed', () => {
    const a = NETS[1].build({ seed: 5, width: 0.125 });
    const b = buildNet(2, 5, { width: 0.125 });
    expect(a.inputs[0].shape).toEqual([null, 48, 48, 1]);
    expect(a.outputs[0].shape).toEqual([null, 7]);
    const wa = a.getWeights();
    const wb = b.getWeights();
    expect(wa.length).toBe(wb.length);
    wa.forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(Array.from(wb[i].dataSync())));
    a.dispose();
    b.dispose();
    tf.disposeVariables();
  });
});

describe('errors name the option in the library and the flag in the CLI', () => {
  it('invalidParameterError carries the option; the CLI renders its flag', () => {
    const e = invalidParameterError('minFace', 'must be 0 or more', -1, EXIT.ERROR);
    expect(e).toBeInstanceOf(FerError);
    expect(e).toBeInstanceOf(InvalidParameterError);
    expect(e.option).toBe('minFace');
    expect(e.exitCode).toBe(EXIT.ERROR);
    expect(e.message).toBe('minFace -1: must be 0 or more');
    expect(cliMessage(e)).toBe('--min-face -1: must be 0 or more');
    expect(invalidParameterError('weights', 'must be ≥ 0').message).toBe('weights: must be ≥ 0');
    expect(flagFor('durationS')).toBe('--duration');
    expect(flagFor('nets')).toBe('--net');
    expect(flagFor('nmsIou')).toBe('--nms-iou');
    // A plain FerError passes through unchanged.
    expect(cliMessage(new FerError('a.csv: line 3: bad\nmore'))).toBe('a.csv: line 3: bad');
  });

  it('loadNets names `nets`; fer eval names --net, with the same exit code', async () => {
    const models = await makeTinyModels([1, 2], tmpDir('fer-api-models-'));
    expect(findTrainedNets(models)).toEqual([1, 2]);
    const err = await loadNets(models, [3]).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect((err as InvalidParameterError).option).toBe('nets');
    expect((err as Error).message).toBe(`nets 3: no trained model in ${models} for net 3 (found: 1, 2)`);
    const r = runFer(['eval', '--data', path.join(tmpDir(), 'none'), '--models', models, '--net', '3']);
    expect(r.stderr).toBe(`fer: --net 3: no trained model in ${models} for net 3 (found: 1, 2)\n`);
    expect(r.status).toBe((err as FerError).exitCode);
    expect(r.status).toBe(EXIT.ERROR);
  });

  it('an output refusal names the `out` option in prepareDataset and --out in fer prepare', async () => {
    const csv = writeCsv(mixedRows().rows);
    const file = path.join(tmpDir('fer-api-out-'), 'a-file');
    fs.writeFileSync(file, 'x');
    const err = await prepareDataset(csv, { out: file }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidParameterError);
    expect((err as Error).message).toBe(`out ${file}: exists and is not a directory`);
    const r = runFer(['prepare', csv, '--out', file, '-q']);
    expect(r.stderr).toBe(`fer: --out ${file}: exists and is not a directory\n`);
    expect(r.status).toBe((err as FerError).exitCode);
  });
});

/** A report with the run-dependent parts (timings, the confusion folder) replaced, as JSON. */
function comparable(report: object, confusionDir: string): unknown {
  const doc = JSON.parse(JSON.stringify(report)) as { models: { throughput: { seconds: number; imagesPerSecond: number }; files: string[] }[]; files: string[] };
  for (const m of doc.models) {
    expect(m.throughput.seconds).toBeGreaterThanOrEqual(0);
    m.throughput.seconds = 0;
    m.throughput.imagesPerSecond = 0;
    m.files = m.files.map((f) => path.relative(confusionDir, f));
  }
  doc.files = doc.files.map((f) => path.relative(confusionDir, f));
  return doc;
}

describe('evaluate() is fer eval --json', () => {
  // 14 val faces; the brightness net predicts the class each face shows, 3 of them the wrong one.
  const LABELS = [0, 1, 2, 3, 4, 5, 6, 0, 2, 3, 3, 4, 5, 6];
  const SHOWN = [0, 1, 2, 3, 4, 5, 6, 0, 2, 3, 5, 2, 5, 3];
  let root: string;
  let prep: string;
  let ckpt: string;

  beforeAll(async () => {
    root = tmpDir('fer-api-eval-');
    prep = writePreparedDir(path.join(root, 'prep'), {
      train: { images: uniformFaces([1, 2, 3]), labels: [1, 2, 3] },
      val: { images: uniformFaces(SHOWN), labels: LABELS },
      test: { images: uniformFaces([4, 5, 0, 3]), labels: [4, 5, 1, 3] },
    });
    ckpt = await writeCheckpoints(path.join(root, 'ckpt'), { 1: brightnessNet(), 2: brightnessNet(50), 3: asymmetricNet() });
  });

  it('returns the document the CLI prints (TTA, fitted weights, confusion files), reporting through hooks', async () => {
    const libDir = path.join(root, 'lib-reports');
    const starts: EvalStart[] = [];
    const progress: EvalProgress[] = [];
    const fitted: number[][] = [];
    const report = await evaluate(
      { data: prep, split: 'test', modelsDir: ckpt, nets: [1, 2, 3], tta: 'flip', fitWeights: true, batchSize: 3, backend: 'cpu', confusionDir: libDir },
      { onStart: (st) => starts.push(st), onProgress: (p) => progress.push(p), onWeightsFitted: (f) => fitted.push(f.weights) },
    );
    expect(starts).toEqual([expect.objectContaining({ split: 'test', splitPicked: false, images: 4, scoreTotal: 3 * (4 + 14), nets: [1, 2, 3], ttaMode: 'flip', fitting: true })]);
    const last = progress[progress.length - 1];
    expect(last).toMatchObject({ stage: 'score', done: 3 * 18, total: 3 * 18, fitting: true });
    expect(fitted).toHaveLength(1);
    expect(report.weightsFittedOn).toBe('val');
    expect(report.models.map((m) => m.name)).toEqual(['net1', 'net2', 'net3', 'ensemble']);
    expect(report.models[3].weights).toEqual(fitted[0]);
    expect(report.files).toHaveLength(4 * 5);
    for (const f of report.files) expect(fs.existsSync(f)).toBe(true);

    const cliDir = path.join(root, 'cli-reports');
    const r = runFer(['eval', '--data', prep, '--split', 'test', '--models', ckpt, '--net', '1,2,3', '--tta', '--fit-weights', '--batch-size', '3',
      '--backend', 'cpu', '--confusion', '--out', cliDir, '--json', '-q']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(comparable(JSON.parse(r.stdout), cliDir)).toEqual(comparable(report, libDir));
  });

  it('picks the split as the CLI does, and stops at the next batch when aborted', async () => {
    const report = await evaluate({ data: prep, modelsDir: ckpt, nets: [1], backend: 'cpu' });
    expect(report.split).toBe('test');
    const r = runFer(['eval', '--data', prep, '--models', ckpt, '--net', '1', '--backend', 'cpu', '--json', '-q']);
    expect(comparable(JSON.parse(r.stdout), '')).toEqual(comparable(report, ''));

    const controller = new AbortController();
    const batches: number[] = [];
    const run = evaluate({ data: prep, split: 'val', modelsDir: ckpt, batchSize: 2, backend: 'cpu' }, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.stage !== 'score') return;
        batches.push(p.done);
        if (p.done >= 4) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(AbortedError);
    await expect(run).rejects.toMatchObject({ exitCode: EXIT.INTERRUPTED });
    // 3 nets × 14 faces in batches of 2: stopped after the second batch.
    expect(batches).toEqual([2, 4]);
  });
});

describe('prepareDataset stops on its AbortSignal', () => {
  it('leaves no output and no temp folder, and an older dataset untouched', async () => {
    const { rows } = mixedRows();
    const csv = writeCsv(rows);
    const dir = tmpDir('fer-api-prep-');
    const out = path.join(dir, 'prepared');

    const controller = new AbortController();
    let reads = 0;
    const run = prepareDataset(csv, { out, signal: controller.signal, onProgress: () => { reads++; controller.abort(); } });
    await expect(run).rejects.toBeInstanceOf(AbortedError);
    await expect(run).rejects.toMatchObject({ exitCode: EXIT.INTERRUPTED, message: 'interrupted' });
    expect(reads).toBeGreaterThan(0);
    expect(fs.readdirSync(dir)).toEqual([]);

    const first = await prepareDataset(csv, { out });
    const manifest = fs.readFileSync(path.join(out, 'manifest.json'), 'utf8');
    const before = fs.readdirSync(dir);
    const again = new AbortController();
    again.abort();
    await expect(prepareDataset(csv, { out, seed: 7, valFraction: 0.2, signal: again.signal })).rejects.toBeInstanceOf(AbortedError);
    expect(fs.readdirSync(dir)).toEqual(before);
    expect(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')).toBe(manifest);
    expect(first.rows.kept).toBeGreaterThan(0);
  });
});
