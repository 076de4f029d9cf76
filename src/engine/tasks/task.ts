/**
 * What every task family provides. A task is verifiable: a generator of seeded problems at
 * several difficulty levels, a rule-based verifier, worked solutions for the pretraining corpus,
 * and a fixed held-out evaluation set that training never samples from.
 */
import type { Rng } from '../rng';
import type { Language } from './digits';

export type TaskName = 'addition' | 'countdown' | 'multiplication';
/** Every task family, including the general prompts of the final RL stage (not in the registry: no corpus, no verifier). */
export type ProblemFamily = TaskName | 'general';

export interface Problem {
  task: ProblemFamily;
  /** The text the model is given, in the problem's digit script, e.g. "4782+356=". */
  prompt: string;
  language: Language;
  /** 1 = easiest; the meaning is the task's own (for addition: digits of the larger operand). */
  difficulty: number;
  /** A correct answer in Western digits (for display and for corpus documents). */
  answer: string;
  /** The operands, targets, etc. that the verifier needs. */
  numbers: number[];
}

export interface WorkedSolution {
  /** The reasoning, without tags (goes between <think> and </think>). */
  think: string;
  /** The final answer, without tags, in Western digits (corpus builders convert the script). */
  answer: string;
  /** False when an injected slip made the solution wrong. */
  correct: boolean;
}

export interface Task {
  readonly name: ProblemFamily;
  readonly title: string;
  /** One or two sentences for the UI: what the problem is and what a good solution looks like. */
  readonly description: string;
  readonly difficulties: readonly number[];
  /** A seeded problem. Without difficulty, one is drawn from the task's training mix. */
  generate(rng: Rng, opts?: { difficulty?: number; language?: Language }): Problem;
  /** Is this answer (the text inside <answer>, either digit script, whitespace trimmed) correct? */
  verify(problem: Problem, answer: string): boolean;
  /**
   * The candidate answer at the end of a completion when tags are ignored (for the format-blind
   * accuracy eval/pass@1_any_format), or null when there is none.
   */
  looseAnswer(completion: string): string | null;
  /**
   * A step-by-step solution; with probability slipRate per step, a plausible mistake is made.
   * With recheckRate, a task that supports it catches some slips with a self-check (reflection.ts).
   */
  worked(problem: Problem, rng: Rng, slipRate: number, opts?: { recheckRate?: number }): WorkedSolution;
  /**
   * Share of the reasoning's steps that match a correct worked solution, step by step (extra or
   * missing steps count as wrong); null when the task has no step checker or the text no steps.
   * It separates better reasoning from better formatting.
   */
  stepAccuracy?(problem: Problem, think: string): number | null;
  /** A bare answer with no reasoning: correct, or a plausible near miss. */
  direct(problem: Problem, rng: Rng, correct: boolean): string;
  /** The fixed held-out evaluation set (same problems on every call and every machine). */
  evalSet(size?: number): Problem[];
  /** True for a problem that is in the held-out set (generators and corpora skip these). */
  isHeldOut(problem: Problem): boolean;
}
