'use strict';
// Face-detection accuracy and speed, shared by bench/predict.js and bench/video.js: faces found, false boxes
// and ms per image for each detector on the ../shared/media photos (boxes checked by eye in
// bench/data/faces.json) and on synthetic mosaics of real faces (the 29 Solvay faces and the two portraits,
// pasted at several sizes on a face-free background, so the truth is known exactly).
//
//   node bench/detection.js [--detectors blazeface,haar,...] [--sizes 40,48,64,96,160] [--min-face N] [--min-score P]
// (a detector may be given as name=model.json to measure another copy of its model)

const fs = require('fs');
const path = require('path');
const sharp = require('sharp');
const { arg, load, median, fer } = require('./util');

const ROOT = path.join(__dirname, '..');
// FER_DIST: measure another build's detectors (e.g. FER_DIST=../main/dist for the code before this one); see util.fer.
const MEDIA = process.env.FER_SHARED ? path.join(process.env.FER_SHARED, 'media') : path.resolve(ROOT, '..', 'shared', 'media');
const TRUTH = JSON.parse(fs.readFileSync(path.join(__dirname, 'data', 'faces.json'), 'utf8'));

/**
 * A detection finds a true face when its centre lies inside the face's box and its side is within 0.5–2× of
 * the face's (detectors frame faces differently: Haar boxes are larger than BlazeFace's). One detection per
 * face; the rest are false boxes (duplicates included).
 */
function score(dets, truth) {
  const used = new Set();
  let found = 0;
  for (const t of truth) {
    const [x, y, w, h] = t;
    let best = -1;
    let bestD = Infinity;
    dets.forEach((d, i) => {
      if (used.has(i)) return;
      const cx = d.x + d.w / 2;
      const cy = d.y + d.h / 2;
      const side = Math.max(d.w, d.h) / Math.max(w, h);
      if (cx < x || cx > x + w || cy < y || cy > y + h || side < 0.5 || side > 2) return;
      const dist = Math.hypot(cx - x - w / 2, cy - y - h / 2);
      if (dist < bestD) { bestD = dist; best = i; }
    });
    if (best >= 0) { used.add(best); found++; }
  }
  return { faces: truth.length, found, falseBoxes: dets.length - used.size };
}

async function decode(file) {
  const { loadImage } = fer();
  return loadImage(file);
}

/** Square crops (2.2× the face side, face centred) of every true face in the photos that have them. */
async function faceCrops() {
  const crops = [];
  for (const [name, boxes] of Object.entries(TRUTH)) {
    if (name.startsWith('_') || boxes.length === 0) continue;
    const file = path.join(MEDIA, name);
    if (!fs.existsSync(file)) continue;
    const meta = await sharp(file).metadata();
    for (const [x, y, w, h] of boxes) {
      const side = Math.round(Math.max(w, h) * 2.2);
      const left = Math.round(x + w / 2 - side / 2);
      const top = Math.round(y + h / 2 - side * 0.45);
      const l = Math.max(0, left);
      const t = Math.max(0, top);
      const ww = Math.min(meta.width, left + side) - l;
      const hh = Math.min(meta.height, top + side) - t;
      const buf = await sharp(file).extract({ left: l, top: t, width: ww, height: hh }).removeAlpha().toColourspace('srgb').raw().toBuffer();
      // Face box relative to the crop, as fractions of the crop side.
      crops.push({ buf, width: ww, height: hh, face: [(x - l) / ww, (y - t) / hh, w / ww, h / hh] });
    }
  }
  return crops;
}

/**
 * Mosaics of every face crop at one face size, on a face-free background (camera-no-face.png scaled up),
 * in a jittered grid: (image, truth boxes).
 */
async function mosaics(sizes) {
  const crops = await faceCrops();
  if (crops.length === 0) return [];
  const bgFile = path.join(MEDIA, 'camera-no-face.png');
  const out = [];
  for (const size of sizes) {
    const cell = Math.round(size * 2.6);
    const cols = Math.max(1, Math.min(crops.length, Math.floor(1920 / cell)));
    const rows = Math.ceil(crops.length / cols);
    const W = cols * cell;
    const H = rows * cell;
    const composites = [];
    const truth = [];
    let seed = size;
    const rnd = () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed / 2 ** 32; };
    for (let i = 0; i < crops.length; i++) {
      const c = crops[i];
      // Scale so the face is `size` px wide.
      const k = size / (c.face[2] * c.width);
      const w = Math.max(1, Math.round(c.width * k));
      const h = Math.max(1, Math.round(c.height * k));
      const left = (i % cols) * cell + Math.floor(rnd() * Math.max(1, cell - w));
      const top = Math.floor(i / cols) * cell + Math.floor(rnd() * Math.max(1, cell - h));
      const input = await sharp(c.buf, { raw: { width: c.width, height: c.height, channels: 3 } }).resize(w, h).png().toBuffer();
      composites.push({ input, left, top });
      truth.push([left + c.face[0] * w, top + c.face[1] * h, c.face[2] * w, c.face[3] * h].map(Math.round));
    }
    const bg = sharp(bgFile).resize(W, H, { fit: 'cover' }).removeAlpha().toColourspace('srgb');
    const png = await sharp(await bg.png().toBuffer()).composite(composites).png().toBuffer();
    const { decodeImage } = fer();
    out.push({ name: `mosaic, ${crops.length} faces of ${size} px`, img: await decodeImage(png, `mosaic${size}`), truth });
  }
  return out;
}

/** The test set: the shared photos with known faces, then the mosaics. */
async function testSet(sizes = [40, 48, 64, 96, 160]) {
  const set = [];
  for (const [name, truth] of Object.entries(TRUTH)) {
    if (name.startsWith('_')) continue;
    const file = path.join(MEDIA, name);
    if (!fs.existsSync(file)) continue;
    set.push({ name, img: await decode(file), truth });
  }
  return set.concat(await mosaics(sizes));
}

/** A 640×480 photo for timing: the astronaut portrait covering the frame (one face). */
async function vgaImage() {
  const { decodeImage } = fer();
  const buf = await sharp(path.join(ROOT, 'test', 'fixtures', 'astronaut.png')).resize(640, 480, { fit: 'cover', position: 'north' }).png().toBuffer();
  return decodeImage(buf, 'vga');
}

/**
 * Run each detector over the set; returns rows {detector, set, faces, found, falseBoxes, ms}.
 * `opts`: DetectOptions for every call (e.g. minFace, minScore).
 */
async function evaluate(detectors, set, opts = {}) {
  const rows = [];
  for (const det of detectors) {
    for (const s of set) {
      const t0 = process.hrtime.bigint();
      const c0 = cpuMs();
      const boxes = det.detect(s.img.gray, s.img.width, s.img.height, opts);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      rows.push({ detector: det.engine, set: s.name, ...score(boxes, s.truth), ms, cpu: cpuMs() - c0 });
    }
  }
  return rows;
}

/** CPU time of this process (all threads), ms: less sensitive than wall time to other load on the machine. */
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/** Median wall ms and mean CPU ms of detection on a 640×480 frame (one face). */
async function vgaMs(det, opts = {}, runs = 10) {
  const img = await vgaImage();
  det.detect(img.gray, img.width, img.height, opts);
  const t = [];
  const c0 = cpuMs();
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    det.detect(img.gray, img.width, img.height, opts);
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return { wall: median(t), cpu: (cpuMs() - c0) / runs };
}

/** Print per-detector table: each set, then totals over photos with faces and over mosaics. */
function printTable(rows, vga) {
  const pad = (s, n) => String(s).padEnd(n);
  console.log(`${pad('detector', 16)}${pad('image', 34)}${pad('found', 10)}${pad('false', 7)}${pad('ms', 8)}CPU ms`);
  const byDet = new Map();
  for (const r of rows) {
    if (!byDet.has(r.detector)) byDet.set(r.detector, []);
    byDet.get(r.detector).push(r);
    console.log(`${pad(r.detector, 16)}${pad(r.set, 34)}${pad(`${r.found}/${r.faces}`, 10)}${pad(r.falseBoxes, 7)}${pad(r.ms.toFixed(0), 8)}${r.cpu.toFixed(0)}`);
  }
  console.log('');
  for (const [d, rs] of byDet) {
    const sum = (k, f) => rs.filter(f).reduce((a, r) => a + r[k], 0);
    const isMosaic = (r) => r.set.startsWith('mosaic');
    const faces = sum('faces', () => true);
    const found = sum('found', () => true);
    const fb = sum('falseBoxes', () => true);
    console.log(`${pad(d, 16)} all: ${found}/${faces} faces (${(100 * found / faces).toFixed(1)}%), ${fb} false boxes `
      + `(${(10 * fb / Math.max(1, found)).toFixed(2)} per 10 faces); photos ${sum('found', (r) => !isMosaic(r))}/${sum('faces', (r) => !isMosaic(r))}`
      + ` +${sum('falseBoxes', (r) => !isMosaic(r))} false; mosaics ${sum('found', isMosaic)}/${sum('faces', isMosaic)} +${sum('falseBoxes', isMosaic)} false`
      + `${vga && vga[d] !== undefined ? `; 640×480 image: ${vga[d].wall.toFixed(1)} ms, ${vga[d].cpu.toFixed(1)} ms CPU` : ''}`);
  }
}

async function main() {
  const { initBackend, createDetector } = fer();
  const names = arg('detectors', 'blazeface,haar').split(',');
  const opts = {};
  if (arg('min-face', undefined)) opts.minFace = Number(arg('min-face'));
  if (arg('min-score', undefined)) opts.minScore = Number(arg('min-score'));
  if (!fs.existsSync(path.join(MEDIA, 'solvay1927.jpg'))) {
    console.log(`bench:detection: ${MEDIA} not found (set FER_SHARED); nothing to measure`);
    return;
  }
  const backend = initBackend ? await initBackend(arg('backend', 'wasm'), { threads: 1 }) : { description: 'none' };
  console.log(`detection accuracy — backend ${backend.description}, load ${load()}; options ${JSON.stringify(opts)}`);
  const set = await testSet(arg('sizes', undefined)?.split(',').map(Number));
  const dets = [];
  for (const n of names) {
    const [name, file] = n.split('=');
    dets.push(await createDetector(name, undefined, file));
  }
  const rows = await evaluate(dets, set, opts);
  const vga = {};
  for (const d of dets) vga[d.engine] = await vgaMs(d, opts);
  printTable(rows, vga);
  // What `fer video` runs per frame (its default --min-face 110: one pass on VGA).
  for (const d of dets) {
    const v = await vgaMs(d, { ...opts, minFace: 110 });
    console.log(`${d.engine}: 640×480 at --min-face 110 (video default): ${v.wall.toFixed(1)} ms, ${v.cpu.toFixed(1)} ms CPU`);
  }
  console.log(`load now ${load()}`);
  dets.forEach((d) => d.dispose());
}

module.exports = { score, testSet, evaluate, vgaMs, printTable, MEDIA };

if (require.main === module) {
  main().catch((e) => { console.error(e); process.exitCode = 1; });
}
