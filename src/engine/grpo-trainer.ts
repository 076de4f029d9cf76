/**
 * The GRPO loop (R1-Zero and every later RL stage): sample groups, score them, turn rewards into
 * group-relative advantages, and update the policy with the clipped surrogate plus a KL penalty
 * to a frozen reference. Each step returns its metrics (TRL / verl names) and the scored groups,
 * so that the CLI and the UI can show what the model wrote and what each completion earned.
 */
import * as tf from '@tensorflow/tfjs-core';
import { packBatch } from './batch';
import { completionLogProbs, disposeBatchTensors, frozenLogProbs, toTensors } from './batch-tensors';
import { type GrpoConfig, validateConfig } from './config';
import { type EvalResult, evaluate } from './eval';
import { groupAdvantages, groupRewardStds, grpoLoss } from './grpo';
import { type GPT, type Params, forward, tokenEntropy, tokenLogProbs } from './model';
import { AdamW, learningRate } from './optim';
import { type GeneralMix, type Group, meanStd, rewardStats, rollout } from './rollout';
import { type RewardWeights, parseCompletion, validateRewardWeights } from './rewards';
import { hasReflection } from './tasks/reflection';
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

/** How one group's update moved each token (for the UI's token view). */
export interface GroupInspection {
  groupIndex: number;
  /** Row i, token j: log pi_after - log pi_before for completion i of the group. */
  logRatios: number[][];
}

export interface GrpoStepResult {
  step: number;
  metrics: StepMetrics;
  groups: ScoredGroup[];
  inspection?: GroupInspection;
}

/** The first group whose rewards differ (it carries a learning signal), else the first. */
function inspectedGroupIndex(groups: ScoredGroup[]): number {
  const i = groups.findIndex((g) => g.advantages.some((a) => a !== 0));
  return Math.max(0, i);
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
    /** Final RL: general prompts mixed in, scored by a reward model (rollout.ts). */
    private readonly mix?: GeneralMix,
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

  /** One GRPO step; with inspect, also how the update moved the tokens of one group. */
  trainStep(opts: { inspect?: boolean } = {}): GrpoStepResult {
    const c = this.config;
    const t0 = performance.now();
    const roll = rollout(this.model.params, this.model.config, this.tokenizer, this.task, c, this.weights, this.rng, this.mix);
    const tRollout = performance.now();
    const rewards = roll.groups.flatMap((g) => g.completions.map((x) => x.reward));
    const advantages = groupAdvantages(rewards, c.groupSize, c.scaleRewards);
    const groups: ScoredGroup[] = roll.groups.map((g, i) => ({
      ...g, advantages: Array.from(advantages.subarray(i * c.groupSize, (i + 1) * c.groupSize)),
    }));
    const lr = learningRate(this.stepIndex, { lr: c.lr, warmupSteps: c.warmupSteps, totalSteps: c.steps, decay: c.lrDecay, minLrRatio: c.minLrRatio });
    const inspected = opts.inspect && groups.length > 0 ? inspectedGroupIndex(groups) : -1;
    const before = inspected >= 0 ? this.groupLogProbs(groups[inspected] as ScoredGroup) : null;
    const update = groups.length > 0 ? this.update(groups, advantages, lr) : { extras: {}, loss: 0, gradNorm: 0, skipped: 0, tRef: 0 };
    const tEnd = performance.now();
    const inspection = before ? this.inspect(groups, inspected, before) : undefined;
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
    return { step: this.stepIndex, metrics, groups, ...(inspection ? { inspection } : {}) };
  }

  private groupLogProbs(g: ScoredGroup): number[][] {
    return completionLogProbs(this.model.params, this.model.config, g.promptIds, g.completions.map((x) => x.ids), this.tokenizer.padId);
  }

  private inspect(groups: ScoredGroup[], groupIndex: number, before: number[][]): GroupInspection {
    const after = this.groupLogProbs(groups[groupIndex] as ScoredGroup);
    return { groupIndex, logRatios: after.map((row, i) => row.map((v, j) => v - ((before[i] as number[])[j] as number))) };
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
    disposeBatchTensors(t);
    adv.dispose();
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
      'completions/reflection': all.length ? all.filter((x) => hasReflection(parseCompletion(x.text).think ?? '')).length / all.length : 0,
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
