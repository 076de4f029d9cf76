/**
 * The fused bias add and GELU (bias-gelu.ts) for tfjs's webgpu backend: one WGSL kernel, one
 * thread per element. What this saves is three dispatches per layer. Importing this module
 * registers the kernel, and its backward pass (dx, one thread per element: seven dispatches of
 * tfjs ops become one).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { BIAS_GELU_GRAD_KERNEL, BIAS_GELU_KERNEL, GELU_SLOPE } from './bias-gelu';
import { type FlatKernel, registerFlatWebGpuKernel } from './webgpu-program';

/**
 * A thread per element of x ([..., width]) with z = x + bias and s = sigmoid(slope z) computed
 * first; `inputs` binds x as `src` and the bias as `shift`. WGSL leaves exp's overflow undefined
 * (it need not give inf), so the exponent is capped at 80: for z < -47, s is then 2e-35 where it
 * would be smaller, which moves z * s by |z| * 2e-35 and leaves dy/dz at ~0.
 */
function perElementWithSigmoid(x: tf.TensorInfo, inputs: FlatKernel['inputs'], body: string): FlatKernel {
  return {
    inputs,
    outputShape: x.shape,
    threads: x.shape.reduce((a, b) => a * b, 1),
    uniforms: [['width', 'i32', x.shape[x.shape.length - 1] as number], ['slope', 'f32', GELU_SLOPE]],
    body: `
      let z = src[index] + shift[index % uniforms.width];
      let s = 1.0 / (1.0 + exp(min(-uniforms.slope * z, 80.0)));
      ${body}`,
  };
}

registerFlatWebGpuKernel(BIAS_GELU_KERNEL, 'grpoBiasGelu', (inputs) => {
  const { x, bias } = inputs as { x: tf.TensorInfo; bias: tf.TensorInfo };
  return perElementWithSigmoid(x, [['src', x], ['shift', bias]], 'setOutputAtIndex(index, z * s);');
});

registerFlatWebGpuKernel(BIAS_GELU_GRAD_KERNEL, 'grpoBiasGeluGrad', (inputs) => {
  const { x, bias, dy } = inputs as { x: tf.TensorInfo; bias: tf.TensorInfo; dy: tf.TensorInfo };
  return perElementWithSigmoid(x, [['src', x], ['shift', bias], ['upstream', dy]],
    'setOutputAtIndex(index, upstream[index] * (s + uniforms.slope * z * s * (1.0 - s)));');
});
