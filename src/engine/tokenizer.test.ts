import { describe, expect, test } from 'vitest';
import { Rng } from './rng';
import {
  ANSWER_CLOSE, ANSWER_OPEN, DEFAULT_VOCAB, EASTERN_DIGITS, EOS, PAD, SPECIAL_TOKENS, THINK_CLOSE, THINK_OPEN,
  Tokenizer, WESTERN_DIGITS,
} from './tokenizer';

const tok = new Tokenizer();

/** A random token sequence over the vocabulary (pads excluded: decode drops them). */
function randomIds(rng: Rng, n: number): number[] {
  return Array.from({ length: n }, () => rng.int(1, tok.size - 1));
}

describe('Tokenizer', () => {
  test('decode(encode(s)) === s and encode(decode(ids)) === ids for seeded random strings over the vocabulary', () => {
    const rng = new Rng(42);
    for (let trial = 0; trial < 200; trial++) {
      const ids = randomIds(rng, rng.int(0, 40));
      const text = tok.decode(ids);
      expect(tok.encode(text)).toEqual(ids);
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
  });

  test('special tags encode as single tokens, also inside running text and next to < and >', () => {
    for (const s of [THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE, EOS, PAD]) {
      expect(tok.encode(s)).toEqual([tok.id(s)]);
    }
    const text = `1<2<think>3>4</think><<answer>5</answer>><eos>`;
    const ids = tok.encode(text);
    expect(tok.tokens(ids)).toEqual([
      '1', '<', '2', THINK_OPEN, '3', '>', '4', THINK_CLOSE, '<', ANSWER_OPEN, '5', ANSWER_CLOSE, '>', EOS,
    ]);
    // A partial tag is plain characters.
    expect(tok.encode('<thin')).toHaveLength(5);
    expect(tok.encode('</answer')).toHaveLength(8);
  });

  test('both digit scripts are in the vocabulary and round-trip', () => {
    const text = `${WESTERN_DIGITS}+${EASTERN_DIGITS}=`;
    const ids = tok.encode(text);
    expect(ids).toHaveLength(22);
    expect(new Set(ids).size).toBe(22); // 20 digits of two scripts, '+' and '=' are all distinct tokens
    expect(tok.decode(ids)).toBe(text);
    for (const d of [...WESTERN_DIGITS, ...EASTERN_DIGITS]) expect(tok.has(d)).toBe(true);
  });

  test('the default vocabulary has the special tokens first and no duplicates', () => {
    expect(DEFAULT_VOCAB.slice(0, SPECIAL_TOKENS.length)).toEqual([...SPECIAL_TOKENS]);
    expect(new Set(DEFAULT_VOCAB).size).toBe(DEFAULT_VOCAB.length);
    expect(tok.padId).toBe(0);
    expect(tok.eosId).toBe(1);
  });

  test('an unknown character is an error naming the character and its position', () => {
    expect(() => tok.encode('12+Q=')).toThrow(/character "Q" at position 3/);
    expect(() => tok.encode('٣+€')).toThrow(/"€" at position 2/);
    // Positions count code points, not UTF-16 units.
    expect(() => tok.encode('a😀')).toThrow(/"😀" at position 1/);
  });

  test('decode with stopAtEos ends before the first eos; without it eos is text; pads are dropped', () => {
    const ids = tok.encode('<pad>12<eos>34<eos>');
    expect(tok.decode(ids, { stopAtEos: true })).toBe('12');
    expect(tok.decode(ids)).toBe('12<eos>34<eos>');
    expect(tok.decode([tok.eosId], { stopAtEos: true })).toBe('');
  });

  test('ids outside the vocabulary throw', () => {
    expect(() => tok.decode([2, tok.size])).toThrow(new RegExp(`id ${tok.size} is outside the vocabulary`));
    expect(() => tok.decode([-1])).toThrow(/id -1 is outside/);
    expect(() => tok.decode([1.5])).toThrow(/outside the vocabulary/);
    expect(() => tok.id('xyz')).toThrow(/"xyz" is not in the vocabulary/);
  });

  test('a vocabulary with duplicates or without the special tokens is rejected', () => {
    expect(() => new Tokenizer([...DEFAULT_VOCAB, 'a'])).toThrow(/duplicate/);
    expect(() => new Tokenizer(DEFAULT_VOCAB.filter((t) => t !== ANSWER_CLOSE))).toThrow(/lacks the special token <\/answer>/);
  });
});
