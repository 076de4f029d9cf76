/**
 * A decoding step's layer norm and the linear layer after it as one kernel, for generation only
 * (no gradient): y = LN(x) · W (+ bias) (then GELU), x [M, K], W [K, N] or, transposed, [N, K]
 * (the output layer tied to the token embedding). Three places in the model read a layer norm
 * straight into a matmul: each block's query/key/value projection, its MLP's first layer (with
 * bias and GELU), and the language-model head. As separate kernels they are two or three
 * dispatches each; one kernel takes 13 of a sampled token's 50 dispatches away on the default
 * model (4 layers), and on a GPU a token's time follows its dispatches (docs/results.md).
 *
 * Each output element recomputes its row's mean and variance: the rows are a decoding step's
 * (one token per sequence), a few hundred numbers each, so that is cheaper than a dispatch.
 * Only WebGPU has it (kernels.ts); elsewhere model.ts runs the same as ops (normLinearOps).
 */
import * as tf from '@tensorflow/tfjs-core';
import { LAYER_NORM_EPS } from './layer-norm';

export const NORM_LINEAR_KERNEL = 'GrpoNormLinear';

export interface NormLinearOptions {
  /** Added to every row after the product ([N]). */
  bias?: tf.Tensor;
  /** GELU (sigmoid form, as biasGelu) after the bias, which it needs. */
  gelu?: boolean;
  /** W is [N, K] and used transposed. */
  transposeW?: boolean;
}

/** The width N a weight gives: its columns, or its rows when used transposed. */
export function normLinearWidth(w: readonly number[], transposeW: boolean): number {
  return (transposeW ? w[0] : w[1]) as number;
}

/** x [M, K], gain and shift [K], w [K, N] (or [N, K] transposed) → [M, N]. No gradient. */
export function fusedNormLinear(x: tf.Tensor2D, gain: tf.Tensor, shift: tf.Tensor, w: tf.Tensor, o: NormLinearOptions = {}): tf.Tensor2D {
  const K = x.shape[1];
  const inner = (o.transposeW ? w.shape[1] : w.shape[0]) as number;
  const N = normLinearWidth(w.shape, o.transposeW ?? false);
  if (w.rank !== 2 || inner !== K || gain.size !== K || shift.size !== K || (o.bias && o.bias.size !== N)) {
    throw new Error(`normLinear: x [M, ${K}] needs gain and shift of ${K}, w with ${K} inner and a bias of ${N}; got gain ${gain.size}, shift ${shift.size}, w [${w.shape}]${o.transposeW ? ' transposed' : ''}, bias ${o.bias?.size ?? 'none'}`);
  }
  if (o.gelu && !o.bias) throw new Error('normLinear: GELU comes after a bias; none was given');
  const inputs: tf.NamedTensorMap = { x, gain, shift, w, ...(o.bias ? { bias: o.bias } : {}) };
  return tf.engine().runKernel(NORM_LINEAR_KERNEL, inputs, { eps: LAYER_NORM_EPS, gelu: o.gelu ? 1 : 0, transposeW: o.transposeW ? 1 : 0 }) as tf.Tensor2D;
}
