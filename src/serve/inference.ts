import sharp from 'sharp';
import { BitmapError, bitmapSize } from '../vision/bitmap';
import { FileResult } from '../vision/batch';
import { LoadedImage, decodeImage } from '../vision/image';
import { Predictor, scoresRecord, topClass } from '../vision/predict';
import { DetectOptions, FacePrediction } from '../vision/types';
import { HttpError } from './errors';
import { MicroBatcher, MicroBatcherOptions } from './batcher';

export interface ImageAnalyzerOptions {
  predictor: Predictor;
  /** Largest image accepted, in pixels (default 40 M). */
  maxPixels?: number;
  batch?: MicroBatcherOptions;
}

/**
 * Decode, detect and classify uploaded images with one shared predictor. Detection runs on the predictor's
 * detection thread; classification of the faces of concurrent requests is batched (MicroBatcher). A lone
 * request's faces are classified in one call, as `fer predict` classifies one image's faces, so its JSON is
 * the command's.
 */
export class ImageAnalyzer {
  readonly batcher: MicroBatcher;
  readonly maxPixels: number;

  constructor(readonly o: ImageAnalyzerOptions) {
    this.maxPixels = o.maxPixels ?? 40_000_000;
    this.batcher = new MicroBatcher((faces, n) => o.predictor.classify(faces, n), o.batch);
  }

  /**
   * Decode an uploaded image. 415 when it is not an image format we read, 413 over the pixel limit, 400 when
   * the header is fine but the data is truncated or corrupt.
   */
  async decode(body: Buffer, name: string): Promise<LoadedImage> {
    if (body.length === 0) throw new HttpError(400, 'empty_body', `${name}: empty body: send the image bytes`);
    let size: { width: number; height: number } | undefined;
    try {
      size = bitmapSize(body);
      if (!size) {
        const meta = await sharp(body, { limitInputPixels: false }).metadata();
        size = { width: meta.width ?? 0, height: meta.pageHeight ?? meta.height ?? 0 };
      }
    } catch (e) {
      if (e instanceof BitmapError) throw new HttpError(400, 'bad_image', `${name}: not a readable image (${e.message})`);
      throw new HttpError(415, 'unsupported_media', `${name}: not an image format fer reads (jpeg, png, webp, gif, tiff, avif, bmp, pgm/ppm/pbm)`);
    }
    const pixels = size.width * size.height;
    if (pixels > this.maxPixels) {
      throw new HttpError(413, 'too_many_pixels', `${name}: ${size.width}×${size.height} is ${pixels} pixels; the limit is ${this.maxPixels}`);
    }
    try {
      return await decodeImage(body, name);
    } catch (e) {
      throw new HttpError(400, 'bad_image', (e as Error).message.split('\n')[0]);
    }
  }

  /** Faces of a decoded image, as FileResult (what `fer predict` builds its JSON from). */
  async analyze(img: LoadedImage, name: string, detect?: DetectOptions): Promise<FileResult> {
    const t0 = performance.now();
    const boxes = await this.o.predictor.detectAsync(img.gray, img.width, img.height, detect);
    // The predictor's own framing (margin, centre shift, eye-line alignment), as `fer predict` crops.
    const crops = this.o.predictor.cropBoxes(img.gray, img.width, img.height, boxes);
    const scores = await this.batcher.run(crops, boxes.length);
    const faces: FacePrediction[] = boxes.map((box, i) => ({ box, label: topClass(scores, i).label, scores: scoresRecord(scores, i) }));
    return { file: name, width: img.width, height: img.height, faces, ms: performance.now() - t0 };
  }

  close(): void {
    this.batcher.close();
  }
}
