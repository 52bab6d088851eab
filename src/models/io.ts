import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { FerError, describeFsError } from '../util/errors';
import { writeDirAtomic } from '../util/atomic';

/**
 * tfjs layers-format model directories (`model.json` + `weights.bin`) on the local file system, without
 * tfjs-node. A directory is always written whole and renamed into place, so a reader never sees half of one.
 */
export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

export interface ExtraFiles {
  [name: string]: string | Uint8Array;
}

function weightBytes(data: tf.io.ModelArtifacts['weightData']): Uint8Array {
  if (!data) return new Uint8Array(0);
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

/** Save `model` (and any extra files, e.g. optimizer or training state) to `dir`, atomically. */
export async function saveModelDir(model: tf.LayersModel, dir: string, extra: ExtraFiles = {}): Promise<void> {
  await writeDirAtomic(dir, async (tmp) => {
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      const json = {
        format: 'layers-model',
        generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
        convertedBy: null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      fs.writeFileSync(path.join(tmp, MODEL_JSON), JSON.stringify(json));
      fs.writeFileSync(path.join(tmp, WEIGHTS_BIN), weightBytes(artifacts.weightData));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    for (const [name, content] of Object.entries(extra)) fs.writeFileSync(path.join(tmp, name), content);
  });
}

/** An IOHandler that reads a directory written by saveModelDir (or tfjs-node's file:// saver). */
export function dirLoader(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const jsonPath = path.join(dir, MODEL_JSON);
      let json: {
        modelTopology: object;
        weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
        format?: string;
        trainingConfig?: tf.io.TrainingConfig;
        userDefinedMetadata?: { [key: string]: {} };
      };
      try {
        json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
      } catch (e) {
        throw new FerError(e instanceof SyntaxError ? `${jsonPath}: not valid JSON` : describeFsError(e, jsonPath));
      }
      const specs: tf.io.WeightsManifestEntry[] = [];
      const parts: Buffer[] = [];
      for (const group of json.weightsManifest ?? []) {
        specs.push(...group.weights);
        for (const p of group.paths) {
          const wp = path.join(dir, p);
          try {
            parts.push(fs.readFileSync(wp));
          } catch (e) {
            throw new FerError(describeFsError(e, wp));
          }
        }
      }
      const all = Buffer.concat(parts);
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        format: json.format,
        trainingConfig: json.trainingConfig,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}

export async function loadModelDir(dir: string): Promise<tf.LayersModel> {
  if (!fs.existsSync(path.join(dir, MODEL_JSON))) throw new FerError(`${dir}: no ${MODEL_JSON} (not a model directory)`);
  try {
    return await tf.loadLayersModel(dirLoader(dir));
  } catch (e) {
    if (e instanceof FerError) throw e;
    throw new FerError(`${dir}: not a loadable model (${(e as Error).message})`);
  }
}
