#!/usr/bin/env node
/* eslint-disable no-console */
// Which crop gives the shipped nets their best accuracy on faces a detector finds? FER2013 PublicTest faces
// (48×48, as the dataset framed them) are enlarged 3× and put back into a larger frame (border pixels
// replicated, so there is context but no new edges), then detected again and cropped with each margin,
// with and without eye-line alignment, and classified by the shipped ensemble. The 48×48 originals give
// the reference accuracy; the margin whose crops come closest to it frames faces as FER2013 did. Also prints
// the margin that reproduces FER2013's frame exactly, from the detected boxes (frame side / box side).
//
//   node bench/crop.js [--faces N] [--detector blazeface] [--models checkpoints]
// Needs ../shared/data/fer2013.csv.gz (FER_SHARED) and trained models in checkpoints/.

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const readline = require('readline');
const { arg, load, fer } = require('./util');

const ROOT = path.join(__dirname, '..');
const SHARED = process.env.FER_SHARED ?? path.resolve(ROOT, '..', 'shared');

async function publicTest(n) {
  const file = path.join(SHARED, 'data', 'fer2013.csv.gz');
  const rl = readline.createInterface({ input: fs.createReadStream(file).pipe(zlib.createGunzip()) });
  const rows = [];
  for await (const line of rl) {
    const [label, pixels, usage] = line.split(',');
    if (usage !== 'PublicTest') continue;
    rows.push({ label: Number(label), px: Uint8Array.from(pixels.split(' ').map(Number)) });
    if (rows.length >= n) { rl.close(); break; }
  }
  return rows;
}

/** The 48² face enlarged `k`× and centred in a frame `pad`× its side, border pixels replicated. */
function reframe(px, k, pad) {
  const { resizeGray } = fer();
  const big = resizeGray(px, 48, 48, 48 * k, 48 * k);
  const s = 48 * k;
  const S = Math.round(s * pad);
  const off = Math.round((S - s) / 2);
  const out = new Uint8Array(S * S);
  for (let y = 0; y < S; y++) {
    const sy = Math.min(s - 1, Math.max(0, y - off));
    for (let x = 0; x < S; x++) out[y * S + x] = big[sy * s + Math.min(s - 1, Math.max(0, x - off))];
  }
  return { gray: out, size: S, face: { x: off, y: off, w: s, h: s } };
}

async function main() {
  const n = Number(arg('faces', '600'));
  const engine = arg('detector', 'blazeface');
  const models = arg('models', path.join(ROOT, 'checkpoints'));
  if (!fs.existsSync(path.join(SHARED, 'data', 'fer2013.csv.gz'))) { console.log(`bench:crop: ${SHARED}/data/fer2013.csv.gz not found (FER_SHARED); nothing to measure`); return; }
  const { createPredictor, cropFaces, argmax } = fer();
  const predictor = await createPredictor({ modelsDir: models, detector: engine, threads: 1 });
  console.log(`crop framing — detector ${predictor.detector.engine}, nets ${predictor.nets.join(',')}, backend ${predictor.backend.description}, load ${load()}`);
  const rows = await publicTest(n);
  const acc = (faces, labels) => {
    const s = predictor.classify(faces, labels.length);
    let ok = 0;
    labels.forEach((l, i) => { if (argmax(s, i * 7, 7) === l) ok++; });
    return ok / labels.length;
  };
  const ref = new Uint8Array(rows.length * 48 * 48);
  rows.forEach((r, i) => ref.set(r.px, i * 48 * 48));
  console.log(`reference: the ${rows.length} FER2013 48×48 faces as framed by the dataset: ${(100 * acc(ref, rows.map((r) => r.label))).toFixed(1)}%`);

  const margins = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3];
  const found = [];
  const ratios = [];
  const dx = [];
  const dy = [];
  for (const r of rows) {
    const f = reframe(r.px, 3, 2);
    const boxes = predictor.detector.detect(f.gray, f.size, f.size, { minFace: 48 });
    if (boxes.length === 0) continue;
    // The detection nearest the frame's centre.
    const c = f.size / 2;
    const b = boxes.reduce((p, q) => (Math.hypot(q.x + q.w / 2 - c, q.y + q.h / 2 - c) < Math.hypot(p.x + p.w / 2 - c, p.y + p.h / 2 - c) ? q : p));
    found.push({ r, f, b });
    ratios.push(f.face.w / Math.max(b.w, b.h));
    dx.push((f.face.x + f.face.w / 2 - b.x - b.w / 2) / f.face.w);
    dy.push((f.face.y + f.face.h / 2 - b.y - b.h / 2) / f.face.h);
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`detected in ${found.length}/${rows.length} reframed faces; FER2013 frame = ${med(ratios).toFixed(3)}× the detected box side (median) `
    + `→ margin ${((med(ratios) - 1) / 2).toFixed(3)} per side reproduces it; frame centre − box centre: x ${(100 * med(dx)).toFixed(1)}%, y ${(100 * med(dy)).toFixed(1)}% of the side`);
  const labels = found.map((x) => x.r.label);
  const refFound = new Uint8Array(found.length * 48 * 48);
  found.forEach((x, i) => refFound.set(x.r.px, i * 48 * 48));
  console.log(`reference on those ${found.length}: ${(100 * acc(refFound, labels)).toFixed(1)}%`);
  const variants = (list, shifts) => {
    for (const shiftY of shifts) {
      const line = list.map((m) => {
        const faces = new Uint8Array(found.length * 48 * 48);
        found.forEach((x, i) => faces.set(cropFaces(x.f.gray, x.f.size, x.f.size, [x.b], m, true, shiftY), i * 48 * 48));
        return `${m.toFixed(3)}: ${(100 * acc(faces, labels)).toFixed(1)}%`;
      });
      console.log(`detector crop, centre shifted ${(100 * shiftY).toFixed(1)}% of the side, by margin: ${line.join('  ')}`);
    }
  };
  variants([0, 0.05, 0.076, 0.1, 0.15, 0.2, 0.3], [0, med(dy)]);

  // Faces tilted ±15° (rotated inside the frame): eye-line levelling on and off, at the chosen framing.
  const { defaultFraming } = fer();
  const fr = defaultFraming(engine);
  const sharp = require('sharp');
  const tilted = [];
  for (const [i, x] of found.entries()) {
    const deg = i % 2 ? 15 : -15;
    // sharp enlarges the canvas when rotating: keep its centre, the frame's size.
    const full = await sharp(Buffer.from(x.f.gray), { raw: { width: x.f.size, height: x.f.size, channels: 1 } })
      .rotate(deg, { background: { r: 0, g: 0, b: 0 } }).raw().toBuffer({ resolveWithObject: true });
    const ch = full.info.channels;
    const ox = Math.round((full.info.width - x.f.size) / 2);
    const oy = Math.round((full.info.height - x.f.size) / 2);
    const g = new Uint8Array(x.f.size * x.f.size);
    for (let yy = 0; yy < x.f.size; yy++) for (let xx = 0; xx < x.f.size; xx++) g[yy * x.f.size + xx] = full.data[((yy + oy) * full.info.width + xx + ox) * ch];
    const boxes = predictor.detector.detect(g, x.f.size, x.f.size, { minFace: 48 });
    if (boxes.length === 0) continue;
    const c = x.f.size / 2;
    const b = boxes.reduce((p, q) => (Math.hypot(q.x + q.w / 2 - c, q.y + q.h / 2 - c) < Math.hypot(p.x + p.w / 2 - c, p.y + p.h / 2 - c) ? q : p));
    tilted.push({ g, size: x.f.size, b, label: x.r.label });
  }
  for (const align of [false, true]) {
    const faces = new Uint8Array(tilted.length * 48 * 48);
    tilted.forEach((t, i) => faces.set(cropFaces(t.g, t.size, t.size, [t.b], fr.margin, align, fr.shiftY), i * 48 * 48));
    console.log(`faces tilted ±15° (${tilted.length} re-detected), framing ${JSON.stringify(fr)}, eye line ${align ? 'levelled' : 'left as is'}: ${(100 * acc(faces, tilted.map((t) => t.label))).toFixed(1)}%`);
  }
  predictor.dispose();
  console.log(`load now ${load()}`);
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
