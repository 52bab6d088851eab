#!/usr/bin/env node
/* eslint-disable no-console */
// `npm run bench:train`: training and inference throughput of the CNNs on every available backend, side by
// side with the same architectures in PyTorch on CPU (bench/train_pytorch.py, when /usr/bin/python3 has torch).
// Prints numbers and ratios; asserts nothing.
//
//   node bench/train.js [--nets rep,1,2,3] [--backends auto|none|wasm,cpu,...] [--batch 64] [--seconds 8]
//                       [--threads N] [--repeat N] [--profile] [--kernels] [--no-pytorch] [--json]
//
// Nets: `rep` is a representative small CNN (3 conv blocks 32/64/128, 3×3 + BN + ReLU + max-pool, dense 256,
// softmax 7); 1, 2, 3 are fer's nets (src/models), when built. Each measurement runs whole training steps as
// `fer train` does them (src/train: forward in training mode, its cross-entropy on the softmax output,
// variable gradients, its AdamW with weight decay 0.01 on kernels) on 48×48×1 batches for about --seconds,
// after two warm-up steps. Backends: every one available (auto), including `native` (the oneDNN accelerator,
// when built) beside plain `wasm`. The cpu
// backend is very slow (about 20 s per step of 8 images): it gets one step of 8 images of the first net only.
// --profile prints the per-kernel time of one training step.
// --kernels times each wasm training kernel fer replaces against the stock one (setFastWasmKernels(false)),
// on the shapes of net 3's largest layers, plus one whole training step each way.

const os = require('os');
const path = require('path');
const { arg, load } = require('./util');
const { spawnSync } = require('child_process');

const tf = require('@tensorflow/tfjs');
// The public API only (dist/index.js, or FER_DIST), as a user of the package would.
const api = require('./util').fer();
const { initBackend, BACKEND_NAMES, setFastWasmKernels, Adam, crossEntropy } = api;

const flag = (name) => process.argv.includes(`--${name}`);

const BATCH = Number(arg('batch', '64'));
const SECONDS = Number(arg('seconds', '8'));
const THREADS = arg('threads', undefined);
const NETS = arg('nets', 'rep,1,2,3').split(',');
const JSON_OUT = flag('json');
// Best of N measurements (each figure separately): on a shared machine the best run is the least disturbed.
const REPEAT = Number(arg('repeat', '1'));

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
  const { buildNet } = api;
  if (typeof buildNet !== 'function') return undefined;
  return () => buildNet(Number(net), 1);
}

function randomBatch(batch = BATCH) {
  const x = tf.randomUniform([batch, 48, 48, 1], 0, 1, 'float32', 1);
  const y = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 7), 'int32');
  return { x, y };
}

/**
 * One training step as `fer train` does it (src/train/trainer.ts trainStep): forward in training mode, fer's
 * cross-entropy on the probabilities, variable gradients, fer's AdamW (decay 0.01 on conv/dense kernels).
 */
function makeStep(model) {
  const layerVars = model.trainableWeights;
  const vars = layerVars.map((w) => w.read());
  const adam = new Adam(vars, layerVars.map((v) => /\/kernel(_\d+)?$/.test(v.originalName)), { weightDecay: 0.01 });
  const step = (x, labels) => {
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => crossEntropy(model.apply(x, { training: true }), labels, null), vars);
      adam.apply(vars.map((v) => grads[v.name]), 1e-3);
      return value;
    });
    loss.dataSync();
    loss.dispose();
  };
  step.dispose = () => adam.dispose();
  return step;
}

async function timeLoop(fn, { warmup = 2, seconds = SECONDS, minRuns = 3, maxRuns = Infinity }) {
  for (let i = 0; i < warmup; i++) await fn();
  let runs = 0;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let elapsed = 0;
  while (runs < maxRuns && (runs < minRuns || elapsed < seconds)) {
    await fn();
    runs++;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  const cpu = process.cpuUsage(cpu0);
  return { runs, seconds: elapsed, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

async function measure(net, backendName) {
  const build = builder(net);
  if (!build) return undefined;
  const slow = backendName === 'cpu';
  const batch = slow ? Math.min(8, BATCH) : BATCH;
  const model = build();
  const { x, y } = randomBatch(batch);
  const step = makeStep(model);
  const once = { warmup: 0, minRuns: 1, maxRuns: 1 };
  const best = async (fn, opts) => {
    const runs = [];
    for (let i = 0; i < (slow ? 1 : REPEAT); i++) runs.push(await timeLoop(fn, opts));
    const rate = (r) => r.runs / r.seconds;
    const cpuRate = (r) => r.runs / r.cpuSeconds;
    const wall = runs.reduce((a, b) => (rate(b) > rate(a) ? b : a));
    const cpu = runs.reduce((a, b) => (cpuRate(b) > cpuRate(a) ? b : a));
    return { runs: wall.runs, seconds: wall.seconds, cpuSeconds: (cpu.cpuSeconds * wall.runs) / cpu.runs };
  };
  const train = await best(() => step(x, y), slow ? once : {});
  const infer = await best(() => tf.tidy(() => { model.predict(x).dataSync(); }), slow ? once : { seconds: SECONDS / 2 });
  let profile;
  if (flag('profile') && !slow) {
    const p = await tf.profile(() => step(x, y));
    const byKernel = new Map();
    for (const k of p.kernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
    profile = [...byKernel.entries()].sort((a, b) => b[1] - a[1]);
  }
  tf.dispose([x, y]);
  step.dispose();
  model.dispose();
  return {
    net, backend: backendName, batch, load: load(),
    trainStepsPerSec: train.runs / train.seconds,
    trainImgPerSec: (train.runs * batch) / train.seconds,
    trainImgPerCpuSec: (train.runs * batch) / train.cpuSeconds,
    inferImgPerSec: (infer.runs * batch) / infer.seconds,
    inferImgPerCpuSec: (infer.runs * batch) / infer.cpuSeconds,
    profile,
  };
}

/** CPU and wall milliseconds per call of fn (after a warm-up call), over about `seconds`. */
function perCall(fn, seconds = 1.5) {
  fn();
  let runs = 0;
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  while (runs < 2 || Number(process.hrtime.bigint() - t0) / 1e9 < seconds) {
    fn();
    runs++;
  }
  const c = process.cpuUsage(c0);
  return { cpuMs: (c.user + c.system) / 1000 / runs, wallMs: Number(process.hrtime.bigint() - t0) / 1e6 / runs };
}

function kernelCases() {
  const rnd = (shape, lo = -1) => tf.randomUniform(shape, lo, 1, 'float32', 7);
  const run = (name, inputs, attrs) => () => tf.tidy(() => { tf.engine().runKernel(name, inputs, attrs).dataSync(); });
  const grad = (f, xs) => () => tf.tidy(() => { tf.grads(f)(xs).forEach((g) => g.dataSync()); });
  const convAttrs = (pad) => ({ strides: [1, 1], pad, dataFormat: 'NHWC', dimRoundingMode: undefined });
  const x64 = rnd([BATCH, 24, 24, 64]);
  const x1 = rnd([BATCH, 48, 48, 1]);
  const dy64 = rnd([BATCH, 24, 24, 64]);
  const dy32 = rnd([BATCH, 48, 48, 32]);
  const f64 = rnd([3, 3, 64, 64]);
  const f1 = rnd([3, 3, 1, 32]);
  const a32 = tf.relu(rnd([BATCH, 48, 48, 32]));
  const c = [32];
  const [mean, variance, offset, scale] = [rnd(c), rnd(c, 0.5), rnd(c), rnd(c, 0.5)];
  const a44 = tf.relu(rnd([BATCH, 44, 44, 64]));
  const flat = rnd([BATCH, 4608]);
  const dense = rnd([4608, 256]);
  const dyDense = rnd([BATCH, 256]);
  const tiny = rnd([1, 4, 4, 1]);
  const tinyF = rnd([1, 1, 1, 1]);
  return [
    ['FusedConv2D (forward, for scale)', '64×24×24×64, 3×3→64', () => tf.tidy(() => { tf.conv2d(x64, f64, 1, 'same').dataSync(); })],
    ['Conv2DBackpropFilter*', '64×24×24×64, 3×3→64', run('Conv2DBackpropFilter', { x: x64, dy: dy64 }, { ...convAttrs('same'), filterShape: [3, 3, 64, 64] })],
    ['Conv2DBackpropFilter*', '64×48×48×1, 3×3→32', run('Conv2DBackpropFilter', { x: x1, dy: dy32 }, { ...convAttrs('same'), filterShape: [3, 3, 1, 32] })],
    ['Conv2DBackpropInput', '64×24×24×64, 3×3→64', run('Conv2DBackpropInput', { dy: dy64, filter: f64 }, { ...convAttrs('same'), inputShape: x64.shape })],
    ['Conv2DBackpropInput', '64×48×48×1, 3×3→32', run('Conv2DBackpropInput', { dy: dy32, filter: f1 }, { ...convAttrs('same'), inputShape: x1.shape })],
    ['FusedBatchNorm', '64×48×48×32', () => tf.tidy(() => { tf.batchNorm(a32, mean, variance, offset, scale, 1e-3).dataSync(); })],
    ['FusedBatchNorm gradient', '64×48×48×32, all 5 inputs', grad((x, m, v, o, sc) => tf.sum(tf.mul(tf.batchNorm(x, m, tf.abs(v), o, sc, 1e-3), dy32)), [a32, mean, variance, offset, scale])],
    ['Mean over N,H,W', '64×48×48×32', () => tf.tidy(() => { tf.mean(a32, [0, 1, 2]).dataSync(); })],
    ['Mean gradient', '64×48×48×32', grad((x) => tf.sum(tf.mul(tf.mean(x, [0, 1, 2]), mean)), [a32])],
    ['MaxPoolGrad 2×2/2', '64×48×48×32', grad((x) => tf.sum(tf.mul(tf.maxPool(x, 2, 2, 'valid'), 0.5)), [a32])],
    ['MaxPoolGrad 5×5/2', '64×44×44×64', grad((x) => tf.sum(tf.mul(tf.maxPool(x, 5, 2, 'valid'), 0.5)), [a44])],
    ['BatchMatMul, transposed A (dense dW)', '4608×64 · 64×256', () => tf.tidy(() => { tf.matMul(flat, dyDense, true, false).dataSync(); })],
    ['BatchMatMul, transposed B (dense dX)', '64×256 · 256×4608', () => tf.tidy(() => { tf.matMul(dyDense, dense, false, true).dataSync(); })],
    ['Identity (clone)', '64×48×48×32', () => tf.tidy(() => { tf.clone(a32); })],
    ['FusedConv2D, per-call overhead', '1×4×4×1, 1×1→1', () => tf.tidy(() => { tf.conv2d(tiny, tinyF, 1, 'same').dataSync(); })],
  ];
}

async function kernels() {
  const opts = THREADS ? { threads: Number(THREADS) } : {};
  // The native accelerator, when built, gets a third column: wasm kernels off, fer's native ones on.
  let nativeInfo;
  try {
    nativeInfo = await initBackend('native', opts);
  } catch { /* not built */ }
  const info = await initBackend('wasm', opts);
  out(`\nwasm training kernels, fer's vs stock tfjs-wasm${nativeInfo ? ' vs native (oneDNN)' : ''} — ${info.description}; ms per call (CPU ms), load ${load()}`);
  out(`  ${'kernel'.padEnd(38)} ${'shape'.padEnd(28)} ${'stock'.padStart(17)} ${'fer'.padStart(17)}   speed-up${nativeInfo ? `${'native'.padStart(17)}   vs fer` : ''}`);
  const rows = [];
  for (const [name, shape, fn] of kernelCases()) {
    // * wasm has no such kernel: fer's stays on (training needs it), so there is no stock time.
    setFastWasmKernels(false);
    const stock = name.endsWith('*') ? undefined : perCall(fn);
    setFastWasmKernels(true);
    const ours = perCall(fn);
    let native;
    if (nativeInfo) {
      await initBackend('native', opts);
      native = perCall(fn);
      await initBackend('wasm', opts);
    }
    const cell = (r) => (r ? `${r.wallMs.toFixed(r.wallMs < 1 ? 3 : 1)} (${r.cpuMs.toFixed(r.cpuMs < 1 ? 3 : 1)})`.padStart(17) : 'missing'.padStart(17));
    out(`  ${name.padEnd(38)} ${shape.padEnd(28)} ${cell(stock)} ${cell(ours)}   ${stock ? `${(stock.cpuMs / ours.cpuMs).toFixed(1)}×` : '—'}`.padEnd(117)
      + (native ? `${cell(native)}   ${(ours.cpuMs / native.cpuMs).toFixed(1)}×` : ''));
    rows.push({ name, shape, stock, ours, native });
  }
  out('  * missing from tfjs-wasm: stock wasm cannot train without it');
  // A whole step of net 3 (or rep) with and without the replacements (the missing kernel stays in).
  const build = builder(NETS.includes('3') ? '3' : 'rep');
  if (build) {
    const steps = {};
    for (const on of [false, true]) {
      setFastWasmKernels(on);
      const model = build();
      const { x, y } = randomBatch();
      const step = makeStep(model);
      steps[on ? 'fer' : 'stock'] = perCall(() => step(x, y), SECONDS);
      step.dispose();
      tf.dispose([x, y]);
      model.dispose();
    }
    setFastWasmKernels(true);
    out(`  ${`whole training step, net ${NETS.includes('3') ? '3' : 'rep'}`.padEnd(38)} ${`batch ${BATCH}`.padEnd(28)} ${`${steps.stock.wallMs.toFixed(0)} (${steps.stock.cpuMs.toFixed(0)})`.padStart(17)} ${`${steps.fer.wallMs.toFixed(0)} (${steps.fer.cpuMs.toFixed(0)})`.padStart(17)}   ${(steps.stock.cpuMs / steps.fer.cpuMs).toFixed(1)}×`);
    rows.push({ name: 'whole training step', stock: steps.stock, ours: steps.fer });
  }
  return rows;
}

/**
 * PyTorch's environment: OpenMP's idle threads sleep (OMP_WAIT_POLICY=PASSIVE, as fer's native accelerator
 * runs them) unless the caller set a policy. With the default (spinning), PyTorch loses most of its time on a
 * shared machine; this gives it its best setting here.
 */
function pytorchEnv() {
  return { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
}

/** PyTorch figures for `nets`, or why there are none. */
function pytorch(nets) {
  if (flag('no-pytorch')) return { skipped: '--no-pytorch' };
  const script = path.join(__dirname, 'train_pytorch.py');
  // The same thread count as fer's backends (--threads, else FER_THREADS, else the cores).
  const threads = THREADS ?? process.env.FER_THREADS ?? String(os.cpus().length);
  const r = spawnSync('/usr/bin/python3', [script, '--nets', nets.join(','), '--batch', String(BATCH), '--seconds', String(SECONDS), '--threads', threads, '--repeat', String(REPEAT)],
    { encoding: 'utf8', timeout: 30 * 60 * 1000, env: pytorchEnv() });
  if (r.error) return { skipped: `/usr/bin/python3: ${r.error.code ?? r.error.message}` };
  if (r.status === 3) return { skipped: r.stderr.trim() || 'torch not installed' };
  if (r.status !== 0) return { skipped: `train_pytorch.py failed: ${r.stderr.trim().split('\n').slice(-1)[0]}` };
  const rows = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  return { rows };
}

async function main() {
  const requested = arg('backends', 'auto');
  const backends = requested === 'auto' ? [...BACKEND_NAMES] : requested === 'none' ? [] : requested.split(',');
  const opts = THREADS ? { threads: Number(THREADS) } : {};
  out(`bench:train — batch ${BATCH}, 48×48×1, ~${SECONDS}s per measurement, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);
  out(`load average at start: ${load()}`);
  const results = [];
  const kernelRows = flag('kernels') ? await kernels() : undefined;
  // PyTorch runs right after each net's first backend, so that both see about the same load.
  const torch = { rows: [], skipped: undefined };
  let torchDone = false;
  for (const name of backends) {
    let info;
    try {
      info = await initBackend(name, opts);
    } catch (e) {
      out(`\n${name}: not available — ${e.message}`);
      continue;
    }
    out(`\n${info.description}`);
    out('  net   train steps/s   train img/s (/CPU-s)   infer img/s (/CPU-s)   load');
    for (const net of name === 'cpu' ? NETS.slice(0, 1) : NETS) {
      const r = await measure(net, name);
      if (!r) {
        out(`  ${net.padEnd(4)}  (not built: run npm run build)`);
        continue;
      }
      r.description = info.description;
      results.push(r);
      out(`  ${net.padEnd(4)}  ${fmt(r.trainStepsPerSec).padStart(13)}   ${fmt(r.trainImgPerSec).padStart(11)} (${fmt(r.trainImgPerCpuSec).padStart(5)})   ${fmt(r.inferImgPerSec).padStart(11)} (${fmt(r.inferImgPerCpuSec).padStart(5)})   ${r.load}${r.batch !== BATCH ? `   (batch ${r.batch}, one step)` : ''}`);
      if (r.profile) {
        const total = r.profile.reduce((a, [, ms]) => a + ms, 0);
        out(`        one training step by kernel (${total.toFixed(0)} ms in kernels):`);
        for (const [k, ms] of r.profile.slice(0, 12)) out(`          ${k.padEnd(24)} ${ms.toFixed(1).padStart(8)} ms  ${((100 * ms) / total).toFixed(0).padStart(3)}%`);
      }
      if (!torchDone && !torch.skipped) {
        const t = pytorch([net]);
        if (t.rows) torch.rows.push(...t.rows);
        else torch.skipped = t.skipped;
      }
    }
    if (torch.rows.length > 0 || torch.skipped) torchDone = true;
  }
  if (!torchDone && !torch.skipped) Object.assign(torch, pytorch(NETS));

  if (torch.rows && torch.rows.length > 0) {
    out(`\nPyTorch ${torch.rows[0]?.torch ?? ''} on CPU (${torch.rows[0]?.threads} threads, OMP_WAIT_POLICY=${pytorchEnv().OMP_WAIT_POLICY}), same nets, batch ${BATCH}:`);
    out('  net   train img/s (/CPU-s)   infer img/s (/CPU-s)   load');
    for (const p of torch.rows) out(`  ${p.net.padEnd(4)}  ${fmt(p.trainImgPerSec).padStart(11)} (${fmt(p.trainImgPerCpuSec).padStart(5)})   ${fmt(p.inferImgPerSec).padStart(11)} (${fmt(p.inferImgPerCpuSec).padStart(5)})   ${p.load}`);
    out('\nours / PyTorch, by wall time (and by CPU time); goal: train ≥ 1.0×, inference ≥ 1.5×:');
    for (const r of results) {
      const p = torch.rows.find((t) => t.net === r.net);
      if (p) {
        out(`  ${r.net.padEnd(4)} ${r.backend.padEnd(10)}  train ${ratio(r.trainImgPerSec, p.trainImgPerSec).padStart(6)} (${ratio(r.trainImgPerCpuSec, p.trainImgPerCpuSec)})`
          + `   inference ${ratio(r.inferImgPerSec, p.inferImgPerSec).padStart(6)} (${ratio(r.inferImgPerCpuSec, p.inferImgPerCpuSec)})`);
      }
    }
  } else {
    out(`\nPyTorch baseline skipped: ${torch.skipped} (apt-get install -y python3-torch; it runs under /usr/bin/python3)`);
  }
  out(`\nload average at end: ${load()}`);
  if (JSON_OUT) console.log(JSON.stringify({ results: results.map(({ profile, ...r }) => ({ ...r, profile: profile?.slice(0, 12) })), kernels: kernelRows, pytorch: torch }, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
