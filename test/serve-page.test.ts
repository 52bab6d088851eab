import * as fs from 'fs';
import * as path from 'path';
import puppeteer, { Browser } from 'puppeteer-core';
import { FIXTURES, tmpDir } from './helpers';
import { Proc, ffmpeg, startFer, stopProc, which } from './serve-helpers';
import { CLASS_NAMES } from '../src/data/classes';

// Browser globals used inside page.evaluate/waitForFunction (test/ is type-checked without the DOM library).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const window: any, document: any;

/**
 * The live page at / in a real headless Chromium (Debian `chromium`, driven by puppeteer-core): its camera is
 * Chromium's fake capture device fed from a clip made of the bundled pan video, and frames go to a real
 * `fer serve` with the shipped models.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? which('chromium') ?? which('chromium-browser');
const MODELS = path.resolve(__dirname, '..', 'checkpoints');

interface LiveState {
  running: boolean;
  frames: number;
  fps: number;
  errors: number;
  faces: { id: number; label: string; box: { x: number; y: number; w: number; h: number }; scores: Record<string, number> }[];
}

if (!CHROMIUM) {
  // eslint-disable-next-line no-console
  console.warn('skipping "live page in Chromium": chromium not found on PATH (Debian: apt-get install -y chromium)');
  describe.skip('live page in Chromium (skipped: chromium not found on PATH; apt-get install -y chromium)', () => {
    it('needs chromium', () => undefined);
  });
} else {
  describe('the live page in headless Chromium with a fake camera', () => {
    let dir: string;
    let server: Proc;
    let browser: Browser | undefined;

    beforeAll(() => {
      dir = tmpDir('fer-page-');
    });
    afterAll(async () => {
      await browser?.close();
      if (server) await stopProc(server, 'SIGTERM');
    });

    it('draws a face box with a label and emotion bars, lists the person, and shows the analysed frame rate', async () => {
      // 2 s of the pan clip (a face in every frame) as the camera; Chromium loops it.
      const cam = path.join(dir, 'camera.y4m');
      ffmpeg(['-i', path.join(FIXTURES, 'astronaut-pan.mp4'), '-t', '2', '-pix_fmt', 'yuv420p', '-f', 'yuv4mpegpipe', cam]);
      server = startFer(['serve', '--port', '0', '--models', MODELS, '--data-dir', path.join(dir, 'data'), '-q']);
      const base = (await server.waitFor(/^(http:\/\/127\.0\.0\.1:\d+)$/, 90000))[1];

      const profile = path.join(dir, 'profile');
      fs.mkdirSync(profile);
      browser = await puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
          `--user-data-dir=${profile}`,
          '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${cam}`,
        ],
      });
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(`${base}/?autostart`, { waitUntil: 'load' });
      await page.waitForFunction(() => {
        const s = (window as unknown as { ferLive?: LiveState }).ferLive;
        return Boolean(s && s.frames >= 3 && s.faces.length > 0);
      }, { timeout: 90000, polling: 100 });
      // Let the rate settle over a few more frames, then read what the page shows.
      await new Promise((r) => setTimeout(r, 3000));
      const seen = await page.evaluate(() => {
        const s = (window as unknown as { ferLive: LiveState }).ferLive;
        const canvas = document.getElementById('overlay') as { width: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null };
        const f = s.faces[0];
        // A pixel on the left edge of the drawn box.
        const px = canvas.getContext('2d')!.getImageData(Math.round(f.box.x), Math.round(f.box.y + f.box.h / 2), 1, 1).data;
        return {
          frames: s.frames, fps: s.fps, errors: s.errors, face: f, pixel: Array.from(px.slice(0, 3)), canvasWidth: canvas.width,
          fpsText: document.getElementById('fps')!.textContent, people: (Array.from(document.querySelectorAll('#people li .label')) as { textContent: string | null }[]).map((e) => e.textContent),
          status: document.getElementById('status')!.textContent,
        };
      });
      // eslint-disable-next-line no-console
      console.log(`live page: ${seen.frames} frames analysed, ${seen.fps.toFixed(1)} fps shown ("${seen.fpsText}"), first face ${seen.face.label} at ${JSON.stringify(seen.face.box)}`);
      expect(seen.errors).toBe(0);
      expect(seen.canvasWidth).toBe(640);
      expect(CLASS_NAMES).toContain(seen.face.label);
      expect(seen.face.box.w).toBeGreaterThan(50);
      expect(seen.fps).toBeGreaterThan(0);
      expect(seen.fpsText).toMatch(/^\d+\.\d fps$/);
      expect(seen.people.length).toBeGreaterThanOrEqual(1);
      expect(CLASS_NAMES).toContain(seen.people[0]);
      expect(seen.status).toMatch(/^analysing \d+×\d+ frames on the server$/);
      // The box is drawn in its emotion's colour (not the video underneath): a saturated or grey stroke colour.
      const COLORS: Record<string, number[]> = {
        Angry: [0xe5, 0x39, 0x35], Disgust: [0x8e, 0x24, 0xaa], Fear: [0x5e, 0x35, 0xb1], Happy: [0xfd, 0xd8, 0x35],
        Sad: [0x1e, 0x88, 0xe5], Surprise: [0xfb, 0x8c, 0x00], Neutral: [0x9e, 0x9e, 0x9e],
      };
      // The frame drawn may be newer than the face list read in the same evaluate, so allow any emotion colour.
      expect(Object.values(COLORS).some((c) => c.every((v, i) => Math.abs(v - seen.pixel[i]) <= 8))).toBe(true);
      // Only this server was contacted.
      expect(requests.every((u) => u.startsWith(base) || u.startsWith('blob:') || u.startsWith('data:'))).toBe(true);
      expect(requests.filter((u) => u.includes('/v1/predict')).length).toBeGreaterThanOrEqual(3);
    });
  });
}
