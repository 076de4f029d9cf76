/**
 * PPO as DeepSeekMath compares GRPO with (and as InstructGPT / TRL's PPOTrainer run it on language
 * models): one completion per prompt, an outcome score at the completion's last token, a per-token
 * KL penalty to the frozen reference folded into the reward, a learned value function, and
 * generalised advantage estimation (GAE) turning rewards and values into per-token advantages.
 *
 * GRPO drops the value function and uses the group's mean reward as the baseline of every token;
 * PPO instead asks a value model for a baseline at every token, which costs a second model (see
 * value-head.ts) and gives per-token credit assignment in exchange.
 *
 * Pure pieces, as in grpo.ts:
 *  - gae, whiten, explainedVariance: plain arrays, one row per completion, one entry per token;
 *  - ppoLoss: tensors in, the clipped policy surrogate and the clipped value loss out.
 */
import * as tf from '@tensorflow/tfjs-core';
import { stopGradient } from './stop-gradient';

// ---------------------------------------------------------------------------------------------
// Advantages (plain arrays)
// ---------------------------------------------------------------------------------------------

export interface GaeResult {
  /** Per completion, per token: A_t = sum_l (gamma lambda)^l delta_{t+l}. */
  advantages: number[][];
  /** Per completion, per token: A_t + V_t, the value model's regression target. */
  returns: number[][];
}

/**
 * Generalised advantage estimation, completion by completion. Token t of a completion is the
 * action taken in state "prompt + tokens before t", whose value is values[i][t]; rewards[i][t] is
 * what that action earned. The state after the last token is terminal (value 0), so
 *   delta_t = r_t + gamma V_{t+1} - V_t   (V_{len} = 0)
 *   A_t     = delta_t + gamma lambda A_{t+1}   (A_{len} = 0)
 * computed backwards. lambda = 1 gives Monte Carlo returns minus the value (unbiased, high
 * variance); lambda = 0 gives the one-step TD error (low variance, biased by the value model).
 * Rows may differ in length (completions stop at different tokens); an empty row stays empty.
 * Arithmetic is in float64.
 */
export function gae(rewards: number[][], values: number[][], gamma: number, lambda: number): GaeResult {
  if (!(gamma >= 0 && gamma <= 1)) throw new Error(`gamma: must be in [0, 1], got ${gamma}`);
  if (!(lambda >= 0 && lambda <= 1)) throw new Error(`lambda: must be in [0, 1], got ${lambda}`);
  if (rewards.length !== values.length) {
    throw new Error(`gae: ${rewards.length} reward rows but ${values.length} value rows`);
  }
  const advantages: number[][] = [];
  const returns: number[][] = [];
  rewards.forEach((r, i) => {
    const v = values[i] as number[];
    if (r.length !== v.length) throw new Error(`gae: row ${i} has ${r.length} rewards but ${v.length} values`);
    const adv = new Array<number>(r.length).fill(0);
    let next = 0; // A_{t+1}
    let nextValue = 0; // V_{t+1}; 0 after the last token (terminal state)
    for (let t = r.length - 1; t >= 0; t--) {
      const rt = r[t] as number;
      const vt = v[t] as number;
      if (!Number.isFinite(rt) || !Number.isFinite(vt)) throw new Error(`gae: row ${i}, token ${t}: reward and value must be finite`);
      const delta = rt + gamma * nextValue - vt;
      next = delta + gamma * lambda * next;
      adv[t] = next;
      nextValue = vt;
    }
    advantages.push(adv);
    returns.push(adv.map((a, t) => a + (v[t] as number)));
  });
  return { advantages, returns };
}

function flatMeanVar(rows: number[][]): { n: number; mean: number; variance: number } {
  let n = 0, sum = 0;
  for (const row of rows) for (const x of row) { n++; sum += x; }
  if (n === 0) return { n, mean: 0, variance: 0 };
  const mean = sum / n;
  let ss = 0;
  for (const row of rows) for (const x of row) ss += (x - mean) ** 2;
  // Unbiased (n - 1), as TRL's masked_var; a single value has variance 0.
  return { n, mean, variance: n > 1 ? ss / (n - 1) : 0 };
}

/**
 * Whitening over every token of the batch: (x - mean) / sqrt(var + 1e-8) with the unbiased
 * variance, as TRL's PPOTrainer whitens its advantages. Per-token advantages from GAE have a
 * scale set by the rewards and the value model's errors, which drifts during training; whitening
 * keeps the policy step's size independent of it (the job group normalisation does in GRPO).
 * With shiftMean false the mean is added back (only the scale changes), as TRL does for rewards.
 */
export function whiten(rows: number[][], shiftMean = true): number[][] {
  const { mean, variance } = flatMeanVar(rows);
  const inv = 1 / Math.sqrt(variance + 1e-8);
  return rows.map((row) => row.map((x) => (x - mean) * inv + (shiftMean ? 0 : mean)));
}

/**
 * 1 - Var(returns - values) / Var(returns) over every token: 1 when the value model predicts
 * the returns exactly, 0 when it is no better than their mean, negative when worse. Returns 0
 * when the returns do not vary (nothing to explain).
 */
export function explainedVariance(values: number[][], returns: number[][]): number {
  const { variance: varReturns } = flatMeanVar(returns);
  if (!(varReturns > 0)) return 0;
  const residuals = returns.map((row, i) => row.map((r, t) => r - ((values[i] as number[])[t] as number)));
  return 1 - flatMeanVar(residuals).variance / varReturns;
}

// ---------------------------------------------------------------------------------------------
// Loss (tensors)
// ---------------------------------------------------------------------------------------------

export interface PpoPolicyInputs {
  /** log pi_theta of each sampled token, [N, T]; gradients flow to it. */
  logp: tf.Tensor2D;
  /** log pi_old of the same tokens (the sampling policy), [N, T]. */
  oldLogp: tf.Tensor2D;
  /** Per-token advantages, [N, T] (ignored off the mask). */
  advantages: tf.Tensor2D;
  /** 1 on completion tokens, 0 on prompt and padding, [N, T]. */
  mask: tf.Tensor2D;
}

export interface PpoValueInputs {
  /** The value model's current predictions, [N, T]; gradients flow to them. */
  values: tf.Tensor2D;
  /** The value model's predictions at sampling time, [N, T] (the centre of the value clip). */
  oldValues: tf.Tensor2D;
  /** Regression targets A + V_old, [N, T]. */
  returns: tf.Tensor2D;
  /** 1 on completion tokens, 0 on prompt and padding, [N, T]. */
  mask: tf.Tensor2D;
}

export type PpoLossInputs = PpoPolicyInputs & PpoValueInputs;

export interface PpoLossOptions {
  /** Ratio clip range [1 - epsLow, 1 + epsHigh] (PPO: 0.2 both ways). */
  epsLow: number;
  epsHigh: number;
  /** Value clip: V is kept within oldValues +- valueClip in the clipped branch; 0 turns it off. */
  valueClip: number;
  /** Weight of the value loss in the total loss. */
  valueCoef: number;
}

export interface PpoPolicyResult {
  /** Token mean of -min(rho A, clip(rho) A). */
  policyLoss: tf.Scalar;
  /** Share of tokens where the clipped surrogate is the active branch (either side). */
  clipRatio: tf.Scalar;
  /** Share clipped below (rho < 1 - epsLow, A < 0) and above (rho > 1 + epsHigh, A > 0). */
  clipRatioLow: tf.Scalar;
  clipRatioHigh: tf.Scalar;
}

export interface PpoValueResult {
  /** 0.5 * token mean of max((V - R)^2, (V_clipped - R)^2). */
  valueLoss: tf.Scalar;
  /** Share of tokens where the clipped value loss is the larger (active) one. */
  valueClipRatio: tf.Scalar;
}

export interface PpoLossResult extends PpoPolicyResult, PpoValueResult {
  /** policyLoss + valueCoef * valueLoss: what to differentiate. */
  loss: tf.Scalar;
}

function checkShapes(reference: tf.Tensor2D, named: Array<[string, tf.Tensor]>, referenceName: string): void {
  const shape = reference.shape;
  for (const [name, x] of named) {
    if (x.rank !== 2 || x.shape[0] !== shape[0] || x.shape[1] !== shape[1]) {
      throw new Error(`${name}: shape [${x.shape.join(', ')}] must equal ${referenceName}'s [${shape.join(', ')}]`);
    }
  }
}

function checkOptions(o: Partial<PpoLossOptions>): void {
  if (o.epsLow !== undefined && !(o.epsLow >= 0 && o.epsLow < 1)) throw new Error(`epsLow: must be in [0, 1), got ${o.epsLow}`);
  if (o.epsHigh !== undefined && !(o.epsHigh >= 0)) throw new Error(`epsHigh: must be >= 0, got ${o.epsHigh}`);
  if (o.valueClip !== undefined && !(o.valueClip >= 0)) throw new Error(`valueClip: must be >= 0 (0 = off), got ${o.valueClip}`);
}

/** sum(x * mask) / max(sum(mask), 1): every completion token of the batch weighs the same. */
function tokenMean(x: tf.Tensor2D, mask: tf.Tensor2D): tf.Scalar {
  return tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1));
}

/** a - b on the mask, 0 elsewhere: padding garbage never reaches exp or a square (no Inf, no NaN). */
function onMask(a: tf.Tensor2D, b: tf.Tensor2D, on: tf.Tensor2D): tf.Tensor2D {
  return tf.where(on, tf.sub(a, b), tf.zerosLike(a)) as tf.Tensor2D;
}

/**
 * PPO's policy loss, token-mean aggregated (each completion token of the batch weighs the same,
 * as TRL's PPOTrainer and OpenRLHF average): -min(rho A_t, clip(rho, 1 - epsLow, 1 + epsHigh) A_t)
 * with a per-token A_t (in GRPO, A is one number per completion). Gradients flow to logp only;
 * the clip metrics come from a detached ratio. The returned scalars belong to the caller.
 */
export function ppoPolicyLoss(t: PpoPolicyInputs, o: Pick<PpoLossOptions, 'epsLow' | 'epsHigh'>): PpoPolicyResult {
  checkShapes(t.logp, [['oldLogp', t.oldLogp], ['advantages', t.advantages], ['mask', t.mask]], 'logp');
  checkOptions(o);
  return tf.tidy(() => {
    const on = tf.greater(t.mask, 0) as tf.Tensor2D;
    const adv = tf.where(on, t.advantages, tf.zerosLike(t.advantages)) as tf.Tensor2D;
    const rho = tf.exp(onMask(t.logp, t.oldLogp, on));
    const surrogate = tf.minimum(tf.mul(rho, adv), tf.mul(tf.clipByValue(rho, 1 - o.epsLow, 1 + o.epsHigh), adv));
    // Clip indicators with tf.step (zero gradient) from a detached ratio; the low and high sets
    // exclude each other (A < 0 versus A > 0), so their sum is the clipped share.
    const rhoD = stopGradient(rho);
    const low = tf.mul(tf.step(tf.sub(1 - o.epsLow, rhoD)), tf.step(tf.neg(adv))) as tf.Tensor2D;
    const high = tf.mul(tf.step(tf.sub(rhoD, 1 + o.epsHigh)), tf.step(adv)) as tf.Tensor2D;
    return {
      policyLoss: tokenMean(tf.neg(surrogate) as tf.Tensor2D, t.mask),
      clipRatio: tokenMean(tf.add(low, high) as tf.Tensor2D, t.mask),
      clipRatioLow: tokenMean(low, t.mask),
      clipRatioHigh: tokenMean(high, t.mask),
    };
  });
}

/**
 * PPO's value loss, token-mean aggregated: the larger of the plain squared error and the squared
 * error of a prediction clipped to oldValues +- valueClip, halved (TRL's PPOTrainer, OpenRLHF).
 * The max is pessimistic: the value model cannot jump far from the values the advantages were
 * computed with during one batch's epochs. Gradients flow to values only.
 */
export function ppoValueLoss(t: PpoValueInputs, o: Pick<PpoLossOptions, 'valueClip'>): PpoValueResult {
  checkShapes(t.values, [['oldValues', t.oldValues], ['returns', t.returns], ['mask', t.mask]], 'values');
  checkOptions(o);
  return tf.tidy(() => {
    const on = tf.greater(t.mask, 0) as tf.Tensor2D;
    // Error relative to the returns, and the value's move since sampling, both 0 off the mask.
    const err = onMask(t.values, t.returns, on);
    const errSq = tf.square(err) as tf.Tensor2D;
    if (!(o.valueClip > 0)) return { valueLoss: tf.mul(tokenMean(errSq, t.mask), 0.5) as tf.Scalar, valueClipRatio: tf.scalar(0) };
    const moved = onMask(t.values, t.oldValues, on);
    // V_clipped - R = (V_old + clip(V - V_old, -c, c)) - R = err - moved + clip(moved, -c, c)
    const clippedSq = tf.square(tf.add(tf.sub(err, moved), tf.clipByValue(moved, -o.valueClip, o.valueClip))) as tf.Tensor2D;
    const clipped = tf.step(tf.sub(stopGradient(clippedSq), stopGradient(errSq))) as tf.Tensor2D;
    return {
      valueLoss: tf.mul(tokenMean(tf.maximum(errSq, clippedSq) as tf.Tensor2D, t.mask), 0.5) as tf.Scalar,
      valueClipRatio: tokenMean(clipped, t.mask),
    };
  });
}

/**
 * Policy and value loss of one (mini)batch of N completions over T positions, and their
 * weighted sum. Trainers whose policy and value model share no weights may instead differentiate
 * the two parts in separate tapes (ppo-trainer.ts does, to halve the peak memory).
 */
export function ppoLoss(t: PpoLossInputs, o: PpoLossOptions): PpoLossResult {
  // Every check first: a throw after the policy part would leak its scalars.
  checkShapes(t.logp, [['oldLogp', t.oldLogp], ['advantages', t.advantages], ['mask', t.mask], ['values', t.values], ['oldValues', t.oldValues], ['returns', t.returns]], 'logp');
  checkOptions(o);
  if (!(o.valueCoef >= 0)) throw new Error(`valueCoef: must be >= 0, got ${o.valueCoef}`);
  const policy = ppoPolicyLoss(t, o);
  const value = ppoValueLoss(t, o);
  const loss = tf.tidy(() => tf.add(policy.policyLoss, tf.mul(value.valueLoss, o.valueCoef)) as tf.Scalar);
  return { loss, ...policy, ...value };
}
