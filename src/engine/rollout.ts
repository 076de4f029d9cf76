/**
 * Rollouts: sample a group of G completions for each prompt and score them with the rewards.
 * With dynamic sampling (DAPO), groups whose rewards are all equal carry no GRPO signal and are
 * replaced by fresh prompts, for a bounded number of extra rounds.
 */
import { completionText, rewardContext } from './completion';
import type { GrpoConfig } from './config';
import { zeroStdGroups } from './grpo';
import type { ModelConfig } from './model-config';
import type { Params } from './model';
import { REWARD_NAMES, type RewardName, type RewardWeights, scoreCompletion } from './rewards';
import type { Rng } from './rng';
import { type Readbacks, runSync } from './readback';
import { generateSteps } from './sampling';
import type { Problem, Task } from './tasks/task';
import { ANSWER_CLOSE, type Tokenizer } from './tokenizer';

/** The parts of a run config that sampling and scoring read. */
export type RolloutConfig = Pick<GrpoConfig,
  'promptsPerStep' | 'groupSize' | 'maxCompletionLength' | 'temperature' | 'topK' | 'topP' | 'overlongBuffer' |
  'dynamicSampling' | 'maxResampleRounds'>;

export interface Completion {
  ids: number[];
  text: string;
  truncated: boolean;
  reward: number;
  scores: Record<RewardName, number>;
}

export interface Group {
  problem: Problem;
  promptIds: number[];
  completions: Completion[];
}

export interface RolloutResult {
  groups: Group[];
  /** Groups sampled in all (kept + dropped by dynamic sampling). */
  sampledGroups: number;
  /** Share of sampled groups whose rewards were all equal. */
  fracZeroStd: number;
  /** Generated tokens, including dropped groups. */
  generatedTokens: number;
  /** Milliseconds spent generating (the rest of the rollout is scoring). */
  generateMs: number;
}

/** Groups whose rewards are all equal carry no GRPO signal (see grpo.ts). */
function isFlat(g: Group): boolean {
  return zeroStdGroups(g.completions.map((x) => x.reward), g.completions.length)[0] ?? true;
}

/**
 * Final RL: a share of the prompts are general ones (no verifier), scored by a learned reward
 * model. General completions are rewarded by the preference score alone, reasoning completions
 * by the rule rewards alone, as R1's last stage does.
 */
export interface GeneralMix {
  share: number;
  task: Task;
  /** The reward model's scores of (prompt, completion) token ids. */
  score(promptIds: number[][], completionIds: number[][]): number[];
}

function weightsFor(general: boolean, weights: RewardWeights): RewardWeights {
  if (general) return { preference: weights.preference ?? 1 };
  const { preference: _unused, ...rules } = weights;
  return rules;
}

function* sampleGroups(
  p: Params, mc: ModelConfig, tokenizer: Tokenizer, task: Task, c: RolloutConfig, weights: RewardWeights,
  n: number, rng: Rng, mix?: GeneralMix,
): Readbacks<{ groups: Group[]; generateMs: number }> {
  // Drawn only with a mix, so that runs without one keep their random streams.
  const general = Array.from({ length: n }, () => (mix ? rng.chance(mix.share) : false));
  const problems = general.map((g) => (g && mix ? mix.task.generate(rng) : task.generate(rng)));
  const promptIds = problems.map((q) => tokenizer.encode(q.prompt));
  const prompts = promptIds.flatMap((ids) => Array.from({ length: c.groupSize }, () => ids));
  const t0 = performance.now();
  const gen = yield* generateSteps(p, mc, prompts, {
    maxNewTokens: c.maxCompletionLength, temperature: c.temperature, topK: c.topK, topP: c.topP,
    stopIds: [tokenizer.eosId, tokenizer.id(ANSWER_CLOSE)], padId: tokenizer.padId,
  }, rng);
  const generateMs = performance.now() - t0;
  const preference = mix ? preferenceScores(mix, general, prompts, gen.completions, c.groupSize) : new Map<number, number>();
  const groups = problems.map((problem, i) => ({
    problem,
    promptIds: promptIds[i] as number[],
    completions: Array.from({ length: c.groupSize }, (_, j) => {
      const k = i * c.groupSize + j;
      const ids = gen.completions[k] as number[];
      const truncated = gen.truncated[k] as boolean;
      const isGeneral = general[i] === true && mix !== undefined;
      const ctx = rewardContext(tokenizer, { problem, task: isGeneral ? mix.task : task, ids, truncated }, c.maxCompletionLength, c.overlongBuffer);
      if (isGeneral) ctx.preference = preference.get(k) ?? 0;
      const { total, scores } = scoreCompletion(ctx, weightsFor(isGeneral, weights));
      return { ids, text: completionText(tokenizer, ids), truncated, reward: total, scores };
    }),
  }));
  return { groups, generateMs };
}

/** The reward model's scores of the general prompts' completions, in one batch, by completion index. */
function preferenceScores(mix: GeneralMix, general: boolean[], prompts: number[][], completions: number[][], groupSize: number): Map<number, number> {
  const indices = completions.flatMap((_, k) => (general[Math.floor(k / groupSize)] ? [k] : []));
  if (indices.length === 0) return new Map();
  const scores = mix.score(indices.map((k) => prompts[k] as number[]), indices.map((k) => completions[k] as number[]));
  return new Map(indices.map((k, i) => [k, scores[i] as number]));
}

export function rollout(
  p: Params, mc: ModelConfig, tokenizer: Tokenizer, task: Task, c: RolloutConfig, weights: RewardWeights, rng: Rng,
  mix?: GeneralMix,
): RolloutResult {
  return runSync(rolloutSteps(p, mc, tokenizer, task, c, weights, rng, mix));
}

/** rollout() as a computation with readbacks (readback.ts). */
export function* rolloutSteps(
  p: Params, mc: ModelConfig, tokenizer: Tokenizer, task: Task, c: RolloutConfig, weights: RewardWeights, rng: Rng,
  mix?: GeneralMix,
): Readbacks<RolloutResult> {
  const first = yield* sampleGroups(p, mc, tokenizer, task, c, weights, c.promptsPerStep, rng, mix);
  let groups = first.groups;
  let generateMs = first.generateMs;
  let sampled = groups.length;
  let zeroStd = groups.filter(isFlat).length;
  let tokens = countTokens(groups);
  if (c.dynamicSampling) {
    let kept = groups.filter((g) => !isFlat(g));
    for (let round = 0; round < c.maxResampleRounds && kept.length < c.promptsPerStep; round++) {
      const extra = yield* sampleGroups(p, mc, tokenizer, task, c, weights, c.promptsPerStep - kept.length, rng, mix);
      const more = extra.groups;
      generateMs += extra.generateMs;
      sampled += more.length;
      tokens += countTokens(more);
      const moreKept = more.filter((g) => !isFlat(g));
      zeroStd += more.length - moreKept.length;
      kept = kept.concat(moreKept);
    }
    // If every group is flat even after resampling, train on nothing rather than on noise.
    groups = kept;
  }
  return { groups, sampledGroups: sampled, fracZeroStd: zeroStd / sampled, generatedTokens: tokens, generateMs };
}

function countTokens(groups: Group[]): number {
  return groups.reduce((a, g) => a + g.completions.reduce((b, x) => b + x.ids.length, 0), 0);
}

/** Mean and (population) std of each reward function over all completions, for rewards/<fn>/mean|std. */
export function rewardStats(groups: Group[]): Record<string, number> {
  const out: Record<string, number> = {};
  const all = groups.flatMap((g) => g.completions);
  for (const name of REWARD_NAMES) {
    const xs = all.map((x) => x.scores[name]);
    const { mean, std } = meanStd(xs);
    out[`rewards/${name}/mean`] = mean;
    out[`rewards/${name}/std`] = std;
  }
  return out;
}

export function meanStd(xs: number[]): { mean: number; std: number } {
  if (xs.length === 0) return { mean: 0, std: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
  return { mean, std: Math.sqrt(variance) };
}
