/**
 * General prompts: the lab's stand-in for R1's non-reasoning data (writing, factual QA), which
 * stages 3 and 4 of the recipe score with a learned reward model instead of a verifier.
 *
 * A prompt asks for something about a number ("describe 4072:", "tell me about ٣١٨:"); there is
 * no single right answer, only better and worse ones. What "better" means is written down as a
 * few quality rules that a learner can read, and preference pairs are labelled by them: the chosen
 * completion satisfies strictly more rules than the rejected one. The reward model never sees the
 * rules, only the pairs, as a real reward model only sees human rankings; so whether it recovers
 * the rules (and which ones it misses) is what the lab can show.
 *
 * Everything is written with the tokenizer's characters (lowercase a-z, space, the two digit
 * scripts), and a prompt's script is its "language", as for the verifiable tasks.
 */
import { parseCompletion } from '../rewards';
import { Rng } from '../rng';
import { type Language, digitCounts, toScript, toWestern } from '../tasks/digits';
import { ANSWER_CLOSE, ANSWER_OPEN } from '../tokenizer';

export interface GeneralPrompt {
  /** The text the model is given, e.g. "describe 4072:" or "about ٣١٨:". */
  text: string;
  number: number;
  language: Language;
}

/** Prompt templates; N is the number. The longest prompt (19 characters) fits the prompt anchor (20). */
export const PROMPT_TEMPLATES: readonly string[] = ['describe N:', 'about N:', 'tell me about N:'];

/** Relative weights of 1..4-digit numbers: there are only ten 1-digit numbers, so they are drawn rarely. */
const DIGIT_WEIGHTS = [1, 2, 3, 4];
/**
 * Share of Eastern-script prompts. Half, not the tasks' quarter: the script rule is one of the
 * things the reward model must learn, and it needs both scripts in equal measure to do so.
 */
const EASTERN_SHARE = 0.5;

/** Longest answer (characters, inside the tags) that the concise rule accepts. */
export const MAX_ANSWER_CHARS = 24;

function writeNumber(n: number, language: Language): string {
  return toScript(String(n), language);
}

function drawPromptFrom(rng: Rng): GeneralPrompt {
  const digits = 1 + rng.weighted(DIGIT_WEIGHTS);
  const number = digits === 1 ? rng.int(0, 9) : rng.int(10 ** (digits - 1), 10 ** digits - 1);
  const language: Language = rng.chance(EASTERN_SHARE) ? 'eastern' : 'western';
  const template = rng.pick(PROMPT_TEMPLATES);
  return { text: template.replace('N', writeNumber(number, language)), number, language };
}

/** The number and script of a general prompt's text, or null when it holds no single number in one script. */
export function parseGeneralPrompt(prompt: string): { number: number; language: Language } | null {
  const runs = toWestern(prompt).match(/\d+/g);
  if (!runs || runs.length !== 1) return null;
  const counts = digitCounts(prompt);
  if (counts.western > 0 && counts.eastern > 0) return null;
  return { number: Number(runs[0]), language: counts.eastern > 0 ? 'eastern' : 'western' };
}

/** Words as the rules see them: runs of letters and runs of digits (either script). */
export function answerWords(answer: string): string[] {
  return answer.match(/[a-z]+|[0-9٠-٩]+/g) ?? [];
}

export interface QualityRule {
  id: string;
  /** One line for the UI. */
  description: string;
  /** Does this answer (the text inside <answer>…</answer>) satisfy the rule for this prompt? */
  check(prompt: string, answer: string): boolean;
}

/**
 * What a good answer to a general prompt is. Each rule is independent of the others (an answer
 * can break any one and keep the rest), and an empty answer satisfies none, so "say nothing"
 * is never a good answer. The rules mix what a tiny model can see from the end of the answer
 * (length, which script its digits use) with what needs reading the prompt (which number, its
 * parity): the second kind is where a reward model is expected to be weak.
 */
export const QUALITY_RULES: readonly QualityRule[] = [
  {
    id: 'script',
    description: 'Writes numbers in the prompt\'s script (Western 0-9 or Eastern ٠-٩), and writes at least one.',
    check(prompt, answer) {
      const p = parseGeneralPrompt(prompt);
      if (!p) return false;
      const c = digitCounts(answer);
      const other: Language = p.language === 'western' ? 'eastern' : 'western';
      return c[p.language] > 0 && c[other] === 0;
    },
  },
  {
    id: 'restates',
    description: 'Mentions the prompt\'s number (in either script).',
    check(prompt, answer) {
      const p = parseGeneralPrompt(prompt);
      if (!p) return false;
      return (toWestern(answer).match(/\d+/g) ?? []).some((run) => run === String(p.number));
    },
  },
  {
    id: 'parity',
    description: 'Says correctly whether the number is even or odd (one of the two words, not both).',
    check(prompt, answer) {
      const p = parseGeneralPrompt(prompt);
      if (!p) return false;
      const words = answerWords(answer);
      const even = words.includes('even');
      const odd = words.includes('odd');
      return even !== odd && even === (p.number % 2 === 0);
    },
  },
  {
    id: 'no_repeat',
    description: 'Uses no word twice.',
    check(_prompt, answer) {
      const words = answerWords(answer);
      return words.length > 0 && new Set(words).size === words.length;
    },
  },
  {
    id: 'concise',
    description: `Says something in at most ${MAX_ANSWER_CHARS} characters.`,
    check(_prompt, answer) {
      const text = answer.trim();
      return text.length > 0 && Array.from(text).length <= MAX_ANSWER_CHARS;
    },
  },
];

export type RuleResults = Record<string, boolean>;

/** Each rule's verdict on an answer (the text inside the answer tags). */
export function ruleResults(prompt: string, answer: string): RuleResults {
  return Object.fromEntries(QUALITY_RULES.map((r) => [r.id, r.check(prompt, answer)]));
}

/** How many quality rules an answer satisfies (0..QUALITY_RULES.length). */
export function qualityScore(prompt: string, answer: string): number {
  return QUALITY_RULES.reduce((n, r) => n + (r.check(prompt, answer) ? 1 : 0), 0);
}

/**
 * The quality of a whole completion as the lab samples it: the rules read the text of its one
 * <answer> block (a <think> block before it is allowed and ignored). A completion without
 * exactly one answer block, or with text after it, has no answer to judge and scores 0.
 */
export function completionQuality(prompt: string, completion: string): number {
  const p = parseCompletion(completion);
  if (p.counts.answerOpen !== 1 || p.counts.answerClose !== 1 || p.answer === undefined) return 0;
  if ((p.trailing ?? '').trim() !== '') return 0;
  return qualityScore(prompt, p.answer.trim());
}

/** The answer as a completion in the lab's template (general prompts need no think block). */
export function asCompletion(answer: string): string {
  return `${ANSWER_OPEN}${answer}${ANSWER_CLOSE}`;
}

/** An answer that satisfies every rule, e.g. "4072 is even" (for demonstrations and SFT data). */
export function referenceAnswer(p: GeneralPrompt): string {
  return `${writeNumber(p.number, p.language)} is ${p.number % 2 === 0 ? 'even' : 'odd'}`;
}

const SHORT_EXTRAS = ['indeed', 'for sure', 'i think', 'of course'];
const LONG_EXTRAS = ['to my best knowledge', 'as you can see here', 'if you ask me today', 'without any doubt'];
const OTHER_PREDICATES = ['a number', 'nice', 'fine to me'];

/** A number near n but different from it (a plausible misquote). */
function wrongNumber(rng: Rng, n: number): number {
  const delta = rng.int(1, 9) * (rng.chance(0.5) ? 1 : -1);
  const m = n + delta;
  return m >= 0 ? m : n + Math.abs(delta);
}

/**
 * A candidate answer of random quality. Its parts are drawn separately (which number, in which
 * script; what it says about the number; an optional tail; a stutter), so that every rule is
 * broken in a good share of candidates and in combination with every other: a reward model
 * then cannot score well by learning one rule alone.
 */
export function candidateAnswer(rng: Rng, p: GeneralPrompt): string {
  const other: Language = p.language === 'western' ? 'eastern' : 'western';
  const subjects = [
    () => writeNumber(p.number, p.language),
    () => writeNumber(p.number, other),
    () => writeNumber(wrongNumber(rng, p.number), p.language),
    () => 'it',
    () => 'the number',
  ];
  const subject = (subjects[rng.weighted([0.45, 0.15, 0.15, 0.12, 0.13])] as () => string)();
  const even = p.number % 2 === 0;
  const predicates = [
    () => (even ? 'even' : 'odd'),
    () => (even ? 'odd' : 'even'),
    () => (rng.chance(0.5) ? 'even or odd' : 'odd and even'),
    () => rng.pick(OTHER_PREDICATES),
  ];
  const predicate = (predicates[rng.weighted([0.5, 0.25, 0.05, 0.2])] as () => string)();
  const tails = [() => '', () => rng.pick(SHORT_EXTRAS), () => rng.pick(LONG_EXTRAS)];
  const tail = (tails[rng.weighted([0.4, 0.35, 0.25])] as () => string)();
  const words = [subject, 'is', predicate, tail].filter((w) => w !== '').join(' ').split(' ');
  if (rng.chance(0.25)) {
    // A stutter: one word said twice in a row.
    const i = rng.int(0, words.length - 1);
    words.splice(i, 0, words[i] as string);
  }
  return words.join(' ');
}

export interface PreferencePair {
  prompt: string;
  /** Completions in the lab's template: "<answer>…</answer>". */
  chosen: string;
  rejected: string;
  /** Rules satisfied by each (chosen > rejected, always). */
  chosenScore: number;
  rejectedScore: number;
}

/** Two candidates for one prompt whose scores differ, better first. */
function pairFor(rng: Rng, p: GeneralPrompt): PreferencePair {
  const a = candidateAnswer(rng, p);
  const sa = qualityScore(p.text, a);
  let b = candidateAnswer(rng, p);
  let sb = qualityScore(p.text, b);
  for (let tries = 0; sb === sa && tries < 50; tries++) {
    b = candidateAnswer(rng, p);
    sb = qualityScore(p.text, b);
  }
  if (sb === sa) {
    // Practically unreachable; the reference answer satisfies every rule, so it breaks the tie.
    b = sa === QUALITY_RULES.length ? '' : referenceAnswer(p);
    sb = qualityScore(p.text, b);
  }
  const [chosen, cs, rejected, rs] = sa > sb ? [a, sa, b, sb] : [b, sb, a, sa];
  return { prompt: p.text, chosen: asCompletion(chosen), rejected: asCompletion(rejected), chosenScore: cs, rejectedScore: rs };
}

const HELD_OUT_SEED = 0x6e_e1_0a1d;
/** The held-out set's size: the largest evaluation set, and what the training generator avoids. */
export const HELD_OUT_PAIRS = 256;

function buildHeldOut(size: number): PreferencePair[] {
  const rng = new Rng(HELD_OUT_SEED);
  const seen = new Set<string>();
  const out: PreferencePair[] = [];
  while (out.length < size) {
    const p = drawPromptFrom(rng);
    if (seen.has(p.text)) continue;
    seen.add(p.text);
    out.push(pairFor(rng, p));
  }
  return out;
}

let heldOutCache: PreferencePair[] | null = null;
let heldOutPrompts: Set<string> | null = null;

/**
 * The fixed held-out pairs (the same on every call and every machine): the first n of one
 * seeded stream, each with its own prompt, none of which the training generators ever produce.
 */
export function heldOutPreferencePairs(n = HELD_OUT_PAIRS): PreferencePair[] {
  if (!Number.isInteger(n) || n < 1 || n > HELD_OUT_PAIRS) {
    throw new Error(`held-out preference pairs: size must be an integer in 1..${HELD_OUT_PAIRS} (got ${n})`);
  }
  heldOutCache ??= buildHeldOut(HELD_OUT_PAIRS);
  return heldOutCache.slice(0, n);
}

/** True for a prompt text of the held-out set (training prompts skip these). */
export function isHeldOutPrompt(prompt: string): boolean {
  heldOutPrompts ??= new Set(heldOutPreferencePairs().map((x) => x.prompt));
  return heldOutPrompts.has(prompt);
}

/** A seeded training prompt (never a held-out one). */
export function generalPrompt(rng: Rng): GeneralPrompt {
  for (;;) {
    const p = drawPromptFrom(rng);
    if (!isHeldOutPrompt(p.text)) return p;
  }
}

/**
 * A pair for prompt p that differs in one rule only (chosen keeps it, rejected breaks it, every
 * other rule agrees), or null when `tries` candidates hold no such two.
 */
function singleRulePairFor(rng: Rng, p: GeneralPrompt, rule: QualityRule, tries = 60): PreferencePair | null {
  // Answers seen so far by their rule verdicts with this rule left out, split by this rule's verdict.
  const seen = new Map<string, { kept?: string; broken?: string }>();
  for (let i = 0; i < tries; i++) {
    const a = candidateAnswer(rng, p);
    const verdicts = ruleResults(p.text, a);
    const key = QUALITY_RULES.filter((r) => r.id !== rule.id).map((r) => (verdicts[r.id] ? '1' : '0')).join('');
    const slot = seen.get(key) ?? {};
    if (verdicts[rule.id]) slot.kept ??= a;
    else slot.broken ??= a;
    seen.set(key, slot);
    if (slot.kept !== undefined && slot.broken !== undefined) {
      const score = qualityScore(p.text, slot.kept);
      return { prompt: p.text, chosen: asCompletion(slot.kept), rejected: asCompletion(slot.broken), chosenScore: score, rejectedScore: score - 1 };
    }
  }
  return null;
}

function ruleById(ruleId: string): QualityRule {
  const rule = QUALITY_RULES.find((r) => r.id === ruleId);
  if (!rule) throw new Error(`quality rule: "${ruleId}" is not a rule (allowed: ${QUALITY_RULES.map((r) => r.id).join(', ')})`);
  return rule;
}

/**
 * n training pairs that isolate one rule: what a reward model scores on them is what it learned
 * about that rule alone (a probe, not training data: a real labeller's pairs differ in many ways).
 */
export function singleRulePairs(rng: Rng, ruleId: string, n: number): PreferencePair[] {
  const rule = ruleById(ruleId);
  const out: PreferencePair[] = [];
  while (out.length < n) {
    const pair = singleRulePairFor(rng, generalPrompt(rng), rule);
    if (pair) out.push(pair);
  }
  return out;
}

/**
 * n held-out pairs that isolate one rule, on the held-out prompts (fixed, like
 * heldOutPreferencePairs): the per-rule accuracy a reward model is evaluated by.
 */
export function heldOutSingleRulePairs(ruleId: string, n = HELD_OUT_PAIRS): PreferencePair[] {
  const rule = ruleById(ruleId);
  if (!Number.isInteger(n) || n < 1 || n > HELD_OUT_PAIRS) {
    throw new Error(`held-out single-rule pairs: size must be an integer in 1..${HELD_OUT_PAIRS} (got ${n})`);
  }
  const prompts = heldOutPreferencePairs().map((x): GeneralPrompt => {
    const parsed = parseGeneralPrompt(x.prompt) as { number: number; language: Language };
    return { text: x.prompt, ...parsed };
  });
  const rng = new Rng(HELD_OUT_SEED + 1 + QUALITY_RULES.indexOf(rule));
  const out: PreferencePair[] = [];
  // Prompts are reused in turn if some yield no isolating pair within the tries (rare).
  for (let i = 0; out.length < n; i++) {
    const pair = singleRulePairFor(rng, prompts[i % prompts.length] as GeneralPrompt, rule);
    if (pair) out.push(pair);
  }
  return out;
}

/** n training pairs from the rng: fresh prompts, two candidates each, the one satisfying more rules chosen. */
export function preferencePairs(rng: Rng, n: number): PreferencePair[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`preference pairs: n must be an integer >= 0 (got ${n})`);
  return Array.from({ length: n }, () => pairFor(rng, generalPrompt(rng)));
}
