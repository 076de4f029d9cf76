/**
 * Collecting verified reasoning samples from a model: the data of the cold-start stage (from the
 * R1-Zero model) and the reasoning part of rejection sampling (from the reasoning-RL model).
 *
 * Each prompt gets k sampled completions; a completion is kept only when it is correct, in the
 * strict format, written in the prompt's language throughout, and not cut off. Every rejected
 * completion is counted under the first rule it breaks, so the UI can show what was thrown away
 * and why. Duplicates of a kept completion for the same prompt are dropped, and at most
 * maxPerPrompt are kept per prompt, so easy prompts do not crowd out the rest.
 */
import type { ModelConfig } from '../model-config';
import type { Params } from '../model';
import { type Group, type RolloutConfig, rollout } from '../rollout';
import type { Rng } from '../rng';
import type { Task } from '../tasks/task';
import type { Tokenizer } from '../tokenizer';
import type { SftExample } from './sft-trainer';

export const REJECT_REASONS = ['truncated', 'bad_format', 'wrong', 'mixed_language', 'duplicate', 'over_cap', 'not_preferred'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface VerifiedSample extends SftExample {
  prompt: string;
  text: string;
  difficulty: number;
}

export interface SampleCounts {
  sampled: number;
  kept: number;
  rejected: Record<RejectReason, number>;
  /** Prompts with at least one kept completion. */
  promptsCovered: number;
}

export interface VerifiedSampleOptions {
  prompts: number;
  samplesPerPrompt: number;
  maxPerPrompt: number;
  temperature: number;
  maxCompletionLength: number;
  /** Prompts sampled per generation batch (memory bound). */
  promptsPerBatch: number;
}

/** Plain sampling of k completions per prompt, no resampling, no length penalty window. */
function samplingConfig(o: VerifiedSampleOptions): RolloutConfig {
  return {
    promptsPerStep: o.promptsPerBatch, groupSize: o.samplesPerPrompt, maxCompletionLength: o.maxCompletionLength,
    temperature: o.temperature, topK: 0, topP: 1, overlongBuffer: 0, dynamicSampling: false, maxResampleRounds: 0,
  };
}

/** Why a scored completion is not usable as a reasoning example, or null when it is. */
export function rejectReason(c: Group['completions'][number]): RejectReason | null {
  if (c.truncated) return 'truncated';
  if (c.scores.format < 1) return 'bad_format';
  if (c.scores.accuracy < 1) return 'wrong';
  if (c.scores.language < 1) return 'mixed_language';
  return null;
}

function emptyCounts(): SampleCounts {
  return { sampled: 0, kept: 0, rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>, promptsCovered: 0 };
}

/** Keeps the group's usable completions (see the file comment), counting the rest. */
export function filterGroup(g: Group, maxPerPrompt: number, counts: SampleCounts): VerifiedSample[] {
  const kept: VerifiedSample[] = [];
  const seen = new Set<string>();
  for (const c of g.completions) {
    counts.sampled++;
    const reason = rejectReason(c) ?? (seen.has(c.text) ? 'duplicate' : kept.length >= maxPerPrompt ? 'over_cap' : null);
    if (reason) {
      counts.rejected[reason]++;
      continue;
    }
    seen.add(c.text);
    kept.push({ promptIds: g.promptIds, completionIds: c.ids, prompt: g.problem.prompt, text: c.text, difficulty: g.problem.difficulty });
  }
  counts.kept += kept.length;
  if (kept.length > 0) counts.promptsCovered++;
  return kept;
}

/** Samples k completions for fresh training prompts and keeps the verified ones. */
export function collectVerifiedSamples(
  p: Params, mc: ModelConfig, tokenizer: Tokenizer, task: Task, o: VerifiedSampleOptions, rng: Rng,
): { samples: VerifiedSample[]; counts: SampleCounts } {
  const counts = emptyCounts();
  const samples: VerifiedSample[] = [];
  const config = samplingConfig(o);
  for (let done = 0; done < o.prompts; done += o.promptsPerBatch) {
    const n = Math.min(o.promptsPerBatch, o.prompts - done);
    // Every reward function is scored whatever its weight; the filter reads the scores, not the total.
    const roll = rollout(p, mc, tokenizer, task, { ...config, promptsPerStep: n }, { accuracy: 1 }, rng);
    for (const g of roll.groups) samples.push(...filterGroup(g, o.maxPerPrompt, counts));
  }
  return { samples, counts };
}

/** A well-formed answer to a general prompt: exactly one answer block and nothing after it. */
function isWellFormedAnswer(c: Group['completions'][number]): boolean {
  if (c.truncated) return false;
  const close = c.text.indexOf('</answer>');
  return c.text.split('<answer>').length === 2 && close >= 0 && c.text.slice(close + '</answer>'.length).trim() === '';
}

/**
 * Rejection sampling for general prompts, which have no verifier: of each prompt's k samples
 * the reward model's favourite well-formed one is kept (best-of-k), the rest are counted as
 * not preferred.
 */
export function collectPreferredSamples(
  p: Params, mc: ModelConfig, tokenizer: Tokenizer, generalTask: Task, o: VerifiedSampleOptions, rng: Rng,
  score: (promptIds: number[][], completionIds: number[][]) => number[],
): { samples: VerifiedSample[]; counts: SampleCounts } {
  const counts = emptyCounts();
  const samples: VerifiedSample[] = [];
  const config = samplingConfig(o);
  for (let done = 0; done < o.prompts; done += o.promptsPerBatch) {
    const n = Math.min(o.promptsPerBatch, o.prompts - done);
    const roll = rollout(p, mc, tokenizer, generalTask, { ...config, promptsPerStep: n }, {}, rng);
    for (const g of roll.groups) {
      counts.sampled += g.completions.length;
      const candidates = g.completions.filter(isWellFormedAnswer);
      counts.rejected.bad_format += g.completions.length - candidates.length;
      if (candidates.length === 0) continue;
      const scores = score(candidates.map(() => g.promptIds), candidates.map((c) => c.ids));
      const best = scores.indexOf(Math.max(...scores));
      const kept = candidates[best] as Group['completions'][number];
      counts.rejected.not_preferred += candidates.length - 1;
      counts.kept++;
      counts.promptsCovered++;
      samples.push({ promptIds: g.promptIds, completionIds: kept.ids, prompt: g.problem.prompt, text: kept.text, difficulty: g.problem.difficulty });
    }
  }
  return { samples, counts };
}

/** Adds b's counts into a. */
export function addCounts(a: SampleCounts, b: SampleCounts): SampleCounts {
  const rejected = { ...a.rejected };
  for (const r of REJECT_REASONS) rejected[r] += b.rejected[r];
  return { sampled: a.sampled + b.sampled, kept: a.kept + b.kept, promptsCovered: a.promptsCovered + b.promptsCovered, rejected };
}
