/**
 * The fused layer norm (layer-norm.ts) for tfjs's webgpu backend: one WGSL kernel, one thread
 * per row. A row here is one token's hidden vector (dModel = 64 to 256 wide), so a thread's
 * three passes over its row are short, and the dispatch count, not the arithmetic, is what
 * this saves. Its backward pass is two more kernels: dx, one thread per row again, and dgain
 * (below). Importing this module registers the kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { LAYER_NORM_GAIN_GRAD_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from './layer-norm';
import { type FlatKernel, registerFlatWebGpuKernel, runFlatWebGpuKernel } from './webgpu-program';

/**
 * A thread per row of x ([..., width]), writing a tensor of x's shape: `body` runs with the row's
 * start in `base`, its width in `width` and its `mean` and `rstd` already computed. `inputs`
 * must bind x as `src`.
 */
function perRowWithMoments(x: tf.TensorInfo, inputs: FlatKernel['inputs'], eps: number, body: string): FlatKernel {
  const width = x.shape[x.shape.length - 1] as number;
  return {
    inputs,
    outputShape: x.shape,
    threads: x.shape.reduce((a, b) => a * b, 1) / width,
    uniforms: [['width', 'i32', width], ['eps', 'f32', eps]],
    body: `
      let width = uniforms.width;
      let base = index * width;
      var mean = 0.0;
      for (var j = 0; j < width; j++) { mean += src[base + j]; }
      mean = mean / f32(width);
      var variance = 0.0;
      for (var j = 0; j < width; j++) { let d = src[base + j] - mean; variance += d * d; }
      let rstd = inverseSqrt(variance / f32(width) + uniforms.eps);
      ${body}`,
  };
}

const epsOf = (attrs: tf.NamedAttrMap): number => (attrs as { eps: number }).eps;

registerFlatWebGpuKernel(LAYER_NORM_KERNEL, 'grpoLayerNorm', (inputs, attrs) => {
  const { x, gain, bias } = inputs as { x: tf.TensorInfo; gain: tf.TensorInfo; bias: tf.TensorInfo };
  return perRowWithMoments(x, [['src', x], ['gain', gain], ['shift', bias]], epsOf(attrs), `
      for (var j = 0; j < width; j++) {
        setOutputAtIndex(base + j, (src[base + j] - mean) * rstd * gain[j] + shift[j]);
      }`);
});

registerFlatWebGpuKernel(LAYER_NORM_GRAD_KERNEL, 'grpoLayerNormGrad', (inputs, attrs) => {
  const { x, gain, dy } = inputs as { x: tf.TensorInfo; gain: tf.TensorInfo; dy: tf.TensorInfo };
  return perRowWithMoments(x, [['src', x], ['gain', gain], ['upstream', dy]], epsOf(attrs), `
      var a = 0.0;
      var b = 0.0;
      for (var j = 0; j < width; j++) {
        let dxhat = upstream[base + j] * gain[j];
        a += dxhat;
        b += dxhat * (src[base + j] - mean) * rstd;
      }
      a = a / f32(width);
      b = b / f32(width);
      for (var j = 0; j < width; j++) {
        setOutputAtIndex(base + j, rstd * (upstream[base + j] * gain[j] - a - (src[base + j] - mean) * rstd * b));
      }`);
});

/**
 * dgain in two steps, both parallel: a thread per row writes that row's dy * xhat (its moments
 * computed once), then tfjs's own Sum adds the rows up. A single kernel with a thread per
 * column, each walking every row, measured 13 ms per call on an H200 (a GPU thread is slow
 * alone), which made the whole update twice as slow.
 */
tf.registerKernel({
  kernelName: LAYER_NORM_GAIN_GRAD_KERNEL,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const webgpu = backend as WebGPUBackend;
    const terms = runFlatWebGpuKernel(webgpu, 'grpoLayerNormGainTerms', perRowWithMoments(x, [['src', x], ['upstream', dy]], epsOf(attrs ?? {}), `
      for (var j = 0; j < width; j++) {
        setOutputAtIndex(base + j, upstream[base + j] * (src[base + j] - mean) * rstd);
      }`));
    // Sum over every axis but the last: the terms seen as [rows, width].
    const width = x.shape[x.shape.length - 1] as number;
    const rows = { dataId: terms.dataId, shape: [tf.util.sizeFromShape(x.shape) / width, width], dtype: terms.dtype };
    const sum = tf.getKernel(tf.Sum, 'webgpu') as tf.KernelConfig;
    const total = sum.kernelFunc({ inputs: { x: rows }, backend, attrs: { axis: [0], keepDims: false } }) as tf.TensorInfo;
    webgpu.disposeData(terms.dataId);
    return total;
  },
});
