import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import { APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL, QKV_PART, appendHeads, decodeAttention } from './decode-attention';
import { decodeInputs, decodeStepDifference, disposeDecodeInputs } from './value-fixtures';

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels());

const DECODE_KERNELS = [APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL];

/**
 * One row, one head of width 2, two keys, scale 1: q = [1, 0], keys [1, 0] and [0, 1], values
 * [1, 2] and [3, 4]. The scores are 1 and 0, so the weights are e / (e + 1) and 1 / (e + 1).
 */
function handCase(): { qkv: tf.Tensor; keys: tf.Tensor; values: tf.Tensor; bias: tf.Tensor; expected: number[] } {
  const e = Math.E;
  return {
    qkv: tf.tensor3d([1, 0, 0, 0, 0, 0], [1, 1, 6]),
    keys: tf.tensor4d([1, 0, 0, 1], [1, 1, 2, 2]),
    values: tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]),
    bias: tf.zeros([1, 1, 1, 2]),
    expected: [(e * 1 + 3) / (e + 1), (e * 2 + 4) / (e + 1)],
  };
}

describe('decode-step attention', () => {
  for (const fused of [false, true]) {
    test(`${fused ? 'the fused kernel' : 'the composite ops'}: the hand-computed weighted values`, () => {
      if (fused) registerCpuFusedKernels(DECODE_KERNELS);
      const c = handCase();
      const out = decodeAttention(c.qkv, c.keys, c.values, c.bias, 1, 1);
      expect(out.shape).toEqual([1, 1, 2]);
      const got = Array.from(out.dataSync());
      got.forEach((v, i) => expect(v).toBeCloseTo(c.expected[i] as number, 6));
      tf.dispose([c.qkv, c.keys, c.values, c.bias, out]);
    });
  }

  test('a masked key gets no weight: with the first key hidden the output is the second value', () => {
    registerCpuFusedKernels(DECODE_KERNELS);
    const c = handCase();
    const bias = tf.tensor4d([-1e9, 0], [1, 1, 1, 2]);
    const out = decodeAttention(c.qkv, c.keys, c.values, bias, 1, 1);
    expect(Array.from(out.dataSync())).toEqual([3, 4]);
    tf.dispose([c.qkv, c.keys, c.values, c.bias, bias, out]);
  });

  test('a bias wider than the keys is read through its first Tk columns only (fused and ops alike)', () => {
    const c = handCase();
    // The hand case's two keys, the first hidden, then two columns that would dominate if read.
    const wide = tf.tensor4d([-1e9, 0, 50, 50], [1, 1, 1, 4]);
    for (const fused of [false, true]) {
      if (fused) registerCpuFusedKernels(DECODE_KERNELS);
      const out = decodeAttention(c.qkv, c.keys, c.values, wide, 1, 1);
      expect(Array.from(out.dataSync())).toEqual([3, 4]);
      out.dispose();
    }
    const narrow = tf.zeros([1, 1, 1, 1]);
    expect(() => decodeAttention(c.qkv, c.keys, c.values, narrow, 1, 1)).toThrow(/bias \[1, 1, 1, at least 2\] expected, got \[1,1,2,2\] and \[1,1,1,1\]/);
    tf.dispose([c.qkv, c.keys, c.values, c.bias, wide, narrow]);
  });

  test('appendHeads puts the new token after the cache, from the k or the v third of qkv', () => {
    registerCpuFusedKernels(DECODE_KERNELS);
    // B = 1, H = 2, hd = 1: qkv = [q0 q1 | k0 k1 | v0 v1]; the cache holds one row per head.
    const past = tf.tensor4d([10, 20], [1, 2, 1, 1]);
    const qkv = tf.tensor3d([1, 2, 3, 4, 5, 6], [1, 1, 6]);
    const k = appendHeads(past, qkv, QKV_PART.k, 2);
    const v = appendHeads(past, qkv, QKV_PART.v, 2);
    expect(k.shape).toEqual([1, 2, 2, 1]);
    expect(Array.from(k.dataSync())).toEqual([10, 3, 20, 4]);
    expect(Array.from(v.dataSync())).toEqual([10, 5, 20, 6]);
    tf.dispose([past, qkv, k, v]);
  });

  test('the fused kernels give the composite values over masked rows, and run as three kernels', async () => {
    registerCpuFusedKernels(DECODE_KERNELS);
    expect(await decodeStepDifference(3, 4, 6, 8)).toBeLessThan(1e-6);
    expect(await decodeStepDifference(3, 4, 6, 8, 1, 5)).toBeLessThan(1e-6);
    const x = decodeInputs(3, 4, 6, 8);
    const run = await tf.profile(() => tf.tidy(() => {
      const [k, v] = [appendHeads(x.pastK, x.qkv, QKV_PART.k, 4), appendHeads(x.pastV, x.qkv, QKV_PART.v, 4)];
      return decodeAttention(x.qkv, k, v, x.bias, 4, 1 / Math.sqrt(8));
    }));
    expect(run.kernels.map((k) => k.name).filter((name) => name !== 'Reshape')).toEqual([APPEND_HEADS_KERNEL, APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL]);
    tf.dispose(run.result as tf.Tensor);
    disposeDecodeInputs(x);
  });

  test('more than one new token, or a cache of other heads, is refused by the fused kernels', () => {
    registerCpuFusedKernels(DECODE_KERNELS);
    const x = decodeInputs(2, 4, 5, 8);
    const twoTokens = tf.zeros([2, 2, 3 * 32]);
    expect(() => appendHeads(x.pastK, twoTokens, QKV_PART.k, 4)).toThrow(/appendHeads: qkv \[B, 1, 3d\]/);
    expect(() => appendHeads(x.pastK, x.qkv, QKV_PART.k, 2)).toThrow(/heads=2/);
    tf.dispose(twoTokens);
    disposeDecodeInputs(x);
  });
});
