import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend';
import { NETS, NET_IDS, NET_TITLES, buildNet, getNet, netIdsText, netListText, parseNetList } from '../src/models/nets';
import { findTrainedNets } from '../src/models/checkpoints';
import { loadNets } from '../src/models/classifier';
import { EXIT, FerError, InvalidParameterError, invalidParameterError } from '../src/util/errors';
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
});
