/**
 * A scored group as the UI's group view shows it: each completion's tokens with how the step's
 * update moved them, its rewards and its advantage.
 */
import type { GrpoConfig } from '../src/engine/config';
import type { GrpoTrainer, ScoredGroup } from '../src/engine/grpo-trainer';
import { groupAdvantages, groupRewardStds } from '../src/engine/grpo';
import { runAsync } from '../src/engine/readback';
import { rolloutSteps } from '../src/engine/rollout';
import { Rng } from '../src/engine/rng';
import type { Tokenizer } from '../src/engine/tokenizer';
import type { CompletionView, GroupView, TokenView } from './protocol';

function tokenViews(ids: number[], logRatios: number[] | undefined, c: GrpoConfig, tokenizer: Tokenizer): TokenView[] {
  return ids.map((id, j) => {
    const ratio = Math.exp(logRatios?.[j] ?? 0);
    return { text: tokenizer.vocab[id] ?? '?', ratio, clipped: ratio < 1 - c.epsLow || ratio > 1 + c.epsHigh };
  });
}

/** logRatios[i][j]: log pi_after - log pi_before of token j of completion i (absent: no update, ratio 1). */
export function groupView(step: number, g: ScoredGroup, logRatios: number[][] | null, c: GrpoConfig, tokenizer: Tokenizer): GroupView {
  const rewards = g.completions.map((x) => x.reward);
  const completions: CompletionView[] = g.completions.map((x, i) => ({
    text: x.text,
    tokens: tokenViews(x.ids, logRatios?.[i], c, tokenizer),
    reward: x.reward,
    scores: x.scores,
    advantage: g.advantages[i] ?? 0,
    truncated: x.truncated,
  }));
  return {
    step,
    prompt: g.problem.prompt,
    answer: g.problem.answer,
    language: g.problem.language,
    difficulty: g.problem.difficulty,
    rewardMean: rewards.reduce((a, b) => a + b, 0) / Math.max(1, rewards.length),
    rewardStd: groupRewardStds(rewards, rewards.length)[0] ?? 0,
    completions,
  };
}

/** One fresh group from the current policy, scored with the current weights; the model is not updated. */
export async function sampleGroup(trainer: GrpoTrainer, tokenizer: Tokenizer, seed: number): Promise<GroupView> {
  const c = trainer.config;
  const roll = await runAsync(rolloutSteps(trainer.model.params, trainer.model.config, tokenizer, trainer.task,
    { ...c, promptsPerStep: 1, dynamicSampling: false }, trainer.rewardWeights, new Rng(seed)));
  const group = roll.groups[0]!;
  const advantages = groupAdvantages(group.completions.map((x) => x.reward), c.groupSize, c.scaleRewards);
  return groupView(trainer.step, { ...group, advantages: Array.from(advantages) }, null, c, tokenizer);
}
