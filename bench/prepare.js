#!/usr/bin/env node
'use strict';
/*
 * npm run bench:prepare [-- CSV] [--runs N]
 *
 * Times `fer prepare` (the built CLI in dist/, as a user runs it) on the full FER2013 CSV, gzipped and plain,
 * with its peak RSS, against the Python csv + numpy baseline (bench/prepare_baseline.py, when python3 with
 * numpy is available). Goal: at most half the Python time and at most 250 MB RSS, for both inputs.
 * The plain CSV is gunzipped once into the temp directory. Prints numbers and ratios; asserts nothing.
 */
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const SHARED = process.env.FER_SHARED || path.resolve(ROOT, '..', 'shared');
const GOAL_RATIO = 0.5;
const GOAL_RSS_MB = 250;

function parseArgs(argv) {
  const args = { csv: path.join(SHARED, 'data', 'fer2013.csv.gz'), runs: 3, python: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') args.runs = Math.max(1, Number(argv[++i]) || 1);
    else if (argv[i] === '--no-python') args.python = false;
    else args.csv = argv[i];
  }
  return args;
}

/** Run a command, returning wall seconds and the child's peak RSS in MB (from the MAXRSS line it prints). */
function measure(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, ...opts });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  const m = /MAXRSS_KB (\d+)/.exec(r.stderr);
  return { seconds, rssMb: m ? Number(m[1]) / 1024 : NaN, stdout: r.stdout };
}

/** The CLI in-process under a tiny wrapper that reports its own peak RSS (no /usr/bin/time needed). */
function runFer(csv, out, extra) {
  const wrapper = `
    process.on('exit', () => process.stderr.write('MAXRSS_KB ' + process.resourceUsage().maxRSS + '\\n'));
    require(${JSON.stringify(path.join(ROOT, 'dist', 'cli.js'))}).main(process.argv)
      .then((code) => { process.exitCode = code; });`;
  return measure(process.execPath, ['-e', wrapper, 'x', 'prepare', csv, '--out', out, '--quiet', '--json', ...extra]);
}

function runPython(csv, out) {
  const wrapper = `
import resource, runpy, sys
sys.argv = [sys.argv[1]] + sys.argv[2:]
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
finally:
    sys.stderr.write('MAXRSS_KB %d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
`;
  return measure('python3', ['-c', wrapper, path.join(__dirname, 'prepare_baseline.py'), csv, out]);
}

function hasPythonNumpy() {
  const r = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  return r.status === 0;
}

function best(runs) {
  return runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
}

function load() {
  return os.loadavg().map((x) => x.toFixed(2)).join(' ');
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(ROOT, 'dist', 'cli.js'))) {
    console.error('bench:prepare: dist/ is missing; run `npm run build` first');
    process.exit(1);
  }
  if (!fs.existsSync(args.csv)) {
    console.log(`bench:prepare skipped: ${args.csv} not found (pass a FER2013 CSV path, or set FER_SHARED)`);
    return;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fer-bench-prepare-'));
  const magic = Buffer.alloc(2);
  const fd = fs.openSync(args.csv, 'r');
  fs.readSync(fd, magic, 0, 2, 0);
  fs.closeSync(fd);
  const gzipped = magic[0] === 0x1f && magic[1] === 0x8b;
  const inputs = [];
  if (gzipped) {
    const plain = path.join(os.tmpdir(), `fer-bench-${path.basename(args.csv).replace(/\.gz$/, '')}`);
    if (!fs.existsSync(plain) || fs.statSync(plain).mtimeMs < fs.statSync(args.csv).mtimeMs) {
      // gunzip in a child: a child's peak RSS starts from its parent's, so the bench process must stay small.
      const tmp = `${plain}.tmp`;
      const r = spawnSync(process.execPath, ['-e', `
        const fs = require('fs'), zlib = require('zlib'), { pipeline } = require('stream');
        pipeline(fs.createReadStream(process.argv[1]), zlib.createGunzip(), fs.createWriteStream(process.argv[2]), (e) => { if (e) throw e; });`,
      args.csv, tmp], { stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`gunzip ${args.csv} failed`);
      fs.renameSync(tmp, plain);
    }
    inputs.push({ name: 'plain', file: plain }, { name: 'gzip', file: args.csv });
  } else {
    inputs.push({ name: 'plain', file: args.csv });
  }
  const python = args.python && hasPythonNumpy();
  console.log(`bench:prepare  node ${process.version}, ${os.cpus().length} CPUs, load ${load()}, runs ${args.runs} (best kept)`);
  for (const input of inputs) console.log(`  ${input.name}: ${input.file} (${(fs.statSync(input.file).size / 1e6).toFixed(1)} MB)`);
  if (!python) console.log('  (python3 with numpy not found: no baseline ratio)');

  const rows = [];
  try {
    for (const input of inputs) {
      const out = path.join(work, `out-${input.name}`);
      const ours = best(Array.from({ length: args.runs }, () => runFer(input.file, out, [])));
      const report = JSON.parse(ours.stdout);
      const csvParse = runFer(input.file, out, ['--parser', 'csv-parse']);
      const py = python ? best(Array.from({ length: args.runs }, () => runPython(input.file, path.join(work, `py-${input.name}`)))) : undefined;
      rows.push({ input: input.name, ours, csvParse, py, kept: report.rows.kept, read: report.rows.read });
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }

  const fmt = (m) => (m ? `${m.seconds.toFixed(2).padStart(6)} s ${m.rssMb.toFixed(0).padStart(5)} MB` : '      –          –');
  console.log('');
  console.log('input   fer prepare (auto)   fer --parser csv-parse   python csv+numpy     time ratio  rows/s     goal');
  for (const r of rows) {
    const ratio = r.py ? r.ours.seconds / r.py.seconds : NaN;
    const ok = (!r.py || ratio <= GOAL_RATIO) && r.ours.rssMb <= GOAL_RSS_MB;
    console.log(`${r.input.padEnd(7)} ${fmt(r.ours)}    ${fmt(r.csvParse)}      ${fmt(r.py)}   ${Number.isNaN(ratio) ? '   –' : ratio.toFixed(2).padStart(5)}×     `
      + `${Math.round(r.read / r.ours.seconds).toString().padStart(6)}   ${ok ? 'met' : 'NOT met'} (≤ ${GOAL_RATIO}× python, ≤ ${GOAL_RSS_MB} MB)`);
  }
  console.log(`\n${rows[0].read} rows read, ${rows[0].kept} kept. Times are whole-process wall clock (node start-up included). Load after: ${load()}`);
}

main();
