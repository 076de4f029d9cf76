/**
 * Multi-digit addition, the lab's default task.
 *
 * Why addition: a tiny model can learn to add one column at a time, but cannot reliably produce
 * a 4- or 5-digit sum in one shot. So writing the steps out pays for itself on hard problems and
 * not on easy ones, which gives RL a real difficulty gap: reasoning length should grow where the
 * problems need it, and format-blind accuracy should rise with it.
 *
 * Prompt: "  4782+  356=", each operand right-aligned in a field of five characters, as on a worksheet.
 * The alignment puts every column's digits at fixed positions before the "=", so reading a column
 * is a fixed-offset lookup; with free-length operands our base models learned to copy the right
 * digits far more slowly (see docs/results.md). Worked reasoning goes column by column from the least significant digit,
 * writing a missing digit as 0 and the carry as "+1":  "2+6=8 8+5=13 7+3+1=11 4+0+1=5".
 * The answer is read off the column sums: the last digit of each, reversed, plus a final carry.
 */
import { Rng } from '../rng';
import { type Language, toScript, toWestern } from './digits';
import { REFLECTION_MARKER, withoutRetractedSteps } from './reflection';
import type { Problem, Task, WorkedSolution } from './task';

const DIFFICULTIES = [1, 2, 3, 4, 5] as const;
/** Training mix: relative weights of difficulties 1..5, toward the problems where reasoning is needed. */
const TRAIN_WEIGHTS = [1, 1, 2, 2, 2];
/** Share of prompts written in Eastern Arabic-Indic digits. */
const EASTERN_SHARE = 0.25;
const EVAL_SEED = 0x5eed_add;
/** Width of each operand's field in the prompt (the largest difficulty). */
export const FIELD_WIDTH = 5;

function randomNumber(rng: Rng, digits: number): number {
  if (digits === 1) return rng.int(0, 9);
  return rng.int(10 ** (digits - 1), 10 ** digits - 1);
}

function makeProblem(a: number, b: number, language: Language, difficulty: number): Problem {
  return {
    task: 'addition',
    prompt: toScript(`${String(a).padStart(FIELD_WIDTH)}+${String(b).padStart(FIELD_WIDTH)}=`, language),
    language,
    difficulty,
    answer: String(a + b),
    numbers: [a, b],
  };
}

function drawProblem(rng: Rng, difficulty: number, language: Language): Problem {
  const long = randomNumber(rng, difficulty);
  const short = randomNumber(rng, rng.int(1, difficulty));
  const [a, b] = rng.chance(0.5) ? [long, short] : [short, long];
  return makeProblem(a, b, language, difficulty);
}

function columnDigits(n: number, columns: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < columns; i++) out.push(Math.floor(n / 10 ** i) % 10);
  return out;
}

/**
 * The column-by-column trace; a slip makes one column's sum off by one, and the answer follows
 * the trace. With recheckRate > 0 a slip is sometimes caught: the wrong sum is followed by
 * "wait" and the column written again correctly ("8+5=12 wait 8+5=13"), the self-check pattern
 * whose share RL may grow (reflection.ts).
 */
function workedAddition(problem: Problem, rng: Rng, slipRate: number, recheckRate = 0): WorkedSolution {
  const [a, b] = problem.numbers as [number, number];
  const columns = Math.max(String(a).length, String(b).length);
  const da = columnDigits(a, columns);
  const db = columnDigits(b, columns);
  const steps: string[] = [];
  const answerDigits: number[] = [];
  let carry = 0;
  for (let i = 0; i < columns; i++) {
    const lhs = `${da[i]}+${db[i]}${carry ? '+1' : ''}`;
    const right = (da[i] as number) + (db[i] as number) + carry;
    let sum = right;
    if (rng.chance(slipRate)) {
      const wrong = Math.max(0, right + (rng.chance(0.5) ? 1 : -1));
      // Drawn only when rechecks are on, so corpora without them keep their random stream.
      const caught = recheckRate > 0 && wrong !== right && rng.chance(recheckRate);
      if (caught) steps.push(`${lhs}=${wrong} ${REFLECTION_MARKER}`);
      else sum = wrong;
    }
    steps.push(`${lhs}=${sum}`);
    answerDigits.push(sum % 10);
    carry = sum >= 10 ? 1 : 0;
  }
  if (carry) answerDigits.push(1);
  const answer = answerDigits.reverse().join('').replace(/^0+(?=\d)/, '');
  return { think: steps.join(' '), answer, correct: answer === problem.answer };
}

function nearMiss(answer: string, rng: Rng): string {
  const digits = answer.split('');
  const i = rng.int(0, digits.length - 1);
  const old = Number(digits[i]);
  let replacement = rng.int(0, 9);
  if (replacement === old) replacement = (old + 1) % 10;
  if (i === 0 && replacement === 0 && digits.length > 1) replacement = old === 9 ? 8 : old + 1;
  digits[i] = String(replacement);
  return digits.join('');
}

function buildEvalSet(size: number): Problem[] {
  const rng = new Rng(EVAL_SEED);
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (let i = 0; out.length < size && i < size * 50; i++) {
    const difficulty = DIFFICULTIES[out.length % DIFFICULTIES.length] as number;
    const language: Language = rng.chance(EASTERN_SHARE) ? 'eastern' : 'western';
    const p = drawProblem(rng, difficulty, language);
    const key = toWestern(p.prompt);
    if (difficulty >= 2 && seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}

const DEFAULT_EVAL_SIZE = 200;
let heldOutKeys: Set<string> | null = null;

export const additionTask: Task = {
  name: 'addition',
  title: 'Multi-digit addition',
  description:
    'Add two numbers of up to five digits. A good solution adds column by column from the right, ' +
    'carrying a 1, then reads the answer off the column sums.',
  difficulties: DIFFICULTIES,

  generate(rng, opts = {}) {
    const language = opts.language ?? (rng.chance(EASTERN_SHARE) ? 'eastern' : 'western');
    const difficulty = opts.difficulty ?? 1 + rng.weighted(TRAIN_WEIGHTS);
    for (;;) {
      const p = drawProblem(rng, Math.min(difficulty, 5), language);
      // Easy problems repeat unavoidably (there are only 100 one-digit sums); only skip hard held-out ones.
      if (p.difficulty < 3 || !this.isHeldOut(p)) return p;
    }
  },

  verify(problem, answer) {
    const text = toWestern(answer.trim());
    return /^\d+$/.test(text) && text === problem.answer;
  },

  looseAnswer(completion) {
    const text = completion.replace(/<\/?(think|answer)>/g, ' ');
    const runs = toWestern(text).match(/\d+/g);
    return runs ? (runs[runs.length - 1] as string) : null;
  },

  worked(problem, rng, slipRate, opts) {
    return workedAddition(problem, rng, slipRate, opts?.recheckRate ?? 0);
  },

  stepAccuracy(problem, think) {
    // A step followed by "wait" was retracted: its correction, the next step, is what counts.
    const steps = withoutRetractedSteps(toWestern(think).trim().split(/\s+/).filter(Boolean));
    if (steps.length === 0) return null;
    const expected = workedAddition(problem, new Rng(0), 0).think.split(' ');
    const matches = expected.filter((step, i) => steps[i] === step).length;
    return matches / Math.max(steps.length, expected.length);
  },

  direct(problem, rng, correct) {
    return correct ? problem.answer : nearMiss(problem.answer, rng);
  },

  evalSet(size = DEFAULT_EVAL_SIZE) {
    return buildEvalSet(size);
  },

  isHeldOut(problem) {
    heldOutKeys ??= new Set(buildEvalSet(DEFAULT_EVAL_SIZE).map((p) => toWestern(p.prompt)));
    return heldOutKeys.has(toWestern(problem.prompt));
  },
};
