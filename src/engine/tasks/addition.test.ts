import { describe, expect, test } from 'vitest';
import { Rng } from '../rng';
import { Tokenizer } from '../tokenizer';
import { additionTask as task } from './addition';
import { toScript, toWestern } from './digits';
import type { Problem } from './task';

function problemOf(a: number, b: number, language: 'western' | 'eastern' = 'western'): Problem {
  return {
    task: 'addition',
    prompt: toScript(`${String(a).padStart(5)}+${String(b).padStart(5)}=`, language),
    language,
    difficulty: Math.max(String(a).length, String(b).length),
    answer: String(a + b),
    numbers: [a, b],
  };
}

describe('addition problems', () => {
  test('the same seed gives the same problems, and another seed different ones', () => {
    const draw = (seed: number) => { const rng = new Rng(seed); return Array.from({ length: 40 }, () => task.generate(rng)); };
    expect(draw(3)).toEqual(draw(3));
    expect(draw(4).map((p) => p.prompt)).not.toEqual(draw(3).map((p) => p.prompt));
  });

  test('difficulty is the digit count of the longer operand, and the answer is the sum', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 300; i++) {
      const difficulty = 1 + (i % 5);
      const p = task.generate(rng, { difficulty });
      const [a, b] = p.numbers as [number, number];
      expect(Math.max(String(a).length, String(b).length)).toBe(difficulty);
      expect(toWestern(p.prompt)).toBe(`${String(a).padStart(5)}+${String(b).padStart(5)}=`);
      expect(p.answer).toBe(String(a + b));
    }
  });

  test('generated training problems of 3+ digits never come from the held-out set', () => {
    const rng = new Rng(9);
    for (let i = 0; i < 2000; i++) {
      const p = task.generate(rng, { difficulty: 3 + (i % 3) });
      expect(task.isHeldOut(p)).toBe(false);
    }
    const evalSet = task.evalSet();
    expect(evalSet).toHaveLength(200);
    expect(task.evalSet()).toEqual(evalSet);
    expect(evalSet.every((p) => task.isHeldOut(p))).toBe(true);
    expect(new Set(evalSet.map((p) => p.difficulty))).toEqual(new Set([1, 2, 3, 4, 5]));
  });
});

describe('addition verifier and worked solutions', () => {
  test('verify accepts the sum in either script and rejects near misses and junk', () => {
    const p = problemOf(4782, 356);
    expect(task.verify(p, '5138')).toBe(true);
    expect(task.verify(p, ' ٥١٣٨ ')).toBe(true);
    expect(task.verify(p, '5139')).toBe(false);
    expect(task.verify(p, '05138')).toBe(false);
    expect(task.verify(p, '5138 ok')).toBe(false);
    expect(task.verify(p, '')).toBe(false);
  });

  test('the worked solution goes column by column from the right with carries', () => {
    const w = task.worked(problemOf(4782, 356), new Rng(1), 0);
    expect(w).toEqual({ think: '2+6=8 8+5=13 7+3+1=11 4+0+1=5', answer: '5138', correct: true });
    expect(task.worked(problemOf(95, 7), new Rng(1), 0).think).toBe('5+7=12 9+0+1=10');
    expect(task.worked(problemOf(95, 7), new Rng(1), 0).answer).toBe('102');
  });

  test('slip-free worked solutions always verify; slips make some wrong and say so', () => {
    const rng = new Rng(5);
    let wrong = 0;
    for (let i = 0; i < 300; i++) {
      const p = task.generate(rng);
      expect(task.verify(p, task.worked(p, rng, 0).answer)).toBe(true);
      const slipped = task.worked(p, rng, 0.3);
      expect(slipped.correct).toBe(task.verify(p, slipped.answer));
      if (!slipped.correct) wrong++;
    }
    expect(wrong).toBeGreaterThan(30);
  });

  test('looseAnswer takes the last number at the end of the text, tags ignored', () => {
    expect(task.looseAnswer('<think>2+6=8</think><answer>5138</answer>')).toBe('5138');
    expect(task.looseAnswer('2+6=8 8+5=13 so ٥١٣٨')).toBe('5138');
    expect(task.looseAnswer('no digits')).toBeNull();
  });

  test('stepAccuracy scores each step against the correct worked solution', () => {
    const p = problemOf(4782, 356);
    expect(task.stepAccuracy?.(p, '2+6=8 8+5=13 7+3+1=11 4+0+1=5')).toBe(1);
    expect(task.stepAccuracy?.(p, '2+6=8 8+5=14 7+3+1=11 4+0+1=5')).toBe(0.75);
    expect(task.stepAccuracy?.(p, '2+6=8 8+5=13')).toBe(0.5);
    expect(task.stepAccuracy?.(p, '٢+٦=٨ 8+5=13 7+3+1=11 4+0+1=5 9+9=18')).toBe(0.8);
    expect(task.stepAccuracy?.(p, '   ')).toBeNull();
  });

  test('every prompt and worked solution encodes with the tokenizer', () => {
    const tok = new Tokenizer();
    const rng = new Rng(2);
    for (let i = 0; i < 200; i++) {
      const p = task.generate(rng);
      const w = task.worked(p, rng, 0.1);
      expect(tok.decode(tok.encode(p.prompt + w.think + w.answer))).toBe(p.prompt + w.think + w.answer);
    }
  });
});
