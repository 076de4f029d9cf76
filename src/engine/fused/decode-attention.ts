/**
 * Attention for one new token per row against the KV cache (a decode step), as three kernels
 * where a backend has them instead of twelve.
 *
 * Written as tfjs ops, each layer of a decode step slices q, k and v out of the fused qkv
 * projection, transposes each into heads, appends k and v to the cache (concat), multiplies q by
 * the keys, takes the masked softmax, multiplies by the values and transposes back: twelve
 * kernels, each a dispatch on WebGPU and a call with its own pass over memory on wasm, for a few
 * thousand multiply-adds per row. Sampling runs this once per token per layer, so it is where
 * generation's kernel count lives.
 *
 * Fused, it is:
 * - GrpoAppendHeads, twice: the cache [B, H, Tpast, hd] with this token's keys (or values),
 *   read straight out of qkv [B, 1, 3d], as row Tpast: [B, H, Tpast + 1, hd];
 * - GrpoDecodeAttention: for each row and head, softmax(q · keys * scale + bias) · values,
 *   written in the [B, 1, d] layout the output projection reads. The bias may be wider than the
 *   keys (its first Tk columns are read), so that the device loop passes one bias for every step
 *   instead of slicing it each token (a dispatch).
 *
 * Inference only: sampling never takes gradients, so no backward pass is written; a gradient
 * through these kernels is refused by tfjs ("gradient function not found"). Training and the
 * prefill keep the model's full attention (model.ts). The softmax subtracts the row's maximum as
 * tfjs's does; the sums run in another order, so values agree to float32 rounding, not in bits.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attendHeads, splitHeads } from '../heads';
import { fusedWhereRegistered } from './fused-op';

export const APPEND_HEADS_KERNEL = 'GrpoAppendHeads';
export const DECODE_ATTENTION_KERNEL = 'GrpoDecodeAttention';

/** Which third of the fused qkv projection a kernel reads: q, k or v. */
export const QKV_PART = { q: 0, k: 1, v: 2 } as const;
export type QkvPart = (typeof QKV_PART)[keyof typeof QKV_PART];

/** One third of qkv [B, 1, 3d] as heads [B, H, 1, hd]. */
function headsOf(qkv: tf.Tensor, part: QkvPart, heads: number): tf.Tensor4D {
  const [B, T, width] = qkv.shape as [number, number, number];
  const d = width / 3;
  return splitHeads(tf.slice(qkv, [0, 0, part * d], [B, T, d]), heads);
}

/** The composite form of appendHeads: the new token's heads concatenated after the cache's. */
export function appendHeadsOps(past: tf.Tensor, qkv: tf.Tensor, part: QkvPart, heads: number): tf.Tensor {
  return tf.concat([past, headsOf(qkv, part, heads)], 2);
}

/** The composite form of decodeAttention: the model's own attention over the cache. */
export function decodeAttentionOps(qkv: tf.Tensor, keys: tf.Tensor, values: tf.Tensor, bias: tf.Tensor, heads: number, scale: number): tf.Tensor {
  const Tk = keys.shape[2] as number;
  const used = bias.shape[3] === Tk ? bias : tf.slice(bias, [0, 0, 0, 0], [-1, -1, -1, Tk]);
  return attendHeads(headsOf(qkv, QKV_PART.q, heads), keys, values, used, scale);
}

/** The shapes the kernels index by; anything else is refused here, not read wrongly on a GPU. */
function checkShapes(qkv: tf.Tensor, cache: tf.Tensor, heads: number, what: string): void {
  const [B, T, width] = qkv.shape as [number, number, number];
  const d = width / 3;
  const [cB, cH, , hd] = cache.shape as [number, number, number, number];
  if (qkv.rank !== 3 || T !== 1 || cache.rank !== 4 || cB !== B || cH !== heads || hd * heads !== d) {
    throw new Error(`${what}: qkv [B, 1, 3d] and a cache [B, heads=${heads}, T, d/heads] expected, got [${qkv.shape}] and [${cache.shape}]`);
  }
}

export function fusedAppendHeads(past: tf.Tensor, qkv: tf.Tensor, part: QkvPart, heads: number): tf.Tensor {
  checkShapes(qkv, past, heads, 'appendHeads');
  return tf.engine().runKernel(APPEND_HEADS_KERNEL, { past, qkv }, { part }) as tf.Tensor;
}

export function fusedDecodeAttention(qkv: tf.Tensor, keys: tf.Tensor, values: tf.Tensor, bias: tf.Tensor, heads: number, scale: number): tf.Tensor {
  checkShapes(qkv, keys, heads, 'decodeAttention');
  const [B, , Tk] = keys.shape as [number, number, number, number];
  const [bB, b1, b2, width] = bias.shape as number[];
  if (!tf.util.arraysEqual(values.shape, keys.shape) || bias.rank !== 4 || bB !== B || b1 !== 1 || b2 !== 1 || (width as number) < Tk) {
    throw new Error(`decodeAttention: values [${keys.shape}] and bias [${B}, 1, 1, at least ${Tk}] expected, got [${values.shape}] and [${bias.shape}]`);
  }
  return tf.engine().runKernel(DECODE_ATTENTION_KERNEL, { qkv, keys, values, bias }, { scale }) as tf.Tensor;
}

/**
 * The cache of one layer with this token's keys (part k) or values (part v) appended:
 * past [B, H, Tpast, hd] and qkv [B, 1, 3d] give [B, H, Tpast + 1, hd].
 */
export const appendHeads = fusedWhereRegistered(APPEND_HEADS_KERNEL, fusedAppendHeads, appendHeadsOps);

/**
 * One token's attention output [B, 1, d] from its q (in qkv [B, 1, 3d]) over keys and values
 * [B, H, Tk, hd] (the cache including this token) under the first Tk columns of bias [B, 1, 1, W ≥ Tk].
 */
export const decodeAttention = fusedWhereRegistered(DECODE_ATTENTION_KERNEL, fusedDecodeAttention, decodeAttentionOps);
