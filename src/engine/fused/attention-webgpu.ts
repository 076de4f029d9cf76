/**
 * The whole-sequence attention kernels (attention.ts) for tfjs's webgpu backend. Importing this
 * module registers them. Each reads qkv [B, T, 3d] in place: q, k and v of token t and head h
 * start at (b * T + t) * 3d + part * d + h * hd. The queries are the last Tq tokens (query i is
 * token T - Tq + i); every token is a key.
 *
 * - GrpoAttentionProbs: one thread per row (batch, head, query), its T scores computed in each
 *   of three passes (maximum, sum, output) rather than kept: a thread has no array of T floats,
 *   and recomputing T dot products of hd is cheap next to a dispatch.
 * - GrpoAttentionValues: one thread per output element, a sum over the row's T keys.
 * - GrpoAttentionGrad: two dispatches. First dS [B, H, Tq, T], one thread per row (as the
 *   probabilities are); then one thread per element of dqkv, each a sum over T: dQ from dS and
 *   K, dK from dSᵀ and Q, dV from Pᵀ and dO.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { ATTENTION_GRAD_KERNEL, ATTENTION_PROBS_KERNEL, ATTENTION_VALUES_KERNEL, attentionLayout } from './attention';
import { registerFlatWebGpuKernel, runFlatWebGpuKernel } from './webgpu-program';

/** The sizes every attention kernel indexes by, as uniforms. */
function sizes(qkv: tf.TensorInfo, heads: number, queries: number): Array<[string, 'i32', number]> {
  const { T, hd } = attentionLayout(qkv.shape, heads);
  return [['tokens', 'i32', T], ['queries', 'i32', queries], ['heads', 'i32', heads], ['headDim', 'i32', hd]];
}

/** WGSL: the sizes as locals, T tokens of which the last Tq are queries (the first of them firstQuery), heads of hd, width d. */
const SIZES = `
      let T = uniforms.tokens;
      let Tq = uniforms.queries;
      let firstQuery = T - Tq;
      let hd = uniforms.headDim;
      let d = uniforms.heads * hd;`;

/** WGSL for a thread that owns row (b, h, i) of a [B, H, Tq, T] tensor: index = (b * heads + h) * Tq + i. */
const ROW_OF_HEAD = `${SIZES}
      let i = index % Tq;
      let h = (index / Tq) % uniforms.heads;
      let b = index / (Tq * uniforms.heads);
      let base = index * T;
      let at = b * T * 3 * d + h * hd;`;

/** WGSL for a thread that owns element c of head h in a row of width `width` (d or 3d): index % width = [part *] d + h * hd + c. */
const ELEMENT_OF_HEAD = `${SIZES}
      let c = index % hd;
      let h = (index % d) / hd;`;

registerFlatWebGpuKernel(ATTENTION_PROBS_KERNEL, 'grpoAttentionProbs', (inputs, attrs) => {
  const { qkv, bias } = inputs as { qkv: tf.TensorInfo; bias: tf.TensorInfo };
  const { heads, scale } = attrs as { heads: number; scale: number };
  const [B, T] = qkv.shape as [number, number, number];
  const queries = bias.shape[2] as number;
  return {
    inputs: [['qkv', qkv], ['mask', bias]],
    outputShape: [B, heads, queries, T],
    threads: B * heads * queries,
    uniforms: [...sizes(qkv, heads, queries), ['scale', 'f32', scale]],
    body: `${ROW_OF_HEAD}
      let maskBase = (b * Tq + i) * T;
      let query = firstQuery + i;
      var top = -3.0e38;
      for (var j = 0; j < T; j++) { top = max(top, logit(at, query, j, d, hd) * uniforms.scale + mask[maskBase + j]); }
      var total = 0.0;
      for (var j = 0; j < T; j++) { total += exp(logit(at, query, j, d, hd) * uniforms.scale + mask[maskBase + j] - top); }
      for (var j = 0; j < T; j++) {
        setOutputAtIndex(base + j, exp(logit(at, query, j, d, hd) * uniforms.scale + mask[maskBase + j] - top) / total);
      }`,
    helpers: `
      // q_i · k_j of the head whose q starts at qkv[at] (row stride 3d, k a third further on).
      fn logit(at : i32, i : i32, j : i32, d : i32, hd : i32) -> f32 {
        var dot = 0.0;
        for (var c = 0; c < hd; c++) { dot += qkv[at + i * 3 * d + c] * qkv[at + j * 3 * d + d + c]; }
        return dot;
      }`,
  };
});

registerFlatWebGpuKernel(ATTENTION_VALUES_KERNEL, 'grpoAttentionValues', (inputs) => {
  const { probs, qkv } = inputs as { probs: tf.TensorInfo; qkv: tf.TensorInfo };
  const [, heads, queries] = probs.shape as [number, number, number, number];
  const [B, , width] = qkv.shape as [number, number, number];
  return {
    inputs: [['probs', probs], ['qkv', qkv]],
    outputShape: [B, queries, width / 3],
    threads: B * queries * (width / 3),
    uniforms: sizes(qkv, heads, queries),
    // index = (b * Tq + i) * d + h * hd + c, the [B, Tq, d] layout the output projection reads.
    body: `${ELEMENT_OF_HEAD}
      let i = (index / d) % Tq;
      let b = index / (d * Tq);
      let row = ((b * uniforms.heads + h) * Tq + i) * T;
      let v = b * T * 3 * d + 2 * d + h * hd + c;
      var acc = 0.0;
      for (var j = 0; j < T; j++) { acc += probs[row + j] * qkv[v + j * 3 * d]; }
      setOutputAtIndex(index, acc);`,
  };
});

tf.registerKernel({
  kernelName: ATTENTION_GRAD_KERNEL,
  backendName: 'webgpu',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, qkv, probs } = inputs as { dy: tf.TensorInfo; qkv: tf.TensorInfo; probs: tf.TensorInfo };
    const webgpu = backend as WebGPUBackend;
    const [, heads, queries] = probs.shape as [number, number, number, number];
    const [B, T, width] = qkv.shape as [number, number, number];
    const uniforms = sizes(qkv, heads, queries);
    // dS_ij = P_ij (dP_ij - Σ_j' P_ij' dP_ij') * scale, with dP_ij = dO_i · V_j.
    const dS = runFlatWebGpuKernel(webgpu, 'grpoAttentionScoreGrad', {
      inputs: [['upstream', dy], ['qkv', qkv], ['probs', probs]],
      outputShape: probs.shape,
      threads: B * heads * queries,
      uniforms: [...uniforms, ['scale', 'f32', (attrs as { scale: number }).scale]],
      body: `${ROW_OF_HEAD}
      let o = (b * Tq + i) * d + h * hd;
      var c = 0.0;
      for (var j = 0; j < T; j++) { c += probs[base + j] * valueDot(o, at, j, d, hd); }
      for (var j = 0; j < T; j++) {
        setOutputAtIndex(base + j, probs[base + j] * (valueDot(o, at, j, d, hd) - c) * uniforms.scale);
      }`,
      helpers: `
      // dO_i (at upstream[o]) · v_j of the head whose q starts at qkv[at].
      fn valueDot(o : i32, at : i32, j : i32, d : i32, hd : i32) -> f32 {
        var dot = 0.0;
        for (var c = 0; c < hd; c++) { dot += upstream[o + c] * qkv[at + j * 3 * d + 2 * d + c]; }
        return dot;
      }`,
    });
    const dqkv = runFlatWebGpuKernel(webgpu, 'grpoAttentionQkvGrad', {
      inputs: [['upstream', dy], ['qkv', qkv], ['probs', probs], ['scoreGrad', dS]],
      outputShape: qkv.shape,
      threads: B * T * width,
      uniforms,
      // index = (b * T + t) * 3d + part * d + h * hd + c.
      body: `${ELEMENT_OF_HEAD}
      let part = (index / d) % 3;
      let t = (index / (3 * d)) % T;
      let b = index / (3 * d * T);
      let heads = (b * uniforms.heads + h) * Tq * T;
      let q = b * T * 3 * d + h * hd + c;
      var acc = 0.0;
      if (part == 0) {
        // A token before the queries has no query gradient.
        if (t >= firstQuery) {
          for (var j = 0; j < T; j++) { acc += scoreGrad[heads + (t - firstQuery) * T + j] * qkv[q + j * 3 * d + d]; }
        }
      } else if (part == 1) {
        for (var i = 0; i < Tq; i++) { acc += scoreGrad[heads + i * T + t] * qkv[q + (firstQuery + i) * 3 * d]; }
      } else {
        for (var i = 0; i < Tq; i++) { acc += probs[heads + i * T + t] * upstream[(b * Tq + i) * d + h * hd + c]; }
      }
      setOutputAtIndex(index, acc);`,
    });
    webgpu.disposeData(dS.dataId);
    return dqkv;
  },
});
