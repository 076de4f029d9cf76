/**
 * Choosing the next token from a row of logits under temperature, top-k and top-p, given one
 * uniform draw u in [0, 1) per row. The same rule runs in two places: on the host in JavaScript
 * (chooseToken) and on the backend as tensor ops (chooseTokensOnDevice), so that a GPU can sample
 * without reading logits back every token. Fed the same draws, both pick the same tokens up to
 * float rounding at a boundary between two tokens.
 *
 * The rule: with top-k or top-p on, sort the tokens by logit (ties by id), keep the top k, and
 * keep the smallest prefix whose probability reaches topP; without them, keep every token in id
 * order (no sort: on a GPU a sort is a dozen passes per token). Weight each kept token by
 * exp((logit - max) / temperature) and pick the first whose running weight exceeds u times the
 * kept total.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedWhereRegistered } from './fused/fused-op';
import { SAMPLE_TOKENS_KERNEL, fusedSampleTokens } from './fused/sample-tokens';
import { type Rng, weightedIndex } from './rng';

export interface TokenChoice {
  /** 0 means greedy (argmax). */
  temperature: number;
  /** Keep the k most likely tokens (0 = off). */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches topP (1 = off). */
  topP: number;
}

/** The host rule for one row of logits. */
export function chooseToken(logits: ArrayLike<number>, o: TokenChoice, u: number): number {
  const V = logits.length;
  if (o.temperature <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
    return best;
  }
  const truncated = o.topK > 0 || o.topP < 1;
  const ids = Array.from({ length: V }, (_, i) => i);
  const order = truncated ? ids.sort((a, b) => (logits[b] as number) - (logits[a] as number)) : ids;
  const keep = o.topK > 0 ? order.slice(0, o.topK) : order;
  const maxLogit = Math.max(...keep.map((i) => logits[i] as number));
  const weights = keep.map((i) => Math.exp(((logits[i] as number) - maxLogit) / o.temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let cut = keep.length;
  if (o.topP < 1) {
    let cumulative = 0;
    for (let k = 0; k < keep.length; k++) {
      cumulative += (weights[k] as number) / total;
      if (cumulative >= o.topP) { cut = k + 1; break; }
    }
  }
  return keep[weightedIndex(weights.slice(0, cut), u)] as number;
}

/**
 * The same rule as tensor ops: logits [B, V] and draws [B] give token ids [B] (int32), with no
 * readback. Call inside tf.tidy.
 */
export function chooseTokensOnDevice(logits: tf.Tensor2D, draws: tf.Tensor1D, o: TokenChoice): tf.Tensor1D {
  if (o.temperature <= 0) return tf.cast(tf.argMax(logits, 1), 'int32') as tf.Tensor1D;
  const [B, V] = logits.shape;
  if (!(o.topK > 0 || o.topP < 1)) return pickByRunningWeight(tf.exp(tf.div(tf.sub(logits, tf.max(logits, 1, true)), o.temperature)), draws);
  const sorted = tf.topk(logits, V, true);
  const columns = tf.range(0, V, 1, 'int32').reshape([1, V]);
  const maxLogit = tf.slice(sorted.values, [0, 0], [B, 1]);
  let weights = tf.exp(tf.div(tf.sub(sorted.values, maxLogit), o.temperature));
  if (o.topK > 0 && o.topK < V) weights = tf.mul(weights, tf.cast(tf.less(columns, o.topK), 'float32'));
  if (o.topP < 1) {
    // A token stays when the probability of the tokens ranked above it is still short of topP.
    const before = tf.cumsum(tf.div(weights, tf.sum(weights, 1, true)), 1, true);
    weights = tf.mul(weights, tf.cast(tf.less(before, o.topP), 'float32'));
  }
  const rank = pickByRunningWeight(weights, draws);
  return tf.sum(tf.mul(sorted.indices, tf.oneHot(rank, V, 1, 0, 'int32')), 1) as tf.Tensor1D;
}

/** The chosen tokens [B], with padId for the rows that are done. */
function padStopped(tokens: tf.Tensor1D, done: tf.Tensor1D, padId: number): tf.Tensor1D {
  return tf.where(done, tf.fill([done.shape[0]], padId, 'int32'), tokens) as tf.Tensor1D;
}

/** Row `step` of every step's draws [S, B], as [B]. */
function drawsOfStep(draws: tf.Tensor2D, step: number): tf.Tensor1D {
  return tf.reshape(tf.slice(draws, [step, 0], [1, -1]), [-1]) as tf.Tensor1D;
}

/** Plain sampling (no top-k or top-p) as tfjs ops, stopped rows padded: what GrpoSampleTokens computes. */
export function plainSamplingOps(
  logits: tf.Tensor2D, draws: tf.Tensor2D, step: number, done: tf.Tensor1D, temperature: number, padId: number,
): tf.Tensor1D {
  return padStopped(chooseTokensOnDevice(logits, drawsOfStep(draws, step), { temperature, topK: 0, topP: 1 }), done, padId);
}

/** Plain sampling, stopped rows padded: one kernel where the backend has it (fused/sample-tokens.ts). */
const plainSampling = fusedWhereRegistered(SAMPLE_TOKENS_KERNEL, fusedSampleTokens, plainSamplingOps);

/**
 * The device loop's next tokens: chooseTokensOnDevice for the rows still running, padId for
 * those that are done. Plain sampling (a temperature above 0, no top-k or top-p) is one kernel
 * where the backend has it; greedy choice and truncated sampling are tfjs ops. draws [S, B] holds
 * every step's draws (drawsForSteps); row `step` is this token's. Call inside tf.tidy.
 */
export function nextTokensOnDevice(
  logits: tf.Tensor2D, draws: tf.Tensor2D, step: number, done: tf.Tensor1D, o: TokenChoice & { padId: number },
): tf.Tensor1D {
  if (o.temperature > 0 && o.topK === 0 && o.topP >= 1) return plainSampling(logits, draws, step, done, o.temperature, o.padId);
  return padStopped(chooseTokensOnDevice(logits, drawsOfStep(draws, step), o), done, o.padId);
}

/** The column of each row [B, V] where the running weight first exceeds draw times the row's total. */
function pickByRunningWeight(weights: tf.Tensor2D | tf.Tensor, draws: tf.Tensor1D): tf.Tensor1D {
  const B = draws.shape[0];
  const target = tf.mul(tf.reshape(draws, [B, 1]), tf.sum(weights, 1, true));
  const passed = tf.sum(tf.cast(tf.lessEqual(tf.cumsum(weights, 1), target), 'int32'), 1);
  // Rounding can leave the target at or past the last running sum: take the last column that
  // has weight (masked and underflowed columns have none).
  const V = weights.shape[1] as number;
  const lastWeighted = tf.max(tf.mul(tf.range(0, V, 1, 'int32').reshape([1, V]), tf.cast(tf.greater(weights, 0), 'int32')), 1);
  return tf.cast(tf.minimum(passed, lastWeighted), 'int32') as tf.Tensor1D;
}

/**
 * One uniform per row for the next step, rounded to float32 so that the host rule sees exactly
 * the numbers the device rule is given.
 */
export function nextDraws(draws: Rng, rows: number): Float32Array {
  return drawsForSteps(draws, 1, rows);
}

/** The next `steps` steps' draws at once, [steps * rows] in step order: nextDraws called `steps` times. */
export function drawsForSteps(draws: Rng, steps: number, rows: number): Float32Array {
  const u = new Float32Array(steps * rows);
  for (let i = 0; i < u.length; i++) u[i] = draws.next();
  return u;
}
