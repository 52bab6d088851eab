import { ClassName } from '../data/classes';

/** A face box in the pixel coordinates of the original image. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
  /** Detector confidence in [0, 1] (the CNN's sigmoid score; Haar boxes get 1). */
  score?: number;
  /**
   * Facial landmarks in image pixels when the detector gives them (BlazeFace: the subject's right eye, left
   * eye, nose tip, mouth centre, right ear tragion, left ear tragion).
   */
  landmarks?: [number, number][];
}

export interface DetectOptions {
  /** Detect on a copy downscaled so its long side is at most this many pixels; boxes are mapped back. */
  detectSize?: number;
  /**
   * Smallest face side, in original-image pixels; 'auto' (the default): 48 px, or 1/48 of the long side on
   * photos larger than 2304 px (AUTO_MIN_FACE_FRACTION).
   */
  minFace?: number | 'auto';
  scaleFactor?: number;
  minNeighbors?: number;
  /** CNN detectors: keep faces scoring at least this (0..1). Haar boxes have no score and are all kept. */
  minScore?: number;
  /** NMS: boxes overlapping a better one by at least this IoU are the same face. */
  nmsIou?: number;
}

/** Which detector produced the boxes: the seeds' Haar cascade (OpenCV.js or native OpenCV) or a CNN. */
export type EngineName = 'wasm' | 'native' | 'blazeface' | 'mediapipe-short' | 'mediapipe-full';

/** A face detector on 8-bit grey images (row-major, width × height bytes). */
export interface FaceDetector {
  readonly engine: EngineName;
  detect(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): Box[];
  dispose(): void;
}

export interface FacePrediction {
  box: Box;
  label: ClassName;
  /** Softmax scores keyed by class name, summing to 1. */
  scores: Record<ClassName, number>;
}
