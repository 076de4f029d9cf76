/**
 * GrpoDecodeLinear (decode-linear.ts) for tfjs's webgpu backend: a thread per output element,
 * which takes its row's moments where there is a layer norm, then the dot product of the row with
 * its weight column, then the bias, GELU and residual. Neighbouring threads read neighbouring
 * columns of W, so those reads coalesce (but for the transposed head, whose vocabulary is small).
 * Importing this module registers it.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { GELU_SLOPE } from './bias-gelu';
import { DECODE_LINEAR_KERNEL, decodeLinearWidth } from './decode-linear';
import { type FlatKernel, registerFlatWebGpuKernel } from './webgpu-program';

registerFlatWebGpuKernel(DECODE_LINEAR_KERNEL, 'grpoDecodeLinear', (inputs, attrs) => {
  const { x, w, gain, shift, bias, residual } = inputs as Record<string, tf.TensorInfo | undefined> as
    { x: tf.TensorInfo; w: tf.TensorInfo; gain?: tf.TensorInfo; shift?: tf.TensorInfo; bias?: tf.TensorInfo; residual?: tf.TensorInfo };
  const { eps, gelu, transposeW } = attrs as { eps: number; gelu: number; transposeW: number };
  const [M, K] = x.shape as [number, number];
  const N = decodeLinearWidth(w.shape, transposeW === 1);
  const norm = gain !== undefined && shift !== undefined;
  const bound: FlatKernel['inputs'] = [['src', x], ['weight', w]];
  if (norm) bound.push(['gain', gain], ['shift', shift]);
  if (bias) bound.push(['addend', bias]);
  if (residual) bound.push(['residual', residual]);
  const row = norm ? '((src[base + j] - mean) * rstd * gain[j] + shift[j])' : 'src[base + j]';
  return {
    inputs: bound,
    outputShape: [M, N],
    threads: M * N,
    uniforms: [['inner', 'i32', K], ['cols', 'i32', N], ['eps', 'f32', eps], ['slope', 'f32', GELU_SLOPE]],
    // Which parts there are is written into the WGSL: a pipeline each.
    variant: `${norm ? 'n' : ''}${bias ? 'b' : ''}${gelu ? 'g' : ''}${residual ? 'r' : ''}${transposeW ? 't' : ''}`,
    body: `
      let K = uniforms.inner;
      let N = uniforms.cols;
      let m = index / N;
      let n = index - m * N;
      let base = m * K;
      ${norm ? `var mean = 0.0;
      for (var j = 0; j < K; j++) { mean += src[base + j]; }
      mean = mean / f32(K);
      var variance = 0.0;
      for (var j = 0; j < K; j++) { let d = src[base + j] - mean; variance += d * d; }
      let rstd = inverseSqrt(variance / f32(K) + uniforms.eps);` : ''}
      var acc = 0.0;
      for (var j = 0; j < K; j++) {
        acc += ${row} * weight[${transposeW ? 'n * K + j' : 'j * N + n'}];
      }
      ${bias ? 'acc += addend[n];' : ''}
      ${gelu ? 'acc = acc / (1.0 + exp(min(-uniforms.slope * acc, 80.0)));' : ''}
      ${residual ? 'acc += residual[index];' : ''}
      setOutputAtIndex(index, acc);`,
  };
});
