/**
 * Layer normalisation over the last axis, as one kernel where a backend has one.
 *
 * Written as tfjs ops, a layer norm is about eight kernels (mean, subtract, square, mean, add,
 * square root, divide, scale and shift). On WebGPU each kernel is a dispatch with a fixed cost
 * that dwarfs this model's arithmetic (docs/results.md: a sampled token is ~300 kernels), so
 * layer-norm-webgpu.ts registers a single-kernel version for the webgpu backend. The model calls
 * `layerNorm`, which uses the fused kernel when the active backend has one registered and the
 * composite ops otherwise; both give the same values (up to float rounding) and the same
 * gradients, the fused one through the hand-written backward pass below.
 */
import * as tf from '@tensorflow/tfjs-core';
import { customGradOp, fusedWhereRegistered } from './fused-op';

export const LAYER_NORM_KERNEL = 'GrpoLayerNorm';
/** The backward pass's kernels: dx, and dgain ([width], summed over every row). */
export const LAYER_NORM_GRAD_KERNEL = 'GrpoLayerNormGrad';
export const LAYER_NORM_GAIN_GRAD_KERNEL = 'GrpoLayerNormGainGrad';
export const LAYER_NORM_EPS = 1e-5;

/** The composite form: what every backend without the fused kernel runs. */
export function layerNormOps(x: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, LAYER_NORM_EPS))), gain), bias);
}

/**
 * The fused kernel with its gradient: for y = xhat * gain + bias, xhat = (x - mean) * rstd,
 * dbias = sum dy, dgain = sum dy * xhat, and
 * dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) with dxhat = dy * gain.
 */
export const fusedLayerNorm = customGradOp((x: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, gain]);
  const value = tf.engine().runKernel(LAYER_NORM_KERNEL, { x, gain, bias }, { eps: LAYER_NORM_EPS }) as tf.Tensor;
  const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
    const [xs, g] = saved as [tf.Tensor, tf.Tensor];
    const leading = Array.from({ length: xs.rank - 1 }, (_, i) => i);
    return [...layerNormGrads(xs, g, dy), tf.sum(dy, leading)];
  };
  return { value, gradFunc };
});

/** dx and dgain as tfjs ops: about twenty kernels. */
export function layerNormGradsOps(x: tf.Tensor, gain: tf.Tensor, dy: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const { mean, variance } = tf.moments(x, -1, true);
  const rstd = tf.rsqrt(tf.add(variance, LAYER_NORM_EPS));
  const xhat = tf.mul(tf.sub(x, mean), rstd);
  const leading = Array.from({ length: x.rank - 1 }, (_, i) => i);
  const dxhat = tf.mul(dy, gain);
  const dx = tf.mul(rstd, tf.sub(tf.sub(dxhat, tf.mean(dxhat, -1, true)), tf.mul(xhat, tf.mean(tf.mul(dxhat, xhat), -1, true))));
  return [dx, tf.sum(tf.mul(dy, xhat), leading)];
}

/** dx and dgain as two kernels, each recomputing the rows' mean and rstd from x. */
export function fusedLayerNormGrads(x: tf.Tensor, gain: tf.Tensor, dy: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const attrs = { eps: LAYER_NORM_EPS };
  return [
    tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, { x, gain, dy }, attrs) as tf.Tensor,
    tf.engine().runKernel(LAYER_NORM_GAIN_GRAD_KERNEL, { x, dy }, attrs) as tf.Tensor,
  ];
}

/** The backward pass's dx and dgain: the gradient kernels where registered, the ops elsewhere. */
const layerNormGrads = fusedWhereRegistered([LAYER_NORM_GRAD_KERNEL, LAYER_NORM_GAIN_GRAD_KERNEL], fusedLayerNormGrads, layerNormGradsOps);

/** Layer norm over the last axis with gain and bias [width]; fused where the backend can. */
export const layerNorm = fusedWhereRegistered(LAYER_NORM_KERNEL, fusedLayerNorm, layerNormOps);
