/**
 * Reward functions: pure functions of a completion's text (and its length), as R1 and TRL use
 * them. No neural reward model for reasoning prompts: rule-based rewards cannot be hacked by
 * fooling a network, only by exploiting the rules, so the rules below are strict about tags.
 *
 * Each function has a name (metrics report it as rewards/<name>/mean) and a one-line description
 * for the UI. A step's reward is sum_k w_k * f_k; weights may change between steps, and every
 * function is computed for metrics even when its weight is 0.
 */
import { ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN } from './tokenizer';
import { digitCounts } from './tasks/digits';
import type { Problem, Task } from './tasks/task';

export interface RewardContext {
  problem: Problem;
  task: Task;
  /** Decoded completion text after the prompt, eos excluded. */
  completion: string;
  /** Completion length in tokens. */
  completionLength: number;
  /** True when generation stopped at the length cap instead of at eos. */
  truncated: boolean;
  maxCompletionLength: number;
  /** DAPO's soft-punishment window (tokens) before maxCompletionLength. */
  overlongBuffer: number;
  /** The reward model's score, for general (non-verifiable) prompts in the final RL stage. */
  preference?: number;
}

export interface ParsedCompletion {
  /** Text between the first <think> and the first </think> after it; undefined without such a pair. */
  think?: string;
  /** Text between the first <answer> and the first </answer> after it; undefined without such a pair. */
  answer?: string;
  /** How many times each tag occurs. */
  counts: { thinkOpen: number; thinkClose: number; answerOpen: number; answerClose: number };
  /** Text after the last </answer>; undefined when there is no </answer>. */
  trailing?: string;
}

function countOf(text: string, tag: string): number {
  let n = 0;
  for (let i = text.indexOf(tag); i >= 0; i = text.indexOf(tag, i + tag.length)) n++;
  return n;
}

function between(text: string, open: string, close: string): string | undefined {
  const a = text.indexOf(open);
  if (a < 0) return undefined;
  const b = text.indexOf(close, a + open.length);
  return b < 0 ? undefined : text.slice(a + open.length, b);
}

/** Splits a completion into its think block, answer block, tag counts and trailing text. */
export function parseCompletion(text: string): ParsedCompletion {
  const counts = {
    thinkOpen: countOf(text, THINK_OPEN),
    thinkClose: countOf(text, THINK_CLOSE),
    answerOpen: countOf(text, ANSWER_OPEN),
    answerClose: countOf(text, ANSWER_CLOSE),
  };
  const out: ParsedCompletion = { counts };
  const think = between(text, THINK_OPEN, THINK_CLOSE);
  if (think !== undefined) out.think = think;
  const answer = between(text, ANSWER_OPEN, ANSWER_CLOSE);
  if (answer !== undefined) out.answer = answer;
  const lastClose = text.lastIndexOf(ANSWER_CLOSE);
  if (lastClose >= 0) out.trailing = text.slice(lastClose + ANSWER_CLOSE.length);
  return out;
}

function eachTagOnce(p: ParsedCompletion): boolean {
  const c = p.counts;
  return c.thinkOpen === 1 && c.thinkClose === 1 && c.answerOpen === 1 && c.answerClose === 1;
}

const STRICT_FORMAT = /^<think>([\s\S]*)<\/think>\s*<answer>([\s\S]*)<\/answer>\s*$/;

/** The strict R1 template: <think>X</think><answer>Y</answer>, X and Y not blank, each tag once. */
function isStrictFormat(text: string, p: ParsedCompletion): boolean {
  if (!eachTagOnce(p)) return false;
  const m = STRICT_FORMAT.exec(text);
  return m !== null && (m[1] ?? '').trim() !== '' && (m[2] ?? '').trim() !== '';
}

/** Penalty per non-whitespace character after the last </answer> (tag_count). */
export const TRAILING_PENALTY_PER_CHAR = 0.01;
/** The most tag_count can lose to trailing text (one tag's worth). */
export const TRAILING_PENALTY_MAX = 0.25;

function accuracy(ctx: RewardContext): number {
  const p = parseCompletion(ctx.completion);
  if (p.counts.answerOpen !== 1 || p.counts.answerClose !== 1) return 0;
  if (p.answer === undefined || p.trailing === undefined || p.trailing.trim() !== '') return 0;
  return ctx.task.verify(ctx.problem, p.answer.trim()) ? 1 : 0;
}

function format(ctx: RewardContext): number {
  return isStrictFormat(ctx.completion, parseCompletion(ctx.completion)) ? 1 : 0;
}

function formatSoft(ctx: RewardContext): number {
  const text = ctx.completion;
  const p = parseCompletion(text);
  if (isStrictFormat(text, p)) return 1;
  if (!eachTagOnce(p)) return 0;
  const order = [THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE].map((t) => text.indexOf(t));
  const inOrder = order.every((pos, i) => i === 0 || pos > (order[i - 1] as number));
  return inOrder && (p.trailing ?? '').trim() === '' ? 0.5 : 0;
}

function tagCount(ctx: RewardContext): number {
  const p = parseCompletion(ctx.completion);
  const c = p.counts;
  let score = 0;
  for (const n of [c.thinkOpen, c.thinkClose, c.answerOpen, c.answerClose]) if (n === 1) score += 0.25;
  const trailingChars = (p.trailing ?? '').replace(/\s/g, '').length;
  score -= Math.min(TRAILING_PENALTY_MAX, TRAILING_PENALTY_PER_CHAR * trailingChars);
  return Math.max(0, score);
}

function language(ctx: RewardContext): number {
  const think = parseCompletion(ctx.completion).think;
  if (think === undefined) return 0;
  const c = digitCounts(think);
  const total = c.western + c.eastern;
  return total === 0 ? 0 : c[ctx.problem.language] / total;
}

function overlong(ctx: RewardContext): number {
  const { completionLength: len, maxCompletionLength: max, overlongBuffer: buffer } = ctx;
  if (ctx.truncated || len >= max) return -1;
  const free = max - buffer;
  if (len <= free) return 0;
  return -(len - free) / buffer;
}

export const REWARD_NAMES = ['accuracy', 'format', 'format_soft', 'tag_count', 'language', 'overlong', 'preference'] as const;
export type RewardName = (typeof REWARD_NAMES)[number];
export type RewardWeights = Partial<Record<RewardName, number>>;
export type RewardFunction = (ctx: RewardContext) => number;

export const REWARD_FUNCTIONS: Record<RewardName, RewardFunction> = {
  accuracy,
  format,
  format_soft: formatSoft,
  tag_count: tagCount,
  language,
  overlong,
  // Computed by a learned model outside this file (rollout.ts scores general prompts with it).
  preference: (ctx) => ctx.preference ?? 0,
};

/** One line each, for the UI. */
export const REWARD_DESCRIPTIONS: Record<RewardName, string> = {
  accuracy: '1 when exactly one <answer> block holds a correct answer and nothing follows it; else 0.',
  format: '1 for exactly <think>reasoning</think><answer>answer</answer>, each tag once, nothing after; else 0.',
  format_soft: '1 for the strict format, 0.5 for think then answer blocks with extra text around them, else 0.',
  tag_count: '0.25 for each of the four tags used exactly once, minus 0.01 per character after </answer>.',
  language: 'Share of the digits in the think block written in the prompt\'s script (R1 language consistency).',
  overlong: 'DAPO soft overlong penalty: 0 until the buffer before the length cap, down to -1 at the cap.',
  preference: 'The reward model\'s score of an answer to a general prompt (final RL stage only; 0 elsewhere).',
};

/** The lab's default: accuracy plus a little format, as R1-Zero rewards both. */
export const DEFAULT_REWARD_WEIGHTS: RewardWeights = { accuracy: 1, format: 0.2 };

function isRewardName(name: string): name is RewardName {
  return (REWARD_NAMES as readonly string[]).includes(name);
}

/**
 * Checks a weights object: keys must be reward names, values finite numbers. Throws an error
 * that names the offending field and the allowed names; returns the weights typed.
 */
export function validateRewardWeights(w: unknown): RewardWeights {
  const allowed = `allowed: ${REWARD_NAMES.join(', ')}`;
  if (typeof w !== 'object' || w === null || Array.isArray(w)) {
    throw new Error(`rewardWeights: must be an object mapping reward names to numbers (${allowed})`);
  }
  const out: RewardWeights = {};
  for (const [key, value] of Object.entries(w)) {
    if (!isRewardName(key)) throw new Error(`rewardWeights.${key}: not a reward function (${allowed})`);
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new Error(`rewardWeights.${key}: must be a finite number, got ${String(value)} (${allowed})`);
    }
    out[key] = value;
  }
  return out;
}

/** Every reward function's score, and the weighted total (missing weights count as 0). */
export function scoreCompletion(
  ctx: RewardContext,
  weights: RewardWeights,
): { total: number; scores: Record<RewardName, number> } {
  const scores = {} as Record<RewardName, number>;
  let total = 0;
  for (const name of REWARD_NAMES) {
    const s = REWARD_FUNCTIONS[name](ctx);
    scores[name] = s;
    total += (weights[name] ?? 0) * s;
  }
  return { total, scores };
}
