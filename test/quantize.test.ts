import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { float32ToFloat16Bits, quantizeModelDirFloat16 } from '../src/models/quantize';
import { loadModelDir, saveModelDir } from '../src/models/io';
import { initBackend } from '../src/backend';
import { tmpDir } from './helpers';

describe('float16 weights', () => {
  it('converts float32 to float16 bits like the IEEE standard, rounding to nearest even', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(0.5)).toBe(0x3800);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(float32ToFloat16Bits(1e-9)).toBe(0);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(float32ToFloat16Bits(NaN) & 0x7c00).toBe(0x7c00);
  });

  it('halves a model directory and loads back with nearly the same outputs', async () => {
    await initBackend('wasm');
    const model = tf.sequential({ layers: [
      tf.layers.conv2d({ inputShape: [48, 48, 1], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.batchNormalization(),
      tf.layers.flatten(),
      tf.layers.dense({ units: 7, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ] });
    const dir = tmpDir();
    await saveModelDir(model, path.join(dir, 'f32'), { 'state.json': '{"epoch":3}' });
    const sizes = await quantizeModelDirFloat16(path.join(dir, 'f32'), path.join(dir, 'f16'));
    expect(sizes.bytesAfter).toBe(sizes.bytesBefore / 2);
    expect(fs.statSync(path.join(dir, 'f16', 'weights.bin')).size).toBe(sizes.bytesAfter);
    expect(fs.readFileSync(path.join(dir, 'f16', 'state.json'), 'utf8')).toBe('{"epoch":3}');

    const back = await loadModelDir(path.join(dir, 'f16'));
    const x = tf.randomUniform([4, 48, 48, 1], 0, 1, 'float32', 7);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (back.predict(x) as tf.Tensor).dataSync();
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
    expect(maxDiff).toBeGreaterThan(0); // really quantized
    expect(maxDiff).toBeLessThan(2e-3);
    await expect(quantizeModelDirFloat16(path.join(dir, 'f16'), path.join(dir, 'again'))).rejects.toThrow(/already quantized/);
  });
});
