#!/usr/bin/env node
/* eslint-disable no-console */
// `npm run bench:eval`: evaluation throughput (images/s) per net and for the ensemble, with and without
// flip TTA, through the same code path as `fer eval` (loadNets' batch-norm folding, scoreNets + reportScores),
// on random-weight nets of the real architectures (src/models buildNet) and random faces, on every available
// backend (the native oneDNN accelerator and plain wasm side by side), then the same nets in PyTorch on CPU
// (bench/eval_pytorch.py, when /usr/bin/python3 has torch) with the same threads, both as model.eval() runs
// them and with its batch-norms folded too (fuse_modules). Prints numbers and ratios; asserts nothing.
//
//   node bench/eval.js [--images N] [--batch B] [--backends native,wasm] [--backend NAME] [--nets 1,2,3]
//                      [--batches 64,256] [--threads N] [--no-fold] [--no-pytorch]
//
// --no-fold: the nets as trained (batch-norm and ReLU as separate layers), PyTorch unfolded only.
//
// Defaults: 3589 images (the size of FER2013's PublicTest split, what `fer eval --split val` sees), batch 256.

const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { arg, load, fer } = require('./util');

const tf = require('@tensorflow/tfjs');
// The public API only (dist/index.js, or FER_DIST), as a user of the package would.
const api = fer();
const { initBackend, BACKEND_NAMES, scoreNets, reportScores } = api;

/** The real architectures when src/models has them; otherwise a small stand-in CNN (said so in the output). */
function builder() {
  try {
    const { buildNet, foldForInference } = api;
    if (typeof buildNet === 'function') {
      if (!FOLD) return { kind: 'real architectures (src/models buildNet), not folded (--no-fold)', build: (id) => buildNet(id, id) };
      // As loadNets does for `fer eval`: batch-norm folded into the convolutions, dropout removed.
      return {
        kind: 'real architectures (src/models buildNet), folded as fer eval loads them',
        build: (id) => {
          const model = buildNet(id, id);
          const folded = foldForInference(model);
          if (folded !== model) model.dispose();
          return folded;
        },
      };
    }
  } catch { /* not built yet */ }
  return {
    kind: 'stand-in CNN (src/models/nets not available)',
    build: (id) => tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [48, 48, 1], filters: 16 * id, kernelSize: 3, activation: 'relu', padding: 'same' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 32 * id, kernelSize: 3, activation: 'relu', padding: 'same' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 7, activation: 'softmax' }),
      ],
    }),
  };
}

function randomSplit(count) {
  const images = new Uint8Array(count * 48 * 48);
  let s = 12345;
  for (let i = 0; i < images.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    images[i] = s >>> 24;
  }
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) labels[i] = i % 7;
  return { images, labels, count };
}

const FOLD = !process.argv.includes('--no-fold');

const fmt = (v) => (v >= 100 ? Math.round(v).toString() : v.toFixed(1));

/**
 * PyTorch's environment: OpenMP's idle threads sleep (OMP_WAIT_POLICY=PASSIVE, as fer's native accelerator
 * runs them) unless the caller set a policy. With the default (spinning), PyTorch loses most of its time on a
 * shared machine; this gives it its best setting here.
 */
function pytorchEnv() {
  return { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' };
}

/** The PyTorch figures (one row per net and TTA setting), or why there are none. */
function pytorch(netIds, count, batchSize, threads) {
  if (process.argv.includes('--no-pytorch')) return { skipped: '--no-pytorch' };
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'eval_pytorch.py'), '--nets', netIds.join(','), '--images', String(count),
    '--batch', String(batchSize), '--threads', String(threads), '--fold', FOLD ? 'both' : 'no'], { encoding: 'utf8', timeout: 30 * 60 * 1000, env: pytorchEnv() });
  if (r.error) return { skipped: `/usr/bin/python3: ${r.error.code ?? r.error.message}` };
  if (r.status === 3) return { skipped: r.stderr.trim() || 'torch not installed' };
  if (r.status !== 0) return { skipped: `eval_pytorch.py failed: ${r.stderr.trim().split('\n').slice(-1)[0]}` };
  return { rows: r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

/** Evaluate every net (plain, then TTA) on the active backend; prints the table and returns its rows. */
async function evalOn(backend, build, netIds, split, batchSize) {
  const count = split.count;
  console.log(`\n${backend.description} — load average before: ${load()}`);
  const nets = netIds.map((net) => ({ net, model: build(net) }));
  // Warm-up: the first forward pass compiles kernels and allocates; keep it out of the figures.
  await scoreNets(nets, randomSplit(Math.min(count, batchSize)), { batchSize, tta: true });

  const rows = [];
  const out = [];
  const results = {};
  for (const tta of [false, true]) {
    // One net at a time, so each gets its own CPU time: with other work on the machine, images per CPU-second
    // is the steadier figure; img/s is wall time of the forward passes.
    const scores = [];
    const cpu = {};
    for (const n of nets) {
      const c0 = process.cpuUsage();
      const [s] = await scoreNets([n], split, { batchSize, tta });
      const c = process.cpuUsage(c0);
      cpu[`net${n.net}`] = (c.user + c.system) / 1e6;
      scores.push(s);
    }
    cpu.ensemble = Object.values(cpu).reduce((a, b) => a + b, 0);
    const reports = reportScores(scores, split.labels);
    results[tta] = reports;
    for (const r of reports) {
      rows.push([r.name, tta ? 'yes' : 'no', fmt(r.throughput.imagesPerSecond), r.throughput.seconds.toFixed(2), cpu[r.name].toFixed(2), fmt(count / cpu[r.name])]);
      out.push({ name: r.name, tta, imagesPerSecond: r.throughput.imagesPerSecond, imagesPerCpuSecond: count / cpu[r.name] });
    }
  }
  const header = ['model', 'TTA', 'img/s', 'seconds', 'CPU s', 'img/CPU-s'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  console.log(header.map((h, i) => h.padEnd(widths[i])).join('  '));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));

  const ens = (tta) => results[tta].find((r) => r.name === 'ensemble') ?? results[tta][0];
  console.log(`ensemble on ${count} images: ${ens(false).throughput.seconds.toFixed(1)} s plain, ${ens(true).throughput.seconds.toFixed(1)} s with TTA`
    + ` (TTA / plain: ${(ens(true).throughput.seconds / ens(false).throughput.seconds).toFixed(2)}×; 2× = no overhead beyond the second pass)`);
  console.log(`load average after: ${load()}`);

  const sweep = arg('batches');
  if (sweep) {
    console.log('batch-size sweep (first net, no TTA):');
    for (const b of sweep.split(',').map(Number)) {
      const c0 = process.cpuUsage();
      const [s] = await scoreNets([nets[0]], split, { batchSize: b });
      const c = process.cpuUsage(c0);
      console.log(`  batch ${String(b).padStart(4)}: ${fmt(count / s.seconds)} img/s, ${fmt(count / ((c.user + c.system) / 1e6))} img/CPU-s`);
    }
  }
  nets.forEach((n) => n.model.dispose());
  return out;
}

async function main() {
  const count = Number(arg('images', '3589'));
  const batchSize = Number(arg('batch', '256'));
  const netIds = arg('nets', '1,2,3').split(',').map(Number);
  const opts = arg('threads') ? { threads: Number(arg('threads')) } : {};
  // --backend NAME (one, as before) or --backends a,b; default: every backend available except cpu.
  const wanted = arg('backend') ? [arg('backend')] : arg('backends', BACKEND_NAMES.filter((b) => b !== 'cpu').join(',')).split(',');
  const { kind, build } = builder();
  console.log(`bench:eval — ${count} random faces, batch ${batchSize}, ${kind}; cpus ${os.cpus().length}, load average ${load()}`);
  const split = randomSplit(count);
  const measured = [];
  let threads;
  for (const name of wanted) {
    let backend;
    try {
      backend = await initBackend(name, opts);
    } catch (e) {
      if (arg('backend') || arg('backends')) console.log(`\n${name}: not available — ${e.message}`);
      continue;
    }
    threads = threads ?? backend.threads;
    measured.push({ backend: backend.name, rows: await evalOn(backend, build, netIds, split, batchSize) });
  }

  const torch = pytorch(netIds, count, batchSize, threads ?? os.cpus().length);
  if (!torch.rows) {
    console.log(`\nPyTorch baseline skipped: ${torch.skipped} (apt-get install -y python3-torch; it runs under /usr/bin/python3)`);
    return;
  }
  console.log(`\nPyTorch ${torch.rows[0]?.torch ?? ''} on CPU (${torch.rows[0]?.threads} threads, OMP_WAIT_POLICY=${pytorchEnv().OMP_WAIT_POLICY}), same nets and faces, batch ${batchSize}`
    + ` (model.eval()${FOLD ? '; folded: batch-norm fused into the layers by fuse_modules' : ''}):`);
  console.log('  model  TTA  folded   img/s (/CPU-s)   load');
  for (const p of torch.rows) console.log(`  ${p.net.padEnd(5)}  ${p.tta ? 'yes' : 'no '}  ${p.folded ? 'yes' : 'no '}     ${fmt(p.imagesPerSecond).padStart(6)} (${fmt(count / p.cpuSeconds).padStart(6)})   ${p.load}`);
  for (const folded of FOLD ? [false, true] : [false]) {
    console.log(`\nours${FOLD ? ' (folded, as fer eval)' : ' (not folded)'} / PyTorch${folded ? ' folded' : ' model.eval()'} by wall time (and by CPU time); goal: inference ≥ 1.5×:`);
    for (const m of measured) {
      for (const r of m.rows) {
        const p = torch.rows.find((t) => t.net === r.name && t.tta === r.tta && Boolean(t.folded) === folded);
        if (!p) continue;
        console.log(`  ${m.backend.padEnd(7)} ${r.name.padEnd(5)} TTA ${r.tta ? 'yes' : 'no '}  ${(r.imagesPerSecond / p.imagesPerSecond).toFixed(2)}× (${(r.imagesPerCpuSecond / (count / p.cpuSeconds)).toFixed(2)}×)`);
      }
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
