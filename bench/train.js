#!/usr/bin/env node
/* eslint-disable no-console */
// `npm run bench:train`: training and inference throughput of the CNNs on every available backend, side by
// side with the same architectures in PyTorch on CPU (bench/train_pytorch.py, when /usr/bin/python3 has torch).
// Prints numbers and ratios; asserts nothing.
//
//   node bench/train.js [--nets rep,1,2,3] [--backends auto|wasm,cpu,...] [--batch 64] [--seconds 8]
//                       [--threads N] [--profile] [--no-pytorch] [--json]
//
// Nets: `rep` is a representative small CNN (3 conv blocks 32/64/128, 3×3 + BN + ReLU + max-pool, dense 256,
// softmax 7); 1, 2, 3 are fer's nets (src/models), when built. Each measurement runs whole training steps
// (forward, loss, gradients, Adam) on 48×48×1 batches for about --seconds, after two warm-up steps. The cpu
// backend is very slow: it gets one timed step. --profile prints the per-kernel time of one training step.

const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

const dist = path.join(__dirname, '..', 'dist');
const tf = require('@tensorflow/tfjs');
const { initBackend, BACKEND_NAMES } = require(path.join(dist, 'backend'));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const flag = (name) => process.argv.includes(`--${name}`);

const BATCH = Number(arg('batch', '64'));
const SECONDS = Number(arg('seconds', '8'));
const THREADS = arg('threads', undefined);
const NETS = arg('nets', 'rep,1,2,3').split(',');
const JSON_OUT = flag('json');

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const fmt = (v) => (v === undefined ? '—' : v >= 100 ? Math.round(v).toString() : v.toFixed(1));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}×` : '—');
const out = (s) => { if (!JSON_OUT) console.log(s); };

/** The representative CNN (also defined in bench/train_pytorch.py). */
function buildRep() {
  const layers = [];
  [32, 64, 128].forEach((filters, i) => {
    layers.push(tf.layers.conv2d({ ...(i === 0 ? { inputShape: [48, 48, 1] } : {}), filters, kernelSize: 3, padding: 'same', useBias: false }));
    layers.push(tf.layers.batchNormalization());
    layers.push(tf.layers.activation({ activation: 'relu' }));
    layers.push(tf.layers.maxPooling2d({ poolSize: 2 }));
  });
  layers.push(tf.layers.flatten(), tf.layers.dense({ units: 256, activation: 'relu' }), tf.layers.dense({ units: 7, activation: 'softmax' }));
  return tf.sequential({ name: 'rep', layers });
}

function builder(net) {
  if (net === 'rep') return buildRep;
  let buildNet;
  try {
    ({ buildNet } = require(path.join(dist, 'models', 'nets')));
  } catch { /* not built */ }
  if (typeof buildNet !== 'function') return undefined;
  return () => buildNet(Number(net), 1);
}

function randomBatch() {
  const x = tf.randomUniform([BATCH, 48, 48, 1], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 7), 'int32'), 7);
  return { x, y };
}

/** One training step as `fer train` does it: forward in training mode, cross-entropy, variable grads, Adam. */
function makeStep(model) {
  const optimizer = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.val);
  return (x, y) => {
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true })).mean(), true, vars);
    loss.dataSync();
    loss.dispose();
  };
}

async function timeLoop(fn, { warmup = 2, seconds = SECONDS, minRuns = 3, maxRuns = Infinity }) {
  for (let i = 0; i < warmup; i++) await fn();
  let runs = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  while (runs < maxRuns && (runs < minRuns || elapsed < seconds)) {
    await fn();
    runs++;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  return { runs, seconds: elapsed };
}

async function measure(net, backendName) {
  const build = builder(net);
  if (!build) return undefined;
  const slow = backendName === 'cpu';
  const model = build();
  const { x, y } = randomBatch();
  const step = makeStep(model);
  const train = await timeLoop(() => step(x, y), slow ? { warmup: 1, minRuns: 1, maxRuns: 1 } : {});
  const infer = await timeLoop(() => tf.tidy(() => model.predict(x).dataSync()), slow ? { warmup: 1, minRuns: 1, maxRuns: 1 } : { seconds: SECONDS / 2 });
  let profile;
  if (flag('profile') && !slow) {
    const p = await tf.profile(() => step(x, y));
    const byKernel = new Map();
    for (const k of p.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
    profile = [...byKernel.entries()].sort((a, b) => b[1] - a[1]);
  }
  tf.dispose([x, y]);
  model.dispose();
  return {
    net, backend: backendName, batch: BATCH, load: load(),
    trainStepsPerSec: train.runs / train.seconds,
    trainImgPerSec: (train.runs * BATCH) / train.seconds,
    inferImgPerSec: (infer.runs * BATCH) / infer.seconds,
    params: undefined,
    profile,
  };
}

function pytorch() {
  if (flag('no-pytorch')) return { skipped: '--no-pytorch' };
  const script = path.join(__dirname, 'train_pytorch.py');
  const threads = THREADS ?? String(os.cpus().length);
  const r = spawnSync('/usr/bin/python3', [script, '--nets', NETS.join(','), '--batch', String(BATCH), '--seconds', String(SECONDS), '--threads', threads],
    { encoding: 'utf8', timeout: 30 * 60 * 1000 });
  if (r.error) return { skipped: `/usr/bin/python3: ${r.error.code ?? r.error.message}` };
  if (r.status === 3) return { skipped: r.stderr.trim() || 'torch not installed' };
  if (r.status !== 0) return { skipped: `train_pytorch.py failed: ${r.stderr.trim().split('\n').slice(-1)[0]}` };
  const rows = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { rows };
}

async function main() {
  const requested = arg('backends', 'auto');
  const backends = requested === 'auto' ? [...BACKEND_NAMES] : requested.split(',');
  const opts = THREADS ? { threads: Number(THREADS) } : {};
  out(`bench:train — batch ${BATCH}, 48×48×1, ~${SECONDS}s per measurement, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);
  out(`load average at start: ${load()}`);
  const results = [];
  for (const name of backends) {
    let info;
    try {
      info = await initBackend(name, opts);
    } catch (e) {
      out(`\n${name}: not available — ${e.message}`);
      continue;
    }
    out(`\n${info.description}`);
    out('  net   train steps/s   train img/s   infer img/s   load');
    for (const net of NETS) {
      const r = await measure(net, name);
      if (!r) {
        out(`  ${net.padEnd(4)}  (not built: run npm run build)`);
        continue;
      }
      r.description = info.description;
      results.push(r);
      out(`  ${net.padEnd(4)}  ${fmt(r.trainStepsPerSec).padStart(13)}   ${fmt(r.trainImgPerSec).padStart(11)}   ${fmt(r.inferImgPerSec).padStart(11)}   ${r.load}`);
      if (r.profile) {
        const total = r.profile.reduce((a, [, ms]) => a + ms, 0);
        out(`        one training step by kernel (${total.toFixed(0)} ms in kernels):`);
        for (const [k, ms] of r.profile.slice(0, 12)) out(`          ${k.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms  ${((100 * ms) / total).toFixed(0).padStart(3)}%`);
      }
    }
  }

  const torch = pytorch();
  if (torch.rows) {
    out(`\nPyTorch ${torch.rows[0]?.torch ?? ''} on CPU (${torch.rows[0]?.threads} threads), same nets, batch ${BATCH}:`);
    out('  net   train img/s   infer img/s   load');
    for (const p of torch.rows) out(`  ${p.net.padEnd(4)}  ${fmt(p.trainImgPerSec).padStart(11)}   ${fmt(p.inferImgPerSec).padStart(11)}   ${p.load}`);
    out('\nours / PyTorch (goal: train ≥ 1.0×, inference ≥ 1.5×):');
    for (const r of results) {
      const p = torch.rows.find((t) => t.net === r.net);
      if (p) out(`  ${r.net.padEnd(4)} ${r.backend.padEnd(10)}  train ${ratio(r.trainImgPerSec, p.trainImgPerSec).padStart(6)}   inference ${ratio(r.inferImgPerSec, p.inferImgPerSec).padStart(6)}`);
    }
  } else {
    out(`\nPyTorch baseline skipped: ${torch.skipped} (apt-get install -y python3-torch; it runs under /usr/bin/python3)`);
  }
  out(`\nload average at end: ${load()}`);
  if (JSON_OUT) console.log(JSON.stringify({ results: results.map(({ profile, ...r }) => ({ ...r, profile: profile?.slice(0, 12) })), pytorch: torch }, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
