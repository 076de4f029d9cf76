/**
 * The device loop's token choice as one kernel (device-generation.ts): for each row of logits,
 * plain sampling at a temperature (no top-k or top-p) from its uniform draw, or the pad token
 * where the row has already stopped.
 *
 * As tfjs ops (token-choice.ts, chooseTokensOnDevice, then a select for the stopped rows) this is
 * about twenty kernels: max, subtract, divide, exp, two sums, a cumulative sum, compares, casts
 * and a range. On a GPU each is a dispatch, and with them a sampled token of the default model
 * was about ninety dispatches: this kernel takes a fifth of them away.
 *
 * The kernel follows the host rule (chooseToken): weights exp((l − max) / temperature), and the
 * first token at which u · Σ weights, less the running weights, falls below zero. Where rounding
 * leaves no such token it takes the last token with weight, as the ops do. The ids come out as
 * int32, ready for the embedding lookup (kernels.ts, fusedOutputDtype).
 *
 * It reads this step's draws out of the whole loop's, uploaded once: on WebGPU each upload from
 * the host costs a staging buffer and ends the compute pass, and a token is short of host time.
 */
import * as tf from '@tensorflow/tfjs-core';

export const SAMPLE_TOKENS_KERNEL = 'GrpoSampleTokens';

/**
 * logits [B, V] float32, draws [S, B] float32 in [0, 1) of which row `step` is this token's, done
 * [B] bool → [B] int32 token ids: padId where done, else a token sampled at this temperature (> 0).
 */
export function fusedSampleTokens(
  logits: tf.Tensor2D, draws: tf.Tensor2D, step: number, done: tf.Tensor1D, temperature: number, padId: number,
): tf.Tensor1D {
  const [B] = logits.shape;
  const [S] = draws.shape;
  if (draws.shape[1] !== B || done.shape[0] !== B) {
    throw new Error(`sampleTokens: draws of [steps, ${B}] and done of [${B}] expected for logits [${logits.shape}], got [${draws.shape}] and [${done.shape}]`);
  }
  if (!Number.isInteger(step) || step < 0 || step >= S) throw new Error(`sampleTokens: step must be a whole number from 0 to ${S - 1} (got ${step})`);
  if (!(temperature > 0)) throw new Error(`sampleTokens: temperature must be above 0 (got ${temperature}); greedy choice is an argmax`);
  return tf.engine().runKernel(SAMPLE_TOKENS_KERNEL, { logits, draws, done }, { temperature, padId, step }) as tf.Tensor1D;
}
