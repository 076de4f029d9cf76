/**
 * The fused masked softmax (masked-softmax.ts) for tfjs's webgpu backend: one WGSL kernel, one
 * thread per row of scores, i.e. per (batch, head, query). A row is Tk keys (at most the
 * context, 96 here), so a thread's three passes over it are short; what this saves is two
 * dispatches per layer. Importing this module registers the kernel.
 *
 * Stable as tfjs's softmax is: the row's maximum is subtracted before exp, so no exp exceeds 1
 * and the sum is at least 1, finite even for a row whose every key is masked.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { MASKED_SOFTMAX_KERNEL } from './masked-softmax';
import { registerFlatWebGpuKernel } from './webgpu-program';

registerFlatWebGpuKernel(MASKED_SOFTMAX_KERNEL, 'grpoMaskedSoftmax', (inputs, attrs) => {
  const { scores, bias } = inputs as { scores: tf.TensorInfo; bias: tf.TensorInfo };
  const [B, H, T, Tk] = scores.shape as [number, number, number, number];
  return {
    inputs: [['scores', scores], ['mask', bias]],
    outputShape: scores.shape,
    threads: B * H * T,
    uniforms: [['keys', 'i32', Tk], ['queries', 'i32', T], ['heads', 'i32', H], ['scale', 'f32', (attrs as { scale: number }).scale]],
    // Row index = (b * heads + h) * queries + t; the mask is shared by the heads: row b * queries + t.
    body: `
      let keys = uniforms.keys;
      let base = index * keys;
      let b = index / (uniforms.heads * uniforms.queries);
      let maskBase = (b * uniforms.queries + index % uniforms.queries) * keys;
      var top = scores[base] * uniforms.scale + mask[maskBase];
      for (var j = 1; j < keys; j++) { top = max(top, scores[base + j] * uniforms.scale + mask[maskBase + j]); }
      var total = 0.0;
      for (var j = 0; j < keys; j++) { total += exp(scores[base + j] * uniforms.scale + mask[maskBase + j] - top); }
      for (var j = 0; j < keys; j++) {
        setOutputAtIndex(base + j, exp(scores[base + j] * uniforms.scale + mask[maskBase + j] - top) / total);
      }`,
  };
});
