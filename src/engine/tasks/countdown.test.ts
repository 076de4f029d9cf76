import { describe, expect, test } from 'vitest';
import { Rng } from '../rng';
import { Tokenizer } from '../tokenizer';
import { toScript, toWestern } from './digits';
import {
  COUNTDOWN_HELD_OUT_SIZE,
  COUNTDOWN_THINK_BUDGET,
  countdownParts,
  countdownTask as task,
  evalExact,
  parseExpr,
  renderExpr,
  solveCountdown,
} from './countdown';
import type { Problem } from './task';

function problemOf(numbers: number[], target: number, language: 'western' | 'eastern' = 'western'): Problem {
  return {
    task: 'countdown',
    prompt: toScript(`${numbers.join(' ')}:${target}=`, language),
    language,
    difficulty: numbers.length - 2,
    answer: renderExpr(solveCountdown(numbers, target) ?? { kind: 'num', value: 0 }),
    numbers: [...numbers, target],
  };
}

function draws(seed: number, n: number): Problem[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => task.generate(rng));
}

const STEP = /^(\d+)([+\-*/])(\d+)=(\d+)$/;

describe('countdown generation', () => {
  test('the same seed gives the same problems, and a different seed different ones', () => {
    expect(draws(7, 50)).toEqual(draws(7, 50));
    expect(draws(8, 50).map((p) => p.prompt)).not.toEqual(draws(7, 50).map((p) => p.prompt));
  });

  test('every problem is solvable by its stored answer, with 3 or 4 numbers by difficulty, target 1..999', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 400; i++) {
      const difficulty = i % 2 === 0 ? 1 : 2;
      const p = task.generate(rng, { difficulty });
      const { numbers, target } = countdownParts(p);
      expect(p.task).toBe('countdown');
      expect(p.difficulty).toBe(difficulty);
      expect(numbers).toHaveLength(difficulty + 2);
      expect(target).toBeGreaterThanOrEqual(1);
      expect(target).toBeLessThanOrEqual(999);
      expect(numbers.every((n) => Number.isInteger(n) && n >= 1 && n <= 99)).toBe(true);
      expect(task.verify(p, p.answer)).toBe(true);
      expect(p.prompt.length).toBeLessThan(20);
    }
  });

  test('the prompt is "numbers:target=" in the problem\'s script', () => {
    const rng = new Rng(2);
    const w = task.generate(rng, { difficulty: 2, language: 'western' });
    const { numbers, target } = countdownParts(w);
    expect(w.prompt).toBe(`${numbers.join(' ')}:${target}=`);
    const e = task.generate(rng, { language: 'eastern' });
    expect(e.language).toBe('eastern');
    expect(e.prompt).toMatch(/^[٠-٩ ]+:[٠-٩]+=$/u);
  });

  test('the training mix draws both difficulties and some Eastern prompts', () => {
    const ps = draws(3, 400);
    expect(new Set(ps.map((p) => p.difficulty))).toEqual(new Set([1, 2]));
    const eastern = ps.filter((p) => p.language === 'eastern').length;
    expect(eastern).toBeGreaterThan(40);
    expect(eastern).toBeLessThan(200);
  });

  test('an unknown difficulty is an error', () => {
    expect(() => task.generate(new Rng(1), { difficulty: 3 })).toThrow(/difficulty 3/);
  });
});

describe('countdown verifier', () => {
  const p = problemOf([3, 25, 50], 75);

  test('accepts a correct expression in either script, mixed scripts and with spaces', () => {
    expect(task.verify(p, '(50-25)*3')).toBe(true);
    expect(task.verify(p, '3*(50-25)')).toBe(true);
    expect(task.verify(p, ' ( 50 - 25 ) * 3 ')).toBe(true);
    expect(task.verify(p, toScript('(50-25)*3', 'eastern'))).toBe(true);
    expect(task.verify(p, '(٥٠-25)*٣')).toBe(true);
  });

  test('rejects a wrong multiset: a missing, an extra, a reused or a foreign number', () => {
    expect(task.verify(p, '50+25')).toBe(false);
    expect(task.verify(p, '(50-25)*3*1')).toBe(false);
    expect(task.verify(p, '(50-25)*3+3-3')).toBe(false);
    expect(task.verify(p, '25*3')).toBe(false);
    expect(task.verify(p, '25+25+25')).toBe(false);
    expect(task.verify(p, '(50-26)*3+3')).toBe(false);
  });

  test('rejects a wrong value and non-exact results; judges fractional intermediates exactly', () => {
    expect(task.verify(p, '50+25+3')).toBe(false);
    const q = problemOf([7, 4, 2], 5);
    expect(task.verify(q, '(7+4)/2')).toBe(false); // 5.5, not 5
    expect(task.verify(problemOf([7, 4, 2], 14), '7/2*4')).toBe(true); // 3.5 * 4 = 14 exactly
    expect(task.verify(problemOf([1, 3, 3], 1), '1/3*3')).toBe(true);
    expect(task.verify(problemOf([4, 2, 2], 1), '4/(2-2)')).toBe(false); // division by zero
  });

  test('rejects malformed answers: unary minus, equals sign, leading zeros, letters, tags, empty', () => {
    expect(task.verify(p, '-25+50*3')).toBe(false);
    expect(task.verify(p, '(50-25)*3=75')).toBe(false);
    expect(task.verify(p, '(050-25)*3')).toBe(false);
    expect(task.verify(p, '(50-25)*3 ok')).toBe(false);
    expect(task.verify(p, '<answer>(50-25)*3')).toBe(false);
    expect(task.verify(p, '(50-25*3')).toBe(false);
    expect(task.verify(p, '(50-25))*3')).toBe(false);
    expect(task.verify(p, '50 25 3')).toBe(false);
    expect(task.verify(p, '')).toBe(false);
    expect(task.verify(p, '('.repeat(200) + '3' + ')'.repeat(200))).toBe(false);
  });

  test('parsing a rendered expression gives back the same tree', () => {
    const rng = new Rng(4);
    for (let i = 0; i < 200; i++) {
      const ans = task.generate(rng).answer;
      const tree = parseExpr(ans);
      expect(tree).not.toBeNull();
      expect(renderExpr(tree!)).toBe(ans);
    }
    expect(parseExpr('1-(2-3)')).toEqual(parseExpr('1-(2-3)'));
    expect(evalExact(parseExpr('1-(2-3)')!)).toEqual({ n: 2n, d: 1n });
    expect(evalExact(parseExpr('1-2-3')!)).toEqual({ n: -4n, d: 1n });
    expect(evalExact(parseExpr('8/2/2')!)).toEqual({ n: 2n, d: 1n });
    expect(evalExact(parseExpr('2+3*4')!)).toEqual({ n: 14n, d: 1n });
  });
});

describe('countdown worked solutions', () => {
  test('with slipRate 0 every worked solution is correct, verifies, ends "ok", and every step is right', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 400; i++) {
      const p = task.generate(rng);
      const w = task.worked(p, rng, 0);
      expect(w.correct).toBe(true);
      expect(task.verify(p, w.answer)).toBe(true);
      expect(w.think.endsWith(' ok')).toBe(true);
      for (const attempt of w.think.split(', ')) {
        const steps = attempt.split(' ');
        expect(['ok', 'no']).toContain(steps.pop());
        for (const s of steps) {
          const m = STEP.exec(s);
          expect(m, s).not.toBeNull();
          const [a, op, b, c] = [Number(m![1]), m![2], Number(m![3]), Number(m![4])];
          const v = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : a / b;
          expect(v, s).toBe(c);
        }
      }
    }
  });

  test('the trace shows a search: some solutions try a wrong combination first', () => {
    const rng = new Rng(6);
    const traces = Array.from({ length: 100 }, () => task.worked(task.generate(rng), rng, 0).think);
    expect(traces.some((t) => t.includes(' no, '))).toBe(true);
    expect(traces.some((t) => !t.includes(' no, '))).toBe(true);
  });

  test('slip-free traces fit the think budget, so prompt + completion fit a 96-token context', () => {
    const rng = new Rng(12);
    for (let i = 0; i < 1000; i++) {
      const p = task.generate(rng);
      const w = task.worked(p, rng, 0);
      expect(w.think.length).toBeLessThanOrEqual(COUNTDOWN_THINK_BUDGET);
      // prompt + <think> think </think> <answer> answer </answer> <eos>
      expect(p.prompt.length + w.think.length + w.answer.length + 5).toBeLessThanOrEqual(96);
    }
  });

  test('slips make some answers wrong, and correct always says whether the answer verifies', () => {
    const rng = new Rng(7);
    let wrong = 0;
    for (let i = 0; i < 300; i++) {
      const p = task.generate(rng);
      const w = task.worked(p, rng, 0.4);
      expect(w.correct).toBe(task.verify(p, w.answer));
      if (!w.correct) wrong++;
    }
    expect(wrong).toBeGreaterThan(10);
    expect(wrong).toBeLessThan(290);
  });

  test('worked solutions also work for a hand-made problem whose answer field is not an expression', () => {
    const p = { ...problemOf([3, 25, 50], 75), answer: '' };
    const w = task.worked(p, new Rng(1), 0);
    expect(w.correct).toBe(true);
    expect(task.verify(p, w.answer)).toBe(true);
  });

  test('direct gives the expression when correct and a near miss that does not verify otherwise', () => {
    const rng = new Rng(8);
    for (let i = 0; i < 200; i++) {
      const p = task.generate(rng);
      expect(task.verify(p, task.direct(p, rng, true))).toBe(true);
      const miss = task.direct(p, rng, false);
      expect(task.verify(p, miss)).toBe(false);
      expect(parseExpr(miss)).not.toBeNull();
    }
  });
});

describe('countdown looseAnswer', () => {
  test('takes the expression at the end of the text, tags ignored', () => {
    expect(task.looseAnswer('<think>50-25=25 25*3=75 ok</think><answer>(50-25)*3</answer>')).toBe('(50-25)*3');
    expect(task.looseAnswer('50-25=25 25*3=75 ok so (50-25)*3')).toBe('(50-25)*3');
    expect(task.looseAnswer('(50-25)*3')).toBe('(50-25)*3');
    expect(task.looseAnswer('<answer>(٥٠-٢٥)*٣</answer>')).toBe('(٥٠-٢٥)*٣');
    expect(task.looseAnswer('answer: 3*(50-25).')).toBe('3*(50-25)');
    expect(task.looseAnswer('25*3=75')).toBe('75');
    expect(task.looseAnswer('25*3=75 ok')).toBeNull();
    expect(task.looseAnswer('')).toBeNull();
    expect(task.looseAnswer('<think></think>')).toBeNull();
  });

  test('the loose answer of a correct worked solution written without tags verifies', () => {
    const rng = new Rng(9);
    for (let i = 0; i < 100; i++) {
      const p = task.generate(rng);
      const w = task.worked(p, rng, 0);
      expect(task.verify(p, task.looseAnswer(`${w.think} so ${w.answer}`) ?? '')).toBe(true);
    }
  });
});

describe('countdown eval set', () => {
  test('is fixed: the same 200 problems on every call, mixed in difficulty, with unique puzzles', () => {
    const a = task.evalSet();
    expect(a).toHaveLength(200);
    expect(task.evalSet()).toEqual(a);
    expect(toWestern(a[0]?.prompt ?? '')).toBe('18 4 91:105=');
    expect(new Set(a.map((p) => p.difficulty))).toEqual(new Set([1, 2]));
    const keys = a.map((p) => {
      const { numbers, target } = countdownParts(p);
      return `${numbers.slice().sort((x, y) => x - y).join(' ')}:${target}`;
    });
    expect(new Set(keys).size).toBe(200);
    expect(task.evalSet(50)).toEqual(a.slice(0, 50));
    expect(() => task.evalSet(COUNTDOWN_HELD_OUT_SIZE + 1)).toThrow(/eval set size/);
  });

  test('every eval problem is held out, in either script and any order of its numbers', () => {
    for (const p of task.evalSet(COUNTDOWN_HELD_OUT_SIZE)) {
      expect(task.isHeldOut(p)).toBe(true);
      const { numbers, target } = countdownParts(p);
      const other = problemOf(numbers.slice().reverse(), target, p.language === 'western' ? 'eastern' : 'western');
      expect(task.isHeldOut(other)).toBe(true);
    }
  });

  test('generated training problems are never held out', () => {
    const rng = new Rng(10);
    for (let i = 0; i < 3000; i++) expect(task.isHeldOut(task.generate(rng))).toBe(false);
  });
});

describe('countdown text encodes with the tokenizer', () => {
  test('prompts, worked solutions and direct answers in both scripts', () => {
    const tok = new Tokenizer();
    const rng = new Rng(11);
    const problems = [...task.evalSet(), ...Array.from({ length: 200 }, () => task.generate(rng))];
    for (const p of problems) {
      const w = task.worked(p, rng, 0.2);
      for (const text of [p.prompt, p.answer, w.think, w.answer, task.direct(p, rng, false)]) {
        for (const lang of ['western', 'eastern'] as const) expect(() => tok.encode(toScript(text, lang))).not.toThrow();
      }
    }
  });
});
