import { describe, expect, test } from 'vitest';
import { Rng } from '../rng';
import { Tokenizer } from '../tokenizer';
import {
  HELD_OUT_PAIRS, MAX_ANSWER_CHARS, PROMPT_TEMPLATES, QUALITY_RULES, asCompletion, candidateAnswer, completionQuality,
  generalPrompt, heldOutPreferencePairs, heldOutSingleRulePairs, isHeldOutPrompt, parseGeneralPrompt, preferencePairs, qualityScore,
  referenceAnswer, ruleResults, singleRulePairs,
} from './general-prompts';

const tok = new Tokenizer();

/** The rules that an answer breaks, by id. */
function broken(prompt: string, answer: string): string[] {
  return Object.entries(ruleResults(prompt, answer)).filter(([, ok]) => !ok).map(([id]) => id);
}

function answerOf(completion: string): string {
  const m = /^<answer>(.*)<\/answer>$/.exec(completion);
  if (!m) throw new Error(`not a bare answer completion: ${completion}`);
  return m[1] as string;
}

describe('quality rules', () => {
  test('there are 3-5 rules with unique ids and a description each', () => {
    expect(QUALITY_RULES.length).toBeGreaterThanOrEqual(3);
    expect(QUALITY_RULES.length).toBeLessThanOrEqual(5);
    expect(new Set(QUALITY_RULES.map((r) => r.id)).size).toBe(QUALITY_RULES.length);
    for (const r of QUALITY_RULES) expect(r.description.length).toBeGreaterThan(10);
  });

  test.each([
    // [prompt, answer, rules broken]
    ['describe 4072:', '4072 is even', []],
    ['describe ٤٠٧٢:', '٤٠٧٢ is even', []],
    ['about 317:', '317 is odd for sure', []],
    ['tell me about ٣١٧:', '٣١٧ is odd', []],
    ['describe 4072:', '٤٠٧٢ is even', ['script']],
    ['describe ٤٠٧٢:', '4072 is even', ['script']],
    ['describe ٤٠٧٢:', '٤٠٧٢ is even and 3 is odd', ['script', 'parity', 'no_repeat', 'concise']],
    ['describe 4072:', '4073 is even', ['restates']],
    ['describe ٤٠٧٢:', 'it is even', ['script', 'restates']],
    ['describe 4072:', '4072 is odd', ['parity']],
    ['about ٣١٧:', '٣١٧ is even', ['parity']],
    ['about 317:', '317 is odd and even', ['parity']],
    ['about 317:', '317 is a number', ['parity']],
    ['describe 4072:', '4072 is is even', ['no_repeat']],
    ['describe 4072:', '4072 4072 is even', ['no_repeat']],
    ['describe 4072:', '4072 is even as you can see here', ['concise']],
    ['describe 4072:', '4072 is even as far as i know', ['no_repeat', 'concise']],
    ['describe 4072:', '', ['script', 'restates', 'parity', 'no_repeat', 'concise']],
    ['describe 0:', '0 is even', []],
  ])('%s %j breaks %j', (prompt, answer, expected) => {
    expect(broken(prompt, answer).sort()).toEqual([...expected].sort());
    expect(qualityScore(prompt, answer)).toBe(QUALITY_RULES.length - expected.length);
  });

  test('the concise limit is inclusive', () => {
    const prompt = 'describe 8:';
    const fits = '8 is even'.padEnd(MAX_ANSWER_CHARS - 1, ' ') + 'x';
    expect(Array.from(fits).length).toBe(MAX_ANSWER_CHARS);
    expect(ruleResults(prompt, fits).concise).toBe(true);
    expect(ruleResults(prompt, fits + 'y').concise).toBe(false);
  });

  test('a restated number must be the whole number, not part of a longer one', () => {
    expect(ruleResults('describe 40:', '4072 is even').restates).toBe(false);
    expect(ruleResults('describe 40:', '40 and 72').restates).toBe(true);
  });

  test('completionQuality judges the one answer block and nothing else', () => {
    const prompt = 'describe ٤٠٧٢:';
    expect(completionQuality(prompt, '<answer>٤٠٧٢ is even</answer>')).toBe(5);
    expect(completionQuality(prompt, '<think>٢ is even</think><answer>٤٠٧٢ is even</answer>')).toBe(5);
    expect(completionQuality(prompt, '<answer> ٤٠٧٢ is even </answer>')).toBe(5);
    expect(completionQuality(prompt, '٤٠٧٢ is even')).toBe(0);
    expect(completionQuality(prompt, '<answer>٤٠٧٢ is even</answer>ok')).toBe(0);
    expect(completionQuality(prompt, '<answer>٤٠٧٢</answer><answer>even</answer>')).toBe(0);
  });

  test('parseGeneralPrompt reads the number and its script', () => {
    expect(parseGeneralPrompt('describe 4072:')).toEqual({ number: 4072, language: 'western' });
    expect(parseGeneralPrompt('tell me about ٣١٨:')).toEqual({ number: 318, language: 'eastern' });
    expect(parseGeneralPrompt('describe:')).toBeNull();
    expect(parseGeneralPrompt('describe 4٠72:')).toBeNull();
  });
});

describe('prompts and candidates', () => {
  test('generators are seeded: the same seed gives the same prompts, candidates and pairs', () => {
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      const prompts = Array.from({ length: 20 }, () => generalPrompt(rng));
      return { prompts, answers: prompts.map((p) => candidateAnswer(rng, p)), pairs: preferencePairs(rng, 20) };
    };
    expect(draw(3)).toEqual(draw(3));
    expect(draw(3)).not.toEqual(draw(4));
  });

  test('prompts use only the tokenizer\'s characters, fit the prompt anchor, and come in both scripts and every template', () => {
    const rng = new Rng(1);
    const prompts = Array.from({ length: 400 }, () => generalPrompt(rng));
    for (const p of prompts) {
      const ids = tok.encode(p.text);
      expect(ids.length).toBeLessThanOrEqual(20);
      expect(parseGeneralPrompt(p.text)).toEqual({ number: p.number, language: p.language });
    }
    const eastern = prompts.filter((p) => p.language === 'eastern').length;
    expect(eastern).toBeGreaterThan(150);
    expect(eastern).toBeLessThan(250);
    for (const t of PROMPT_TEMPLATES) expect(prompts.some((p) => p.text.startsWith(t.slice(0, t.indexOf('N'))))).toBe(true);
  });

  test('the reference answer satisfies every rule, in both scripts', () => {
    const rng = new Rng(2);
    for (let i = 0; i < 100; i++) {
      const p = generalPrompt(rng);
      expect(qualityScore(p.text, referenceAnswer(p))).toBe(QUALITY_RULES.length);
    }
  });

  test('candidates vary in quality: every rule is both kept and broken in a good share of them', () => {
    const rng = new Rng(5);
    const kept: Record<string, number> = {};
    const scores = new Set<number>();
    const N = 1000;
    for (let i = 0; i < N; i++) {
      const p = generalPrompt(rng);
      const a = candidateAnswer(rng, p);
      tok.encode(asCompletion(a)); // throws on a character outside the vocabulary
      for (const [id, ok] of Object.entries(ruleResults(p.text, a))) kept[id] = (kept[id] ?? 0) + Number(ok);
      scores.add(qualityScore(p.text, a));
    }
    for (const r of QUALITY_RULES) {
      expect(kept[r.id]! / N, r.id).toBeGreaterThan(0.3);
      expect(kept[r.id]! / N, r.id).toBeLessThan(0.8);
    }
    expect([...scores].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('preference pairs', () => {
  test('the chosen completion satisfies strictly more rules than the rejected one, and both fit the model', () => {
    const pairs = preferencePairs(new Rng(9), 300);
    expect(pairs).toHaveLength(300);
    for (const x of pairs) {
      expect(x.chosen).toMatch(/^<answer>.*<\/answer>$/);
      expect(x.rejected).toMatch(/^<answer>.*<\/answer>$/);
      expect(completionQuality(x.prompt, x.chosen)).toBe(x.chosenScore);
      expect(completionQuality(x.prompt, x.rejected)).toBe(x.rejectedScore);
      expect(x.chosenScore).toBeGreaterThan(x.rejectedScore);
      expect(qualityScore(x.prompt, answerOf(x.chosen))).toBeGreaterThan(qualityScore(x.prompt, answerOf(x.rejected)));
      // 'test', 'small' and 'default' models: prompt anchor 20, context 96.
      expect(tok.encode(x.prompt).length).toBeLessThanOrEqual(20);
      expect(Math.max(tok.encode(x.chosen).length, tok.encode(x.rejected).length)).toBeLessThanOrEqual(96 - 20);
    }
  });

  test('held-out pairs are fixed, have distinct prompts, and no training prompt is one of them', () => {
    const held = heldOutPreferencePairs();
    expect(held).toHaveLength(HELD_OUT_PAIRS);
    expect(heldOutPreferencePairs(10)).toEqual(held.slice(0, 10));
    const heldPrompts = new Set(held.map((x) => x.prompt));
    expect(heldPrompts.size).toBe(held.length);
    for (const x of held) {
      expect(isHeldOutPrompt(x.prompt)).toBe(true);
      expect(x.chosenScore).toBeGreaterThan(x.rejectedScore);
    }
    for (const seed of [1, 2, 3]) {
      for (const x of preferencePairs(new Rng(seed), 2000)) expect(heldPrompts.has(x.prompt)).toBe(false);
    }
  });

  test('held-out size is checked', () => {
    expect(() => heldOutPreferencePairs(0)).toThrow(/1\.\.256/);
    expect(() => heldOutPreferencePairs(HELD_OUT_PAIRS + 1)).toThrow(/1\.\.256/);
  });

  test.each(QUALITY_RULES.map((r) => r.id))('single-rule pairs for %s differ in that rule only', (id) => {
    const check = (pairs: ReturnType<typeof singleRulePairs>, heldOut: boolean) => {
      for (const x of pairs) {
        const c = ruleResults(x.prompt, answerOf(x.chosen));
        const r = ruleResults(x.prompt, answerOf(x.rejected));
        for (const rule of QUALITY_RULES) expect(c[rule.id] !== r[rule.id]).toBe(rule.id === id);
        expect(c[id]).toBe(true);
        expect(x.chosenScore - x.rejectedScore).toBe(1);
        expect(isHeldOutPrompt(x.prompt)).toBe(heldOut);
      }
    };
    check(singleRulePairs(new Rng(4), id, 50), false);
    const held = heldOutSingleRulePairs(id, 64);
    check(held, true);
    expect(heldOutSingleRulePairs(id, 64)).toEqual(held);
  });

  test('an unknown rule is named with the allowed ones', () => {
    expect(() => singleRulePairs(new Rng(1), 'polite', 1)).toThrow(/"polite" is not a rule \(allowed: script, restates/);
  });
});
