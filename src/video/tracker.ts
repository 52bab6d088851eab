import { Box } from '../vision/types';

/** Intersection over union of two boxes (0 when they do not overlap). */
export function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

export interface Track {
  /** Stable id, from 1, never reused within a video. */
  id: number;
  /** The box of the last detection matched to this track. */
  box: Box;
  /** Frame index of that detection. */
  lastSeen: number;
  /** Smoothed class scores (exponential moving average), once the track has been classified. */
  scores?: Float32Array;
  /**
   * Detection rounds in a row this track was not detected in (0: detected in the last round). A confirmed
   * track is still reported, its box moved on at its last velocity, for up to `maxMissed` such rounds.
   */
  missed?: number;
}

export interface TrackerOptions {
  /** Minimum IoU for a detection to continue a track. */
  iouThreshold?: number;
  /** A track not seen for more than this many frames is forgotten; a face back within it keeps its id. */
  memoryFrames?: number;
  /**
   * A new face is reported once it has been detected in this many consecutive detection rounds (SORT's
   * min_hits): a detector's one-off false positives never become tracks. In the first rounds of a video
   * faces are reported at once, so those present from the start lose no frames. 1 = report every detection.
   */
  minHits?: number;
  /**
   * A confirmed face missed by the detector is still reported for this many detection rounds (SORT's
   * max_age), its box moved at its last velocity: one-frame detector misses do not make it blink. 0 = off.
   */
  maxMissed?: number;
}

/** A track before it is confirmed has id 0; `streak` counts consecutive detection rounds it was matched in. */
type Candidate = Track & { streak: number; vx: number; vy: number };

/**
 * Gives faces stable ids across frames by greedy IoU matching of each detection round with the tracks of
 * the previous rounds. Between detection rounds (`--every N`) the matched boxes are carried unchanged.
 */
export class FaceTracker {
  private readonly tracks: Candidate[] = [];
  private active: Track[] = [];
  private nextId = 1;
  private rounds = 0;
  private readonly iouThreshold: number;
  private readonly memoryFrames: number;
  private readonly minHits: number;
  private readonly maxMissed: number;

  constructor(opts: TrackerOptions = {}) {
    this.iouThreshold = opts.iouThreshold ?? 0.3;
    this.memoryFrames = opts.memoryFrames ?? 25;
    this.minHits = opts.minHits ?? 1;
    this.maxMissed = opts.maxMissed ?? 2;
  }

  /** Match this frame's detections to tracks; returns the confirmed tracks visible now, in detection order. */
  update(boxes: Box[], frame: number): Track[] {
    for (let i = this.tracks.length - 1; i >= 0; i--) {
      if (frame - this.tracks[i].lastSeen > this.memoryFrames) this.tracks.splice(i, 1);
    }
    const pairs: { t: number; d: number; iou: number }[] = [];
    this.tracks.forEach((track, t) => {
      boxes.forEach((box, d) => {
        const v = iou(track.box, box);
        if (v >= this.iouThreshold) pairs.push({ t, d, iou: v });
      });
    });
    // Best overlaps first; ties go to the more recently seen track.
    pairs.sort((p, q) => q.iou - p.iou || this.tracks[q.t].lastSeen - this.tracks[p.t].lastSeen);
    const trackFor = new Array<Candidate | undefined>(boxes.length);
    const usedTracks = new Set<number>();
    for (const p of pairs) {
      if (usedTracks.has(p.t) || trackFor[p.d]) continue;
      usedTracks.add(p.t);
      trackFor[p.d] = this.tracks[p.t];
    }
    this.tracks.forEach((track, t) => {
      if (usedTracks.has(t)) return;
      track.streak = 0;
      track.missed = (track.missed ?? 0) + 1;
    });
    const early = this.rounds < this.minHits - 1;
    this.rounds++;
    const matched = boxes.map((box, d) => {
      let track = trackFor[d];
      if (!track) {
        track = { id: 0, box, lastSeen: frame, streak: 0, vx: 0, vy: 0 };
        this.tracks.push(track);
      } else {
        // Velocity per detection round, from box centres (a carried box already moved on), for carrying
        // the box through a miss.
        track.vx = box.x + box.w / 2 - track.box.x - track.box.w / 2;
        track.vy = box.y + box.h / 2 - track.box.y - track.box.h / 2;
      }
      track.missed = 0;
      track.box = box;
      track.lastSeen = frame;
      track.streak++;
      // Ids are handed out on confirmation, so the reported ones run 1, 2, 3… without gaps.
      if (track.id === 0 && (early || track.streak >= this.minHits)) track.id = this.nextId++;
      return track;
    });
    this.active = matched.filter((t) => t.id !== 0);
    // Confirmed faces the detector missed this round: carried (SORT), moved at their last velocity.
    for (const track of this.tracks) {
      if (track.id === 0 || matched.includes(track) || (track.missed ?? 0) > this.maxMissed) continue;
      track.box = { ...track.box, x: Math.round(track.box.x + track.vx), y: Math.round(track.box.y + track.vy) };
      this.active.push(track);
    }
    return this.active;
  }

  /** The tracks matched at the last detection round (what a frame without detection shows). */
  current(): Track[] {
    return this.active;
  }
}

/**
 * Exponential moving average of class scores: `alpha` is the weight of the new frame (1 = no smoothing).
 * Updates `track.scores` in place and returns it.
 */
export function smoothScores(track: Track, raw: ArrayLike<number>, alpha: number): Float32Array {
  if (!track.scores) {
    track.scores = Float32Array.from(raw);
    return track.scores;
  }
  const s = track.scores;
  for (let i = 0; i < s.length; i++) s[i] = alpha * raw[i] + (1 - alpha) * s[i];
  return s;
}
