/**
 * Attention heads as a layout: the model keeps activations as [B, T, d] and attends per head as
 * [B, heads, T, d / heads]. Shared by the model (model.ts) and the decode-step attention
 * (fused/decode-attention.ts), whose composite form must match the model's exactly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { maskedSoftmax } from './fused/masked-softmax';

/** [B, T, d] → [B, heads, T, headDim] */
export function splitHeads(x: tf.Tensor, heads: number): tf.Tensor4D {
  const [B, T, d] = x.shape as [number, number, number];
  return tf.transpose(tf.reshape(x, [B, T, heads, d / heads]), [0, 2, 1, 3]);
}

/** [B, heads, T, headDim] → [B, T, d] */
export function mergeHeads(x: tf.Tensor): tf.Tensor3D {
  const [B, H, T, hd] = x.shape as [number, number, number, number];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [B, T, H * hd]);
}

/**
 * softmax(q kᵀ · scale + bias) v per head, merged to [B, T, d]: the attention every path of the
 * model computes as tfjs ops (the prefill, and the composite forms of the fused attention kernels).
 * q [B, H, T, hd], k and v [B, H, Tk, hd], bias [B, 1, T, Tk].
 */
export function attendHeads(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, bias: tf.Tensor, scale: number): tf.Tensor3D {
  return mergeHeads(tf.matMul(maskedSoftmax(tf.matMul(q, k, false, true), bias, scale), v));
}
