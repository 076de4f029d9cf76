/**
 * The GRPO loop (R1-Zero and every later RL stage): sample groups, score them, turn rewards into
 * group-relative advantages, and update the policy with the clipped surrogate plus a KL penalty
 * to a frozen reference. Each step returns its metrics (TRL / verl names) and the scored groups,
 * so that the CLI and the UI can show what the model wrote and what each completion earned.
 */
import * as tf from '@tensorflow/tfjs-core';
import { packBatch, type PackedBatch } from './batch';
import { type GrpoConfig, validateConfig } from './config';
import { type EvalResult, evaluate } from './eval';
import { groupAdvantages, groupRewardStds, grpoLoss } from './grpo';
import { type GPT, type Params, causalBias, forward, positionsFor, tokenEntropy, tokenLogProbs } from './model';
import { AdamW, learningRate } from './optim';
import { type Group, meanStd, rewardStats, rollout } from './rollout';
import { type RewardWeights, validateRewardWeights } from './rewards';
import { Rng } from './rng';
import { stopGradient } from './stop-gradient';
import { TASKS } from './tasks/registry';
import type { Problem, Task } from './tasks/task';
import type { Tokenizer } from './tokenizer';
import { optimizerUpdate } from './train-step';

export type StepMetrics = Record<string, number>;

export interface ScoredGroup extends Group {
  advantages: number[];
}

export interface GrpoStepResult {
  step: number;
  metrics: StepMetrics;
  groups: ScoredGroup[];
}

interface BatchTensors {
  inputs: tf.Tensor2D;
  targets: tf.Tensor2D;
  positions: tf.Tensor2D;
  bias: tf.Tensor4D;
  mask: tf.Tensor2D;
}

function toTensors(b: PackedBatch, anchor: number): BatchTensors {
  return {
    inputs: tf.tensor2d(b.inputs, undefined, 'int32'),
    targets: tf.tensor2d(b.targets, undefined, 'int32'),
    positions: tf.tensor2d(positionsFor(b.valid, b.promptWidth, anchor), undefined, 'int32'),
    bias: causalBias(b.valid),
    mask: tf.tensor2d(b.lossMask),
  };
}

/** Log-probabilities of the batch's tokens under some weights, outside any gradient tape. */
function frozenLogProbs(p: Params, mc: GPT['config'], t: BatchTensors): tf.Tensor2D {
  return tf.tidy(() => tokenLogProbs(forward(p, mc, t.inputs, t.positions, t.bias).logits, t.targets));
}

export class GrpoTrainer {
  readonly config: GrpoConfig;
  readonly task: Task;
  readonly evalProblems: Problem[];
  private readonly optimizer: AdamW;
  private readonly rng: Rng;
  private weights: RewardWeights;
  private stepIndex = 0;

  constructor(
    config: GrpoConfig,
    private readonly tokenizer: Tokenizer,
    readonly model: GPT,
    /** Frozen reference weights for the KL term; null when beta is 0. */
    private readonly reference: Params | null,
  ) {
    this.config = validateConfig(config);
    if (this.config.beta > 0 && !reference) throw new Error('config.beta: > 0 needs a reference model');
    this.task = TASKS[this.config.task];
    this.evalProblems = this.task.evalSet(this.config.evalSize);
    this.optimizer = new AdamW(Object.values(model.variables), { weightDecay: this.config.weightDecay });
    this.rng = new Rng(this.config.seed);
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

  trainStep(): GrpoStepResult {
    const c = this.config;
    const t0 = performance.now();
    const roll = rollout(this.model.params, this.model.config, this.tokenizer, this.task, c, this.weights, this.rng);
    const tRollout = performance.now();
    const rewards = roll.groups.flatMap((g) => g.completions.map((x) => x.reward));
    const advantages = groupAdvantages(rewards, c.groupSize, c.scaleRewards);
    const groups: ScoredGroup[] = roll.groups.map((g, i) => ({
      ...g, advantages: Array.from(advantages.subarray(i * c.groupSize, (i + 1) * c.groupSize)),
    }));
    const lr = learningRate(this.stepIndex, { lr: c.lr, warmupSteps: c.warmupSteps, totalSteps: c.steps, decay: c.lrDecay, minLrRatio: c.minLrRatio });
    const update = groups.length > 0 ? this.update(groups, advantages, lr) : { extras: {}, loss: 0, gradNorm: 0, skipped: 0, tRef: 0 };
    const tEnd = performance.now();
    this.stepIndex++;
    const metrics: StepMetrics = {
      ...this.rolloutMetrics(groups, roll.fracZeroStd),
      ...update.extras,
      loss: update.loss,
      grad_norm: update.gradNorm,
      skipped_updates: update.skipped,
      lr,
      step_time: (tEnd - t0) / 1000,
      tokens_per_second: roll.generatedTokens / ((tEnd - t0) / 1000),
      'time/rollout': (tRollout - t0) / 1000,
      'time/reference': update.tRef / 1000,
      'time/update': (tEnd - tRollout - update.tRef) / 1000,
      sampled_groups: roll.sampledGroups,
    };
    return { step: this.stepIndex, metrics, groups };
  }

  private update(groups: ScoredGroup[], advantages: Float32Array, lr: number) {
    const c = this.config;
    const batch = packBatch(
      groups.flatMap((g) => g.completions.map(() => g.promptIds)),
      groups.flatMap((g) => g.completions.map((x) => x.ids)),
      this.tokenizer.padId,
    );
    const t = toTensors(batch, this.model.config.promptAnchor);
    const adv = tf.tensor1d(advantages);
    const tRef0 = performance.now();
    const refLogp = this.reference && c.beta > 0 ? frozenLogProbs(this.reference, this.model.config, t) : undefined;
    const tRef = performance.now() - tRef0;
    // With one update per batch the sampling policy is the current one: old log-probs are the
    // current ones with the gradient stopped (ratio exactly 1). With more, they are frozen first.
    const oldLogp = c.numIterations > 1 ? frozenLogProbs(this.model.params, this.model.config, t) : null;
    const sums: Record<string, number> = {};
    let loss = 0, gradNorm = 0, skipped = 0;
    for (let it = 0; it < c.numIterations; it++) {
      const r = optimizerUpdate(this.model, this.optimizer, () => {
        const logits = forward(this.model.params, this.model.config, t.inputs, t.positions, t.bias).logits;
        const logp = tokenLogProbs(logits, t.targets);
        const out = grpoLoss(
          { logp, oldLogp: oldLogp ?? stopGradient(logp), refLogp, advantages: adv, mask: t.mask },
          { lossType: c.lossType, epsLow: c.epsLow, epsHigh: c.epsHigh, beta: c.beta, maxCompletionLength: c.maxCompletionLength },
        );
        const entropy = tf.div(tf.sum(tf.mul(tokenEntropy(stopGradient(logits)), t.mask)), tf.maximum(tf.sum(t.mask), 1)) as tf.Scalar;
        return {
          loss: out.loss,
          extras: {
            policy_loss: out.policyLoss, kl: out.kl, entropy,
            'clip_ratio/low_mean': out.clipRatioLow, 'clip_ratio/high_mean': out.clipRatioHigh, 'clip_ratio/region_mean': out.clipRatioRegion,
          },
        };
      }, lr, c.maxGradNorm);
      loss += r.loss / c.numIterations;
      gradNorm += r.gradNorm / c.numIterations;
      skipped += Number(r.skipped);
      for (const [k, v] of Object.entries(r.extras)) sums[k] = (sums[k] ?? 0) + v / c.numIterations;
    }
    tf.dispose([t.inputs, t.targets, t.positions, t.bias, t.mask, adv]);
    refLogp?.dispose();
    oldLogp?.dispose();
    return { extras: sums, loss, gradNorm, skipped, tRef };
  }

  private rolloutMetrics(groups: ScoredGroup[], fracZeroStd: number): StepMetrics {
    const all = groups.flatMap((g) => g.completions);
    const lengths = all.map((x) => x.ids.length);
    const groupStds = groupRewardStds(all.map((x) => x.reward), this.config.groupSize);
    return {
      reward: meanStd(all.map((x) => x.reward)).mean,
      reward_std: meanStd(groupStds).mean,
      ...rewardStats(groups),
      frac_reward_zero_std: fracZeroStd,
      'completions/mean_length': meanStd(lengths).mean,
      'completions/min_length': lengths.length ? Math.min(...lengths) : 0,
      'completions/max_length': lengths.length ? Math.max(...lengths) : 0,
      'completions/clipped_ratio': all.length ? all.filter((x) => x.truncated).length / all.length : 0,
    };
  }

  /** Held-out evaluation of the current policy (greedy pass@1, format-blind pass@1, maj@k, pass@k). */
  evaluate(): EvalResult {
    const c = this.config;
    return evaluate(this.model.params, this.model.config, this.tokenizer, this.task, this.evalProblems,
      { maxCompletionLength: c.maxCompletionLength, k: c.evalK, temperature: c.temperature, batchSize: 100 },
      new Rng(c.seed + 7919 * (this.stepIndex + 1)));
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
