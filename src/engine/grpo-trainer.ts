/**
 * The GRPO loop (R1-Zero and every later RL stage): sample groups, score them, turn rewards into
 * group-relative advantages, and update the policy with the clipped surrogate plus a KL penalty
 * to a frozen reference. Each step returns its metrics (TRL / verl names) and the scored groups,
 * so that the CLI and the UI can show what the model wrote and what each completion earned.
 */
import { completionLogProbs } from './batch-tensors';
import { type GrpoConfig, validateConfig } from './config';
import { type EvalResult, evaluateSteps } from './eval';
import { groupAdvantages, groupRewardStds } from './grpo';
import { grpoUpdateSteps } from './grpo-update';
import type { GPT, Params } from './model';
import { AdamW, learningRate } from './optim';
import { type Readbacks, runAsync, runSync } from './readback';
import { type GeneralMix, type Group, meanStd, rewardStats, rolloutSteps } from './rollout';
import { type RewardWeights, parseCompletion, validateRewardWeights } from './rewards';
import { hasReflection } from './tasks/reflection';
import { Rng } from './rng';
import { TASKS } from './tasks/registry';
import type { Problem, Task } from './tasks/task';
import type { Tokenizer } from './tokenizer';

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
    return runSync(this.trainStepSteps(opts));
  }

  /** trainStep() reading results back with await (what WebGPU needs; readback.ts). */
  trainStepAsync(opts: { inspect?: boolean } = {}): Promise<GrpoStepResult> {
    return runAsync(this.trainStepSteps(opts));
  }

  private *trainStepSteps(opts: { inspect?: boolean }): Readbacks<GrpoStepResult> {
    const c = this.config;
    const t0 = performance.now();
    const roll = yield* rolloutSteps(this.model.params, this.model.config, this.tokenizer, this.task, c, this.weights, this.rng, this.mix);
    const tRollout = performance.now();
    const rewards = roll.groups.flatMap((g) => g.completions.map((x) => x.reward));
    const advantages = groupAdvantages(rewards, c.groupSize, c.scaleRewards);
    const groups: ScoredGroup[] = roll.groups.map((g, i) => ({
      ...g, advantages: Array.from(advantages.subarray(i * c.groupSize, (i + 1) * c.groupSize)),
    }));
    const lr = learningRate(this.stepIndex, { lr: c.lr, warmupSteps: c.warmupSteps, totalSteps: c.steps, decay: c.lrDecay, minLrRatio: c.minLrRatio });
    const inspected = opts.inspect && groups.length > 0 ? inspectedGroupIndex(groups) : -1;
    const before = inspected >= 0 ? yield* this.groupLogProbs(groups[inspected] as ScoredGroup) : null;
    const update = groups.length > 0
      ? yield* grpoUpdateSteps(this.model, this.optimizer, this.reference, {
        prompts: groups.flatMap((g) => g.completions.map(() => g.promptIds)),
        completions: groups.flatMap((g) => g.completions.map((x) => x.ids)),
        advantages,
      }, c, lr, this.tokenizer.padId)
      : { extras: {}, loss: 0, gradNorm: 0, skipped: 0, referenceMs: 0 };
    const tEnd = performance.now();
    const inspection = before ? yield* this.inspect(groups, inspected, before) : undefined;
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
      'time/generate': roll.generateMs / 1000,
      'time/score': (tRollout - t0 - roll.generateMs) / 1000,
      'time/reference': update.referenceMs / 1000,
      'time/update': (tEnd - tRollout - update.referenceMs) / 1000,
      sampled_groups: roll.sampledGroups,
    };
    return { step: this.stepIndex, metrics, groups, ...(inspection ? { inspection } : {}) };
  }

  private groupLogProbs(g: ScoredGroup): Readbacks<number[][]> {
    return completionLogProbs(this.model.params, this.model.config, g.promptIds, g.completions.map((x) => x.ids), this.tokenizer.padId);
  }

  private *inspect(groups: ScoredGroup[], groupIndex: number, before: number[][]): Readbacks<GroupInspection> {
    const after = yield* this.groupLogProbs(groups[groupIndex] as ScoredGroup);
    return { groupIndex, logRatios: after.map((row, i) => row.map((v, j) => v - ((before[i] as number[])[j] as number))) };
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
    return runSync(this.evaluateSteps());
  }

  /** evaluate() reading results back with await. */
  evaluateAsync(): Promise<EvalResult> {
    return runAsync(this.evaluateSteps());
  }

  private evaluateSteps(): Readbacks<EvalResult> {
    const c = this.config;
    return evaluateSteps(this.model.params, this.model.config, this.tokenizer, this.task, this.evalProblems,
      { maxCompletionLength: c.maxCompletionLength, k: c.evalK, temperature: c.temperature, batchSize: 100 },
      new Rng(c.seed + 7919 * (this.stepIndex + 1)));
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
