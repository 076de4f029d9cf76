import { describe, expect, test } from 'vitest';
import { Rng } from '../rng';
import { Tokenizer } from '../tokenizer';
import { toScript, toWestern } from './digits';
import { MULTIPLICATION_HELD_OUT_SIZE, multiplicationTask as task } from './multiplication';
import type { Problem } from './task';

function problemOf(a: number, b: number, language: 'western' | 'eastern' = 'western'): Problem {
  return {
    task: 'multiplication',
    prompt: toScript(`${a}*${b}=`, language),
    language,
    difficulty: String(a).length,
    answer: String(a * b),
    numbers: [a, b],
  };
}

function draws(seed: number, n: number): Problem[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => task.generate(rng));
}

describe('multiplication generation', () => {
  test('the same seed gives the same problems, and a different seed different ones', () => {
    expect(draws(7, 50)).toEqual(draws(7, 50));
    expect(draws(8, 50).map((p) => p.prompt)).not.toEqual(draws(7, 50).map((p) => p.prompt));
  });

  test('difficulty is the number of digits of the long operand; the other is one digit 2..9', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 500; i++) {
      const difficulty = 1 + (i % 5);
      const p = task.generate(rng, { difficulty });
      const [a, b] = p.numbers as [number, number];
      expect(String(a)).toHaveLength(difficulty);
      expect(b).toBeGreaterThanOrEqual(2);
      expect(b).toBeLessThanOrEqual(9);
      expect(toWestern(p.prompt)).toBe(`${a}*${b}=`);
      expect(p.answer).toBe(String(a * b));
      expect(task.verify(p, p.answer)).toBe(true);
    }
  });

  test('the training mix covers every difficulty and some Eastern prompts', () => {
    const ps = draws(2, 500);
    expect(new Set(ps.map((p) => p.difficulty))).toEqual(new Set([1, 2, 3, 4, 5]));
    expect(ps.some((p) => p.language === 'eastern' && /^[٠-٩]+\*[٠-٩]=$/u.test(p.prompt))).toBe(true);
    expect(() => task.generate(new Rng(1), { difficulty: 6 })).toThrow(/difficulty 6/);
  });
});

describe('multiplication verifier', () => {
  const p = problemOf(4782, 7);

  test('accepts the product in either script, whitespace trimmed', () => {
    expect(task.verify(p, '33474')).toBe(true);
    expect(task.verify(p, ' 33474\n')).toBe(true);
    expect(task.verify(p, '٣٣٤٧٤')).toBe(true);
    expect(task.verify(p, '33٤٧4')).toBe(true);
  });

  test('rejects wrong, padded, partial or decorated answers', () => {
    for (const bad of ['33475', '033474', '3347', '334740', '33 474', '33474.', '=33474', '4782*7', '', 'x']) {
      expect(task.verify(p, bad), bad).toBe(false);
    }
  });
});

describe('multiplication worked solutions', () => {
  test('writes one step per digit from the right with the carry, as in the example', () => {
    expect(task.worked(problemOf(4782, 7), new Rng(1), 0)).toEqual({
      think: '2*7=14 8*7+1=57 7*7+5=54 4*7+5=33',
      answer: '33474',
      correct: true,
    });
    expect(task.worked(problemOf(7, 8), new Rng(1), 0)).toEqual({ think: '7*8=56', answer: '56', correct: true });
    expect(task.worked(problemOf(105, 2), new Rng(1), 0).think).toBe('5*2=10 0*2+1=1 1*2=2');
  });

  test('with slipRate 0 every worked solution is correct and verifies', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 500; i++) {
      const p = task.generate(rng);
      const w = task.worked(p, rng, 0);
      expect(w.correct).toBe(true);
      expect(task.verify(p, w.answer)).toBe(true);
      expect(w.think.split(' ')).toHaveLength(p.difficulty);
    }
  });

  test('slips make some answers wrong, and correct always says whether the answer verifies', () => {
    const rng = new Rng(4);
    let wrong = 0;
    for (let i = 0; i < 300; i++) {
      const p = task.generate(rng);
      const w = task.worked(p, rng, 0.3);
      expect(w.correct).toBe(task.verify(p, w.answer));
      expect(w.answer).toMatch(/^(0|[1-9]\d*)$/);
      if (!w.correct) wrong++;
    }
    expect(wrong).toBeGreaterThan(30);
    expect(wrong).toBeLessThan(290);
  });

  test('direct gives the product when correct and a near miss otherwise', () => {
    const rng = new Rng(5);
    for (let i = 0; i < 300; i++) {
      const p = task.generate(rng);
      expect(task.direct(p, rng, true)).toBe(p.answer);
      const miss = task.direct(p, rng, false);
      expect(miss).toMatch(/^(0|[1-9]\d*)$/);
      expect(task.verify(p, miss)).toBe(false);
    }
  });
});

describe('multiplication looseAnswer', () => {
  test('takes the last number in the text, tags ignored, in either script', () => {
    expect(task.looseAnswer('<think>2*7=14 8*7+1=57</think><answer>33474</answer>')).toBe('33474');
    expect(task.looseAnswer('2*7=14 8*7+1=57 so 574')).toBe('574');
    expect(task.looseAnswer('<answer>٣٣٤٧٤</answer>')).toBe('٣٣٤٧٤');
    expect(task.looseAnswer('<think>hmm</think>')).toBeNull();
    expect(task.looseAnswer('')).toBeNull();
  });
});

describe('multiplication eval set', () => {
  test('is fixed: the same 200 problems on every call, unique, weighted toward harder difficulties', () => {
    const a = task.evalSet();
    expect(a).toHaveLength(200);
    expect(task.evalSet()).toEqual(a);
    expect(task.evalSet(40)).toEqual(a.slice(0, 40));
    expect(new Set(a.map((p) => toWestern(p.prompt))).size).toBe(200);
    const count = (d: number) => a.filter((p) => p.difficulty === d).length;
    expect(count(4) + count(5)).toBeGreaterThan(100);
    expect(count(1)).toBeLessThan(count(2));
    expect(count(2)).toBeLessThan(count(5));
    expect(() => task.evalSet(MULTIPLICATION_HELD_OUT_SIZE + 1)).toThrow(/eval set size/);
  });

  test('every eval problem is held out in either script; one-digit facts in either order', () => {
    for (const p of task.evalSet(MULTIPLICATION_HELD_OUT_SIZE)) {
      const [a, b] = p.numbers as [number, number];
      expect(task.isHeldOut(p)).toBe(true);
      expect(task.isHeldOut(problemOf(a, b, p.language === 'western' ? 'eastern' : 'western'))).toBe(true);
      if (a < 10) expect(task.isHeldOut(problemOf(b, a))).toBe(true);
    }
  });

  test('generated training problems are never held out', () => {
    const rng = new Rng(6);
    for (let i = 0; i < 3000; i++) expect(task.isHeldOut(task.generate(rng))).toBe(false);
  });
});

describe('multiplication text encodes with the tokenizer', () => {
  test('prompts, worked solutions and direct answers in both scripts', () => {
    const tok = new Tokenizer();
    const rng = new Rng(7);
    const problems = [...task.evalSet(), ...Array.from({ length: 200 }, () => task.generate(rng))];
    for (const p of problems) {
      const w = task.worked(p, rng, 0.2);
      for (const text of [p.prompt, p.answer, w.think, w.answer, task.direct(p, rng, false)]) {
        for (const lang of ['western', 'eastern'] as const) expect(() => tok.encode(toScript(text, lang))).not.toThrow();
      }
    }
  });
});
