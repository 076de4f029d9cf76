import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { MASKED } from '../model';
import { fusedVsOps } from './compare';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import { MASKED_SOFTMAX_KERNEL, fusedMaskedSoftmax, maskedSoftmax, maskedSoftmaxOps } from './masked-softmax';

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels());

const [B, H, T, Tk] = [2, 3, 4, 6];
const SCALE = 1 / Math.sqrt(8);

/** A causal mask with a cache of two keys, and row (1, 0) masked everywhere (never made by the model). */
function mask(): tf.Tensor {
  const data = new Float32Array(B * T * Tk);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < Tk; j++) {
        const hidden = j > t + 2 || (b === 1 && (j === 0 || t === 0));
        data[(b * T + t) * Tk + j] = hidden ? MASKED : 0;
      }
    }
  }
  return tf.tensor4d(data, [B, 1, T, Tk]);
}
const scores = () => tf.randomNormal([B, H, T, Tk], 0, 3, 'float32', 11);

describe('fused masked softmax', () => {
  test('without a registered kernel, maskedSoftmax is the composite ops: rows sum to 1, masked keys get 0', () => {
    const [s, m] = [scores(), mask()];
    const y = maskedSoftmax(s, m, SCALE);
    const sums = tf.sum(y, -1);
    const masked = tf.sum(tf.mul(y, tf.cast(tf.less(m, -1), 'float32')).slice([0, 0, 0, 0], [1, H, T, Tk]));
    expect(Math.max(...(sums.sub(1).abs().dataSync() as Float32Array))).toBeLessThan(1e-5);
    expect(masked.dataSync()[0]).toBe(0);
    tf.dispose([s, m, y, sums, masked]);
  });

  test('the fused kernel gives the composite values and, through its own backward pass, the same gradients for scores and bias', async () => {
    registerCpuFusedKernels([MASKED_SOFTMAX_KERNEL]);
    const inputs = [scores(), mask()];
    const [value, dScores, dBias] = await fusedVsOps((s, m) => fusedMaskedSoftmax(s!, m!, SCALE), (s, m) => maskedSoftmaxOps(s!, m!, SCALE), inputs);
    expect(value).toBeLessThan(1e-6);
    expect(dScores).toBeLessThan(1e-5);
    expect(dBias).toBeLessThan(1e-5);
    const run = await tf.profile(() => maskedSoftmax(inputs[0]!, inputs[1]!, SCALE));
    expect(run.kernelNames.filter(Boolean)).toEqual([MASKED_SOFTMAX_KERNEL]);
    tf.dispose([...inputs, run.result as tf.Tensor]);
  });

  test('a row whose every key is masked stays finite (uniform, as the ops give)', () => {
    registerCpuFusedKernels([MASKED_SOFTMAX_KERNEL]);
    const y = tf.tidy(() => maskedSoftmax(scores(), tf.fill([B, 1, T, Tk], MASKED), SCALE));
    const values = y.dataSync() as Float32Array;
    expect(values.every(Number.isFinite)).toBe(true);
    expect(Math.max(...values.map((v) => Math.abs(v - 1 / Tk)))).toBeLessThan(1e-6);
    y.dispose();
  });

  test('a bias that is not [B, 1, T, Tk] is refused rather than read wrongly', () => {
    registerCpuFusedKernels([MASKED_SOFTMAX_KERNEL]);
    const [s, m] = [scores(), tf.zeros([1, 1, T, Tk])];
    expect(() => maskedSoftmax(s, m, SCALE)).toThrow(/bias \[B, 1, T, Tk\]/);
    tf.dispose([s, m]);
  });
});
