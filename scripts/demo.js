#!/usr/bin/env node
'use strict';
// `npm run demo`: the whole pipeline on built-in defaults, in data/demo/ —
// prepare → train a small model → eval → predict on a bundled face → annotate a bundled video.
// Uses FER2013 from ../shared/data (or FER_CSV) when present, a subset so it finishes in minutes;
// otherwise a synthetic FER-format CSV so the pipeline still runs end to end on a fresh machine.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const readline = require('readline');

const ROOT = path.resolve(__dirname, '..');
const DEMO = path.join(ROOT, 'data', 'demo');
const FER = path.join(ROOT, 'bin', 'fer');
const SHARED_CSV = process.env.FER_CSV || path.resolve(ROOT, '..', 'shared', 'data', 'fer2013.csv.gz');
const TRAIN_ROWS = Number(process.env.FER_DEMO_TRAIN_ROWS || 3000);
const VAL_ROWS = Number(process.env.FER_DEMO_VAL_ROWS || 600);

function step(title) {
  process.stderr.write(`\n== ${title}\n`);
}

function fer(args, { allow = [0] } = {}) {
  process.stderr.write(`$ fer ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [FER, ...args], { cwd: ROOT, stdio: 'inherit' });
  if (!allow.includes(r.status)) {
    process.stderr.write(`demo: \`fer ${args[0]}\` exited with ${r.status}\n`);
    process.exit(r.status || 1);
  }
  return r.status;
}

/** The first TRAIN_ROWS Training and VAL_ROWS PublicTest rows of the real CSV, streamed. */
async function subsetOfFer2013(src, dst) {
  const input = fs.createReadStream(src).pipe(src.endsWith('.gz') ? zlib.createGunzip() : new (require('stream').PassThrough)());
  const out = fs.createWriteStream(dst);
  const counts = { Training: 0, PublicTest: 0 };
  const limits = { Training: TRAIN_ROWS, PublicTest: VAL_ROWS };
  let header = true;
  for await (const line of readline.createInterface({ input, crlfDelay: Infinity })) {
    if (header) { out.write(`${line}\n`); header = false; continue; }
    const usage = line.slice(line.lastIndexOf(',') + 1).trim();
    if (counts[usage] !== undefined && counts[usage] < limits[usage]) {
      counts[usage]++;
      out.write(`${line}\n`);
    }
    if (counts.Training >= limits.Training && counts.PublicTest >= limits.PublicTest) break;
  }
  input.destroy();
  await new Promise((resolve) => out.end(resolve));
}

/** A learnable stand-in when FER2013 is absent: each class is a blob at its own place, plus noise. */
function syntheticCsv(dst) {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const lines = ['emotion,pixels,Usage'];
  for (const [usage, n] of [['Training', 1400], ['PublicTest', 350]]) {
    for (let i = 0; i < n; i++) {
      const label = i % 7;
      const cx = 8 + (label % 4) * 10;
      const cy = 12 + Math.floor(label / 4) * 20;
      const px = [];
      for (let y = 0; y < 48; y++) {
        for (let x = 0; x < 48; x++) {
          const d = Math.hypot(x - cx - (rand() - 0.5) * 4, y - cy - (rand() - 0.5) * 4);
          px.push(Math.max(0, Math.min(255, Math.round(60 + (d < 7 ? 150 : 0) + rand() * 50))));
        }
      }
      lines.push(`${label},${px.join(' ')},${usage}`);
    }
  }
  fs.writeFileSync(dst, `${lines.join('\n')}\n`);
}

function hasTrainedModels(dir) {
  return [1, 2, 3].some((n) => fs.existsSync(path.join(dir, `net${n}`, 'best', 'model.json')));
}

async function main() {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) {
    process.stderr.write('demo: dist/ is missing; run `npm ci` (or `npm run build`) first\n');
    process.exit(1);
  }
  fs.mkdirSync(DEMO, { recursive: true });
  const csv = path.join(DEMO, 'fer2013-subset.csv');

  step('1/5 prepare');
  if (fs.existsSync(SHARED_CSV)) {
    process.stderr.write(`using the first ${TRAIN_ROWS} Training and ${VAL_ROWS} PublicTest rows of ${SHARED_CSV}\n`);
    await subsetOfFer2013(SHARED_CSV, csv);
  } else {
    process.stderr.write(`${SHARED_CSV} not found: using a synthetic FER-format CSV (7 learnable patterns) instead\n`);
    syntheticCsv(csv);
  }
  const prepared = path.join(DEMO, 'prepared');
  fer(['prepare', csv, '--out', prepared, '--chart']);

  step('2/5 train a small net 1 (2 epochs, half width) — `fer train --net all --epochs 15` is the real thing');
  const demoModels = path.join(DEMO, 'checkpoints');
  fer(['train', '--net', '1', '--width', '0.5', '--epochs', '2', '--data', prepared, '--out', demoModels]);

  step('3/5 evaluate it on the validation split');
  fer(['eval', '--data', prepared, '--split', 'val', '--models', demoModels, '--confusion', '--out', path.join(DEMO, 'reports')]);

  // Predict and video use the shipped models when the checkout has them; the 2-epoch demo model otherwise.
  const shipped = path.join(ROOT, 'checkpoints');
  const models = hasTrainedModels(shipped) ? shipped : demoModels;
  step(`4/5 predict on a bundled photo (models: ${path.relative(ROOT, models)})`);
  fer(['predict', path.join('test', 'fixtures', 'astronaut.png'), '--models', models, '--out', path.join(DEMO, 'astronaut-annotated.png')], { allow: [0, 3] });

  step('5/5 annotate a bundled video');
  fer(['video', path.join('test', 'fixtures', 'astronaut-pan.mp4'), path.join(DEMO, 'astronaut-pan-annotated.mp4'),
    '--models', models, '--csv', path.join(DEMO, 'astronaut-pan.csv'), '--summary-json', path.join(DEMO, 'astronaut-pan-summary.json')]);

  process.stderr.write(`\ndemo done: outputs in ${path.relative(process.cwd(), DEMO) || '.'}/ (charts, checkpoints, reports, annotated photo and video)\n`);
}

main().catch((err) => {
  process.stderr.write(`demo: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
