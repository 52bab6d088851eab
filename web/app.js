// fer live page: webcam → JPEG frames → POST /v1/predict on this server → boxes, emotion bars, per-person timeline.
// Plain browser JavaScript, no build step. One request is in flight at a time, so the frame rate adapts to the
// round trip; the server batches the faces of every open page together.
'use strict';

const CLASSES = ['Angry', 'Disgust', 'Fear', 'Happy', 'Sad', 'Surprise', 'Neutral'];
const COLORS = { Angry: '#e53935', Disgust: '#8e24aa', Fear: '#5e35b1', Happy: '#fdd835', Sad: '#1e88e5', Surprise: '#fb8c00', Neutral: '#9e9e9e' };
const TIMELINE_S = 60;
const ROW = 18;

const $ = (id) => document.getElementById(id);
const video = $('video');
const overlay = $('overlay');
const ctx = overlay.getContext('2d');
const grab = document.createElement('canvas');
const gctx = grab.getContext('2d');

/** Live state, also read by the browser test. */
const state = { running: false, faces: [], fps: 0, latencyMs: 0, frames: 0, errors: 0, people: new Map(), nextId: 1 };
window.ferLive = state;

$('token').value = localStorage.getItem('fer-token') || '';
$('token').addEventListener('change', () => localStorage.setItem('fer-token', $('token').value));
$('legend').innerHTML = CLASSES.map((c) => `<span><i style="background:${COLORS[c]}"></i>${c}</span>`).join('');

function setStatus(text, isError) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : '';
}

function iou(a, b) {
  const x1 = Math.max(a.x, b.x); const y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.w, b.x + b.w); const y2 = Math.min(a.y + a.h, b.y + b.h);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  return inter / (a.w * a.h + b.w * b.h - inter || 1);
}

/** Greedy IoU matching of this frame's faces to the people seen in the last 2 s: ids stay with a person. */
function track(faces, t) {
  const open = [...state.people.values()].filter((p) => t - p.lastSeen < 2000);
  const pairs = [];
  faces.forEach((f, i) => open.forEach((p) => { const v = iou(f.box, p.box); if (v > 0.2) pairs.push([v, i, p]); }));
  pairs.sort((a, b) => b[0] - a[0]);
  const usedF = new Set(); const usedP = new Set();
  for (const [, i, p] of pairs) {
    if (usedF.has(i) || usedP.has(p.id)) continue;
    usedF.add(i); usedP.add(p.id); faces[i].id = p.id;
  }
  faces.forEach((f, i) => {
    if (!usedF.has(i)) {
      f.id = state.nextId++;
      state.people.set(f.id, { id: f.id, samples: [], box: f.box, lastSeen: t, first: t });
    }
    const p = state.people.get(f.id);
    p.box = f.box; p.lastSeen = t; p.label = f.label; p.confidence = f.scores[f.label];
    p.samples.push({ t, label: f.label });
    while (p.samples.length > 0 && t - p.samples[0].t > TIMELINE_S * 1000) p.samples.shift();
  });
}

function drawFrame() {
  if (!state.running) return;
  if (video.videoWidth > 0) {
    if (overlay.width !== video.videoWidth) { overlay.width = video.videoWidth; overlay.height = video.videoHeight; }
    ctx.drawImage(video, 0, 0);
    ctx.lineWidth = 3;
    ctx.font = '16px system-ui, sans-serif';
    for (const f of state.faces) {
      const { x, y, w, h } = f.box;
      const col = COLORS[f.label];
      ctx.strokeStyle = col;
      ctx.strokeRect(x, y, w, h);
      const text = `#${f.id} ${f.label} ${Math.round(f.scores[f.label] * 100)}%`;
      const tw = ctx.measureText(text).width + 8;
      ctx.fillStyle = col;
      ctx.fillRect(x, Math.max(0, y - 22), tw, 22);
      ctx.fillStyle = '#000';
      ctx.fillText(text, x + 4, Math.max(16, y - 6));
      // Emotion bars beside the box.
      const bx = x + w + 6 + 70 > overlay.width ? Math.max(0, x - 76) : x + w + 6;
      CLASSES.forEach((c, k) => {
        const by = y + k * 14;
        ctx.fillStyle = 'rgba(0,0,0,0.55)';
        ctx.fillRect(bx, by, 70, 12);
        ctx.fillStyle = COLORS[c];
        ctx.fillRect(bx, by, Math.round(70 * f.scores[c]), 12);
      });
    }
  }
  drawTimeline();
  requestAnimationFrame(drawFrame);
}

function drawTimeline() {
  const tl = $('timeline');
  const people = [...state.people.values()].sort((a, b) => a.id - b.id).slice(-8);
  const height = Math.max(40, people.length * ROW + 4);
  if (tl.height !== height) tl.height = height;
  const t = tl.getContext('2d');
  t.fillStyle = '#222'; t.fillRect(0, 0, tl.width, tl.height);
  const now = performance.now();
  const left = 34; const span = tl.width - left;
  t.font = '11px system-ui, sans-serif';
  people.forEach((p, r) => {
    t.fillStyle = '#ccc'; t.fillText(`#${p.id}`, 4, r * ROW + 13);
    for (let i = 0; i < p.samples.length; i++) {
      const s = p.samples[i];
      const next = i + 1 < p.samples.length ? p.samples[i + 1].t : Math.min(now, s.t + 500);
      const x0 = left + span * (1 - (now - s.t) / (TIMELINE_S * 1000));
      const x1 = left + span * (1 - (now - Math.min(next, s.t + 1000)) / (TIMELINE_S * 1000));
      t.fillStyle = COLORS[s.label]; t.fillRect(x0, r * ROW + 3, Math.max(1, x1 - x0), ROW - 6);
    }
  });
}

function renderPeople() {
  const t = performance.now();
  const rows = [...state.people.values()].filter((p) => t - p.lastSeen < 2000).map((p) => {
    const total = p.samples.length || 1;
    const counts = {}; p.samples.forEach((s) => { counts[s.label] = (counts[s.label] || 0) + 1; });
    const top = Object.entries(counts).sort((a, b) => b[1] - a[1])[0];
    return `<li data-id="${p.id}" class="person">#${p.id} <b class="label">${p.label}</b> ${Math.round(p.confidence * 100)}% · mostly ${top[0]} (${Math.round(100 * top[1] / total)}% of ${((t - p.first) / 1000).toFixed(0)} s)</li>`;
  });
  $('people').innerHTML = rows.join('');
}

async function analyse() {
  const times = [];
  while (state.running) {
    if (video.videoWidth === 0) { await new Promise((r) => setTimeout(r, 50)); continue; }
    const sendW = Math.min(Number($('width').value), video.videoWidth);
    const scale = sendW / video.videoWidth;
    grab.width = sendW; grab.height = Math.round(video.videoHeight * scale);
    gctx.drawImage(video, 0, 0, grab.width, grab.height);
    const blob = await new Promise((r) => grab.toBlob(r, 'image/jpeg', 0.85));
    const t0 = performance.now();
    let res;
    try {
      const headers = { 'content-type': 'image/jpeg' };
      const token = $('token').value.trim();
      if (token) headers.authorization = `Bearer ${token}`;
      res = await fetch('/v1/predict?name=webcam', { method: 'POST', headers, body: blob });
    } catch (e) {
      state.errors++; setStatus(`server unreachable: ${e.message}`, true);
      await new Promise((r) => setTimeout(r, 1000)); continue;
    }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      state.errors++;
      setStatus(`${res.status}: ${body.error ? body.error.message : res.statusText}`, true);
      await new Promise((r) => setTimeout(r, res.status === 429 ? 200 : 1000)); continue;
    }
    const t1 = performance.now();
    const faces = body[0].faces.map((f) => ({ ...f, box: { x: f.box.x / scale, y: f.box.y / scale, w: f.box.w / scale, h: f.box.h / scale } }));
    track(faces, t1);
    state.faces = faces;
    state.frames++;
    state.latencyMs = t1 - t0;
    times.push(t1);
    while (times.length > 0 && t1 - times[0] > 2000) times.shift();
    if (times.length > 1) state.fps = (times.length - 1) / ((times[times.length - 1] - times[0]) / 1000);
    $('fps').textContent = `${state.fps.toFixed(1)} fps`;
    $('latency').textContent = `${Math.round(state.latencyMs)} ms`;
    $('count').textContent = `${faces.length} face${faces.length === 1 ? '' : 's'}`;
    setStatus(`analysing ${grab.width}×${grab.height} frames on the server`);
    renderPeople();
  }
}

async function start() {
  if (state.running) return;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    video.srcObject = stream;
    await video.play();
  } catch (e) {
    setStatus(`camera: ${e.name === 'NotAllowedError' ? 'permission denied' : e.message || e.name}`, true);
    return;
  }
  state.running = true;
  $('start').disabled = true; $('stop').disabled = false;
  requestAnimationFrame(drawFrame);
  analyse();
}

function stop() {
  state.running = false;
  if (video.srcObject) video.srcObject.getTracks().forEach((t) => t.stop());
  video.srcObject = null;
  $('start').disabled = false; $('stop').disabled = true;
  setStatus('stopped');
}

$('start').addEventListener('click', start);
$('stop').addEventListener('click', stop);
if (new URLSearchParams(location.search).has('autostart')) start();
