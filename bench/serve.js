#!/usr/bin/env node
/* eslint-disable no-console */
// `npm run bench:serve`: a bounded load test of `fer serve` on 127.0.0.1. The server runs as a child process
// (`bin/fer serve --port 0`, the shipped models); this script sends --requests POST /v1/predict requests (a 640×480
// JPEG with one face, made from test/fixtures/astronaut.png), --concurrency at a time, and prints p50/p95/max
// latency, throughput and errors. Side by side in one run: the same load with micro-batching off
// (--batch-wait-ms 0 still batches what arrives in the same tick) and a one-at-a-time baseline. Asserts nothing;
// exits 1 if any request failed.
//
//   node bench/serve.js [--requests 200] [--concurrency 8] [--models DIR] [--skip-compare]

const { spawn } = require('child_process');
const path = require('path');
const sharp = require('sharp');
const { arg, load } = require('./util');

const ROOT = path.join(__dirname, '..');
const REQUESTS = Number(arg('requests', '200'));
const CONCURRENCY = Number(arg('concurrency', '8'));
const MODELS = arg('models', path.join(ROOT, 'checkpoints'));

function pct(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Start `fer serve` on a free port; resolves to { url, child } once it prints its URL. */
function startServer(extra) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'fer'), 'serve', '--port', '0', '--models', MODELS, '-q', ...extra], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' },
    });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.once('data', (d) => resolve({ url: String(d).trim().split('\n')[0], child }));
    child.once('exit', (code) => reject(new Error(`fer serve exited (${code}): ${err}`)));
  });
}

/** CPU seconds of a process from /proc (user + system), or NaN off Linux. */
function cpuSeconds(pid) {
  try {
    const f = require('fs').readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

async function run(url, body, requests, concurrency) {
  const latencies = [];
  const errors = {};
  let next = 0;
  let faces = 0;
  const t0 = performance.now();
  async function lane() {
    while (next < requests) {
      next++;
      const t = performance.now();
      try {
        const res = await fetch(`${url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body });
        const json = await res.json();
        if (res.ok) faces += json[0].faces.length;
        else errors[res.status] = (errors[res.status] ?? 0) + 1;
      } catch (e) {
        errors[e.code ?? 'network'] = (errors[e.code ?? 'network'] ?? 0) + 1;
      }
      latencies.push(performance.now() - t);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  const wall = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { wall, p50: pct(latencies, 50), p95: pct(latencies, 95), max: latencies[latencies.length - 1], errors, faces, rps: requests / wall };
}

async function batchesOf(url) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const count = Number((/^fer_classify_batch_faces_count (\d+)$/m.exec(text) ?? [])[1] ?? 0);
  const sum = Number((/^fer_classify_batch_faces_sum (\S+)$/m.exec(text) ?? [])[1] ?? 0);
  return { count, sum };
}

async function scenario(name, extra, body, requests, concurrency) {
  const { url, child } = await startServer(extra);
  try {
    await run(url, body, Math.min(10, requests), Math.min(2, concurrency)); // warm-up
    const b0 = await batchesOf(url);
    const cpu0 = cpuSeconds(child.pid);
    const r = await run(url, body, requests, concurrency);
    const cpu = cpuSeconds(child.pid) - cpu0;
    const b1 = await batchesOf(url);
    const perBatch = (b1.sum - b0.sum) / Math.max(1, b1.count - b0.count);
    const errs = Object.entries(r.errors).map(([k, v]) => `${k}×${v}`).join(' ') || 'none';
    console.log(`${name.padEnd(34)} ${String(requests).padStart(4)} req × ${concurrency}  p50 ${r.p50.toFixed(0).padStart(5)} ms  p95 ${r.p95.toFixed(0).padStart(5)} ms  `
      + `max ${r.max.toFixed(0).padStart(5)} ms  ${r.rps.toFixed(1).padStart(5)} req/s  server CPU ${(cpu * 1000 / requests).toFixed(0)} ms/req  `
      + `${perBatch.toFixed(2)} faces/batch  errors ${errs}  (load ${load()})`);
    return r;
  } finally {
    child.kill('SIGTERM');
    await new Promise((res) => child.once('exit', res));
  }
}

(async () => {
  const body = await sharp(path.join(ROOT, 'test', 'fixtures', 'astronaut.png')).resize(640, 480, { fit: 'cover' }).jpeg({ quality: 90 }).toBuffer();
  console.log(`fer serve load test on 127.0.0.1: ${REQUESTS} POST /v1/predict (640×480 JPEG, ${body.length} bytes, one face), models ${MODELS}, `
    + `${require('os').cpus().length} cores, load ${load()}`);
  const main = await scenario('micro-batching (2 ms window)', [], body, REQUESTS, CONCURRENCY);
  let failed = Object.keys(main.errors).length > 0;
  if (!process.argv.includes('--skip-compare')) {
    const off = await scenario('same tick only (--batch-wait-ms 0)', ['--batch-wait-ms', '0'], body, REQUESTS, CONCURRENCY);
    const one = await scenario('one at a time (concurrency 1)', [], body, Math.max(20, Math.round(REQUESTS / 4)), 1);
    failed = failed || Object.keys(off.errors).length > 0 || Object.keys(one.errors).length > 0;
    console.log(`ratios: throughput batched/no-window ${(main.rps / off.rps).toFixed(2)}×, batched(×${CONCURRENCY})/one-at-a-time ${(main.rps / one.rps).toFixed(2)}×; `
      + `p50 batched/one-at-a-time ${(main.p50 / one.p50).toFixed(2)}×`);
  }
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
