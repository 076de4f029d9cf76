/**
 * The fused layer norm (layer-norm.ts) for tfjs's webgpu backend: one WGSL kernel, one thread
 * per row. A row here is one token's hidden vector (dModel = 64 to 256 wide), so a thread's
 * three passes over its row are short, and the dispatch count, not the arithmetic, is what
 * this saves. Importing this module registers the kernel.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { LAYER_NORM_KERNEL } from './layer-norm';
import { registerFlatWebGpuKernel } from './webgpu-program';

registerFlatWebGpuKernel(LAYER_NORM_KERNEL, 'grpoLayerNorm', (inputs, attrs) => {
  const { x, gain, bias } = inputs as { x: tf.TensorInfo; gain: tf.TensorInfo; bias: tf.TensorInfo };
  const width = x.shape[x.shape.length - 1] as number;
  return {
    inputs: [['src', x], ['gain', gain], ['shift', bias]],
    outputShape: x.shape,
    threads: x.shape.reduce((a, b) => a * b, 1) / width,
    uniforms: [['width', 'i32', width], ['eps', 'f32', (attrs as { eps: number }).eps]],
    body: `
      let width = uniforms.width;
      let base = index * width;
      var mean = 0.0;
      for (var j = 0; j < width; j++) { mean += src[base + j]; }
      mean = mean / f32(width);
      var variance = 0.0;
      for (var j = 0; j < width; j++) { let d = src[base + j] - mean; variance += d * d; }
      let rstd = inverseSqrt(variance / f32(width) + uniforms.eps);
      for (var j = 0; j < width; j++) {
        setOutputAtIndex(base + j, (src[base + j] - mean) * rstd * gain[j] + shift[j]);
      }`,
  };
});
