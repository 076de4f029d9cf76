/**
 * The PPO loop, as DeepSeekMath sets it against GRPO: for the same generation budget
 * (promptsPerStep * groupSize completions per step) PPO samples that many different prompts with
 * ONE completion each, scores them with the same rule-based rewards, places the score on the
 * last token, subtracts a per-token KL penalty to the frozen reference from the reward (InstructGPT,
 * DeepSeekMath eq. 2: r_t = score * [t = last] - beta * KL_t), asks a learned value model for
 * V_t at every token, turns rewards and values into per-token advantages with GAE, and updates
 * policy and value model for numIterations epochs of the batch (split into miniBatches).
 *
 * What is shared with GRPO, so that runs compare: the rollout code (rollout.ts with groups of one),
 * the rewards, the learning-rate schedule, AdamW, gradient clipping, the sampling settings and the
 * metric names (reward, rewards/<fn>/mean|std, completions/*, kl, entropy, clip_ratio/*,
 * policy_loss, loss, grad_norm, lr, timings). GRPO's config fields that do not apply to PPO are
 * ignored: lossType (PPO averages over tokens), scaleRewards (PPO whitens per-token advantages
 * instead), dynamicSampling and maxResampleRounds (a single completion has no group to be flat).
 * config.beta is the KL coefficient; unlike GRPO it enters the reward, not the loss.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { packBatch } from './batch';
import { type BatchTensors, disposeBatchTensors, frozenLogProbs, toTensors } from './batch-tensors';
import { type GrpoConfig, validateConfig } from './config';
import { type EvalResult, evaluate } from './eval';
import type { ScoredGroup, StepMetrics } from './grpo-trainer';
import { type GPT, type Params, forward, hiddenStates, matMul2d, tokenEntropy, tokenLogProbs } from './model';
import { AdamW, type GradMap, clipByGlobalNorm, learningRate } from './optim';
import { explainedVariance, gae, ppoPolicyLoss, ppoValueLoss, whiten } from './ppo';
import { type RewardWeights, validateRewardWeights } from './rewards';
import { Rng } from './rng';
import { type Group, meanStd, rewardStats, rollout } from './rollout';
import { stopGradient } from './stop-gradient';
import { TASKS } from './tasks/registry';
import type { Problem, Task } from './tasks/task';
import type { Tokenizer } from './tokenizer';
import { ValueModel, valueHead } from './value-head';

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/** PPO's settings beyond GrpoConfig (to be merged into the run config). */
export const PpoOptionsSchema = z.object({
  /** Discount per token. 1: the outcome counts the same from every token (TRL's default). */
  gamma: z.number().min(0).max(1),
  /** GAE lambda: 1 = Monte Carlo returns, 0 = one-step TD; 0.95 as TRL and InstructGPT. */
  lambda: z.number().min(0).max(1),
  /** Value clip around the sampling-time values (TRL cliprange_value 0.2); 0 turns it off. */
  valueClip: z.number().min(0),
  /**
   * Weight of the value loss (TRL vf_coef 0.1). With a separate value model it only scales the
   * value gradients (which are clipped and Adam-normalised on their own), so it matters mostly
   * with a shared trunk, where it sets the balance between the two objectives.
   */
  valueCoef: z.number().min(0),
  /** Peak learning rate of the value model; null = the policy's lr. Same warmup and decay. */
  valueLr: z.number().gt(0).max(1).nullable(),
  /** Per-token KL estimate in the reward: k1 = logp_old - logp_ref (InstructGPT, TRL) or k3. */
  klEstimator: z.enum(['k1', 'k3']),
  /** Whiten advantages over the batch's tokens before the update (TRL and OpenRLHF do). */
  whitenAdvantages: z.boolean(),
  /** Updates per epoch: each epoch shuffles the batch and splits it into this many parts. */
  miniBatches: z.number().int().min(1).max(64),
  /** Value head on the policy's trunk instead of on a separate copy (see value-head.ts). */
  sharedValueTrunk: z.boolean(),
});

export type PpoOptions = z.infer<typeof PpoOptionsSchema>;

export const DEFAULT_PPO_OPTIONS: PpoOptions = {
  gamma: 1,
  lambda: 0.95,
  valueClip: 0.2,
  valueCoef: 0.1,
  valueLr: null,
  klEstimator: 'k1',
  whitenAdvantages: true,
  miniBatches: 1,
  sharedValueTrunk: false,
};

/** Defaults filled in, then checked; the error names every bad field ("ppo.valueClip: ..."). */
export function validatePpoOptions(input: unknown): PpoOptions {
  const merged = typeof input === 'object' && input !== null ? { ...DEFAULT_PPO_OPTIONS, ...input } : input;
  const parsed = PpoOptionsSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  throw new Error(parsed.error.issues.map((i) => `ppo.${i.path.join('.') || '(options)'}: ${i.message}`).join('\n'));
}

// ---------------------------------------------------------------------------------------------
// Trainer
// ---------------------------------------------------------------------------------------------

/** A prompt with its one completion, and what PPO made of each of its tokens. */
export interface PpoScoredGroup extends ScoredGroup {
  /** Per completion: the mean of its (whitened) token advantages, for tables shared with GRPO. */
  advantages: number[];
  /** Per completion, per token: the advantage used in the update. */
  tokenAdvantages: number[][];
  /** Per completion, per token: the value model's V_t at sampling time. */
  values: number[][];
  /** Per completion, per token: the GAE return (the value model's target). */
  returns: number[][];
}

export interface PpoStepResult {
  step: number;
  metrics: StepMetrics;
  groups: PpoScoredGroup[];
}

/** What the update needs of each completion, one entry per token, in sampling order. */
interface TokenData {
  oldLogp: number[][];
  refLogp: number[][] | null;
  oldValues: number[][];
  advantages: number[][];
  returns: number[][];
}

const ZERO_UPDATE = { extras: {} as Record<string, number>, loss: 0, gradNorm: 0, valueGradNorm: 0, skipped: 0 };

export class PpoTrainer {
  readonly config: GrpoConfig;
  readonly options: PpoOptions;
  readonly task: Task;
  readonly evalProblems: Problem[];
  readonly value: ValueModel;
  private readonly optimizer: AdamW;
  private readonly valueOptimizer: AdamW;
  private readonly rng: Rng;
  /** Minibatch shuffles draw from their own stream, so that they never shift the sampling stream. */
  private readonly shuffleRng: Rng;
  private weights: RewardWeights;
  private stepIndex = 0;

  constructor(
    config: GrpoConfig,
    private readonly tokenizer: Tokenizer,
    readonly model: GPT,
    /** Frozen reference weights for the KL penalty; null when beta is 0. */
    private readonly reference: Params | null,
    options: Partial<PpoOptions> = {},
  ) {
    this.config = validateConfig(config);
    this.options = validatePpoOptions(options);
    if (this.config.beta > 0 && !reference) throw new Error('config.beta: > 0 needs a reference model');
    const n = this.config.promptsPerStep * this.config.groupSize;
    if (this.options.miniBatches > n) {
      throw new Error(`ppo.miniBatches: ${this.options.miniBatches} is more than the ${n} completions of a step`);
    }
    this.task = TASKS[this.config.task];
    this.evalProblems = this.task.evalSet(this.config.evalSize);
    this.value = new ValueModel(model, { shared: this.options.sharedValueTrunk, seed: this.config.seed + 1 });
    this.optimizer = new AdamW(Object.values(model.variables), { weightDecay: this.config.weightDecay });
    this.valueOptimizer = new AdamW(Object.values(this.value.variables), { weightDecay: this.config.weightDecay });
    this.rng = new Rng(this.config.seed);
    this.shuffleRng = new Rng(this.config.seed + 104729);
    this.weights = validateRewardWeights(this.config.rewardWeights);
  }

  get step(): number {
    return this.stepIndex;
  }

  get rewardWeights(): RewardWeights {
    return { ...this.weights };
  }

  /** New weights apply from the next step on (the UI's live sliders). */
  setRewardWeights(w: unknown): void {
    this.weights = validateRewardWeights(w);
  }

  /** One PPO step: rollout, values, GAE, numIterations epochs of policy and value updates. */
  trainStep(): PpoStepResult {
    const c = this.config;
    const o = this.options;
    const t0 = performance.now();
    // Groups of one: promptsPerStep * groupSize distinct prompts, the generation budget of a GRPO step.
    const rolloutConfig: GrpoConfig = { ...c, promptsPerStep: c.promptsPerStep * c.groupSize, groupSize: 1, dynamicSampling: false };
    const roll = rollout(this.model.params, this.model.config, this.tokenizer, this.task, rolloutConfig, this.weights, this.rng);
    const tRollout = performance.now();
    const sched = { warmupSteps: c.warmupSteps, totalSteps: c.steps, decay: c.lrDecay, minLrRatio: c.minLrRatio };
    const lr = learningRate(this.stepIndex, { ...sched, lr: c.lr });
    const valueLr = learningRate(this.stepIndex, { ...sched, lr: o.valueLr ?? c.lr });

    const prompts = roll.groups.map((g) => g.promptIds);
    const completions = roll.groups.map((g) => (g.completions[0] as Group['completions'][number]).ids);
    const full = toTensors(packBatch(prompts, completions, this.tokenizer.padId), this.model.config.promptAnchor);
    const promptWidth = Math.max(...prompts.map((p) => p.length));
    const tRef0 = performance.now();
    const refLogp = this.reference && c.beta > 0 ? this.readRows(frozenLogProbs(this.reference, this.model.config, full), promptWidth, completions) : null;
    const tRef = performance.now() - tRef0;
    const oldLogp = this.readRows(frozenLogProbs(this.model.params, this.model.config, full), promptWidth, completions);
    const oldValues = this.readRows(tf.tidy(() => this.value.values(full)), promptWidth, completions);

    // Per-token rewards: -beta * KL_t everywhere, plus the outcome score on the last token.
    const scores = roll.groups.map((g) => (g.completions[0] as Group['completions'][number]).reward);
    const klRows = oldLogp.map((row, i) => row.map((lp, t) => (refLogp ? klEstimate(lp, (refLogp[i] as number[])[t] as number, o.klEstimator) : 0)));
    const rewards = klRows.map((row, i) => row.map((kl, t) => -c.beta * kl + (t === row.length - 1 ? (scores[i] as number) : 0)));
    const { advantages: rawAdvantages, returns } = gae(rewards, oldValues, o.gamma, o.lambda);
    const advantages = o.whitenAdvantages ? whiten(rawAdvantages) : rawAdvantages;
    const data: TokenData = { oldLogp, refLogp, oldValues, advantages, returns };

    const update = completions.length > 0 ? this.update(full, completions, prompts, data, lr, valueLr) : ZERO_UPDATE;
    disposeBatchTensors(full);
    const tEnd = performance.now();
    this.stepIndex++;

    const groups: PpoScoredGroup[] = roll.groups.map((g, i) => {
      const adv = advantages[i] as number[];
      return {
        ...g,
        advantages: [adv.length ? adv.reduce((a, b) => a + b, 0) / adv.length : 0],
        tokenAdvantages: [adv],
        values: [oldValues[i] as number[]],
        returns: [returns[i] as number[]],
      };
    });
    const klSums = klRows.map((row) => row.reduce((a, b) => a + b, 0));
    const metrics: StepMetrics = {
      ...this.rolloutMetrics(roll.groups),
      ...update.extras,
      loss: update.loss,
      grad_norm: update.gradNorm,
      skipped_updates: update.skipped,
      lr,
      'value/lr': valueLr,
      'value/grad_norm': update.valueGradNorm,
      'value/explained_variance': explainedVariance(oldValues, returns),
      'value/mean': meanStd(oldValues.flat()).mean,
      'ppo/value_params': this.value.parameterCount,
      // TRL's PPOTrainer names: the summed per-token KL of each completion and its penalty, averaged.
      'objective/kl': meanStd(klSums).mean,
      'objective/non_score_reward': -c.beta * meanStd(klSums).mean,
      step_time: (tEnd - t0) / 1000,
      tokens_per_second: roll.generatedTokens / ((tEnd - t0) / 1000),
      'time/rollout': (tRollout - t0) / 1000,
      'time/reference': tRef / 1000,
      'time/update': (tEnd - tRollout - tRef) / 1000,
      sampled_groups: roll.sampledGroups,
    };
    return { step: this.stepIndex, metrics, groups };
  }

  /** Reads a [N, T] tensor back (and disposes it) as one row per completion, one entry per token. */
  private readRows(x: tf.Tensor2D, promptWidth: number, completions: number[][]): number[][] {
    const rows = x.arraySync();
    x.dispose();
    // Completion token j of row i is predicted at input column promptWidth - 1 + j (batch.ts).
    return completions.map((ids, i) => (rows[i] as number[]).slice(promptWidth - 1, promptWidth - 1 + ids.length));
  }

  /**
   * numIterations epochs over the batch. With one minibatch the full batch's tensors are reused,
   * so the first epoch's ratio is exactly 1 (old log-probs came from the same forward pass);
   * otherwise each epoch shuffles the completions and packs each part anew.
   */
  private update(full: BatchTensors, completions: number[][], prompts: number[][], data: TokenData, lr: number, valueLr: number) {
    const c = this.config;
    const o = this.options;
    const n = completions.length;
    const parts = Math.min(o.miniBatches, n);
    const sums: Record<string, number> = {};
    let loss = 0, gradNorm = 0, valueGradNorm = 0, skipped = 0;
    const updates = c.numIterations * parts;
    for (let it = 0; it < c.numIterations; it++) {
      const order = parts > 1 ? this.shuffleRng.shuffle(Array.from({ length: n }, (_, i) => i)) : Array.from({ length: n }, (_, i) => i);
      for (let p = 0; p < parts; p++) {
        const rows = order.slice(Math.floor((p * n) / parts), Math.floor(((p + 1) * n) / parts));
        const batch = parts > 1 ? packBatch(rows.map((i) => prompts[i] as number[]), rows.map((i) => completions[i] as number[]), this.tokenizer.padId) : null;
        const t = batch ? toTensors(batch, this.model.config.promptAnchor) : full;
        const width = t.inputs.shape[1];
        const promptWidth = batch ? batch.promptWidth : Math.max(...prompts.map((q) => q.length));
        const lay = (source: number[][]): tf.Tensor2D => layOut(rows.map((i) => source[i] as number[]), promptWidth, width);
        const tokens = {
          oldLogp: lay(data.oldLogp), advantages: lay(data.advantages), oldValues: lay(data.oldValues), returns: lay(data.returns),
          refLogp: data.refLogp ? lay(data.refLogp) : null,
        };
        const r = this.updateOnce(t, tokens, lr, valueLr);
        tf.dispose([tokens.oldLogp, tokens.advantages, tokens.oldValues, tokens.returns]);
        tokens.refLogp?.dispose();
        if (batch) disposeBatchTensors(t);
        loss += r.loss / updates;
        gradNorm += r.gradNorm / updates;
        valueGradNorm += r.valueGradNorm / updates;
        skipped += Number(r.skipped);
        for (const [k, v] of Object.entries(r.extras)) sums[k] = (sums[k] ?? 0) + v / updates;
      }
    }
    return { extras: sums, loss, gradNorm, valueGradNorm, skipped };
  }

  /**
   * One gradient step of both models. With a separate value model the policy and the value
   * model are differentiated in two tapes, one after the other: they share no weights, so the
   * gradients are the same as from one tape, and the peak memory is one model's activations
   * instead of two (one tape over both ran the wasm heap out of memory for the default model at
   * 128 completions of 64 tokens, where GRPO fits). A shared trunk needs one tape over both heads.
   * The policy's and the value model's gradients are clipped to maxGradNorm separately (so
   * grad_norm means what it means in GRPO) and applied by their own AdamW; a non-finite loss or
   * norm skips both updates.
   */
  private updateOnce(
    t: BatchTensors,
    k: { oldLogp: tf.Tensor2D; advantages: tf.Tensor2D; oldValues: tf.Tensor2D; returns: tf.Tensor2D; refLogp: tf.Tensor2D | null },
    lr: number, valueLr: number,
  ) {
    const c = this.config;
    const o = this.options;
    const mc = this.model.config;
    const policyVars = Object.values(this.model.variables);
    const valueVars = Object.values(this.value.variables);
    const valueInputs = { oldValues: k.oldValues, returns: k.returns, mask: t.mask };

    /** The policy's loss terms and metrics from its logits (inside a tape). */
    const policyPart = (logits: tf.Tensor3D) => {
      const logp = tokenLogProbs(logits, t.targets);
      const out = ppoPolicyLoss({ logp, oldLogp: k.oldLogp, advantages: k.advantages, mask: t.mask }, { epsLow: c.epsLow, epsHigh: c.epsHigh });
      const denom = tf.maximum(tf.sum(t.mask), 1);
      const entropy = tf.div(tf.sum(tf.mul(tokenEntropy(stopGradient(logits)), t.mask)), denom) as tf.Scalar;
      // The kl metric as GRPO reports it: token-mean k3 of the current policy to the reference.
      const kl = k.refLogp
        ? tf.div(tf.sum(tf.mul(k3(tf.sub(k.refLogp, stopGradient(logp)) as tf.Tensor2D), t.mask)), denom) as tf.Scalar
        : tf.scalar(0);
      return {
        loss: out.policyLoss,
        extras: {
          policy_loss: out.policyLoss, kl, entropy,
          'clip_ratio/low_mean': out.clipRatioLow, 'clip_ratio/high_mean': out.clipRatioHigh, 'clip_ratio/region_mean': out.clipRatio,
        },
      };
    };
    const valuePart = (values: tf.Tensor2D) => {
      const out = ppoValueLoss({ values, ...valueInputs }, { valueClip: o.valueClip });
      return { loss: tf.mul(out.valueLoss, o.valueCoef) as tf.Scalar, extras: { value_loss: out.valueLoss, 'value/clip_ratio': out.valueClipRatio } };
    };

    let tapes: Array<ReturnType<typeof tape>>;
    if (this.value.shared) {
      // One trunk pass feeds both heads: the tied LM head (as model.forward does) and the value head.
      tapes = [tape([...policyVars, ...valueVars], () => {
        const hidden = hiddenStates(this.model.params, mc, t.inputs, t.positions, t.bias);
        const [B, T] = t.inputs.shape;
        const wte = this.model.variables.wte as tf.Variable;
        const logits = tf.reshape(matMul2d(tf.reshape(hidden, [B * T, mc.dModel]), wte, true), [B, T, mc.vocabSize]) as tf.Tensor3D;
        const p = policyPart(logits);
        const v = valuePart(valueHead(hidden, this.value.w, this.value.b));
        return { loss: tf.add(p.loss, v.loss) as tf.Scalar, extras: { ...p.extras, ...v.extras } };
      })];
    } else {
      tapes = [
        tape(policyVars, () => policyPart(forward(this.model.params, mc, t.inputs, t.positions, t.bias).logits)),
        tape(valueVars, () => valuePart(this.value.values(t))),
      ];
    }
    const loss = tapes.reduce((a, x) => a + x.loss, 0);
    const policyNames = new Set(policyVars.map((v) => v.name));
    const policyGrads: GradMap = {};
    const valueGrads: GradMap = {};
    for (const x of tapes) for (const [name, g] of Object.entries(x.grads)) (policyNames.has(name) ? policyGrads : valueGrads)[name] = g;
    const clippedPolicy = clipByGlobalNorm(policyGrads, c.maxGradNorm);
    const clippedValue = clipByGlobalNorm(valueGrads, c.maxGradNorm);
    for (const x of tapes) tf.dispose(Object.values(x.grads));
    const skipped = !Number.isFinite(loss) || !Number.isFinite(clippedPolicy.norm) || !Number.isFinite(clippedValue.norm);
    if (!skipped) {
      this.optimizer.step(clippedPolicy.grads, lr);
      this.valueOptimizer.step(clippedValue.grads, valueLr);
    }
    tf.dispose([...Object.values(clippedPolicy.grads), ...Object.values(clippedValue.grads)]);
    const extras: Record<string, tf.Scalar> = Object.assign({}, ...tapes.map((x) => x.extras));
    const names = Object.keys(extras);
    // All metric scalars in one readback (one GPU sync on webgpu instead of one per metric).
    const read = tf.tidy(() => tf.stack(names.map((name) => extras[name] as tf.Scalar)).dataSync());
    tf.dispose(Object.values(extras));
    return {
      loss, gradNorm: clippedPolicy.norm, valueGradNorm: clippedValue.norm, skipped,
      extras: Object.fromEntries(names.map((name, i) => [name, read[i] as number])),
    };
  }

  private rolloutMetrics(groups: Group[]): StepMetrics {
    const all = groups.flatMap((g) => g.completions);
    const lengths = all.map((x) => x.ids.length);
    return {
      reward: meanStd(all.map((x) => x.reward)).mean,
      ...rewardStats(groups),
      'completions/mean_length': meanStd(lengths).mean,
      'completions/min_length': lengths.length ? Math.min(...lengths) : 0,
      'completions/max_length': lengths.length ? Math.max(...lengths) : 0,
      'completions/clipped_ratio': all.length ? all.filter((x) => x.truncated).length / all.length : 0,
    };
  }

  /** Held-out evaluation of the current policy, as GrpoTrainer.evaluate. */
  evaluate(): EvalResult {
    const c = this.config;
    return evaluate(this.model.params, this.model.config, this.tokenizer, this.task, this.evalProblems,
      { maxCompletionLength: c.maxCompletionLength, k: c.evalK, temperature: c.temperature, batchSize: 100 },
      new Rng(c.seed + 7919 * (this.stepIndex + 1)));
  }

  /** Frees both optimizers' moments and the value model (the policy belongs to the caller). */
  dispose(): void {
    this.optimizer.dispose();
    this.valueOptimizer.dispose();
    this.value.dispose();
  }
}

/**
 * Loss value, gradients (keyed by variable name) and kept metric scalars of one tape; the
 * activations are freed when it returns. The caller owns grads and extras.
 */
function tape(
  vars: tf.Variable[], fn: () => { loss: tf.Scalar; extras: Record<string, tf.Scalar> },
): { loss: number; grads: GradMap; extras: Record<string, tf.Scalar> } {
  let extras: Record<string, tf.Scalar> = {};
  const { value, grads } = tf.variableGrads(() => {
    const out = fn();
    extras = Object.fromEntries(Object.entries(out.extras).map(([name, s]) => [name, tf.keep(s)]));
    return out.loss;
  }, vars);
  const loss = value.dataSync()[0] as number;
  // The loss may itself be one of the metrics (policy_loss is the policy tape's loss); then it
  // is the caller's to dispose with the other metrics.
  if (!Object.values(extras).includes(value)) value.dispose();
  return { loss, grads, extras };
}

/** k3 estimate of KL(pi || ref) per token from d = ref - logp: exp(d) - d - 1 (>= 0). */
function k3(d: tf.Tensor2D): tf.Tensor2D {
  return tf.sub(tf.sub(tf.exp(d), d), 1);
}

/**
 * Per-token KL estimate of the sampled token under the sampling policy: k1 = logp - ref (what
 * InstructGPT and TRL put in the reward; unbiased, can be negative on a token), or k3 (always
 * >= 0, lower variance).
 */
export function klEstimate(logp: number, refLogp: number, estimator: 'k1' | 'k3'): number {
  const d = refLogp - logp;
  return estimator === 'k1' ? -d : Math.exp(d) - d - 1;
}

/** Per-completion token rows -> [N, width], each row placed where its tokens' targets sit. */
function layOut(rows: number[][], promptWidth: number, width: number): tf.Tensor2D {
  const out = new Float32Array(rows.length * width);
  rows.forEach((row, i) => row.forEach((x, j) => { out[i * width + promptWidth - 1 + j] = x; }));
  return tf.tensor2d(out, [rows.length, width]);
}
