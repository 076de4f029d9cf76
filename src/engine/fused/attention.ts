/**
 * Attention of whole sequences to themselves (training, scoring, the reference pass), as two
 * kernels forward and one backward where a backend has them.
 *
 * Written as tfjs ops, one layer's attention slices q, k and v out of the fused qkv projection,
 * transposes each into heads, multiplies q by k, takes the masked softmax, multiplies by v and
 * transposes back; its backward pass adds the products' gradients, softmax's, three transposes
 * and the concat that undoes the slicing: about twenty kernels per layer and micro-batch, each a
 * call with its own pass over memory on wasm (and a dispatch on WebGPU).
 *
 * Fused, it reads qkv [B, T, 3d] in place and writes the layouts the model reads (queries the
 * last Tq tokens, Tq = T but in the shared-prompt forward):
 * - GrpoAttentionProbs: P = softmax(q kᵀ * scale + bias) per head, [B, H, Tq, T];
 * - GrpoAttentionValues: P v per head, merged to [B, Tq, d] for the output projection;
 * - GrpoAttentionGrad: the gradient for qkv [B, T, 3d] from the output's dy and the saved P:
 *   dV = Pᵀ dO, dP = dO Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)) * scale, dQ = dS K, dK = dSᵀ Q.
 *
 * The bias is the attention mask, a constant: it is not an input of the gradient (the fused op
 * differentiates qkv only), so asking tfjs for a gradient with respect to it gives none. Sums run
 * in another order than the ops', so values agree to float32 rounding, not in bits.
 */
import * as tf from '@tensorflow/tfjs-core';
import { attendHeads, splitHeads } from '../heads';
import { customGradOp, fusedWhereRegistered } from './fused-op';

export const ATTENTION_PROBS_KERNEL = 'GrpoAttentionProbs';
export const ATTENTION_VALUES_KERNEL = 'GrpoAttentionValues';
export const ATTENTION_GRAD_KERNEL = 'GrpoAttentionGrad';
export const ATTENTION_KERNELS: readonly string[] = [ATTENTION_PROBS_KERNEL, ATTENTION_VALUES_KERNEL, ATTENTION_GRAD_KERNEL];

/** The composite form: the model's attention as tfjs ops, on every backend without the kernels. */
export function attentionOps(qkv: tf.Tensor, bias: tf.Tensor, heads: number, scale: number): tf.Tensor {
  const [q, k, v] = tf.split(qkv, 3, 2) as [tf.Tensor, tf.Tensor, tf.Tensor];
  const [B, T, d] = q.shape as [number, number, number];
  const queries = bias.shape[2] as number;
  const asked = queries === T ? q : tf.slice(q, [0, T - queries, 0], [B, queries, d]);
  return attendHeads(splitHeads(asked, heads), splitHeads(k, heads), splitHeads(v, heads), bias, scale);
}

/**
 * The layout the attention kernels index by, from qkv's shape [B, T, 3 * heads * hd] (row is 3d
 * floats) and the number of queries Tq: the last Tq of the T tokens (all of them by default).
 */
export function attentionLayout(
  qkvShape: readonly number[], heads: number, queries?: number,
): { B: number; T: number; Tq: number; H: number; hd: number; d: number; row: number } {
  const [B, T, row] = qkvShape as [number, number, number];
  const d = row / 3;
  return { B, T, Tq: queries ?? T, H: heads, hd: d / heads, d, row };
}

/** The shapes the kernels index by; anything else is refused here, not read wrongly. */
function checkShapes(qkv: tf.Tensor, bias: tf.Tensor, heads: number): void {
  const [B, T, width] = qkv.shape as [number, number, number];
  const queries = bias.shape[2] as number;
  if (qkv.rank !== 3 || width % (3 * heads) !== 0 || !(queries >= 1 && queries <= T) || !tf.util.arraysEqual(bias.shape, [B, 1, queries, T])) {
    throw new Error(
      `attention: qkv [B, T, 3d] with 3d a multiple of 3 * heads (${3 * heads}) and bias [B, 1, Tq, T] with 1 <= Tq <= T expected, got [${qkv.shape}] and [${bias.shape}]`,
    );
  }
}

export function fusedAttention(qkv: tf.Tensor, bias: tf.Tensor, heads: number, scale: number): tf.Tensor {
  checkShapes(qkv, bias, heads);
  return customGradOp((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const probs = tf.engine().runKernel(ATTENTION_PROBS_KERNEL, { qkv: x, bias }, { heads, scale }) as tf.Tensor;
    const value = tf.engine().runKernel(ATTENTION_VALUES_KERNEL, { probs, qkv: x }, {}) as tf.Tensor;
    save([x, probs]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sx, sp] = saved as [tf.Tensor, tf.Tensor];
      return [tf.engine().runKernel(ATTENTION_GRAD_KERNEL, { dy, qkv: sx, probs: sp }, { scale }) as tf.Tensor];
    };
    return { value, gradFunc };
  })(qkv);
}

/**
 * The attention output [B, Tq, d] of the last Tq tokens of each row (all T, in the plain forward)
 * over the row's T tokens, from qkv [B, T, 3d] under bias [B, 1, Tq, T] (0 where a key is
 * visible, MASKED where not). Tokens before the last Tq are keys and values only: the
 * shared-prompt forward's prompt columns (shared-prompt.ts).
 */
export const attention = fusedWhereRegistered(ATTENTION_KERNELS, fusedAttention, attentionOps);
