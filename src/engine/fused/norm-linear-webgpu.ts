/**
 * GrpoNormLinear (norm-linear.ts) for tfjs's webgpu backend: a thread per output element, which
 * takes its row's moments, then the dot product of the normalised row with its weight column.
 * Neighbouring threads read neighbouring columns of W, so those reads coalesce (but for the
 * transposed head, whose vocabulary is small). Importing this module registers it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { GELU_SLOPE } from './bias-gelu';
import { NORM_LINEAR_KERNEL, normLinearWidth } from './norm-linear';
import { registerFlatWebGpuKernel } from './webgpu-program';

registerFlatWebGpuKernel(NORM_LINEAR_KERNEL, 'grpoNormLinear', (inputs, attrs) => {
  const { x, gain, shift, w, bias } = inputs as Record<string, tf.TensorInfo | undefined> as { x: tf.TensorInfo; gain: tf.TensorInfo; shift: tf.TensorInfo; w: tf.TensorInfo; bias?: tf.TensorInfo };
  const { eps, gelu, transposeW } = attrs as { eps: number; gelu: number; transposeW: number };
  const [M, K] = x.shape as [number, number];
  const N = normLinearWidth(w.shape, transposeW === 1);
  return {
    inputs: [['src', x], ['gain', gain], ['shift', shift], ['weight', w], ...(bias ? [['addend', bias] as [string, tf.TensorInfo]] : [])],
    outputShape: [M, N],
    threads: M * N,
    uniforms: [['inner', 'i32', K], ['cols', 'i32', N], ['eps', 'f32', eps], ['slope', 'f32', GELU_SLOPE]],
    // Bias, GELU and the transpose are written into the WGSL: a pipeline each.
    variant: `${bias ? 'b' : ''}${gelu ? 'g' : ''}${transposeW ? 't' : ''}`,
    body: `
      let K = uniforms.inner;
      let N = uniforms.cols;
      let m = index / N;
      let n = index - m * N;
      let base = m * K;
      var mean = 0.0;
      for (var j = 0; j < K; j++) { mean += src[base + j]; }
      mean = mean / f32(K);
      var variance = 0.0;
      for (var j = 0; j < K; j++) { let d = src[base + j] - mean; variance += d * d; }
      let rstd = inverseSqrt(variance / f32(K) + uniforms.eps);
      var acc = 0.0;
      for (var j = 0; j < K; j++) {
        acc += ((src[base + j] - mean) * rstd * gain[j] + shift[j]) * weight[${transposeW ? 'n * K + j' : 'j * N + n'}];
      }
      ${bias ? 'acc += addend[n];' : ''}
      ${gelu ? 'acc = acc / (1.0 + exp(min(-uniforms.slope * acc, 80.0)));' : ''}
      setOutputAtIndex(index, acc);`,
  };
});
