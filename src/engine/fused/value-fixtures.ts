/**
 * The fused kernels that have no backward pass (the decode-step attention, AdamW) compared with
 * their composite ops by value: inputs and the comparison, shared by the cpu and wasm tests and
 * the WebGPU probe (e2e/webgpu-probe.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MASKED } from '../model';
import { type AdamWScalars, adamMoment, adamMomentOps, adamWParam, adamWParamOps } from './adamw';
import { largestAbsDifference } from './compare';
import {
  QKV_PART, appendHeadsOps, decodeAttentionOps, fusedAppendHeads, fusedDecodeAttention,
} from './decode-attention';

export interface DecodeInputs {
  /** [B, H, Tp, hd] each: the cache before this token. */
  pastK: tf.Tensor4D;
  pastV: tf.Tensor4D;
  /** [B, 1, 3 H hd]: this token's q, k and v. */
  qkv: tf.Tensor3D;
  /**
   * [B, 1, 1, Tp + 1 + unread]: row b hides its first b keys (left padding); the new key is always
   * visible. The `unread` columns past the keys hold 30, which would outweigh every score if read.
   */
  bias: tf.Tensor4D;
}

export function decodeInputs(B: number, H: number, Tp: number, hd: number, seed = 1, unread = 0): DecodeInputs {
  const bias = Array.from({ length: B }, (_, b) => Array.from({ length: Tp + 1 + unread }, (_, t) => (t > Tp ? 30 : t < b && t < Tp ? MASKED : 0)));
  return {
    pastK: tf.randomNormal([B, H, Tp, hd], 0, 1, 'float32', seed),
    pastV: tf.randomNormal([B, H, Tp, hd], 0, 1, 'float32', seed + 1),
    // Scores of a few units, so that the softmax is far from uniform.
    qkv: tf.randomNormal([B, 1, 3 * H * hd], 0, 1.5, 'float32', seed + 2),
    bias: tf.tensor4d(bias.flat(), [B, 1, 1, Tp + 1 + unread]),
  };
}

export function disposeDecodeInputs(x: DecodeInputs): void {
  tf.dispose([x.pastK, x.pastV, x.qkv, x.bias]);
}

/** The largest |a - b| over the values of two ops on the same inputs (the tensors they make are disposed). */
async function valueDifference(a: () => tf.Tensor, b: () => tf.Tensor): Promise<number> {
  const [x, y] = [a(), b()];
  if (!tf.util.arraysEqual(x.shape, y.shape)) throw new Error(`valueDifference: shapes differ, [${x.shape}] and [${y.shape}]`);
  const diff = largestAbsDifference((await x.data()) as Float32Array, (await y.data()) as Float32Array);
  tf.dispose([x, y]);
  return diff;
}

/** One decode step's grown key and value caches and attention output, flattened into one tensor. */
function decodeStep(x: DecodeInputs, fused: boolean): tf.Tensor {
  const heads = x.pastK.shape[1];
  const scale = 1 / Math.sqrt(x.pastK.shape[3]);
  const [append, attend] = fused ? [fusedAppendHeads, fusedDecodeAttention] : [appendHeadsOps, decodeAttentionOps];
  return tf.tidy(() => {
    const [k, v] = [append(x.pastK, x.qkv, QKV_PART.k, heads), append(x.pastV, x.qkv, QKV_PART.v, heads)];
    return tf.concat([tf.reshape(k, [-1]), tf.reshape(v, [-1]), tf.reshape(attend(x.qkv, k, v, x.bias, heads, scale), [-1])]);
  });
}

/** The decode step through the fused kernels against the ops, on a cache of Tp keys (a bias `unread` columns wider). */
export async function decodeStepDifference(B: number, H: number, Tp: number, hd: number, seed = 1, unread = 0): Promise<number> {
  const x = decodeInputs(B, H, Tp, hd, seed, unread);
  try {
    return await valueDifference(() => decodeStep(x, true), () => decodeStep(x, false));
  } finally {
    disposeDecodeInputs(x);
  }
}

/** The third of three AdamW steps (so the bias corrections matter), with weight decay. */
const ADAMW_SCALARS: AdamWScalars = { lr: 0.01, weightDecay: 0.1, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.999 ** 3, eps: 1e-8 };

/**
 * One AdamW step's new moments and weight (fused: the registered kernels, else the ops) against
 * the ops, for a weight of `size` elements.
 */
export async function adamWDifference(size: number, seed = 1): Promise<number> {
  const [p, m, g] = [0, 1, 2].map((i) => tf.randomNormal([size], 0, 1, 'float32', seed + i));
  const v = tf.tidy(() => tf.abs(tf.randomNormal([size], 0, 0.01, 'float32', seed + 3)));
  const step = (moment: typeof adamMoment, param: typeof adamWParam) => () => tf.tidy(() => {
    const [m1, v1] = [moment(m!, g!, 0.9, false), moment(v, g!, 0.999, true)];
    return tf.concat([m1, v1, param(p!, m1, v1, ADAMW_SCALARS)]);
  });
  try {
    return await valueDifference(step(adamMoment, adamWParam), step(adamMomentOps, adamWParamOps));
  } finally {
    tf.dispose([p!, m!, g!, v]);
  }
}
