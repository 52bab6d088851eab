#!/usr/bin/env node
/* eslint-disable no-console */
// `npm run bench:eval`: evaluation throughput (images/s) per net and for the ensemble, with and without
// flip TTA, through the same code path as `fer eval` (scoreNets + reportScores), on random-weight nets of the
// real architectures (src/models buildNet) and random faces. Prints numbers and ratios; asserts nothing.
//
//   node bench/eval.js [--images N] [--batch B] [--backend NAME] [--nets 1,2,3] [--batches 64,256]
//
// Defaults: 3589 images (the size of FER2013's PublicTest split, what `fer eval --split val` sees), batch 256.

const os = require('os');
const path = require('path');
const { arg, load } = require('./util');

const dist = path.join(__dirname, '..', 'dist');
const tf = require('@tensorflow/tfjs');
const { initBackend } = require(path.join(dist, 'backend'));
const { scoreNets, reportScores } = require(path.join(dist, 'eval', 'evaluate'));

/** The real architectures when src/models has them; otherwise a small stand-in CNN (said so in the output). */
function builder() {
  try {
    const { buildNet } = require(path.join(dist, 'models', 'nets'));
    if (typeof buildNet === 'function') return { kind: 'real architectures (src/models buildNet)', build: (id) => buildNet(id, id) };
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

const fmt = (v) => (v >= 100 ? Math.round(v).toString() : v.toFixed(1));

async function main() {
  const count = Number(arg('images', '3589'));
  const batchSize = Number(arg('batch', '256'));
  const netIds = arg('nets', '1,2,3').split(',').map(Number);
  const backend = await initBackend(arg('backend', 'auto'));
  const { kind, build } = builder();
  console.log(`bench:eval — ${count} random faces, batch ${batchSize}, backend ${backend.description}, ${kind}`);
  console.log(`cpus ${os.cpus().length}, load average before: ${load()}`);

  const nets = netIds.map((net) => ({ net, model: build(net) }));
  const split = randomSplit(count);
  // Warm-up: the first forward pass compiles kernels and allocates; keep it out of the figures.
  await scoreNets(nets, randomSplit(Math.min(count, batchSize)), { batchSize, tta: true });

  const rows = [];
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
    }
  }
  const header = ['model', 'TTA', 'img/s', 'seconds', 'CPU s', 'img/CPU-s'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  console.log('');
  console.log(header.map((h, i) => h.padEnd(widths[i])).join('  '));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));

  const ens = (tta) => results[tta].find((r) => r.name === 'ensemble') ?? results[tta][0];
  console.log('');
  console.log(`ensemble on ${count} images: ${ens(false).throughput.seconds.toFixed(1)} s plain, ${ens(true).throughput.seconds.toFixed(1)} s with TTA`);
  console.log(`ratio TTA / plain time (ensemble): ${(ens(true).throughput.seconds / ens(false).throughput.seconds).toFixed(2)}× (2× = no overhead beyond the second pass)`);
  console.log(`load average after: ${load()}`);

  const sweep = arg('batches');
  if (sweep) {
    console.log('\nbatch-size sweep (first net, no TTA):');
    for (const b of sweep.split(',').map(Number)) {
      const c0 = process.cpuUsage();
      const [s] = await scoreNets([nets[0]], split, { batchSize: b });
      const c = process.cpuUsage(c0);
      console.log(`  batch ${String(b).padStart(4)}: ${fmt(count / s.seconds)} img/s, ${fmt(count / ((c.user + c.system) / 1e6))} img/CPU-s`);
    }
  }
  nets.forEach((n) => n.model.dispose());
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
