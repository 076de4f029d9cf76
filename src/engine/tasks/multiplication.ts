/**
 * Long multiplication by a single digit: "4782*7=" → 33474.
 *
 * Difficulty = digits of the multi-digit operand (1..5). The worked solution goes digit by digit
 * from the least significant, writing each product with the carry added:
 * "2*7=14 8*7+1=57 7*7+5=54 4*7+5=33"; the answer is the last product followed by the last
 * digit of each earlier product, read from the most significant end (33474).
 *
 * Operands: the one-digit factor is 2..9 (×0 and ×1 teach nothing); the multi-digit operand has no
 * leading zero, and at difficulty 1 it is also 2..9.
 */
import type { Rng } from '../rng';
import { heldOutSet } from './held-out';
import { toScript, toWestern, type Language } from './digits';
import type { Problem, Task, WorkedSolution } from './task';

const DIFFICULTIES = [1, 2, 3, 4, 5] as const;
/** Training mix: few one-digit problems (there are only 64 of them). */
const TRAIN_DIFFICULTY_WEIGHTS = [0.1, 0.2, 0.2, 0.25, 0.25];
/** Eval mix, weighted toward the harder problems where reasoning has to pay for itself. */
const EVAL_DIFFICULTY_WEIGHTS = [0.02, 0.12, 0.2, 0.3, 0.36];
/** Share of prompts written in Eastern Arabic-Indic digits (as in addition). */
const EASTERN_SHARE = 0.25;
const EVAL_SEED = 0xc0de_0003;
const DEFAULT_EVAL_SIZE = 200;
/**
 * The held-out set is the first HELD_OUT_SIZE problems of the fixed eval stream; evalSet(n)
 * returns a prefix of it, so any eval size up to this one never overlaps training.
 */
export const MULTIPLICATION_HELD_OUT_SIZE = 500;

function operands(problem: Problem): { a: number; b: number } {
  const [a, b] = problem.numbers;
  if (a === undefined || b === undefined) throw new Error('multiplication: a problem needs two operands');
  return { a, b };
}

/** One-digit problems count as the same fact in either order ("3*7" and "7*3"). */
function heldOutKey(a: number, b: number): string {
  return a < 10 && b < 10 ? `${Math.min(a, b)}*${Math.max(a, b)}` : `${a}*${b}`;
}

function drawProblem(rng: Rng, difficulty: number, language: Language): Problem {
  const a = difficulty === 1 ? rng.int(2, 9) : rng.int(10 ** (difficulty - 1), 10 ** difficulty - 1);
  const b = rng.int(2, 9);
  return {
    task: 'multiplication',
    prompt: toScript(`${a}*${b}=`, language),
    language,
    difficulty,
    answer: String(a * b),
    numbers: [a, b],
  };
}

const heldOut = heldOutSet({
  task: 'multiplication',
  seed: EVAL_SEED,
  maxSize: MULTIPLICATION_HELD_OUT_SIZE,
  draw: (rng) => {
    const difficulty = DIFFICULTIES[rng.weighted(EVAL_DIFFICULTY_WEIGHTS)] as number;
    const language: Language = rng.chance(EASTERN_SHARE) ? 'eastern' : 'western';
    return drawProblem(rng, difficulty, language);
  },
  key: (p) => {
    const { a, b } = operands(p);
    return heldOutKey(a, b);
  },
});

/** A plausible wrong product: off by one or ten, never negative, never the true value. */
function slipProduct(rng: Rng, value: number): number {
  for (;;) {
    const v = value + rng.pick([-10, -1, 1, 10]);
    if (v >= 0 && v !== value) return v;
  }
}

function workedSolution(problem: Problem, rng: Rng, slipRate: number): WorkedSolution {
  const { a, b } = operands(problem);
  const digits = Array.from(String(a), Number).reverse();
  const steps: string[] = [];
  const low: number[] = [];
  let carry = 0;
  let last = 0;
  digits.forEach((d, i) => {
    let usedCarry = carry;
    let p = d * b + carry;
    if (rng.chance(slipRate)) {
      if (carry > 0 && rng.chance(0.5)) {
        usedCarry = 0; // forgot the carry
        p = d * b;
      } else {
        p = slipProduct(rng, p); // wrong product
      }
    }
    steps.push(`${d}*${b}${usedCarry > 0 ? `+${usedCarry}` : ''}=${p}`);
    if (i === digits.length - 1) last = p;
    else low.push(p % 10);
    carry = Math.floor(p / 10);
  });
  const answer = `${last}${low.reverse().join('')}`.replace(/^0+(?=\d)/, '');
  return { think: steps.join(' '), answer, correct: answer === String(a * b) };
}

function nearMiss(problem: Problem, rng: Rng): string {
  const { a, b } = operands(problem);
  const right = a * b;
  for (;;) {
    let v: number;
    const kind = rng.int(0, 3);
    if (kind === 0) v = right + rng.pick([-1, 1]);
    else if (kind === 1) v = right + rng.pick([-10, 10, -100, 100]);
    else if (kind === 2) v = right + rng.pick([-b, b]); // one row too many or too few
    else {
      // Two adjacent digits swapped.
      const s = Array.from(String(right));
      if (s.length < 2) continue;
      const i = rng.int(0, s.length - 2);
      [s[i], s[i + 1]] = [s[i + 1] as string, s[i] as string];
      if (s[0] === '0') continue;
      v = Number(s.join(''));
    }
    if (v >= 0 && v !== right) return String(v);
  }
}

export const multiplicationTask: Task = {
  name: 'multiplication',
  title: 'Multiplication',
  description:
    'Multiply a number of up to five digits by one digit, e.g. "4782*7=" → 33474. A good solution multiplies ' +
    'digit by digit from the right, adding each carry: "2*7=14 8*7+1=57 7*7+5=54 4*7+5=33".',
  difficulties: DIFFICULTIES,

  generate(rng, opts = {}) {
    const difficulty = opts.difficulty ?? (DIFFICULTIES[rng.weighted(TRAIN_DIFFICULTY_WEIGHTS)] as number);
    if (!DIFFICULTIES.includes(difficulty as 1)) {
      throw new Error(`multiplication: difficulty ${difficulty} is not one of ${DIFFICULTIES.join(', ')}`);
    }
    const language = opts.language ?? (rng.chance(EASTERN_SHARE) ? 'eastern' : 'western');
    for (;;) {
      const p = drawProblem(rng, difficulty, language);
      if (!heldOut.isHeldOut(p)) return p;
    }
  },

  verify(problem, answer) {
    const { a, b } = operands(problem);
    return toWestern(answer.trim()) === String(a * b);
  },

  looseAnswer(completion) {
    const runs = completion.replace(/<\/?(?:think|answer)>|<eos>|<pad>/g, ' ').match(/[0-9٠-٩]+/gu);
    return runs === null ? null : (runs[runs.length - 1] ?? null);
  },

  worked(problem, rng, slipRate) {
    return workedSolution(problem, rng, slipRate);
  },

  direct(problem, rng, correct) {
    return correct ? problem.answer : nearMiss(problem, rng);
  },

  evalSet(size = DEFAULT_EVAL_SIZE) {
    return heldOut.evalSet(size);
  },

  isHeldOut(problem) {
    return heldOut.isHeldOut(problem);
  },
};
