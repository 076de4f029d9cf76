/**
 * The MLP's bias add and GELU, gelu(x + bias), as one kernel where a backend has one.
 *
 * GELU here is the sigmoid approximation z * sigmoid(1.702 z): as tfjs ops that is three kernels
 * (scale, sigmoid, multiply), four with the bias add before it, in every layer; on WebGPU each is
 * a dispatch whose fixed cost dwarfs the arithmetic (see layer-norm.ts). bias-gelu-webgpu.ts
 * registers a single-kernel version for the webgpu backend; `biasGelu` uses it where registered
 * and the composite ops otherwise.
 *
 * x is [..., width] (the MLP's first matmul, [B * T, 4 * dModel]) and bias [width].
 */
import * as tf from '@tensorflow/tfjs-core';
import { customGradOp, fusedWhereRegistered } from './fused-op';

export const BIAS_GELU_KERNEL = 'GrpoBiasGelu';
/** The backward pass's kernel: dx. */
export const BIAS_GELU_GRAD_KERNEL = 'GrpoBiasGeluGrad';
/** The sigmoid approximation's slope: gelu(z) ≈ z * sigmoid(1.702 z). */
export const GELU_SLOPE = 1.702;

/** GELU, sigmoid approximation x * sigmoid(1.702 x): two ops instead of the tanh form's seven. */
function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, GELU_SLOPE)));
}

/** The composite form: what every backend without the fused kernel runs. */
export function biasGeluOps(x: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  return gelu(tf.add(x, bias));
}

/**
 * The fused kernel with its gradient: for z = x + bias, s = sigmoid(1.702 z) and y = z s,
 * dy/dz = s + 1.702 z s (1 - s); dx = dy * dy/dz, and dbias is dx summed over the leading axes.
 * z and s are recomputed from the saved inputs: the kernel returns y only.
 */
/** dx as tfjs ops: seven kernels. */
export function biasGeluGradOps(x: tf.Tensor, bias: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  const z = tf.add(x, bias);
  const slopeZ = tf.mul(z, GELU_SLOPE);
  const s = tf.sigmoid(slopeZ);
  return tf.mul(dy, tf.add(s, tf.mul(slopeZ, tf.mul(s, tf.sub(1, s)))));
}

function fusedBiasGeluGrad(x: tf.Tensor, bias: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(BIAS_GELU_GRAD_KERNEL, { x, bias, dy }, {}) as tf.Tensor;
}

/** The backward pass's dx: one kernel where registered, the ops elsewhere. */
const biasGeluGrad = fusedWhereRegistered(BIAS_GELU_GRAD_KERNEL, fusedBiasGeluGrad, biasGeluGradOps);

const fusedBiasGeluOp = customGradOp((x: tf.Tensor, bias: tf.Tensor, save: tf.GradSaveFunc) => {
  save([x, bias]);
  const value = tf.engine().runKernel(BIAS_GELU_KERNEL, { x, bias }, {}) as tf.Tensor;
  const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
    const [xs, b] = saved as [tf.Tensor, tf.Tensor];
    const dx = biasGeluGrad(xs, b, dy);
    const leading = Array.from({ length: xs.rank - 1 }, (_, i) => i);
    return [dx, tf.sum(dx, leading)];
  };
  return { value, gradFunc };
});

export function fusedBiasGelu(x: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  // The kernels read bias[i % width]; any other broadcast is refused here rather than read wrongly.
  if (bias.rank !== 1 || bias.shape[0] !== x.shape[x.rank - 1]) {
    throw new Error(`biasGelu: x [..., width] with bias [width] expected, got [${x.shape}] and [${bias.shape}]`);
  }
  return fusedBiasGeluOp(x, bias);
}

/** gelu(x + bias) with bias [width] over x's last axis; fused where the backend can. */
export const biasGelu = fusedWhereRegistered(BIAS_GELU_KERNEL, fusedBiasGelu, biasGeluOps);
