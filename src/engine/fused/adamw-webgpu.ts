/**
 * The AdamW kernels (adamw.ts) for tfjs's webgpu backend: one thread per element. Importing
 * this module registers them.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { ADAM_MOMENT_KERNEL, ADAMW_STEP_KERNEL } from './adamw';
import { registerFlatWebGpuKernel } from './webgpu-program';

const size = (t: tf.TensorInfo): number => t.shape.reduce((a, b) => a * b, 1);

registerFlatWebGpuKernel(ADAM_MOMENT_KERNEL, 'grpoAdamMoment', (inputs, attrs) => {
  const { moment, grad } = inputs as { moment: tf.TensorInfo; grad: tf.TensorInfo };
  const a = attrs as { beta: number; rest: number; squared: number };
  return {
    inputs: [['running', moment], ['update', grad]],
    outputShape: moment.shape,
    threads: size(moment),
    uniforms: [['beta', 'f32', a.beta], ['rest', 'f32', a.rest], ['squared', 'i32', a.squared]],
    body: `
      let g = update[index];
      let x = select(g, g * g, uniforms.squared == 1);
      setOutputAtIndex(index, running[index] * uniforms.beta + x * uniforms.rest);`,
  };
});

registerFlatWebGpuKernel(ADAMW_STEP_KERNEL, 'grpoAdamWStep', (inputs, attrs) => {
  const { param, m, v } = inputs as { param: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo };
  const a = attrs as { keep: number; stepSize: number; sqrtBc2: number; eps: number };
  return {
    inputs: [['weights', param], ['first', m], ['second', v]],
    outputShape: param.shape,
    threads: size(param),
    uniforms: [['keep', 'f32', a.keep], ['stepSize', 'f32', a.stepSize], ['sqrtBc2', 'f32', a.sqrtBc2], ['eps', 'f32', a.eps]],
    body: `
      let denom = sqrt(second[index]) / uniforms.sqrtBc2 + uniforms.eps;
      setOutputAtIndex(index, weights[index] * uniforms.keep - first[index] / denom * uniforms.stepSize);`,
  };
});
