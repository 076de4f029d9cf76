/**
 * The fused layer norm (layer-norm.ts) for tfjs's webgpu backend: one WGSL kernel, one thread
 * per row. A row here is one token's hidden vector (dModel = 64 to 256 wide), so a thread's
 * three passes over its row are short, and the dispatch count, not the arithmetic, is what
 * this saves. Importing this module registers the kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WebGPUBackend, type WebGPUProgram, webgpu_util } from '@tensorflow/tfjs-backend-webgpu';
import { LAYER_NORM_KERNEL } from './layer-norm';

class LayerNormProgram implements WebGPUProgram {
  outputShape: number[];
  shaderKey = 'grpoLayerNorm';
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  variableNames = ['src', 'gain', 'shift'];
  workgroupSize: [number, number, number] = [64, 1, 1];
  uniforms = 'rows : i32, width : i32, eps : f32,';

  constructor(shape: number[], rows: number) {
    this.outputShape = shape;
    this.dispatchLayout = webgpu_util.flatDispatchLayout([rows]);
    this.dispatch = webgpu_util.computeDispatch(this.dispatchLayout, [rows], this.workgroupSize);
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.rows) {
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
          }
        }
      }
    `;
  }
}

tf.registerKernel({
  kernelName: LAYER_NORM_KERNEL,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, gain, bias } = inputs as { x: tf.TensorInfo; gain: tf.TensorInfo; bias: tf.TensorInfo };
    const width = x.shape[x.shape.length - 1] as number;
    const rows = tf.util.sizeFromShape(x.shape) / width;
    const eps = (attrs as { eps: number }).eps;
    return (backend as WebGPUBackend).runWebGPUProgram(new LayerNormProgram(x.shape, rows), [x, gain, bias], 'float32', [
      { type: 'int32', data: [rows] }, { type: 'int32', data: [width] }, { type: 'float32', data: [eps] },
    ]);
  },
});
