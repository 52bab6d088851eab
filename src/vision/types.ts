import { ClassName } from '../data/classes';

/** A face box in the pixel coordinates of the original image. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface DetectOptions {
  /** Detect on a copy downscaled so its long side is at most this many pixels; boxes are mapped back. */
  detectSize?: number;
  /** Smallest face side, in original-image pixels. */
  minFace?: number;
  scaleFactor?: number;
  minNeighbors?: number;
}

/** A Haar face detector on 8-bit grey images (row-major, width × height bytes). */
export interface FaceDetector {
  readonly engine: 'wasm' | 'native';
  detect(gray: Uint8Array, width: number, height: number, opts?: DetectOptions): Box[];
  dispose(): void;
}

export interface FacePrediction {
  box: Box;
  label: ClassName;
  /** Softmax scores keyed by class name, summing to 1. */
  scores: Record<ClassName, number>;
}
