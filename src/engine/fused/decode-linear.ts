/**
 * A decoding step's linear layer with what surrounds it, as one kernel, for generation only (no
 * gradient): y = [LN](x) · W [+ bias] [then GELU] [+ residual], x [M, K], W [K, N] or, transposed,
 * [N, K] (the output layer tied to the token embedding). The model reads a layer norm straight
 * into a matmul three times (each block's query/key/value projection, its MLP's first layer with
 * bias and GELU, and the language-model head), and ends each block with its MLP's second layer,
 * bias and residual. As separate kernels those are two or three dispatches each; as one, a
 * sampled token of the default model (4 layers) takes 17 dispatches fewer, and on a GPU a
 * token's time follows its dispatches (docs/results.md).
 *
 * With a layer norm, each output element recomputes its row's mean and variance: the rows are a
 * decoding step's (one token per sequence), a few hundred numbers each, so that is cheaper than
 * a dispatch. Only WebGPU has the kernel (kernels.ts); elsewhere model.ts runs the same as ops
 * (decodeLinearOps).
 */
import * as tf from '@tensorflow/tfjs-core';
import { LAYER_NORM_EPS } from './layer-norm';

export const DECODE_LINEAR_KERNEL = 'GrpoDecodeLinear';

export interface DecodeLinearOptions {
  /** A layer norm of x first, with this gain and shift ([K]). */
  norm?: { gain: tf.Tensor; shift: tf.Tensor };
  /** Added to every row after the product ([N]). */
  bias?: tf.Tensor;
  /** GELU (sigmoid form, as biasGelu) after the bias, which it needs. */
  gelu?: boolean;
  /** Added last, element by element ([M, N]): the residual stream. */
  residual?: tf.Tensor;
  /** W is [N, K] and used transposed. */
  transposeW?: boolean;
}

/** The width N a weight gives: its columns, or its rows when used transposed. */
export function decodeLinearWidth(w: readonly number[], transposeW: boolean): number {
  return (transposeW ? w[0] : w[1]) as number;
}

/** Why these inputs do not fit together, or null when they do. */
export function decodeLinearMismatch(x: tf.Tensor, w: tf.Tensor, o: DecodeLinearOptions): string | null {
  const [M, K] = x.shape as [number, number];
  const N = decodeLinearWidth(w.shape, o.transposeW ?? false);
  const inner = (o.transposeW ? w.shape[1] : w.shape[0]) as number;
  if (x.rank !== 2 || w.rank !== 2 || inner !== K) return `x [M, K] and w [K, N] (or [N, K] transposed) expected, got x [${x.shape}] and w [${w.shape}]${o.transposeW ? ' transposed' : ''}`;
  if (o.norm && (o.norm.gain.size !== K || o.norm.shift.size !== K)) return `the norm's gain and shift need ${K} values, got ${o.norm.gain.size} and ${o.norm.shift.size}`;
  if (o.bias && o.bias.size !== N) return `the bias needs ${N} values, got ${o.bias.size}`;
  if (o.gelu && !o.bias) return 'GELU comes after a bias; none was given';
  if (o.residual && (o.residual.size !== M * N)) return `the residual needs [${M}, ${N}], got [${o.residual.shape}]`;
  return null;
}

/** The kernel: x [M, K] and w as in DecodeLinearOptions → [M, N]. No gradient. */
export function fusedDecodeLinear(x: tf.Tensor2D, w: tf.Tensor, o: DecodeLinearOptions = {}): tf.Tensor2D {
  const mismatch = decodeLinearMismatch(x, w, o);
  if (mismatch) throw new Error(`decodeLinear: ${mismatch}`);
  const inputs: tf.NamedTensorMap = {
    x, w,
    ...(o.norm ? { gain: o.norm.gain, shift: o.norm.shift } : {}),
    ...(o.bias ? { bias: o.bias } : {}),
    ...(o.residual ? { residual: o.residual } : {}),
  };
  return tf.engine().runKernel(DECODE_LINEAR_KERNEL, inputs, { eps: LAYER_NORM_EPS, gelu: o.gelu ? 1 : 0, transposeW: o.transposeW ? 1 : 0 }) as tf.Tensor2D;
}
