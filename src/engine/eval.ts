/**
 * Held-out evaluation. Strict pass@1 (greedy; the answer must be inside the answer tags, as the
 * accuracy reward reads it) beside format-blind pass@1 (the right answer at the end of the text,
 * tags or not), so that format gains and reasoning gains can be told apart. maj@k and pass@k use
 * k sampled completions per problem.
 */
import { rewardContext } from './completion';
import type { ModelConfig } from './model-config';
import type { Params } from './model';
import { REWARD_FUNCTIONS, parseCompletion } from './rewards';
import type { Rng } from './rng';
import { type Readbacks, runSync } from './readback';
import { generateSteps } from './sampling';
import { hasReflection } from './tasks/reflection';
import type { Problem, Task } from './tasks/task';
import { ANSWER_CLOSE, type Tokenizer } from './tokenizer';

export interface EvalOptions {
  maxCompletionLength: number;
  /** Samples per problem for maj@k and pass@k; 0 skips them. */
  k: number;
  temperature: number;
  /** Prompts per generation batch (memory vs speed). */
  batchSize: number;
}

export interface DifficultyScore {
  n: number;
  pass1: number;
  pass1AnyFormat: number;
  meanLength: number;
}

export interface EvalResult {
  'eval/pass@1': number;
  'eval/pass@1_any_format': number;
  'eval/format': number;
  'eval/language': number;
  'eval/mean_length': number;
  /** Mean step accuracy of the reasoning, over completions that have reasoning steps (tasks with a checker). */
  'eval/step_accuracy'?: number;
  /** Share of completions with a non-empty think block. */
  'eval/reasoning_share': number;
  /** Share of completions whose reasoning re-checks a step (the corpus's "wait" pattern). */
  'eval/reflection': number;
  'eval/maj@k'?: number;
  'eval/pass@k'?: number;
  byDifficulty: Record<number, DifficultyScore>;
  /** A few greedy completions, for the CLI and the docs. */
  examples: Array<{ prompt: string; completion: string; correct: boolean }>;
}

interface Sampled {
  problem: Problem;
  ids: number[];
  truncated: boolean;
}

function* generateAll(
  p: Params, c: ModelConfig, tokenizer: Tokenizer, problems: Problem[], repeats: number, temperature: number,
  o: EvalOptions, rng: Rng,
): Readbacks<Sampled[]> {
  const jobs = problems.flatMap((problem) => Array.from({ length: repeats }, () => problem));
  const out: Sampled[] = [];
  for (let i = 0; i < jobs.length; i += o.batchSize) {
    const chunk = jobs.slice(i, i + o.batchSize);
    const gen = yield* generateSteps(p, c, chunk.map((q) => tokenizer.encode(q.prompt)), {
      maxNewTokens: o.maxCompletionLength, temperature, topK: 0, topP: 1,
      stopIds: [tokenizer.eosId, tokenizer.id(ANSWER_CLOSE)], padId: tokenizer.padId,
    }, rng);
    chunk.forEach((problem, j) => out.push({ problem, ids: gen.completions[j] as number[], truncated: gen.truncated[j] as boolean }));
  }
  return out;
}

export function evaluate(
  p: Params, c: ModelConfig, tokenizer: Tokenizer, task: Task, problems: Problem[], o: EvalOptions, rng: Rng,
): EvalResult {
  return runSync(evaluateSteps(p, c, tokenizer, task, problems, o, rng));
}

/** evaluate() as a computation with readbacks (readback.ts). */
export function* evaluateSteps(
  p: Params, c: ModelConfig, tokenizer: Tokenizer, task: Task, problems: Problem[], o: EvalOptions, rng: Rng,
): Readbacks<EvalResult> {
  const greedy = yield* generateAll(p, c, tokenizer, problems, 1, 0, o, rng);
  let pass = 0, loose = 0, format = 0, language = 0, length = 0, reasoning = 0, reflection = 0;
  const stepScores: number[] = [];
  const byDifficulty: Record<number, DifficultyScore> = {};
  const examples: EvalResult['examples'] = [];
  for (const s of greedy) {
    const ctx = rewardContext(tokenizer, { ...s, task }, o.maxCompletionLength, 0);
    const correct = REWARD_FUNCTIONS.accuracy(ctx) === 1;
    const looseAnswer = task.looseAnswer(ctx.completion);
    const looseCorrect = looseAnswer !== null && task.verify(s.problem, looseAnswer);
    pass += Number(correct);
    loose += Number(looseCorrect);
    format += REWARD_FUNCTIONS.format(ctx);
    language += REWARD_FUNCTIONS.language(ctx);
    length += s.ids.length;
    const think = parseCompletion(ctx.completion).think?.trim();
    if (think) {
      reasoning++;
      if (hasReflection(think)) reflection++;
      const steps = task.stepAccuracy?.(s.problem, think);
      if (steps !== null && steps !== undefined) stepScores.push(steps);
    }
    const d = (byDifficulty[s.problem.difficulty] ??= { n: 0, pass1: 0, pass1AnyFormat: 0, meanLength: 0 });
    d.n++;
    d.pass1 += Number(correct);
    d.pass1AnyFormat += Number(looseCorrect);
    d.meanLength += s.ids.length;
    if (examples.length < 6) examples.push({ prompt: s.problem.prompt, completion: ctx.completion, correct });
  }
  for (const d of Object.values(byDifficulty)) {
    d.pass1 /= d.n;
    d.pass1AnyFormat /= d.n;
    d.meanLength /= d.n;
  }
  const n = Math.max(1, greedy.length);
  const result: EvalResult = {
    'eval/pass@1': pass / n,
    'eval/pass@1_any_format': loose / n,
    'eval/format': format / n,
    'eval/language': language / n,
    'eval/mean_length': length / n,
    'eval/reasoning_share': reasoning / n,
    'eval/reflection': reflection / n,
    byDifficulty,
    examples,
  };
  if (stepScores.length > 0) result['eval/step_accuracy'] = stepScores.reduce((a, b) => a + b, 0) / stepScores.length;
  if (o.k > 0) Object.assign(result, yield* sampledScores(p, c, tokenizer, task, problems, o, rng));
  return result;
}

/** maj@k: the most common tagged answer among k samples is right; pass@k: any of them is. */
function* sampledScores(
  p: Params, c: ModelConfig, tokenizer: Tokenizer, task: Task, problems: Problem[], o: EvalOptions, rng: Rng,
): Readbacks<Pick<EvalResult, 'eval/maj@k' | 'eval/pass@k'>> {
  const samples = yield* generateAll(p, c, tokenizer, problems, o.k, o.temperature, o, rng);
  let maj = 0, any = 0;
  for (let i = 0; i < problems.length; i++) {
    const problem = problems[i] as Problem;
    const group = samples.slice(i * o.k, (i + 1) * o.k);
    const votes = new Map<string, number>();
    let anyCorrect = false;
    for (const s of group) {
      const ctx = rewardContext(tokenizer, { ...s, task }, o.maxCompletionLength, 0);
      if (REWARD_FUNCTIONS.accuracy(ctx) === 1) anyCorrect = true;
      const answer = parseCompletion(ctx.completion).answer?.trim();
      if (answer) votes.set(answer, (votes.get(answer) ?? 0) + 1);
    }
    const top = [...votes.entries()].sort((a, b) => b[1] - a[1])[0];
    if (top && task.verify(problem, top[0])) maj++;
    if (anyCorrect) any++;
  }
  return { 'eval/maj@k': maj / problems.length, 'eval/pass@k': any / problems.length };
}

/** An evaluation as flat metric values (the numbers, plus pass@1, format-blind pass@1 and length per difficulty). */
export function evalMetrics(e: EvalResult): Record<string, number> {
  const flat: Record<string, number> = {};
  for (const [k, v] of Object.entries(e)) if (typeof v === 'number') flat[k] = v;
  for (const [d, s] of Object.entries(e.byDifficulty)) {
    flat[`eval/pass@1/d${d}`] = s.pass1;
    flat[`eval/pass@1_any_format/d${d}`] = s.pass1AnyFormat;
    flat[`eval/mean_length/d${d}`] = s.meanLength;
  }
  return flat;
}
