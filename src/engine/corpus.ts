/**
 * The synthetic pretraining corpus: what a web crawl might hold about these tasks.
 *
 * RL can only select and sharpen behaviours the base model already has, so the mix decides what
 * R1-Zero can find. The corpus therefore holds, like the web: many bare answers (often right on
 * easy problems, but a tiny model cannot compute long sums in one shot), answers in tags without
 * reasoning, empty think blocks, reasoning without tags or with the answer outside its tags,
 * partial reasoning, worked solutions with occasional slips, reasoning that drifts between the two
 * digit scripts, hedged double answers and noise. About one document in six is both in the
 * strict <think>…</think><answer>…</answer> format and correct.
 */
import { Rng } from './rng';
import { ANSWER_CLOSE, ANSWER_OPEN, EOS, THINK_CLOSE, THINK_OPEN } from './tokenizer';
import { type Language, toScript } from './tasks/digits';
import type { Problem, Task } from './tasks/task';

export type DocumentStyle =
  | 'bare_answer' | 'answer_tags' | 'empty_think' | 'untagged_trace' | 'full_trace'
  | 'answer_outside_tags' | 'partial_trace' | 'hedged_answers' | 'noise';

/**
 * Share of documents in each style (normalised when drawn). Worked solutions (full, untagged,
 * partial or with the answer outside the tags) are about half the corpus: with fewer, the
 * default model learned column addition too slowly to pretrain in minutes (docs/results.md).
 */
export const DEFAULT_STYLE_MIX: Record<DocumentStyle, number> = {
  bare_answer: 0.25,
  answer_tags: 0.08,
  empty_think: 0.05,
  untagged_trace: 0.15,
  full_trace: 0.2,
  answer_outside_tags: 0.07,
  partial_trace: 0.1,
  hedged_answers: 0.02,
  noise: 0.03,
};

export interface CorpusOptions {
  styleMix: Record<DocumentStyle, number>;
  /** Share of documents per task (normalised). */
  taskMix: Array<{ task: Task; weight: number }>;
  /** Probability that a bare or tagged direct answer is correct. */
  directAccuracy: number;
  /** Per-step slip probability inside worked solutions. */
  slipRate: number;
  /** Share of slips caught by a self-check ("wait", then the step again); 0 seeds no reflection. */
  recheckRate?: number;
  /** Probability that a trace drifts into the other digit script (language mixing). */
  mixedLanguageRate: number;
}

export interface CorpusDocument {
  problem: Problem;
  style: DocumentStyle;
  /** The prompt text, e.g. "47+5=". */
  prompt: string;
  /** What follows the prompt, ending with <eos>. */
  completion: string;
  /** True when the completion is in the strict format and its answer is right. */
  wellFormedAndCorrect: boolean;
}

const STYLES = Object.keys(DEFAULT_STYLE_MIX) as DocumentStyle[];

/** One document; every draw comes from rng, so a corpus is a function of its seed. */
export function drawDocument(rng: Rng, o: CorpusOptions): CorpusDocument {
  const task = o.taskMix[rng.weighted(o.taskMix.map((t) => t.weight))]?.task as Task;
  const difficulty = rng.pick(task.difficulties);
  let problem = task.generate(rng, { difficulty });
  while (task.isHeldOut(problem)) problem = task.generate(rng, { difficulty });
  const style = STYLES[rng.weighted(STYLES.map((s) => o.styleMix[s]))] as DocumentStyle;
  const { body, wellFormedAndCorrect } = renderStyle(style, problem, task, rng, o);
  return { problem, style, prompt: problem.prompt, completion: body + EOS, wellFormedAndCorrect };
}

function renderStyle(
  style: DocumentStyle, problem: Problem, task: Task, rng: Rng, o: CorpusOptions,
): { body: string; wellFormedAndCorrect: boolean } {
  const lang = problem.language;
  const direct = (): { text: string; correct: boolean } => {
    const correct = rng.chance(o.directAccuracy);
    return { text: toScript(task.direct(problem, rng, correct), lang), correct };
  };
  const trace = () => {
    const w = task.worked(problem, rng, o.slipRate, { recheckRate: o.recheckRate ?? 0 });
    const think = rng.chance(o.mixedLanguageRate) ? mixScripts(w.think, lang, rng) : toScript(w.think, lang);
    return { think, answer: toScript(w.answer, lang), correct: w.correct };
  };
  switch (style) {
    case 'bare_answer':
      return { body: direct().text, wellFormedAndCorrect: false };
    case 'answer_tags':
      return { body: `${ANSWER_OPEN}${direct().text}${ANSWER_CLOSE}`, wellFormedAndCorrect: false };
    case 'empty_think':
      return { body: `${THINK_OPEN}${THINK_CLOSE}${ANSWER_OPEN}${direct().text}${ANSWER_CLOSE}`, wellFormedAndCorrect: false };
    case 'untagged_trace': {
      const t = trace();
      return { body: `${t.think} so ${t.answer}`, wellFormedAndCorrect: false };
    }
    case 'full_trace': {
      const t = trace();
      return { body: `${THINK_OPEN}${t.think}${THINK_CLOSE}${ANSWER_OPEN}${t.answer}${ANSWER_CLOSE}`, wellFormedAndCorrect: t.correct };
    }
    case 'answer_outside_tags': {
      const t = trace();
      return { body: `${THINK_OPEN}${t.think}${THINK_CLOSE}${t.answer}`, wellFormedAndCorrect: false };
    }
    case 'partial_trace': {
      const t = trace();
      const steps = t.think.split(' ');
      const kept = steps.slice(0, rng.int(1, Math.max(1, steps.length - 1))).join(' ');
      return { body: `${THINK_OPEN}${kept}${THINK_CLOSE}${ANSWER_OPEN}${direct().text}${ANSWER_CLOSE}`, wellFormedAndCorrect: false };
    }
    case 'hedged_answers': {
      const a = direct().text;
      const b = toScript(task.direct(problem, rng, false), lang);
      return { body: `${ANSWER_OPEN}${a}${ANSWER_CLOSE}${ANSWER_OPEN}${b}${ANSWER_CLOSE}`, wellFormedAndCorrect: false };
    }
    case 'noise':
      return { body: noise(rng, lang), wellFormedAndCorrect: false };
  }
}

/** Writes each space-separated step of a trace in a randomly chosen script (language mixing). */
function mixScripts(think: string, lang: Language, rng: Rng): string {
  const other: Language = lang === 'western' ? 'eastern' : 'western';
  return think.split(' ').map((step) => toScript(step, rng.chance(0.5) ? other : lang)).join(' ');
}

function noise(rng: Rng, lang: Language): string {
  const alphabet = '0123456789+= ';
  let text = '';
  const n = rng.int(1, 12);
  for (let i = 0; i < n; i++) text += rng.pick(alphabet.split(''));
  return toScript(text, lang);
}

/** Summary counts of a sample of documents, for docs/results.md and the CLI. */
export function describeCorpus(docs: CorpusDocument[]): { styles: Record<string, number>; wellFormedAndCorrect: number } {
  const styles: Record<string, number> = {};
  let good = 0;
  for (const d of docs) {
    styles[d.style] = (styles[d.style] ?? 0) + 1;
    if (d.wellFormedAndCorrect) good++;
  }
  return { styles, wellFormedAndCorrect: good / Math.max(1, docs.length) };
}
