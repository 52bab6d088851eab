#!/usr/bin/env node
'use strict';
// Ship trained nets: copy each net's `best` model from a `fer train --out` directory into checkpoints/ with
// float16 weights, with its history and curves, then measure what was shipped on the validation split
// (PublicTest) under every TTA mode (none, flip, 5crop, 10crop), into checkpoints/reports/ for the model card.
// The reports cover every net shipped in --to (also those not replaced by this call), so the ensemble figures are
// those of the shipped set.
//
//   node scripts/ship-models.js --from /work/runs/ckpt [--from other-run] [--nets 1,2] [--to checkpoints] [--data data/prepared]
//                               [--checkpoint best|last]
//   node scripts/ship-models.js --eval-only [--to checkpoints] [--data data/prepared]     # re-measure, copy nothing
//   node scripts/ship-models.js --default-only [--to checkpoints] [--data data/prepared]  # only the defaults.json setting
//
// The setting in <to>/defaults.json (nets, TTA, weights: what fer predict and fer video use) is measured too, into
// reports/eval-val-default.json, for the model card's per-class figures of that setting.
//
// A net found in several --from directories is taken from the one with the best validation accuracy.
//
// --checkpoint last ships each run's final epoch (`last/`: the trained weights, not the EMA average, with a
// train-info.json written from its train-state.json) instead of its best epoch: at the end of a cosine schedule the
// final weights can add more to an ensemble than a mid-run best (measure it: reports/). The run must have ended
// at an epoch boundary.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
// The public API only (dist/index.js), as a user of the package would.
const { quantizeModelDirFloat16, readModelDefaults } = require(path.join(ROOT, 'dist'));
// fer's own atomic write (temp sibling, fsync, rename; the temp removed on failure): not in the public API.
const { writeFileAtomic } = require(path.join(ROOT, 'dist', 'util', 'atomic'));

function args(name) {
  const out = [];
  process.argv.forEach((a, i) => { if (a === `--${name}` && i + 1 < process.argv.length) out.push(process.argv[i + 1]); });
  return out;
}

const froms = args('from');
const to = path.resolve(args('to')[0] || path.join(ROOT, 'checkpoints'));
const data = path.resolve(args('data')[0] || path.join(ROOT, 'data', 'prepared'));
const nets = (args('nets')[0] || '1,2,3').split(',').map(Number);
const defaultOnly = process.argv.includes('--default-only');
const evalOnly = defaultOnly || process.argv.includes('--eval-only');
const checkpoint = args('checkpoint')[0] || 'best';
if (froms.length === 0 && !evalOnly) {
  process.stderr.write('ship-models: give at least one --from DIR (a `fer train --out` directory)\n');
  process.exit(2);
}
if (checkpoint !== 'best' && checkpoint !== 'last') {
  process.stderr.write(`ship-models: --checkpoint must be best or last, not ${checkpoint}\n`);
  process.exit(2);
}

/** train-info.json of a run's `checkpoint` (for `last`, built from its train-state.json); undefined when unreadable. */
function runInfo(dir) {
  try {
    if (checkpoint === 'best') return JSON.parse(fs.readFileSync(path.join(dir, 'best', 'train-info.json'), 'utf8'));
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'last', 'train-state.json'), 'utf8'));
    const rec = state.history[state.history.length - 1];
    if (!rec || state.partial) throw new Error(`${dir}/last: the run stopped inside an epoch; finish it (fer train --resume) first`);
    // last/ holds the trained weights: their val accuracy is rawValAcc when the run averaged (EMA) its weights.
    const { rawValAcc, ...metrics } = rec;
    return {
      net: Number(path.basename(dir).replace('net', '')), settings: state.settings, ...metrics,
      val_acc: rawValAcc ?? rec.val_acc, ...(rawValAcc !== undefined ? { emaValAcc: rec.val_acc } : {}),
      weights: 'trained', checkpoint: 'last',
    };
  } catch (e) {
    if (checkpoint === 'last' && fs.existsSync(path.join(dir, 'last'))) {
      process.stderr.write(`ship-models: ${e.message}\n`);
      process.exit(1);
    }
    return undefined;
  }
}

function bestValAcc(dir) {
  const info = runInfo(dir);
  return info ? info.val_acc : -1;
}

async function main() {
  const shipped = [];
  for (const net of evalOnly ? [] : nets) {
    const candidates = froms.map((f) => path.join(f, `net${net}`)).filter((d) => fs.existsSync(path.join(d, checkpoint, 'model.json')));
    if (candidates.length === 0) continue;
    const src = candidates.sort((a, b) => bestValAcc(b) - bestValAcc(a))[0];
    const lastInfo = checkpoint === 'last' ? runInfo(src) : undefined; // exits on a run stopped inside an epoch
    const dst = path.join(to, `net${net}`);
    fs.mkdirSync(dst, { recursive: true });
    let from = path.join(src, 'best');
    if (lastInfo) {
      // Only the model and its train-info.json: not last/'s optimizer, EMA and resume state.
      from = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-ship-'));
      fs.copyFileSync(path.join(src, 'last', 'model.json'), path.join(from, 'model.json'));
      for (const g of JSON.parse(fs.readFileSync(path.join(from, 'model.json'), 'utf8')).weightsManifest) {
        for (const p of g.paths) fs.copyFileSync(path.join(src, 'last', p), path.join(from, p));
      }
      fs.writeFileSync(path.join(from, 'train-info.json'), JSON.stringify(lastInfo, null, 1));
    }
    let sizes;
    try {
      sizes = await quantizeModelDirFloat16(from, path.join(dst, 'best'));
    } finally {
      if (lastInfo) fs.rmSync(from, { recursive: true, force: true }); // the staging copy, also when quantizing failed
    }
    const { bytesBefore, bytesAfter } = sizes;
    for (const f of ['history.json', 'history.csv', 'curves.svg', 'curves.png']) {
      if (fs.existsSync(path.join(src, f))) writeFileAtomic(path.join(dst, f), fs.readFileSync(path.join(src, f)));
    }
    process.stderr.write(`net${net}: ${src}/${checkpoint} (val_acc ${(bestValAcc(src) * 100).toFixed(2)}%) → ${dst}/best, weights ${(bytesBefore / 1e6).toFixed(1)} → ${(bytesAfter / 1e6).toFixed(1)} MB\n`);
    shipped.push(net);
  }
  if (shipped.length === 0 && !evalOnly) {
    process.stderr.write(`ship-models: no net<k>/${checkpoint} found in the --from directories\n`);
    process.exit(1);
  }
  const inTo = [1, 2, 3].filter((k) => fs.existsSync(path.join(to, `net${k}`, 'best', 'model.json')));
  if (inTo.length === 0) {
    process.stderr.write(`ship-models: no net<k>/best/model.json in ${to}\n`);
    process.exit(1);
  }
  const reports = path.join(to, 'reports');
  // none and flip keep their confusion matrices (reports/, reports/tta/); 5crop and 10crop only their JSON.
  const modes = [
    { tta: 'none', file: 'eval-val.json', confusion: reports },
    { tta: 'flip', file: 'eval-val-tta.json', confusion: path.join(reports, 'tta') },
    { tta: '5crop', file: 'eval-val-5crop.json' },
    { tta: '10crop', file: 'eval-val-10crop.json' },
  ];
  const run = (file, flags) => {
    const argv = [path.join(ROOT, 'bin', 'fer'), 'eval', '--data', data, '--split', 'val', '--models', to, ...flags, '--json'];
    process.stderr.write(`$ fer ${argv.slice(1).join(' ')}\n`);
    const r = spawnSync(process.execPath, argv, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
    if (r.status !== 0) process.exit(r.status || 1);
    fs.mkdirSync(reports, { recursive: true });
    writeFileAtomic(path.join(reports, file), r.stdout);
  };
  for (const m of defaultOnly ? [] : modes) {
    run(m.file, ['--net', inTo.join(','), '--tta', m.tta, ...(m.confusion ? ['--confusion', '--out', m.confusion] : [])]);
  }
  const defaults = readModelDefaults(to);
  const defaultFile = path.join(reports, 'eval-val-default.json');
  if (defaults.nets) {
    run('eval-val-default.json', ['--net', defaults.nets.join(','), '--tta', defaults.tta ?? 'none', ...(defaults.weights ? ['--weights', defaults.weights.join(',')] : [])]);
  } else if (fs.existsSync(defaultFile)) {
    fs.rmSync(defaultFile); // no default setting any more: no stale report of one
  }
  process.stderr.write(`reports in ${reports}\n`);
}

main().catch((e) => {
  process.stderr.write(`ship-models: ${e && e.message ? e.message : String(e)}\n`);
  process.exit(1);
});
