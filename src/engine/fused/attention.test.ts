import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { causalBias } from '../model';
import { ATTENTION_KERNELS, attention, attentionOps, fusedAttention } from './attention';
import { fusedVsOps } from './compare';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import { MASKED_SOFTMAX_KERNEL } from './masked-softmax';

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels());

/** Causal attention with left padding: row b has b pads (a pad query sees itself only). */
function paddedBias(B: number, T: number): tf.Tensor4D {
  return causalBias(Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (t < b ? 0 : 1))));
}

describe('fused attention', () => {
  test('two tokens, one head of width 1: token 0 gets its own value, token 1 the softmax-weighted mix (hand-computed)', async () => {
    registerCpuFusedKernels(ATTENTION_KERNELS);
    // Rows are [q, k, v]: q1 · k0 = 0 and q1 · k1 = 1, so token 1 weighs v0 by 1 / (1 + e) and v1 by e / (1 + e).
    const qkv = tf.tensor3d([[[5, 0, 2], [1, 1, 10]]]);
    const bias = paddedBias(1, 2);
    for (const f of [fusedAttention, attentionOps]) {
      const y = f(qkv, bias, 1, 1);
      const [first, second] = (await y.data()) as Float32Array;
      expect(first).toBeCloseTo(2, 6);
      expect(second).toBeCloseTo((2 + 10 * Math.E) / (1 + Math.E), 5);
      y.dispose();
    }
    tf.dispose([qkv, bias]);
  });

  // Head widths and lengths off every multiple the kernels work in (4 lanes, 8-column panels);
  // queries all the tokens, or the last few (the shared-prompt forward's rows).
  test.each([[2, 5, 5, 2, 3], [3, 9, 9, 4, 8], [1, 1, 1, 1, 2], [3, 9, 4, 2, 3], [2, 5, 1, 1, 2]])('B=%i T=%i queries=%i heads=%i hd=%i: the values and qkv gradient of the composite ops', async (B, T, Tq, H, hd) => {
    registerCpuFusedKernels(ATTENTION_KERNELS);
    const qkv = tf.randomNormal([B, T, 3 * H * hd], 0, 1.5, 'float32', 3);
    const bias = tf.slice(paddedBias(B, T), [0, 0, T - Tq, 0], [B, 1, Tq, T]);
    const scale = 1 / Math.sqrt(hd);
    const [value, dqkv] = await fusedVsOps((x) => fusedAttention(x!, bias, H, scale), (x) => attentionOps(x!, bias, H, scale), [qkv]);
    expect(value).toBeLessThan(1e-5);
    expect(dqkv).toBeLessThan(1e-5);
    tf.dispose([qkv, bias]);
  });

  test('runs two kernels forward and one backward, where the ops would split, transpose and concat', async () => {
    registerCpuFusedKernels([...ATTENTION_KERNELS, MASKED_SOFTMAX_KERNEL]);
    const qkv = tf.randomNormal([2, 4, 12], 0, 1, 'float32', 4);
    const bias = paddedBias(2, 4);
    const forward = await tf.profile(() => attention(qkv, bias, 2, 0.5));
    expect(forward.kernelNames.filter(Boolean)).toEqual(ATTENTION_KERNELS.slice(0, 2));
    (forward.result as tf.Tensor).dispose();
    const backward = await tf.profile(() => tf.grad((x: tf.Tensor) => attention(x, bias, 2, 0.5))(qkv));
    const names = [...backward.kernelNames];
    expect(names).toContain(ATTENTION_KERNELS[2]);
    for (const op of ['SplitV', 'Transpose', 'Concat', 'BatchMatMul']) expect(names, op).not.toContain(op);
    tf.dispose([qkv, bias, backward.result as tf.Tensor]);
  });

  test('the last queries alone: the same values and key and value gradients as all of them, no query gradient before them', async () => {
    registerCpuFusedKernels(ATTENTION_KERNELS);
    const [B, T, Tq, H, hd] = [2, 7, 3, 2, 4];
    const qkv = tf.randomNormal([B, T, 3 * H * hd], 0, 1.5, 'float32', 5);
    const full = paddedBias(B, T);
    const last = tf.slice(full, [0, 0, T - Tq, 0], [B, 1, Tq, T]);
    const weights = tf.randomNormal([B, Tq, H * hd], 0, 1, 'float32', 6);
    const lastRows = (y: tf.Tensor): tf.Tensor => tf.slice(y, [0, T - Tq, 0], [B, Tq, H * hd]);
    const [allValue, someValue] = [lastRows(fusedAttention(qkv, full, H, 0.5)), fusedAttention(qkv, last, H, 0.5)];
    expect(someValue.shape).toEqual([B, Tq, H * hd]);
    expect(tf.max(tf.abs(tf.sub(allValue, someValue))).dataSync()[0]).toBeLessThan(1e-6);
    const gradAll = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(lastRows(fusedAttention(x, full, H, 0.5)), weights)))(qkv);
    const gradSome = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(fusedAttention(x, last, H, 0.5), weights)))(qkv);
    expect(tf.max(tf.abs(tf.sub(gradAll, gradSome))).dataSync()[0]).toBeLessThan(1e-6);
    // The query thirds of the first T - Tq tokens get nothing; their keys and values do.
    const before = gradSome.slice([0, 0, 0], [B, T - Tq, H * hd]);
    expect(tf.max(tf.abs(before)).dataSync()[0]).toBe(0);
    expect(tf.max(tf.abs(gradSome.slice([0, 0, H * hd], [B, T - Tq, 2 * H * hd]))).dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([qkv, full, last, weights, allValue, someValue, gradAll, gradSome, before]);
  });

  test('a bias that is not [B, 1, Tq, T] with Tq <= T, or a width that does not split into heads, is refused rather than read wrongly', () => {
    registerCpuFusedKernels(ATTENTION_KERNELS);
    const qkv = tf.zeros([2, 4, 12]);
    const bias = tf.zeros([2, 1, 4, 5]);
    const tooMany = tf.zeros([2, 1, 5, 4]);
    const good = paddedBias(2, 4);
    expect(() => attention(qkv, bias, 2, 1)).toThrow(/bias \[B, 1, Tq, T\] with 1 <= Tq <= T/);
    expect(() => attention(qkv, tooMany, 2, 1)).toThrow(/bias \[B, 1, Tq, T\]/);
    expect(() => attention(qkv, good, 5, 1)).toThrow(/multiple of 3 \* heads \(15\)/);
    tf.dispose([qkv, bias, tooMany, good]);
  });
});
