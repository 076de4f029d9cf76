/**
 * The decode-step attention kernels (decode-attention.ts) for tfjs's webgpu backend. Importing
 * this module registers them.
 *
 * - GrpoAppendHeads: one thread per element of the grown cache; row Tpast of each head comes
 *   from qkv, the others from the old cache.
 * - GrpoDecodeAttention: one thread per output element (row, head, dimension). Each thread
 *   computes its head's Tk scores itself, twice (once for the maximum, once for the weights):
 *   threads of one head repeat the same dot products, a few thousand multiply-adds each, which
 *   costs a GPU far less than the seven dispatches this kernel replaces.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL } from './decode-attention';
import { registerFlatWebGpuKernel } from './webgpu-program';

registerFlatWebGpuKernel(APPEND_HEADS_KERNEL, 'grpoAppendHeads', (inputs, attrs) => {
  const { past, qkv } = inputs as { past: tf.TensorInfo; qkv: tf.TensorInfo };
  const [B, H, Tp, hd] = past.shape as [number, number, number, number];
  return {
    inputs: [['cache', past], ['fresh', qkv]],
    outputShape: [B, H, Tp + 1, hd],
    threads: B * H * (Tp + 1) * hd,
    uniforms: [['heads', 'i32', H], ['pastRows', 'i32', Tp], ['headDim', 'i32', hd], ['part', 'i32', (attrs as { part: number }).part]],
    // index = ((b * heads + h) * (pastRows + 1) + t) * headDim + j
    body: `
      let hd = uniforms.headDim;
      let rows = uniforms.pastRows + 1;
      let j = index % hd;
      let t = (index / hd) % rows;
      let bh = index / (hd * rows);
      if (t < uniforms.pastRows) {
        setOutputAtIndex(index, cache[(bh * uniforms.pastRows + t) * hd + j]);
      } else {
        let b = bh / uniforms.heads;
        let d = uniforms.heads * hd;
        setOutputAtIndex(index, fresh[b * 3 * d + uniforms.part * d + (bh % uniforms.heads) * hd + j]);
      }`,
  };
});

registerFlatWebGpuKernel(DECODE_ATTENTION_KERNEL, 'grpoDecodeAttention', (inputs, attrs) => {
  const { qkv, keys, values, bias } = inputs as { qkv: tf.TensorInfo; keys: tf.TensorInfo; values: tf.TensorInfo; bias: tf.TensorInfo };
  const [B, H, Tk, hd] = keys.shape as [number, number, number, number];
  return {
    inputs: [['qkv', qkv], ['keyCache', keys], ['valueCache', values], ['mask', bias]],
    outputShape: [B, 1, H * hd],
    threads: B * H * hd,
    uniforms: [
      ['heads', 'i32', H], ['keys', 'i32', Tk], ['maskWidth', 'i32', bias.shape[3] as number], ['headDim', 'i32', hd],
      ['scale', 'f32', (attrs as { scale: number }).scale],
    ],
    // index = b * d + h * headDim + j, the [B, 1, d] layout; q sits at b * 3d + h * headDim.
    body: `
      let hd = uniforms.headDim;
      let d = uniforms.heads * hd;
      let b = index / d;
      let h = (index % d) / hd;
      let j = index % hd;
      let q = b * 3 * d + h * hd;
      let kv = (b * uniforms.heads + h) * uniforms.keys * hd;
      let m = b * uniforms.maskWidth;
      var top = -3.0e38;
      for (var t = 0; t < uniforms.keys; t++) {
        var dot = 0.0;
        for (var i = 0; i < hd; i++) { dot += qkv[q + i] * keyCache[kv + t * hd + i]; }
        top = max(top, dot * uniforms.scale + mask[m + t]);
      }
      var total = 0.0;
      var acc = 0.0;
      for (var t = 0; t < uniforms.keys; t++) {
        var dot = 0.0;
        for (var i = 0; i < hd; i++) { dot += qkv[q + i] * keyCache[kv + t * hd + i]; }
        let e = exp(dot * uniforms.scale + mask[m + t] - top);
        total += e;
        acc += e * valueCache[kv + t * hd + j];
      }
      setOutputAtIndex(index, acc / total);`,
  };
});
