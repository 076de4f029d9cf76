/**
 * Inputs for comparing the decode-step attention kernels (decode-attention.ts) with their
 * composite form, shared by the cpu test and the wasm test: a cache, one token's qkv, and a mask
 * hiding some keys of some rows.
 */
import * as tf from '@tensorflow/tfjs-core';
import { MASKED } from '../model';
import { largestAbsDifference } from './compare';

export interface DecodeInputs {
  /** [B, H, Tp, hd] each: the cache before this token. */
  pastK: tf.Tensor4D;
  pastV: tf.Tensor4D;
  /** [B, 1, 3 H hd]: this token's q, k and v. */
  qkv: tf.Tensor3D;
  /** [B, 1, 1, Tp + 1]: row b hides its first b keys (left padding); the new key is always visible. */
  bias: tf.Tensor4D;
}

export function decodeInputs(B: number, H: number, Tp: number, hd: number, seed = 1): DecodeInputs {
  const bias = Array.from({ length: B }, (_, b) => Array.from({ length: Tp + 1 }, (_, t) => (t < b && t < Tp ? MASKED : 0)));
  return {
    pastK: tf.randomNormal([B, H, Tp, hd], 0, 1, 'float32', seed),
    pastV: tf.randomNormal([B, H, Tp, hd], 0, 1, 'float32', seed + 1),
    // Scores of a few units, so that the softmax is far from uniform.
    qkv: tf.randomNormal([B, 1, 3 * H * hd], 0, 1.5, 'float32', seed + 2),
    bias: tf.tensor4d(bias.flat(), [B, 1, 1, Tp + 1]),
  };
}

export function disposeDecodeInputs(x: DecodeInputs): void {
  tf.dispose([x.pastK, x.pastV, x.qkv, x.bias]);
}

/** The largest |a - b| over the values of two ops on the same inputs (the tensors they make are disposed). */
export async function valueDifference(a: () => tf.Tensor, b: () => tf.Tensor): Promise<number> {
  const [x, y] = [a(), b()];
  if (!tf.util.arraysEqual(x.shape, y.shape)) throw new Error(`valueDifference: shapes differ, [${x.shape}] and [${y.shape}]`);
  const diff = largestAbsDifference((await x.data()) as Float32Array, (await y.data()) as Float32Array);
  tf.dispose([x, y]);
  return diff;
}
