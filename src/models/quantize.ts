import * as fs from 'fs';
import * as path from 'path';
import { FerError, describeFsError } from '../util/errors';
import { writeDirAtomic } from '../util/atomic';
import { MODEL_JSON, WEIGHTS_BIN } from './io';

/**
 * Shipping size: store a model directory's float32 weights as float16 (half the bytes). tfjs' own weight
 * loader understands the manifest's `quantization: {dtype: 'float16'}` and expands them back to float32 on
 * load, so quantized directories load with loadModelDir like any other.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE 754 binary32 → binary16 bits, round to nearest even; overflow → ±Inf, tiny values → subnormals/0. */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++; // may carry into the exponent: still correct
  e = half;
  return sign | e;
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string };
}

/** Rewrite the model directory `src` into `dst` with float16 weights; other files are copied as they are. */
export async function quantizeModelDirFloat16(src: string, dst: string): Promise<{ bytesBefore: number; bytesAfter: number }> {
  const jsonPath = path.join(src, MODEL_JSON);
  let json: { weightsManifest: { paths: string[]; weights: WeightSpec[] }[] } & Record<string, unknown>;
  let weights: Buffer;
  try {
    json = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
    weights = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(src, p)))));
  } catch (e) {
    throw new FerError(e instanceof SyntaxError ? `${jsonPath}: not valid JSON` : describeFsError(e, src));
  }
  const specs = json.weightsManifest.flatMap((g) => g.weights);
  const parts: Buffer[] = [];
  let offset = 0;
  const outSpecs: WeightSpec[] = [];
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.quantization) throw new FerError(`${jsonPath}: weight ${spec.name} is already quantized (${spec.quantization.dtype})`);
    const bytes = count * 4; // float32 and int32 alike
    const raw = weights.subarray(offset, offset + bytes);
    offset += bytes;
    if (spec.dtype !== 'float32') {
      parts.push(Buffer.from(raw));
      outSpecs.push(spec);
      continue;
    }
    const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + bytes));
    const half = new Uint16Array(count);
    for (let i = 0; i < count; i++) half[i] = float32ToFloat16Bits(values[i]);
    parts.push(Buffer.from(half.buffer));
    outSpecs.push({ ...spec, quantization: { dtype: 'float16' } });
  }
  const out = Buffer.concat(parts);
  await writeDirAtomic(dst, async (tmp) => {
    for (const f of fs.readdirSync(src)) {
      if (f !== MODEL_JSON && !json.weightsManifest.some((g) => g.paths.includes(f))) fs.copyFileSync(path.join(src, f), path.join(tmp, f));
    }
    fs.writeFileSync(path.join(tmp, MODEL_JSON), JSON.stringify({ ...json, weightsManifest: [{ paths: [WEIGHTS_BIN], weights: outSpecs }] }));
    fs.writeFileSync(path.join(tmp, WEIGHTS_BIN), out);
  });
  return { bytesBefore: weights.length, bytesAfter: out.length };
}
