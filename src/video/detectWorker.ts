// Worker thread body: a Haar detector of its own, answering { id, gray, width, height, opts } with { id, boxes }.
// See detectPool.ts for why detection runs here.
import { parentPort, workerData } from 'worker_threads';
import { DetectorEngine, createDetector } from '../vision/detector';
import { DetectOptions } from '../vision/types';

interface Job {
  id: number;
  gray: Uint8Array;
  width: number;
  height: number;
  opts: DetectOptions;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) return;
  let detector;
  try {
    detector = await createDetector((workerData as { engine: DetectorEngine }).engine);
  } catch (e) {
    port.postMessage({ id: -1, error: (e as Error).message });
    return;
  }
  port.postMessage({ id: 0, ready: detector.engine });
  port.on('message', (job: Job | null) => {
    if (job === null) {
      detector.dispose();
      port.close();
      return;
    }
    try {
      port.postMessage({ id: job.id, boxes: detector.detect(job.gray, job.width, job.height, job.opts) });
    } catch (e) {
      port.postMessage({ id: job.id, error: (e as Error).message });
    }
  });
}

void main();
