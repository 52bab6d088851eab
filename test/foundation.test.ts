import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { decodeNpy, encodeNpy, readNpy, writeNpy } from '../src/data/npy';
import { writeDirAtomic, writeFileAtomic } from '../src/util/atomic';
import { Canvas } from '../src/charts/canvas';
import { runFer, tmpDir } from './helpers';

describe('npy', () => {
  it('round-trips uint8 and float32 arrays with numpy-compatible 64-byte aligned headers', () => {
    const u8 = { dtype: 'uint8' as const, shape: [2, 3], data: new Uint8Array([0, 1, 2, 253, 254, 255]) };
    const buf = encodeNpy(u8);
    const headerLen = buf.readUInt16LE(8);
    expect((10 + headerLen) % 64).toBe(0);
    expect(buf.toString('latin1', 10, 10 + headerLen)).toContain("'shape': (2, 3)");
    const back = decodeNpy(buf);
    expect(back.shape).toEqual([2, 3]);
    expect(Array.from(back.data)).toEqual([0, 1, 2, 253, 254, 255]);

    const dir = tmpDir();
    const f = path.join(dir, 'x.npy');
    writeNpy(f, { dtype: 'float32', shape: [3], data: new Float32Array([1.5, -2, 3.25]) });
    const r = readNpy(f);
    expect(r.dtype).toBe('float32');
    expect(Array.from(r.data)).toEqual([1.5, -2, 3.25]);
    expect(readNpy(f).shape).toEqual([3]);
  });

  it('rejects a truncated file with its name in the message', () => {
    const buf = encodeNpy({ dtype: 'uint8', shape: [100], data: new Uint8Array(100) });
    expect(() => decodeNpy(buf.subarray(0, 90), 'cut.npy')).toThrow(/cut\.npy: truncated/);
    expect(() => decodeNpy(Buffer.from('hello world'), 'text.npy')).toThrow(/text\.npy: not a \.npy file/);
  });
});

describe('atomic writes', () => {
  it('leaves no directory behind when filling it fails, and replaces a complete one', async () => {
    const dir = tmpDir();
    const target = path.join(dir, 'out');
    await expect(writeDirAtomic(target, async (tmp) => {
      fs.writeFileSync(path.join(tmp, 'half'), 'x');
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(fs.readdirSync(dir)).toEqual([]);

    await writeDirAtomic(target, async (tmp) => fs.writeFileSync(path.join(tmp, 'a'), '1'));
    await writeDirAtomic(target, async (tmp) => fs.writeFileSync(path.join(tmp, 'b'), '2'));
    expect(fs.readdirSync(target)).toEqual(['b']);
    expect(fs.readdirSync(dir)).toEqual(['out']);
  });

  it('writes a file whole and names the path when the directory is not writable', () => {
    const dir = tmpDir();
    writeFileAtomic(path.join(dir, 'f.txt'), 'hello');
    expect(fs.readFileSync(path.join(dir, 'f.txt'), 'utf8')).toBe('hello');
    // A regular file where a directory should be: unwritable even for root.
    fs.writeFileSync(path.join(dir, 'blocker'), '');
    expect(() => writeFileAtomic(path.join(dir, 'blocker', 'f.txt'), 'x')).toThrow(/cannot write .*blocker\/f\.txt/);
  });
});

describe('canvas', () => {
  it('renders the same drawing to SVG text and to a PNG of the requested size with visible text', async () => {
    const c = new Canvas(120, 40).rect(0, 0, 60, 40, { fill: '#ff0000' }).text(70, 30, 'Hi', { size: 16 });
    expect(c.toSVG()).toMatch(/<svg[^>]+width="120"[\s\S]*<text[^>]*>Hi<\/text>/);
    const png = await c.toPNG();
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([120, 40]);
    expect([data[0], data[1], data[2]]).toEqual([255, 0, 0]);
    // Some dark pixels where the Hershey text was drawn (no system fonts needed).
    let dark = 0;
    for (let y = 10; y < 40; y++) for (let x = 65; x < 120; x++) if (data[(y * 120 + x) * 3] < 100) dark++;
    expect(dark).toBeGreaterThan(20);
  });
});

describe('cli', () => {
  it('prints help with every command and exits 0', () => {
    const r = runFer(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['prepare', 'train', 'eval', 'predict', 'video']) expect(r.stdout).toContain(c);
  });

  it('rejects an unknown command with exit code 2 and one line of error', () => {
    const r = runFer(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
