/**
 * The GRPO objective, as TRL's GRPOTrainer computes it (DeepSeekMath's GRPO; docs/engine.md, "GRPO in code").
 *
 * Two pure pieces:
 *  - groupAdvantages: rewards -> one advantage per completion (plain numbers, no tensors);
 *  - grpoLoss: per-token log-probabilities -> the clipped-surrogate loss plus metrics (tensors).
 *
 * Only the engine's tfjs-core is used, and only ops whose gradients exist on cpu, wasm and
 * webgpu (no gather): exp, sub, mul, minimum, maximum, clipByValue, where, step, sum, div.
 */
import * as tf from '@tensorflow/tfjs-core';
import { stopGradient } from './stop-gradient';

export type AdvantageScale = 'group' | 'batch' | 'none';
export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';

// ---------------------------------------------------------------------------------------------
// Advantages
// ---------------------------------------------------------------------------------------------

/** Throws unless rewards are finite and laid out as whole groups; returns the group count. */
function checkGroups(rewards: ArrayLike<number>, groupSize: number): number {
  if (!Number.isInteger(groupSize) || groupSize < 1) {
    throw new Error(`groupSize: must be an integer >= 1, got ${groupSize}`);
  }
  if (rewards.length % groupSize !== 0) {
    throw new Error(
      `rewards: length ${rewards.length} is not a multiple of groupSize ${groupSize} ` +
        '(rewards must be laid out group by group, nGroups * groupSize values)',
    );
  }
  for (let i = 0; i < rewards.length; i++) {
    const r = rewards[i] as number;
    if (!Number.isFinite(r)) throw new Error(`rewards[${i}]: must be a finite number, got ${r}`);
  }
  return rewards.length / groupSize;
}

function mean(xs: ArrayLike<number>, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i++) s += xs[i] as number;
  return s / (end - start);
}

/** Unbiased (N-1) standard deviation, as torch.std; a single value has std 0 (torch gives NaN). */
function unbiasedStd(xs: ArrayLike<number>, start: number, end: number): number {
  const n = end - start;
  if (n < 2) return 0;
  const m = mean(xs, start, end);
  let ss = 0;
  for (let i = start; i < end; i++) ss += ((xs[i] as number) - m) ** 2;
  return Math.sqrt(ss / (n - 1));
}

/** True when every reward of the group [start, end) is exactly the same. */
function allEqual(xs: ArrayLike<number>, start: number, end: number): boolean {
  for (let i = start + 1; i < end; i++) if (xs[i] !== xs[start]) return false;
  return true;
}

/**
 * Per group, whether all its rewards are equal ("zero-std group"): such a group carries no
 * learning signal, its advantages are all zero. A group of one completion is always zero-std.
 */
export function zeroStdGroups(rewards: ArrayLike<number>, groupSize: number): boolean[] {
  const nGroups = checkGroups(rewards, groupSize);
  const out: boolean[] = [];
  for (let g = 0; g < nGroups; g++) out.push(allEqual(rewards, g * groupSize, (g + 1) * groupSize));
  return out;
}

/** Each group's unbiased (N-1) reward std, the divisor of scale 'group' (TRL's reward_std averages these). */
export function groupRewardStds(rewards: ArrayLike<number>, groupSize: number): number[] {
  const nGroups = checkGroups(rewards, groupSize);
  return Array.from({ length: nGroups }, (_, g) => unbiasedStd(rewards, g * groupSize, (g + 1) * groupSize));
}

/** Share of zero-std groups (TRL's frac_reward_zero_std); 0 for an empty batch. */
export function fracRewardZeroStd(rewards: ArrayLike<number>, groupSize: number): number {
  const flags = zeroStdGroups(rewards, groupSize);
  if (flags.length === 0) return 0;
  return flags.filter(Boolean).length / flags.length;
}

/**
 * One advantage per completion: A_i = r_i - mean(group of i), divided by
 *  - 'group': the group's unbiased std + eps (GRPO as published, TRL scale_rewards="group");
 *  - 'batch': the whole batch's unbiased std + eps (TRL scale_rewards="batch");
 *  - 'none':  nothing (Dr. GRPO: the std division biases toward easy/hard prompts).
 * The baseline is always the group mean, only the scale changes.
 *
 * A zero-std group gets exactly 0 (not r - mean, which floating point can leave at ~1e-17 and
 * eps would then blow up to ~1e-13). Arithmetic is in float64; the result is float32.
 */
export function groupAdvantages(
  rewards: ArrayLike<number>,
  groupSize: number,
  scale: AdvantageScale,
  eps = 1e-4,
): Float32Array {
  if (scale !== 'group' && scale !== 'batch' && scale !== 'none') {
    throw new Error(`scale: must be 'group', 'batch' or 'none', got ${String(scale)}`);
  }
  if (!(eps >= 0)) throw new Error(`eps: must be >= 0, got ${eps}`);
  const nGroups = checkGroups(rewards, groupSize);
  const out = new Float32Array(rewards.length);
  const batchStd = scale === 'batch' ? unbiasedStd(rewards, 0, rewards.length) : 0;
  for (let g = 0; g < nGroups; g++) {
    const start = g * groupSize;
    const end = start + groupSize;
    if (allEqual(rewards, start, end)) continue; // stays 0
    const m = mean(rewards, start, end);
    const divisor =
      scale === 'group' ? unbiasedStd(rewards, start, end) + eps : scale === 'batch' ? batchStd + eps : 1;
    for (let i = start; i < end; i++) out[i] = ((rewards[i] as number) - m) / divisor;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Loss
// ---------------------------------------------------------------------------------------------

export interface GrpoLossInputs {
  /** log pi_theta of each sampled token, [N, T]; the only input gradients flow to. */
  logp: tf.Tensor2D;
  /** log pi_old of the same tokens (the sampling policy), [N, T]. */
  oldLogp: tf.Tensor2D;
  /** log pi_ref (frozen reference), [N, T]; needed for the KL term and the kl metric. */
  refLogp?: tf.Tensor2D;
  /** One advantage per completion, [N]. */
  advantages: tf.Tensor1D;
  /** 1 on completion tokens, 0 on prompt and padding, [N, T]. */
  mask: tf.Tensor2D;
}

export interface GrpoLossOptions {
  lossType: LossType;
  epsLow: number;
  epsHigh: number;
  beta: number;
  /** Only used by dr_grpo, whose denominator is N * maxCompletionLength. */
  maxCompletionLength: number;
}

export interface GrpoLossResult {
  /** What to differentiate: aggregated (-surrogate + beta * KL). */
  loss: tf.Scalar;
  /** The aggregated -surrogate alone (equals loss when the KL term is off). */
  policyLoss: tf.Scalar;
  /** Token-level mean k3 KL to the reference (0 without refLogp). */
  kl: tf.Scalar;
  /** Share of completion tokens clipped below (rho < 1 - epsLow and A < 0). */
  clipRatioLow: tf.Scalar;
  /** Share of completion tokens clipped above (rho > 1 + epsHigh and A > 0). */
  clipRatioHigh: tf.Scalar;
  /** Share clipped either way. */
  clipRatioRegion: tf.Scalar;
}

function checkLossInputs(t: GrpoLossInputs, o: GrpoLossOptions): void {
  const shape = t.logp.shape;
  const same = (name: string, s: number[]): void => {
    if (s.length !== 2 || s[0] !== shape[0] || s[1] !== shape[1]) {
      throw new Error(`${name}: shape [${s.join(', ')}] must equal logp's [${shape.join(', ')}]`);
    }
  };
  same('oldLogp', t.oldLogp.shape);
  same('mask', t.mask.shape);
  if (t.refLogp) same('refLogp', t.refLogp.shape);
  if (t.advantages.rank !== 1 || t.advantages.shape[0] !== shape[0]) {
    throw new Error(`advantages: shape [${t.advantages.shape.join(', ')}] must be [${shape[0]}] (one per sequence)`);
  }
  if (!(o.epsLow >= 0 && o.epsLow < 1)) throw new Error(`epsLow: must be in [0, 1), got ${o.epsLow}`);
  if (!(o.epsHigh >= 0)) throw new Error(`epsHigh: must be >= 0, got ${o.epsHigh}`);
  if (!(o.beta >= 0)) throw new Error(`beta: must be >= 0, got ${o.beta}`);
  if (o.lossType === 'dr_grpo' && !(o.maxCompletionLength > 0)) {
    throw new Error(`maxCompletionLength: must be > 0 for dr_grpo, got ${o.maxCompletionLength}`);
  }
  if (!['grpo', 'bnpo', 'dr_grpo', 'dapo'].includes(o.lossType)) {
    throw new Error(`lossType: must be grpo, bnpo, dr_grpo or dapo, got ${String(o.lossType)}`);
  }
}

/**
 * Masked log-difference a - b: 0 on masked-out positions. Selecting (rather than multiplying by
 * the mask afterwards) keeps garbage at padding positions from turning into exp(...) = Inf and
 * then 0 * Inf = NaN in the forward or backward pass.
 */
function maskedDiff(a: tf.Tensor2D, b: tf.Tensor2D, on: tf.Tensor2D): tf.Tensor2D {
  return tf.where(on, tf.sub(a, b), tf.zerosLike(a)) as tf.Tensor2D;
}

/** k3 estimator of KL(pi_theta || pi_ref) per token: exp(d) - d - 1 with d = ref - theta; >= 0. */
function k3(refMinusLogp: tf.Tensor2D): tf.Tensor2D {
  return tf.sub(tf.sub(tf.exp(refMinusLogp), refMinusLogp), 1);
}

/** Token-level mean over the mask: sum(x * mask) / max(sum(mask), 1). */
function maskedTokenMean(x: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1));
}

/**
 * Reduces a per-token loss [N, T] to a scalar the way TRL's loss_type does.
 *  - grpo: each sequence's masked mean, then the mean over sequences. Long completions weigh
 *    as much as short ones in total, so each of their tokens weighs less (the length bias
 *    Dr. GRPO points out). An empty sequence divides by max(0, 1) and contributes 0, not NaN.
 *  - bnpo / dapo: every completion token of the batch weighs the same. DAPO normalises by the
 *    token count across all processes; on one process that is bnpo.
 *  - dr_grpo: sum over tokens divided by a constant N * maxCompletionLength, so no length
 *    enters the normalisation at all.
 */
function aggregate(perToken: tf.Tensor2D, mask: tf.Tensor2D, o: GrpoLossOptions): tf.Scalar {
  const masked = tf.mul(perToken, mask);
  switch (o.lossType) {
    case 'grpo': {
      const perSeq = tf.div(tf.sum(masked, 1), tf.maximum(tf.sum(mask, 1), 1));
      return tf.mean(perSeq);
    }
    case 'bnpo':
    case 'dapo':
      return tf.div(tf.sum(masked), tf.maximum(tf.sum(mask), 1));
    case 'dr_grpo':
      return tf.div(tf.sum(masked), perToken.shape[0] * o.maxCompletionLength);
  }
}

/**
 * The clipped surrogate per token, min(rho * A, clip(rho, 1 - epsLow, 1 + epsHigh) * A).
 * Where the clipped branch wins, clipByValue's gradient is 0 outside the range, so a token
 * that has already moved far enough in the advantage's direction stops pulling.
 */
function surrogate(logRatio: tf.Tensor2D, adv: tf.Tensor2D, o: GrpoLossOptions): tf.Tensor2D {
  const rho = tf.exp(logRatio);
  const unclipped = tf.mul(rho, adv);
  const clipped = tf.mul(tf.clipByValue(rho, 1 - o.epsLow, 1 + o.epsHigh), adv);
  return tf.minimum(unclipped, clipped);
}

/**
 * Clip-ratio metrics from a detached log-ratio. Indicators are built with tf.step (1 where the
 * argument is > 0, else 0) instead of boolean comparisons: step has a (zero) gradient, so a
 * caller may differentiate an expression containing a metric without tfjs throwing
 * "gradient function not found for LogicalAnd". Low and high exclude each other (A < 0 versus
 * A > 0), so region is their sum.
 */
function clipRatios(
  logRatio: tf.Tensor2D,
  adv: tf.Tensor2D,
  mask: tf.Tensor2D,
  o: GrpoLossOptions,
): Pick<GrpoLossResult, 'clipRatioLow' | 'clipRatioHigh' | 'clipRatioRegion'> {
  const rho = tf.exp(logRatio);
  const low = tf.mul(tf.step(tf.sub(1 - o.epsLow, rho)), tf.step(tf.neg(adv))) as tf.Tensor2D;
  const high = tf.mul(tf.step(tf.sub(rho, 1 + o.epsHigh)), tf.step(adv)) as tf.Tensor2D;
  return {
    clipRatioLow: maskedTokenMean(low, mask),
    clipRatioHigh: maskedTokenMean(high, mask),
    clipRatioRegion: maskedTokenMean(tf.add(low, high), mask),
  };
}

/**
 * The GRPO loss and its metrics for one batch of N = B*G completions of T positions.
 *
 * Gradients flow to logp only: oldLogp, refLogp, advantages and mask enter as constants, and
 * the metrics are computed from a stopGradient copy of logp. All intermediates are tidied; the
 * six returned scalars belong to the caller. Inside tf.variableGrads (which tidies f), keep the
 * metric scalars with tf.keep if they are needed after it returns.
 */
export function grpoLoss(t: GrpoLossInputs, o: GrpoLossOptions): GrpoLossResult {
  checkLossInputs(t, o);
  return tf.tidy(() => {
    const on = tf.greater(t.mask, 0) as tf.Tensor2D;
    const adv = tf.expandDims(t.advantages, 1) as tf.Tensor2D; // [N, 1], shared by a sequence's tokens
    const policyPerToken = tf.neg(surrogate(maskedDiff(t.logp, t.oldLogp, on), adv, o));
    const policyLoss = aggregate(policyPerToken, t.mask, o);

    // The KL term is in the loss only when it is weighted and there is a reference to compare to.
    const ref = o.beta > 0 ? t.refLogp : undefined;
    const loss = ref
      ? aggregate(tf.add(policyPerToken, tf.mul(k3(maskedDiff(ref, t.logp, on)), o.beta)), t.mask, o)
      : policyLoss.clone();

    const detached = stopGradient(t.logp);
    const kl = t.refLogp ? maskedTokenMean(k3(maskedDiff(t.refLogp, detached, on)), t.mask) : tf.scalar(0);
    return { loss, policyLoss, kl, ...clipRatios(maskedDiff(detached, t.oldLogp, on), adv, t.mask, o) };
  });
}
