'use strict';
// Small helpers shared by the bench/*.js scripts.
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');

/**
 * The library as its users get it: the public API of the build (dist/index.js), never a deep dist/* path.
 * `dist` (default: this checkout's, or env FER_DIST) lets a bench measure another build side by side.
 */
function fer(dist = process.env.FER_DIST ? path.resolve(process.env.FER_DIST) : path.join(ROOT, 'dist')) {
  return require(dist);
}

/**
 * A checkpoints folder of random-weight nets with the real architectures (the net registry): the same
 * compute as trained models, so speed figures do not depend on having trained any.
 */
async function randomModels(nets) {
  const { getNet, saveModelDir, bestModelDir } = fer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-bench-models-'));
  for (const id of nets) {
    const spec = getNet(id);
    if (!spec) throw new Error(`no net ${id}`);
    const model = spec.build({ seed: id });
    await saveModelDir(model, bestModelDir(dir, id));
    model.dispose();
  }
  return dir;
}

/** Value of `--name VALUE` on the command line, or `fallback`. */
function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** The 1/5/15-minute load averages, printed next to every figure: the machine is often shared. */
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

module.exports = { arg, load, median, fer, randomModels };
