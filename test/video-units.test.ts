import { FaceTracker, iou, smoothScores } from '../src/video/tracker';
import { CSV_HEADER, FaceRow, SummaryBuilder, csvRow, jsonRow } from '../src/video/rows';
import { lastErrorLine, parseProbe, resolveSource } from '../src/video/ffmpeg';
import { outputContainer } from '../src/video/encoder';
import { mkvFramePrefix, mkvHeader } from '../src/video/mkv';
import { CLASS_NAMES } from '../src/data/classes';

const box = (x: number, y: number, w = 100, h = 100) => ({ x, y, w, h });

describe('iou', () => {
  it('is 1 for identical boxes, 0 for disjoint ones, and the overlap ratio otherwise', () => {
    expect(iou(box(0, 0), box(0, 0))).toBe(1);
    expect(iou(box(0, 0), box(200, 0))).toBe(0);
    // Half shifted: intersection 50×100, union 150×100.
    expect(iou(box(0, 0), box(50, 0))).toBeCloseTo(1 / 3, 10);
  });
});

describe('FaceTracker', () => {
  it('keeps ids for moving faces, gives new faces new ids, and matches greedily by overlap', () => {
    const t = new FaceTracker({ memoryFrames: 5 });
    const a0 = t.update([box(0, 0), box(300, 0)], 0).map((tr) => tr.id);
    expect(a0).toEqual([1, 2]);
    // Both faces moved a little; detector order swapped; a third face appears.
    const a1 = t.update([box(310, 5), box(600, 0), box(8, 4)], 1).map((tr) => tr.id);
    expect(a1).toEqual([2, 3, 1]);
    // Between detection rounds the last boxes are carried.
    expect(t.current().map((tr) => tr.box)).toEqual([box(310, 5), box(600, 0), box(8, 4)]);
  });

  it('remembers a lost face for memoryFrames, then forgets it', () => {
    const t = new FaceTracker({ memoryFrames: 3, maxMissed: 0 });
    t.update([box(0, 0)], 0);
    expect(t.update([], 1)).toEqual([]);
    expect(t.current()).toEqual([]);
    expect(t.update([box(5, 5)], 3)[0].id).toBe(1);
    t.update([], 4);
    // Last seen at 3; at frame 8 it is 5 frames old (> 3): a new id.
    expect(t.update([box(5, 5)], 8)[0].id).toBe(2);
  });

  it('does not match boxes whose overlap is below the threshold', () => {
    const t = new FaceTracker({ iouThreshold: 0.5 });
    t.update([box(0, 0)], 0);
    // IoU 1/3 < 0.5: a different face.
    expect(t.update([box(50, 0)], 1)[0].id).toBe(2);
  });
});

describe('FaceTracker carries a face through missed detections (SORT max_age)', () => {
  it('reports a confirmed face for maxMissed rounds without a detection, moved at its last velocity, then drops it', () => {
    const t = new FaceTracker({ maxMissed: 2 });
    t.update([box(0, 0)], 0);
    t.update([box(10, 0)], 1);
    // Missed twice: still reported with id 1, moving 10 px a round.
    expect(t.update([], 2).map((tr) => [tr.id, tr.box.x, tr.missed])).toEqual([[1, 20, 1]]);
    expect(t.update([], 3).map((tr) => [tr.id, tr.box.x, tr.missed])).toEqual([[1, 30, 2]]);
    // A third miss: gone from the report...
    expect(t.update([], 4)).toEqual([]);
    // ...but back within memoryFrames it keeps its id.
    expect(t.update([box(40, 0)], 5).map((tr) => [tr.id, tr.missed])).toEqual([[1, 0]]);
  });

  it('a one-off candidate is not carried; a face missed past maxMissed leaves the report and keeps its id when back', () => {
    const t = new FaceTracker({ minHits: 3, maxMissed: 1 });
    for (let f = 0; f < 3; f++) t.update([box(0, 0)], f);
    // A one-off detection elsewhere (unconfirmed) and a miss of the real face.
    expect(t.update([box(400, 0)], 3).map((tr) => tr.id)).toEqual([1]);
    expect(t.update([], 4).map((tr) => tr.id)).toEqual([]);
    expect(t.update([box(2, 0)], 5).map((tr) => tr.id)).toEqual([1]);
  });
});

describe('FaceTracker with minHits', () => {
  const ids = (tracks: { id: number }[]): number[] => tracks.map((tr) => tr.id);

  it('reports a new face only after minHits consecutive rounds; faces of the first rounds at once', () => {
    const t = new FaceTracker({ memoryFrames: 25, minHits: 3 });
    expect(ids(t.update([box(0, 0)], 0))).toEqual([1]);
    expect(ids(t.update([box(2, 0)], 1))).toEqual([1]);
    // From round 3 on a newcomer waits: seen in rounds 2 and 3, reported in round 4 with the next free id.
    expect(ids(t.update([box(4, 0), box(300, 0)], 2))).toEqual([1]);
    expect(ids(t.update([box(6, 0), box(302, 0)], 3))).toEqual([1]);
    expect(ids(t.update([box(8, 0), box(304, 0)], 4))).toEqual([1, 2]);
    // Once confirmed, a face stays reported even after a missed round.
    t.update([box(10, 0)], 5);
    expect(ids(t.update([box(12, 0), box(306, 0)], 6))).toEqual([1, 2]);
  });

  it('never reports a detection that keeps reappearing without two rounds in a row', () => {
    const t = new FaceTracker({ memoryFrames: 25, minHits: 2 });
    t.update([box(0, 0)], 0);
    const seen: number[][] = [];
    for (let f = 1; f < 20; f++) seen.push(ids(t.update(f % 3 === 0 ? [box(f, 0), box(400, 0)] : [box(f, 0)], f)));
    expect(seen.every((s) => s.length === 1 && s[0] === 1)).toBe(true);
    // Two rounds in a row: now it is a face, with id 2 (no id was spent on the unconfirmed one).
    t.update([box(20, 0), box(400, 0)], 20);
    expect(ids(t.update([box(21, 0), box(401, 0)], 21))).toEqual([1, 2]);
  });
});

describe('smoothScores', () => {
  it('starts from the first scores and then moves by alpha towards each new frame', () => {
    const track = { id: 1, box: box(0, 0), lastSeen: 0 };
    expect(Array.from(smoothScores(track, [1, 0, 0, 0, 0, 0, 0], 0.25))).toEqual([1, 0, 0, 0, 0, 0, 0]);
    const s = smoothScores(track, [0, 1, 0, 0, 0, 0, 0], 0.25);
    expect(s[0]).toBeCloseTo(0.75, 6);
    expect(s[1]).toBeCloseTo(0.25, 6);
    // alpha 1 = no smoothing.
    expect(Array.from(smoothScores(track, [0, 0, 1, 0, 0, 0, 0], 1))).toEqual([0, 0, 1, 0, 0, 0, 0]);
  });
});

function row(frame: number, timeS: number, trackId: number, label: (typeof CLASS_NAMES)[number]): FaceRow {
  const scores = CLASS_NAMES.map((c) => (c === label ? 0.7 : 0.05));
  return { frame, timeS, trackId, box: box(1, 2, 3, 4), label, confidence: 0.7, scores };
}

describe('SummaryBuilder', () => {
  it('weights each frame by its duration, so shares are shares of screen time (variable frame rate)', () => {
    const s = new SummaryBuilder();
    s.addFrame(0, [row(0, 0, 1, 'Happy')]);
    // Frame 0 lasts 0.3 s, frame 1 lasts 0.1 s, the last frame gets the previous duration (0.1 s).
    s.addFrame(0.3, [row(1, 0.3, 1, 'Sad'), row(1, 0.3, 2, 'Angry')]);
    s.addFrame(0.4, [row(2, 0.4, 1, 'Sad')]);
    const [t1, t2] = s.finish();
    expect(t1.trackId).toBe(1);
    expect(t1.frames).toBe(3);
    expect(t1.seconds).toBeCloseTo(0.5, 6);
    expect(t1.share.Happy).toBeCloseTo(0.6, 6);
    expect(t1.share.Sad).toBeCloseTo(0.4, 6);
    expect(t1.dominant).toBe('Happy');
    expect(Object.values(t1.share).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(t1.meanScores.Happy).toBeCloseTo(0.6 * 0.7 + 0.4 * 0.05, 6);
    expect([t1.firstFrame, t1.lastFrame, t1.firstTimeS, t1.lastTimeS]).toEqual([0, 2, 0, 0.4]);
    expect(t2).toMatchObject({ trackId: 2, frames: 1, dominant: 'Angry', firstFrame: 1, lastFrame: 1 });
    expect(t2.seconds).toBeCloseTo(0.1, 6);
  });

  it('falls back to counting frames when no duration is known (one frame)', () => {
    const s = new SummaryBuilder();
    s.addFrame(0, [row(0, 0, 1, 'Fear')]);
    const [t] = s.finish();
    expect(t.dominant).toBe('Fear');
    expect(t.share.Fear).toBe(1);
  });
});

describe('rows', () => {
  it('writes CSV rows matching the header and JSON rows with box and named scores', () => {
    const r = row(7, 0.28, 3, 'Surprise');
    const cols = CSV_HEADER.split(',');
    const vals = csvRow(r).split(',');
    expect(vals).toHaveLength(cols.length);
    const rec = Object.fromEntries(cols.map((c, i) => [c, vals[i]]));
    expect(rec).toMatchObject({ frame: '7', time_s: '0.28', track_id: '3', x: '1', y: '2', w: '3', h: '4', label: 'Surprise', Surprise: '0.7', Angry: '0.05' });
    const j = JSON.parse(jsonRow(r));
    expect(j).toMatchObject({ frame: 7, time_s: 0.28, track_id: 3, box: { x: 1, y: 2, w: 3, h: 4 }, label: 'Surprise', confidence: 0.7 });
    expect(Object.keys(j.scores)).toEqual([...CLASS_NAMES]);
  });
});

describe('parseProbe', () => {
  const probe = (streams: object[], format: object = {}) => JSON.stringify({ streams, format });
  const h264 = { codec_type: 'video', codec_name: 'h264', width: 640, height: 480, r_frame_rate: '25/1', avg_frame_rate: '25/1', time_base: '1/12800', nb_frames: '75', duration: '3.0' };

  it('reads size, rate, frames, time base and audio', () => {
    const v = parseProbe(probe([h264, { codec_type: 'audio', codec_name: 'aac' }]), 'a.mp4');
    expect(v).toMatchObject({ width: 640, height: 480, rotation: 0, fps: 25, frameCount: 75, durationS: 3, timeBaseDen: 12800, audioCodec: 'aac', sar: 1 });
  });

  it('swaps width and height for rotated phone video (old tag and new side data)', () => {
    expect(parseProbe(probe([{ ...h264, tags: { rotate: '90' } }]), 'a.mp4')).toMatchObject({ width: 480, height: 640, rotation: 90 });
    expect(parseProbe(probe([{ ...h264, side_data_list: [{ rotation: -90 }] }]), 'a.mp4')).toMatchObject({ width: 480, height: 640, rotation: 270 });
    expect(parseProbe(probe([{ ...h264, side_data_list: [{ rotation: 180 }] }]), 'a.mp4')).toMatchObject({ width: 640, height: 480 });
  });

  it('names the file when there is no video stream (audio only, or only cover art)', () => {
    expect(() => parseProbe(probe([{ codec_type: 'audio', codec_name: 'mp3' }]), 'song.mp3')).toThrow('song.mp3: no video stream');
    expect(() => parseProbe(probe([{ ...h264, codec_name: 'mjpeg', disposition: { attached_pic: 1 } }]), 'song.m4a')).toThrow('song.m4a: no video stream');
  });
});

describe('inputs and outputs', () => {
  it('classifies files, webcams and stream URLs, and names a missing file', () => {
    expect(resolveSource('rtsp://cam.local/s')).toMatchObject({ kind: 'stream', inputOptions: ['-rtsp_transport', 'tcp'] });
    expect(resolveSource('https://example.com/live.m3u8')).toMatchObject({ kind: 'stream', inputOptions: [] });
    expect(() => resolveSource('/no/such/clip.mp4')).toThrow('/no/such/clip.mp4: no such file or directory');
    expect(() => resolveSource(__dirname)).toThrow(/is a directory/);
  });

  it('accepts mp4/mov/mkv outputs and rejects other extensions with the file name', () => {
    expect(outputContainer('a.MP4').format).toBe('mp4');
    expect(outputContainer('a.mkv').format).toBe('matroska');
    expect(() => outputContainer('a.gif')).toThrow('a.gif: unsupported output type');
  });

  it('keeps the meaningful line of ffmpeg stderr', () => {
    expect(lastErrorLine('[info] x\n[error] in.mp4: corrupt input packet in stream 0\n[fatal] Conversion failed!\n')).toBe('in.mp4: corrupt input packet in stream 0');
  });
});

describe('mkv', () => {
  it('frames each picture in its own cluster whose declared size covers the frame bytes that follow', () => {
    const prefix = mkvFramePrefix(40000, 12);
    // Cluster id, then an 8-byte size: everything after the size field, including the 12 frame bytes.
    expect(prefix.subarray(0, 4)).toEqual(Buffer.from([0x1f, 0x43, 0xb6, 0x75]));
    const size = Number(prefix.readBigUInt64BE(4) & 0x00ffffffffffffffn);
    expect(size).toBe(prefix.length - 4 - 8 + 12);
    expect(mkvHeader(4, 2).includes(Buffer.from('V_UNCOMPRESSED'))).toBe(true);
  });
});
