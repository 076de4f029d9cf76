/**
 * What the trainers read off the logits at each position: the log-probability of its target
 * token, and the entropy of its next-token distribution; one kernel each, and one for the
 * log-probabilities' gradient, where a backend has them.
 *
 * As tfjs ops the log-probability is a log-softmax (max, subtract, exp, sum, log, subtract) and a
 * one-hot pick (one-hot, cast, multiply, sum), its gradient about as many again, and the entropy
 * another log-softmax with an exp, a multiply, a sum and a negation. tfjs-wasm's exp is scalar,
 * about 6 ns a value, and a GRPO update takes it of every logit several times.
 *
 * Fused, for a row of logits l with maximum m and Z = Σ exp(l − m):
 * - GrpoTokenLogProbs: l[t] − m − log Z for the row's target t;
 * - GrpoTokenLogProbsGrad: dy · (onehot(t) − exp(l − m) / Z), the softmax recomputed from l;
 * - GrpoTokenEntropy: log Z − Σ exp(l − m) (l − m) / Z. Forward only: the trainers take it of
 *   stop-gradient logits, as a metric.
 * The targets travel as float32 (exact for any vocabulary below 2^24), so every input is float32.
 */
import * as tf from '@tensorflow/tfjs-core';
import { customGradOp, fusedWhereRegistered } from './fused-op';

export const TOKEN_LOGPROBS_KERNEL = 'GrpoTokenLogProbs';
export const TOKEN_LOGPROBS_GRAD_KERNEL = 'GrpoTokenLogProbsGrad';
export const TOKEN_ENTROPY_KERNEL = 'GrpoTokenEntropy';
export const TOKEN_STATS_KERNELS: readonly string[] = [TOKEN_LOGPROBS_KERNEL, TOKEN_LOGPROBS_GRAD_KERNEL, TOKEN_ENTROPY_KERNEL];

/** The composite log-probabilities: logits [..., V] and int32 targets [...] → [...]. */
export function tokenLogProbsOps(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  const V = logits.shape[logits.rank - 1] as number;
  const logp = tf.logSoftmax(logits, -1);
  // A one-hot pick rather than a gather: tfjs-wasm has no gradient for gather.
  const oneHot = tf.cast(tf.oneHot(targets as tf.Tensor1D, V), 'float32');
  return tf.sum(tf.mul(logp, oneHot), -1);
}

/** The composite entropy (nats): logits [..., V] → [...]. */
export function tokenEntropyOps(logits: tf.Tensor): tf.Tensor {
  const logp = tf.logSoftmax(logits, -1);
  return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1));
}

export function fusedTokenLogProbs(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  if (logits.rank < 2 || !tf.util.arraysEqual(targets.shape, logits.shape.slice(0, -1))) {
    throw new Error(`tokenLogProbs: logits [..., V] with targets [...] of the same leading shape expected, got [${logits.shape}] and [${targets.shape}]`);
  }
  const ids = tf.cast(targets, 'float32');
  return customGradOp((l: tf.Tensor, save: tf.GradSaveFunc) => {
    // The ids are saved too, so that they outlive any tidy the forward pass ran in.
    save([l, ids]);
    const value = tf.engine().runKernel(TOKEN_LOGPROBS_KERNEL, { logits: l, targets: ids }, {}) as tf.Tensor;
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [sl, st] = saved as [tf.Tensor, tf.Tensor];
      return [tf.engine().runKernel(TOKEN_LOGPROBS_GRAD_KERNEL, { logits: sl, targets: st, dy }, {}) as tf.Tensor];
    };
    return { value, gradFunc };
  })(logits);
}

export function fusedTokenEntropy(logits: tf.Tensor): tf.Tensor {
  if (logits.rank < 2) throw new Error(`tokenEntropy: logits [..., V] expected, got [${logits.shape}]`);
  return tf.engine().runKernel(TOKEN_ENTROPY_KERNEL, { logits }, {}) as tf.Tensor;
}

/** Each position's log-probability of its target: logits [..., V], targets [...] → [...]. */
export const tokenLogProbs = fusedWhereRegistered([TOKEN_LOGPROBS_KERNEL, TOKEN_LOGPROBS_GRAD_KERNEL], fusedTokenLogProbs, tokenLogProbsOps);

/** Each position's next-token entropy in nats: logits [..., V] → [...]. No gradient where fused. */
export const tokenEntropy = fusedWhereRegistered(TOKEN_ENTROPY_KERNEL, fusedTokenEntropy, tokenEntropyOps);
