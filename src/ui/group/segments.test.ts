import { describe, expect, test } from 'vitest';
import {
  ADVANTAGE_CAP, MAX_ALPHA, segmentText, segmentTokens, tokenColour, type Segment, type TokenColour,
} from './segments';

/** Segments as compact [kind, text] pairs, with a '!' on stray tags, for readable expectations. */
function compact(segs: Segment[]): [string, string][] {
  return segs.map((s) => [s.stray ? `${s.kind}!` : s.kind, s.text]);
}

describe('segmentText', () => {
  test('the R1 template: think block then answer block', () => {
    expect(compact(segmentText('<think>2+6=8 8+5=13</think><answer>138</answer>'))).toEqual([
      ['think-tag', '<think>'],
      ['think', '2+6=8 8+5=13'],
      ['think-tag', '</think>'],
      ['answer-tag', '<answer>'],
      ['answer', '138'],
      ['answer-tag', '</answer>'],
    ]);
  });

  test('Eastern Arabic-Indic digits and whitespace between blocks', () => {
    expect(compact(segmentText('<think>٢+٦=٨</think>\n<answer>٨</answer>'))).toEqual([
      ['think-tag', '<think>'],
      ['think', '٢+٦=٨'],
      ['think-tag', '</think>'],
      ['other', '\n'],
      ['answer-tag', '<answer>'],
      ['answer', '٨'],
      ['answer-tag', '</answer>'],
    ]);
  });

  test('empty text and text without any tag', () => {
    expect(segmentText('')).toEqual([]);
    expect(compact(segmentText('138'))).toEqual([['other', '138']]);
  });

  test('an unclosed think runs to the end', () => {
    expect(compact(segmentText('<think>2+6=8 8+5'))).toEqual([
      ['think-tag', '<think>'],
      ['think', '2+6=8 8+5'],
    ]);
  });

  test('text before, between and after the blocks is other', () => {
    expect(compact(segmentText('ok <think>a</think> so <answer>5</answer> done'))).toEqual([
      ['other', 'ok '],
      ['think-tag', '<think>'],
      ['think', 'a'],
      ['think-tag', '</think>'],
      ['other', ' so '],
      ['answer-tag', '<answer>'],
      ['answer', '5'],
      ['answer-tag', '</answer>'],
      ['other', ' done'],
    ]);
  });

  test('a repeated open tag is stray and does not need a second close', () => {
    expect(compact(segmentText('<think>a<think>b</think>c'))).toEqual([
      ['think-tag', '<think>'],
      ['think', 'a'],
      ['think-tag!', '<think>'],
      ['think', 'b'],
      ['think-tag', '</think>'],
      ['other', 'c'],
    ]);
  });

  test('a close with no open is stray and changes nothing', () => {
    expect(compact(segmentText('5</answer><answer>6</think>7</answer>'))).toEqual([
      ['other', '5'],
      ['answer-tag!', '</answer>'],
      ['answer-tag', '<answer>'],
      ['answer', '6'],
      ['think-tag!', '</think>'],
      ['answer', '7'],
      ['answer-tag', '</answer>'],
    ]);
  });

  test('an answer inside an unclosed think returns to the think', () => {
    expect(compact(segmentText('<think>a<answer>5</answer>b</think>'))).toEqual([
      ['think-tag', '<think>'],
      ['think', 'a'],
      ['answer-tag', '<answer>'],
      ['answer', '5'],
      ['answer-tag', '</answer>'],
      ['think', 'b'],
      ['think-tag', '</think>'],
    ]);
  });

  test('closing the think closes an answer left open inside it', () => {
    expect(compact(segmentText('<think>a<answer>5</think>b'))).toEqual([
      ['think-tag', '<think>'],
      ['think', 'a'],
      ['answer-tag', '<answer>'],
      ['answer', '5'],
      ['think-tag', '</think>'],
      ['other', 'b'],
    ]);
  });

  test('blocks written twice are both highlighted', () => {
    const kinds = compact(segmentText('<answer>1</answer><answer>2</answer>')).map(([k]) => k);
    expect(kinds).toEqual(['answer-tag', 'answer', 'answer-tag', 'answer-tag', 'answer', 'answer-tag']);
  });

  test('adjacent tags stay separate segments and the text is preserved', () => {
    const text = '<think></think><answer></answer></answer>x';
    const segs = segmentText(text);
    expect(segs.map((s) => s.text).join('')).toBe(text);
    expect(compact(segs)).toEqual([
      ['think-tag', '<think>'],
      ['think-tag', '</think>'],
      ['answer-tag', '<answer>'],
      ['answer-tag', '</answer>'],
      ['answer-tag!', '</answer>'],
      ['other', 'x'],
    ]);
  });
});

describe('segmentTokens', () => {
  const toks = (...texts: string[]) => texts.map((text) => ({ text }));

  test('one kind per token, tags as single tokens', () => {
    const segs = segmentTokens(toks('<think>', '2', '+', '6', '</think>', '<answer>', '8', '</answer>', '<eos>'));
    expect(segs.map((s) => s.kind)).toEqual([
      'think-tag', 'think', 'think', 'think', 'think-tag', 'answer-tag', 'answer', 'answer-tag', 'other',
    ]);
  });

  test('a tag spelled character by character is not a tag token', () => {
    const segs = segmentTokens(toks('<', 'a', '>', '5'));
    expect(segs.every((s) => s.kind === 'other')).toBe(true);
  });

  test('eos inside an unclosed block is not block content', () => {
    expect(segmentTokens(toks('<answer>', '5', '<eos>')).map((s) => s.kind)).toEqual(['answer-tag', 'answer', 'other']);
  });

  test('stray tags among tokens', () => {
    const segs = segmentTokens(toks('</think>', '<answer>', '<answer>', '1'));
    expect(compact(segs)).toEqual([
      ['think-tag!', '</think>'],
      ['answer-tag', '<answer>'],
      ['answer-tag!', '<answer>'],
      ['answer', '1'],
    ]);
  });
});

describe('tokenColour', () => {
  const eps = { epsLow: 0.2, epsHigh: 0.28 };
  const tok = (ratio: number, clipped = false) => ({ ratio, clipped });
  const full = (rgb: string) => `rgba(${rgb}, ${MAX_ALPHA})`;

  describe('advantage', () => {
    test('zero is uncoloured', () => {
      expect(tokenColour('advantage', tok(1), 0, eps)).toEqual({ hue: 'none', intensity: 0, background: 'transparent' });
    });

    test('positive is green, negative is red, full at the cap', () => {
      expect(tokenColour('advantage', tok(1), ADVANTAGE_CAP, eps)).toEqual({
        hue: 'positive', intensity: 1, background: full('22, 163, 74'),
      });
      expect(tokenColour('advantage', tok(1), -ADVANTAGE_CAP, eps)).toEqual({
        hue: 'negative', intensity: 1, background: full('220, 38, 38'),
      });
    });

    test('intensity grows with |A| and is capped', () => {
      expect(tokenColour('advantage', tok(1), 1, eps).intensity).toBeCloseTo(0.5);
      expect(tokenColour('advantage', tok(1), -0.5, eps).intensity).toBeCloseTo(0.25);
      expect(tokenColour('advantage', tok(1), 7, eps)).toEqual(tokenColour('advantage', tok(1), ADVANTAGE_CAP, eps));
      expect(tokenColour('advantage', tok(1), -Infinity, eps).intensity).toBe(1);
    });

    test('the token does not matter: a completion shares its advantage', () => {
      expect(tokenColour('advantage', tok(0.5, true), 1.2, eps)).toEqual(tokenColour('advantage', tok(1.1), 1.2, eps));
    });

    test('NaN is uncoloured', () => {
      expect(tokenColour('advantage', tok(1), NaN, eps).hue).toBe('none');
    });
  });

  describe('ratio', () => {
    test('1 is neutral', () => {
      expect(tokenColour('ratio', tok(1), 2, eps)).toEqual({ hue: 'none', intensity: 0, background: 'transparent' });
    });

    test('above is blue, full at 1 + epsHigh', () => {
      expect(tokenColour('ratio', tok(1.28), 0, eps)).toEqual({ hue: 'above', intensity: 1, background: full('37, 99, 235') });
      expect(tokenColour('ratio', tok(1.14), 0, eps).intensity).toBeCloseTo(0.5);
      expect(tokenColour('ratio', tok(3), 0, eps).intensity).toBe(1);
    });

    test('below is orange, full at 1 - epsLow', () => {
      expect(tokenColour('ratio', tok(0.8), 0, eps)).toEqual({ hue: 'below', intensity: 1, background: full('234, 88, 12') });
      expect(tokenColour('ratio', tok(0.95), 0, eps).intensity).toBeCloseTo(0.25);
      expect(tokenColour('ratio', tok(0), 0, eps).intensity).toBe(1);
    });

    test('the scale is asymmetric with asymmetric bounds', () => {
      const up = tokenColour('ratio', tok(1.1), 0, eps).intensity;
      const down = tokenColour('ratio', tok(0.9), 0, eps).intensity;
      expect(up).toBeCloseTo(0.1 / 0.28);
      expect(down).toBeCloseTo(0.5);
    });

    test('a zero epsilon makes any move a full move', () => {
      const zero = { epsLow: 0, epsHigh: 0 };
      expect(tokenColour('ratio', tok(1.001), 0, zero).intensity).toBe(1);
      expect(tokenColour('ratio', tok(0.999), 0, zero).intensity).toBe(1);
    });

    test('NaN ratio is neutral, infinite ratio is full', () => {
      expect(tokenColour('ratio', tok(NaN), 0, eps).hue).toBe('none');
      expect(tokenColour('ratio', tok(Infinity), 0, eps)).toMatchObject({ hue: 'above', intensity: 1 });
    });
  });

  describe('clipped', () => {
    test('only clipped tokens are coloured', () => {
      expect(tokenColour('clipped', tok(1.5, true), 0, eps)).toMatchObject({ hue: 'clipped', intensity: 1 });
      expect(tokenColour('clipped', tok(1.5, false), 0, eps).hue).toBe('none');
      expect(tokenColour('clipped', tok(1, false), 3, eps).background).toBe('transparent');
    });
  });

  describe('contrast', () => {
    // The themes of src/ui/app.css: text (--fg) over tokens on --card or --bg, light and dark.
    const themes = [
      { name: 'light card', fg: [0x1c, 0x1c, 0x1a], card: [0xff, 0xff, 0xff] },
      { name: 'light bg', fg: [0x1c, 0x1c, 0x1a], card: [0xf7, 0xf7, 0xf5] },
      { name: 'dark card', fg: [0xec, 0xec, 0xe8], card: [0x1f, 0x1f, 0x1d] },
      { name: 'dark bg', fg: [0xec, 0xec, 0xe8], card: [0x15, 0x15, 0x14] },
    ] as const;

    function luminance(rgb: readonly number[]): number {
      const lin = rgb.map((v) => {
        const c = v / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * (lin[0] ?? 0) + 0.7152 * (lin[1] ?? 0) + 0.0722 * (lin[2] ?? 0);
    }

    function over(c: TokenColour, card: readonly number[]): number[] {
      const m = /^rgba\((\d+), (\d+), (\d+), ([\d.]+)\)$/.exec(c.background);
      if (m === null) throw new Error(`not rgba: ${c.background}`);
      const a = Number(m[4]);
      return [1, 2, 3].map((i, k) => Number(m[i]) * a + (card[k] ?? 0) * (1 - a));
    }

    const fullColours: TokenColour[] = [
      tokenColour('advantage', tok(1), 2, eps),
      tokenColour('advantage', tok(1), -2, eps),
      tokenColour('ratio', tok(2), 0, eps),
      tokenColour('ratio', tok(0), 0, eps),
      tokenColour('clipped', tok(2, true), 0, eps),
    ];

    for (const theme of themes) {
      test(`text stays readable at full intensity (${theme.name})`, () => {
        for (const c of fullColours) {
          const l1 = luminance(theme.fg);
          const l2 = luminance(over(c, theme.card));
          const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
          expect(ratio, `${c.hue} in ${theme.name}`).toBeGreaterThan(4.5);
        }
      });
    }
  });
});
