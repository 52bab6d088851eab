import { CLASS_NAMES, ClassName, NUM_CLASSES } from '../data/classes';
import { argmax } from '../util/argmax';
import { Box } from '../vision/types';

/** One face in one frame: what `--csv` and `--jsonl` write, one row each. */
export interface FaceRow {
  /** Decoded-frame index (0-based; gaps are frames dropped by --realtime). */
  frame: number;
  /** Presentation time of the frame, seconds from the start of the input. */
  timeS: number;
  trackId: number;
  box: Box;
  label: ClassName;
  /** The label's (smoothed) score. */
  confidence: number;
  /** Smoothed softmax scores, FER2013 order. */
  scores: ArrayLike<number>;
}

const r6 = (x: number): number => Number(x.toFixed(6));

export const CSV_HEADER = ['frame', 'time_s', 'track_id', 'x', 'y', 'w', 'h', 'label', 'confidence', ...CLASS_NAMES].join(',');

export function csvRow(r: FaceRow): string {
  const { x, y, w, h } = r.box;
  const scores = Array.from({ length: NUM_CLASSES }, (_, k) => r6(r.scores[k]));
  return [r.frame, r6(r.timeS), r.trackId, x, y, w, h, r.label, r6(r.confidence), ...scores].join(',');
}

export function jsonRow(r: FaceRow): string {
  return JSON.stringify({
    frame: r.frame,
    time_s: r6(r.timeS),
    track_id: r.trackId,
    box: r.box,
    label: r.label,
    confidence: r6(r.confidence),
    scores: Object.fromEntries(CLASS_NAMES.map((c, k) => [c, r6(r.scores[k])])),
  });
}

/** Per-track result of a video: when the face was on screen and how its expression was distributed. */
export interface TrackSummary {
  trackId: number;
  firstFrame: number;
  lastFrame: number;
  firstTimeS: number;
  lastTimeS: number;
  /** Frames in which the face was shown. */
  frames: number;
  /** Screen time: the sum of those frames' durations. */
  seconds: number;
  /** The emotion labelled for the largest share of the track's screen time. */
  dominant: ClassName;
  /** Share of screen time per emotion label (sums to 1). */
  share: Record<ClassName, number>;
  /** Mean smoothed scores over the track's frames, time-weighted. */
  meanScores: Record<ClassName, number>;
}

interface TrackAcc {
  trackId: number;
  firstFrame: number;
  lastFrame: number;
  firstTimeS: number;
  lastTimeS: number;
  frames: number;
  seconds: number;
  labelTime: Float64Array;
  scoreTime: Float64Array;
  labelCount: Float64Array;
  scoreSum: Float64Array;
}

/**
 * Accumulates face rows into per-track summaries. Each row is weighted by its frame's duration (the gap to
 * the next frame), so shares are shares of time even for variable-frame-rate video.
 */
export class SummaryBuilder {
  private readonly tracks = new Map<number, TrackAcc>();
  private pending: FaceRow[] = [];
  private pendingTime: number | undefined;
  private lastDuration = 0;

  /** Add every face row of one frame (possibly none), in frame order. */
  addFrame(timeS: number, rows: FaceRow[]): void {
    if (this.pendingTime !== undefined) {
      const d = timeS - this.pendingTime;
      if (d > 0) this.lastDuration = d;
      this.flush(d > 0 ? d : this.lastDuration);
    }
    this.pending = rows;
    this.pendingTime = timeS;
  }

  private flush(duration: number): void {
    for (const r of this.pending) {
      let t = this.tracks.get(r.trackId);
      if (!t) {
        t = {
          trackId: r.trackId, firstFrame: r.frame, lastFrame: r.frame, firstTimeS: r.timeS, lastTimeS: r.timeS,
          frames: 0, seconds: 0, labelTime: new Float64Array(NUM_CLASSES), scoreTime: new Float64Array(NUM_CLASSES),
          labelCount: new Float64Array(NUM_CLASSES), scoreSum: new Float64Array(NUM_CLASSES),
        };
        this.tracks.set(r.trackId, t);
      }
      t.lastFrame = r.frame;
      t.lastTimeS = r.timeS;
      t.frames++;
      t.seconds += duration;
      const label = CLASS_NAMES.indexOf(r.label);
      t.labelTime[label] += duration;
      t.labelCount[label] += 1;
      for (let k = 0; k < NUM_CLASSES; k++) {
        t.scoreTime[k] += r.scores[k] * duration;
        t.scoreSum[k] += r.scores[k];
      }
    }
    this.pending = [];
  }

  /** Close the last frame (its duration: `lastFrameS`, else the previous frame's) and summarise. */
  finish(lastFrameS?: number): TrackSummary[] {
    if (this.pendingTime !== undefined) this.flush(lastFrameS ?? this.lastDuration);
    this.pendingTime = undefined;
    return [...this.tracks.values()].sort((a, b) => a.trackId - b.trackId).map((t) => {
      // No duration known (a one-frame input): weigh frames equally instead.
      const timed = t.seconds > 0;
      const total = timed ? t.seconds : t.frames;
      const labelW = timed ? t.labelTime : t.labelCount;
      const scoreW = timed ? t.scoreTime : t.scoreSum;
      const best = argmax(labelW);
      const share = {} as Record<ClassName, number>;
      const meanScores = {} as Record<ClassName, number>;
      CLASS_NAMES.forEach((c, k) => {
        share[c] = r6(labelW[k] / total);
        meanScores[c] = r6(scoreW[k] / total);
      });
      return {
        trackId: t.trackId, firstFrame: t.firstFrame, lastFrame: t.lastFrame, firstTimeS: r6(t.firstTimeS), lastTimeS: r6(t.lastTimeS),
        frames: t.frames, seconds: r6(t.seconds), dominant: CLASS_NAMES[best], share, meanScores,
      };
    });
  }
}
