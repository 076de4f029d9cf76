/**
 * One AdamW step for one weight as two kinds of kernel, where a backend has them: written as
 * tfjs ops it is about sixteen kernels per weight (616 for the default model's update), each a
 * dispatch on WebGPU, plus a small upload for every scalar constant.
 *
 * - GrpoAdamMoment: beta * moment + (1 - beta) * g (first moment) or g² (second); run twice.
 * - GrpoAdamWStep: p * (1 - lr wd) - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), torch's
 *   AdamW with its bias corrections, from the new moments.
 *
 * optim.ts calls adamMoment and adamWParam; where the kernels are not registered they are the
 * ops optim.ts always ran. Elementwise, one thread per element; no gradient (an optimiser step
 * is never differentiated).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedWhereRegistered } from './fused-op';

export const ADAM_MOMENT_KERNEL = 'GrpoAdamMoment';
export const ADAMW_STEP_KERNEL = 'GrpoAdamWStep';

/** The step's scalars: learning rate, weight decay, the bias corrections 1 - beta^t, eps. */
export interface AdamWScalars {
  lr: number;
  weightDecay: number;
  bc1: number;
  bc2: number;
  eps: number;
}

/** The composite form: Adam's running average of g (squared: of g²) with decay beta. */
export function adamMomentOps(moment: tf.Tensor, grad: tf.Tensor, beta: number, squared: boolean): tf.Tensor {
  return tf.add(tf.mul(moment, beta), tf.mul(squared ? tf.square(grad) : grad, 1 - beta));
}

function fusedAdamMoment(moment: tf.Tensor, grad: tf.Tensor, beta: number, squared: boolean): tf.Tensor {
  // 1 - beta is rounded to float32 from the exact difference, as the ops' scalar is.
  return tf.engine().runKernel(ADAM_MOMENT_KERNEL, { moment, grad }, { beta, rest: 1 - beta, squared: squared ? 1 : 0 }) as tf.Tensor;
}

/** The composite form of the parameter update, from the new moments m and v. */
export function adamWParamOps(param: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: AdamWScalars): tf.Tensor {
  // sqrt(v / bc2) + eps == sqrt(v) / sqrt(bc2) + eps, torch's denominator.
  const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(s.bc2)), s.eps);
  const decayed = s.weightDecay > 0 ? tf.mul(param, 1 - s.lr * s.weightDecay) : param;
  return tf.sub(decayed, tf.mul(tf.div(m, denom), s.lr / s.bc1));
}

function fusedAdamWParam(param: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: AdamWScalars): tf.Tensor {
  const attrs = { keep: 1 - s.lr * s.weightDecay, stepSize: s.lr / s.bc1, sqrtBc2: Math.sqrt(s.bc2), eps: s.eps };
  return tf.engine().runKernel(ADAMW_STEP_KERNEL, { param, m, v }, attrs) as tf.Tensor;
}

/** beta * moment + (1 - beta) * g (or g²): one kernel where registered. */
export const adamMoment = fusedWhereRegistered(ADAM_MOMENT_KERNEL, fusedAdamMoment, adamMomentOps);

/** The weight after one AdamW step, from the new moments: one kernel where registered. */
export const adamWParam = fusedWhereRegistered(ADAMW_STEP_KERNEL, fusedAdamWParam, adamWParamOps);
