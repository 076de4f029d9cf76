/**
 * Attention's masked, scaled softmax, softmax(scores * scale + bias) over the last axis, as one
 * kernel where a backend has one.
 *
 * Written as tfjs ops it is three kernels (scale, add the mask, softmax) in every layer, and on
 * WebGPU each kernel is a dispatch whose fixed cost dwarfs this model's arithmetic (see
 * layer-norm.ts). masked-softmax-webgpu.ts registers a single-kernel version for the webgpu
 * backend; `maskedSoftmax` uses it where registered and the composite ops otherwise.
 *
 * scores are [B, heads, T, Tk]; bias [B, 1, T, Tk] is the additive attention mask (0 where a
 * key is visible, MASKED where not), shared by every head.
 */
import * as tf from '@tensorflow/tfjs-core';
import { customGradOp, fusedWhereRegistered } from './fused-op';

export const MASKED_SOFTMAX_KERNEL = 'GrpoMaskedSoftmax';

/** The composite form: what every backend without the fused kernel runs. */
export function maskedSoftmaxOps(scores: tf.Tensor, bias: tf.Tensor, scale: number): tf.Tensor {
  return tf.softmax(tf.add(tf.mul(scores, scale), bias));
}

/**
 * The fused kernel with its gradient. With y the output, softmax's own backward gives
 * g = y * (dy - sum(dy * y)) for its input; then dscores = scale * g, and dbias is g summed over
 * the heads the bias was broadcast across. The mask is a constant in this model, but
 * tf.customGrad computes a gradient for every input whether or not anything needs it, so this is
 * the true one (one sum) rather than zeros that would be silently wrong for a learned bias.
 */
export function fusedMaskedSoftmax(scores: tf.Tensor, bias: tf.Tensor, scale: number): tf.Tensor {
  const [B, , T, Tk] = scores.shape as [number, number, number, number];
  // The kernels index the bias as one row per (batch, query); any other broadcast is refused
  // here, in one place, rather than read wrongly on a GPU.
  if (scores.rank !== 4 || !tf.util.arraysEqual(bias.shape, [B, 1, T, Tk])) {
    throw new Error(`maskedSoftmax: scores [B, H, T, Tk] with bias [B, 1, T, Tk] expected, got [${scores.shape}] and [${bias.shape}]`);
  }
  return customGradOp((s: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const value = tf.engine().runKernel(MASKED_SOFTMAX_KERNEL, { scores: s, bias: b }, { scale }) as tf.Tensor;
    save([value]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const y = saved[0] as tf.Tensor;
      const g = tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), -1, true)));
      return [tf.mul(g, scale), tf.sum(g, 1, true)];
    };
    return { value, gradFunc };
  })(scores, bias);
}

/** softmax(scores * scale + bias) over the last axis; fused where the backend can. */
export const maskedSoftmax = fusedWhereRegistered(MASKED_SOFTMAX_KERNEL, fusedMaskedSoftmax, maskedSoftmaxOps);
