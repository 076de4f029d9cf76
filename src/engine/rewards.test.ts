import { describe, expect, test } from 'vitest';
import {
  DEFAULT_REWARD_WEIGHTS,
  REWARD_DESCRIPTIONS,
  REWARD_FUNCTIONS,
  REWARD_NAMES,
  type RewardContext,
  type RewardName,
  parseCompletion,
  scoreCompletion,
  validateRewardWeights,
} from './rewards';
import { countdownTask } from './tasks/countdown';
import { multiplicationTask } from './tasks/multiplication';
import type { Problem } from './tasks/task';

// 12*3 = 36, a hand-made problem so that expected values do not depend on any generator.
const problem: Problem = {
  task: 'multiplication',
  prompt: '12*3=',
  language: 'western',
  difficulty: 2,
  answer: '36',
  numbers: [12, 3],
};

function ctx(completion: string, over: Partial<RewardContext> = {}): RewardContext {
  return {
    problem,
    task: multiplicationTask,
    completion,
    completionLength: Array.from(completion).length,
    truncated: false,
    maxCompletionLength: 100,
    overlongBuffer: 20,
    ...over,
  };
}

function scores(completion: string, over: Partial<RewardContext> = {}): Record<RewardName, number> {
  return scoreCompletion(ctx(completion, over), {}).scores;
}

const GOOD = '<think>2*3=6 1*3=3</think><answer>36</answer>';

describe('parseCompletion', () => {
  test('finds the think and answer blocks, counts each tag and keeps the text after </answer>', () => {
    expect(parseCompletion(`${GOOD} x`)).toEqual({
      think: '2*3=6 1*3=3',
      answer: '36',
      counts: { thinkOpen: 1, thinkClose: 1, answerOpen: 1, answerClose: 1 },
      trailing: ' x',
    });
    expect(parseCompletion('36')).toEqual({ counts: { thinkOpen: 0, thinkClose: 0, answerOpen: 0, answerClose: 0 } });
    const hedged = parseCompletion('<answer>35</answer><answer>36</answer>');
    expect(hedged.answer).toBe('35');
    expect(hedged.counts.answerOpen).toBe(2);
    expect(hedged.trailing).toBe('');
    expect(parseCompletion('</answer>36<answer>').answer).toBeUndefined();
  });
});

describe('reward functions on good completions', () => {
  test('the strict format with a right answer scores 1 on accuracy, format, format_soft, tag_count, language', () => {
    expect(scores(GOOD)).toEqual({ accuracy: 1, format: 1, format_soft: 1, tag_count: 1, language: 1, overlong: 0, preference: 0 });
  });

  test('whitespace between the blocks, inside the answer and at the end is allowed', () => {
    expect(scores('<think>2*3=6 1*3=3</think>\n <answer> 36 </answer>\n ')).toEqual({
      accuracy: 1,
      format: 1,
      format_soft: 1,
      tag_count: 1,
      language: 1,
      overlong: 0,
      preference: 0,
    });
  });

  test('a wrong answer in the right format scores format but not accuracy', () => {
    const s = scores('<think>2*3=6 1*3=3</think><answer>37</answer>');
    expect(s.accuracy).toBe(0);
    expect(s.format).toBe(1);
    expect(s.format_soft).toBe(1);
    expect(s.tag_count).toBe(1);
  });

  test('accuracy uses the task verifier: Eastern digits, and countdown expressions', () => {
    expect(scores('<think>x</think><answer>٣٦</answer>').accuracy).toBe(1);
    const cd: Problem = {
      task: 'countdown',
      prompt: '3 25 50:75=',
      language: 'western',
      difficulty: 1,
      answer: '(50-25)*3',
      numbers: [3, 25, 50, 75],
    };
    const c = (text: string) => scoreCompletion(ctx(text, { problem: cd, task: countdownTask }), {}).scores;
    expect(c('<think>50-25=25 25*3=75 ok</think><answer>3*(50-25)</answer>').accuracy).toBe(1);
    expect(c('<think>50-25=25 25*3=75 ok</think><answer>25*3</answer>').accuracy).toBe(0);
  });
});

describe('adversarial completions do not score on format or accuracy', () => {
  test('answer outside tags', () => {
    expect(scores('<think>2*3=6 1*3=3</think>36')).toEqual({
      accuracy: 0,
      format: 0,
      format_soft: 0,
      tag_count: 0.5,
      language: 1,
      overlong: 0,
      preference: 0,
    });
    expect(scores('36')).toEqual({ accuracy: 0, format: 0, format_soft: 0, tag_count: 0, language: 0, overlong: 0, preference: 0 });
  });

  test('two answer blocks hedging, in either order', () => {
    for (const text of [
      '<think>x</think><answer>35</answer><answer>36</answer>',
      '<think>x</think><answer>36</answer><answer>35</answer>',
    ]) {
      expect(scores(text)).toMatchObject({ accuracy: 0, format: 0, format_soft: 0, tag_count: 0.5 });
    }
    expect(scores('<think>x</think><answer>36 <answer>35</answer>')).toMatchObject({ accuracy: 0, format: 0, format_soft: 0 });
  });

  test('an empty or blank think block fails the strict format but keeps the soft half-credit', () => {
    for (const think of ['', '  ', '\n']) {
      expect(scores(`<think>${think}</think><answer>36</answer>`)).toEqual({
        accuracy: 1,
        format: 0,
        format_soft: 0.5,
        tag_count: 1,
        language: 0,
        overlong: 0,
        preference: 0,
      });
    }
  });

  test('an empty or blank answer block fails the strict format and accuracy', () => {
    expect(scores('<think>x</think><answer></answer>')).toMatchObject({ accuracy: 0, format: 0, format_soft: 0.5 });
    expect(scores('<think>x</think><answer> </answer>')).toMatchObject({ accuracy: 0, format: 0, format_soft: 0.5 });
  });

  test('garbage after </answer> costs accuracy, format and format_soft, and a little tag_count', () => {
    const s = scores(`${GOOD}36`);
    expect(s).toMatchObject({ accuracy: 0, format: 0, format_soft: 0 });
    expect(s.tag_count).toBeCloseTo(0.98, 12);
    expect(scores(`${GOOD} 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0`).tag_count).toBe(0.75);
  });

  test('tags out of order', () => {
    const s = scores('<answer>36</answer><think>2*3=6</think>');
    expect(s).toMatchObject({ accuracy: 0, format: 0, format_soft: 0 });
    expect(s.tag_count).toBeCloseTo(1 - 0.01 * '<think>2*3=6</think>'.length, 12);
    expect(scores('</think>x<think><answer>36</answer>')).toMatchObject({ accuracy: 1, format: 0, format_soft: 0, tag_count: 1 });
    expect(scores('<think>x<answer>36</answer></think>')).toMatchObject({ accuracy: 0, format: 0, format_soft: 0 });
  });

  test('repeated think tags: no format credit, no tag credit for them; accuracy judges the answer block only', () => {
    expect(scores('<think>a</think><think>b</think><answer>36</answer>')).toEqual({
      accuracy: 1,
      format: 0,
      format_soft: 0,
      tag_count: 0.5,
      language: 0,
      overlong: 0,
      preference: 0,
    });
  });

  test('text before or between the blocks earns only the soft half-credit', () => {
    expect(scores(`so ${GOOD}`)).toMatchObject({ accuracy: 1, format: 0, format_soft: 0.5, tag_count: 1 });
    expect(scores('<think>x</think> so <answer>36</answer>')).toMatchObject({ accuracy: 1, format: 0, format_soft: 0.5 });
  });

  test('a missing closing tag', () => {
    expect(scores('<think>x</think><answer>36')).toEqual({
      accuracy: 0,
      format: 0,
      format_soft: 0,
      tag_count: 0.75,
      language: 0,
      overlong: 0,
      preference: 0,
    });
    expect(scores('<think>2*3=6<answer>36</answer>')).toMatchObject({ accuracy: 1, format: 0, format_soft: 0, tag_count: 0.75 });
  });
});

describe('language consistency', () => {
  const eastern: Problem = { ...problem, prompt: '١٢*٣=', language: 'eastern' };

  test('is the share of think-block digits in the prompt\'s script', () => {
    const mixed = '<think>٢*٣=6 1*3=3</think><answer>36</answer>';
    expect(scores(mixed).language).toBeCloseTo(4 / 6, 12);
    expect(scores(mixed, { problem: eastern }).language).toBeCloseTo(2 / 6, 12);
    expect(scores('<think>٢*٣=٦ ١*٣=٣</think><answer>36</answer>', { problem: eastern }).language).toBe(1);
    expect(scores(GOOD, { problem: eastern }).language).toBe(0);
  });

  test('ignores digits outside the think block, and is 0 without a think block or digits in it', () => {
    expect(scores('<think>2*3=6</think><answer>٣٦</answer>').language).toBe(1);
    expect(scores('<think>hmm</think><answer>36</answer>').language).toBe(0);
    expect(scores('<answer>36</answer>').language).toBe(0);
    expect(scores('<think>2*3=6').language).toBe(0);
  });
});

describe('overlong (DAPO soft punishment)', () => {
  const at = (completionLength: number, over: Partial<RewardContext> = {}) =>
    REWARD_FUNCTIONS.overlong(ctx(GOOD, { completionLength, ...over }));

  test('0 up to max - buffer, linear to -1 across the buffer, -1 at the cap', () => {
    expect(at(10)).toBe(0);
    expect(at(80)).toBe(0);
    expect(at(90)).toBe(-0.5);
    expect(at(95)).toBe(-0.75);
    expect(at(99)).toBeCloseTo(-0.95, 12);
    expect(at(100)).toBe(-1);
    expect(at(120)).toBe(-1);
  });

  test('-1 whenever the completion was truncated; no soft zone when the buffer is 0', () => {
    expect(at(50, { truncated: true })).toBe(-1);
    expect(at(99, { overlongBuffer: 0 })).toBe(0);
    expect(at(100, { overlongBuffer: 0 })).toBe(-1);
  });
});

describe('scoreCompletion and weights', () => {
  test('computes every function even at weight 0, and the total is the weighted sum', () => {
    const bad = '<think></think><answer>36</answer>x';
    const r = scoreCompletion(ctx(bad, { completionLength: 90 }), {});
    expect(Object.keys(r.scores).sort()).toEqual([...REWARD_NAMES].sort());
    expect(r.total).toBe(0);
    const s = r.scores;
    expect(s).toMatchObject({ accuracy: 0, format: 0, format_soft: 0, language: 0, overlong: -0.5 });
    expect(s.tag_count).toBeCloseTo(0.99, 12);
    const w = { accuracy: 1, tag_count: 2, overlong: 1 };
    expect(scoreCompletion(ctx(bad, { completionLength: 90 }), w).total).toBeCloseTo(2 * 0.99 - 0.5, 12);
  });

  test('weights can change between calls, including negative weights', () => {
    const c = ctx(GOOD);
    expect(scoreCompletion(c, DEFAULT_REWARD_WEIGHTS).total).toBeCloseTo(1.2, 12);
    expect(scoreCompletion(c, { accuracy: 1, format: 1, language: 0.5 }).total).toBe(2.5);
    expect(scoreCompletion(c, { format: -1 }).total).toBe(-1);
  });

  test('every reward has a one-line description', () => {
    for (const name of REWARD_NAMES) {
      expect(REWARD_DESCRIPTIONS[name].length).toBeGreaterThan(10);
      expect(REWARD_DESCRIPTIONS[name]).not.toContain('\n');
    }
  });
});

describe('validateRewardWeights', () => {
  test('accepts finite numbers for known names and returns them', () => {
    expect(validateRewardWeights({ accuracy: 1, format: 0.2, overlong: -0.5, language: 0 })).toEqual({
      accuracy: 1,
      format: 0.2,
      overlong: -0.5,
      language: 0,
    });
    expect(validateRewardWeights({})).toEqual({});
  });

  test('names the field and the allowed names for an unknown reward', () => {
    expect(() => validateRewardWeights({ acc: 1 })).toThrow(
      'rewardWeights.acc: not a reward function (allowed: accuracy, format, format_soft, tag_count, language, overlong, preference)',
    );
  });

  test('names the field for a value that is not a finite number', () => {
    for (const bad of [NaN, Infinity, -Infinity, '1', null, undefined, [1]]) {
      expect(() => validateRewardWeights({ format: bad })).toThrow(/^rewardWeights\.format: must be a finite number.*allowed: accuracy/);
    }
  });

  test('rejects something that is not an object', () => {
    for (const bad of [null, 1, 'accuracy', [1, 2]]) {
      expect(() => validateRewardWeights(bad)).toThrow(/^rewardWeights: must be an object/);
    }
  });
});
