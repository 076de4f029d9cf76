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
import { generate } from './sampling';
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
}

/** Groups whose rewards are all equal carry no GRPO signal (see grpo.ts). */
function isFlat(g: Group): boolean {
  return zeroStdGroups(g.completions.map((x) => x.reward), g.completions.length)[0] ?? true;
}

function sampleGroups(
  p: Params, mc: ModelConfig, tokenizer: Tokenizer, task: Task, c: RolloutConfig, weights: RewardWeights,
  n: number, rng: Rng,
): Group[] {
  const problems = Array.from({ length: n }, () => task.generate(rng));
  const promptIds = problems.map((q) => tokenizer.encode(q.prompt));
  const prompts = promptIds.flatMap((ids) => Array.from({ length: c.groupSize }, () => ids));
  const gen = generate(p, mc, prompts, {
    maxNewTokens: c.maxCompletionLength, temperature: c.temperature, topK: c.topK, topP: c.topP,
    stopIds: [tokenizer.eosId, tokenizer.id(ANSWER_CLOSE)], padId: tokenizer.padId,
  }, rng);
  return problems.map((problem, i) => ({
    problem,
    promptIds: promptIds[i] as number[],
    completions: Array.from({ length: c.groupSize }, (_, j) => {
      const k = i * c.groupSize + j;
      const ids = gen.completions[k] as number[];
      const truncated = gen.truncated[k] as boolean;
      const ctx = rewardContext(tokenizer, { problem, task, ids, truncated }, c.maxCompletionLength, c.overlongBuffer);
      const { total, scores } = scoreCompletion(ctx, weights);
      return { ids, text: completionText(tokenizer, ids), truncated, reward: total, scores };
    }),
  }));
}

export function rollout(
  p: Params, mc: ModelConfig, tokenizer: Tokenizer, task: Task, c: RolloutConfig, weights: RewardWeights, rng: Rng,
): RolloutResult {
  let groups = sampleGroups(p, mc, tokenizer, task, c, weights, c.promptsPerStep, rng);
  let sampled = groups.length;
  let zeroStd = groups.filter(isFlat).length;
  let tokens = countTokens(groups);
  if (c.dynamicSampling) {
    let kept = groups.filter((g) => !isFlat(g));
    for (let round = 0; round < c.maxResampleRounds && kept.length < c.promptsPerStep; round++) {
      const more = sampleGroups(p, mc, tokenizer, task, c, weights, c.promptsPerStep - kept.length, rng);
      sampled += more.length;
      tokens += countTokens(more);
      const moreKept = more.filter((g) => !isFlat(g));
      zeroStd += more.length - moreKept.length;
      kept = kept.concat(moreKept);
    }
    // If every group is flat even after resampling, train on nothing rather than on noise.
    groups = kept;
  }
  return { groups, sampledGroups: sampled, fracZeroStd: zeroStd / sampled, generatedTokens: tokens };
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
