/**
 * How the group view reads a completion: which parts are reasoning, which are the answer, and
 * what colour each token gets in the token-level views. Pure functions, no React, so that the
 * rules can be tested on their own.
 *
 * A model early in training writes broken formats (an unclosed <think>, text outside any block,
 * a tag twice, a </answer> with no <answer>). The segmenter never rejects input: it walks the
 * tags in order and keeps a small state, so every character gets a kind and the learner can see
 * exactly where the format went wrong. Tags that open a block already open, or close a block
 * that is not open, are marked `stray`.
 */
import { ANSWER_CLOSE, ANSWER_OPEN, EOS, PAD, THINK_CLOSE, THINK_OPEN } from '../../engine/tokenizer';

export type SegmentKind = 'think-tag' | 'think' | 'answer-tag' | 'answer' | 'other';

export interface Segment {
  kind: SegmentKind;
  text: string;
  /** A tag that does not fit the blocks open at that point (a repeated open, an unmatched close). */
  stray: boolean;
}

type Block = 'think' | 'answer';

const TAGS: Readonly<Record<string, { block: Block; open: boolean }>> = {
  [THINK_OPEN]: { block: 'think', open: true },
  [THINK_CLOSE]: { block: 'think', open: false },
  [ANSWER_OPEN]: { block: 'answer', open: true },
  [ANSWER_CLOSE]: { block: 'answer', open: false },
};

/** Splits text into tags and the text between them (capturing group keeps the tags). */
const TAG_SPLIT = /(<think>|<\/think>|<answer>|<\/answer>)/;

/**
 * The block state while walking a completion. Open blocks form a stack so that an answer written
 * inside an unclosed think ends back in the think; a block is never open twice, because a model
 * that writes <think> twice and </think> once has, to a reader, closed its reasoning.
 */
class BlockState {
  private readonly open: Block[] = [];

  get current(): Block | null {
    return this.open[this.open.length - 1] ?? null;
  }

  /** Applies a tag; returns whether it was stray. */
  apply(block: Block, isOpen: boolean): boolean {
    const at = this.open.lastIndexOf(block);
    if (isOpen) {
      if (at >= 0) return true;
      this.open.push(block);
      return false;
    }
    if (at < 0) return true;
    // Closing a block also closes anything opened inside it and left unclosed.
    this.open.length = at;
    return false;
  }
}

function tagKind(block: Block): SegmentKind {
  return block === 'think' ? 'think-tag' : 'answer-tag';
}

function textKind(block: Block | null): SegmentKind {
  return block ?? 'other';
}

/** The kind of each piece (a tag or a run of text), in order, with the state carried across. */
function classify(pieces: readonly string[]): Segment[] {
  const state = new BlockState();
  return pieces.map((piece) => {
    const tag = TAGS[piece];
    if (tag !== undefined) {
      // The tag itself is coloured as its block's tag, stray or not, so the learner sees it.
      const stray = state.apply(tag.block, tag.open);
      return { kind: tagKind(tag.block), text: piece, stray };
    }
    // <eos> and <pad> are not content of any block.
    if (piece === EOS || piece === PAD) return { kind: 'other', text: piece, stray: false };
    return { kind: textKind(state.current), text: piece, stray: false };
  });
}

/**
 * A completion's text as segments. Tags are found by string matching, as the reward functions
 * find them (rewards.ts parses text, not tokens), so this view agrees with what was rewarded.
 * Adjacent text of the same kind is merged; tags are always their own segment.
 */
export function segmentText(text: string): Segment[] {
  const pieces = text.split(TAG_SPLIT).filter((p) => p !== '');
  const out: Segment[] = [];
  for (const seg of classify(pieces)) {
    const last = out[out.length - 1];
    const isTag = seg.kind === 'think-tag' || seg.kind === 'answer-tag';
    const lastIsTag = last !== undefined && (last.kind === 'think-tag' || last.kind === 'answer-tag');
    if (last !== undefined && !isTag && !lastIsTag && last.kind === seg.kind) last.text += seg.text;
    else out.push({ ...seg });
  }
  return out;
}

/**
 * One kind per token, same length and order as the tokens. A tag is recognised only when it is a
 * single special token: a model that spells "<think>" character by character has not emitted the
 * tag token, and the token view shows that truthfully.
 */
export function segmentTokens(tokens: readonly { text: string }[]): Segment[] {
  return classify(tokens.map((t) => t.text));
}

/** The token-level views; 'text' shows highlighted text instead of tokens. */
export type TokenMode = 'text' | 'advantage' | 'ratio' | 'clipped';
export type ColourMode = Exclude<TokenMode, 'text'>;
export const TOKEN_MODES: readonly TokenMode[] = ['text', 'advantage', 'ratio', 'clipped'];

export interface ClipRange {
  epsLow: number;
  epsHigh: number;
}

export type ColourHue = 'positive' | 'negative' | 'above' | 'below' | 'clipped' | 'none';

export interface TokenColour {
  hue: ColourHue;
  /** 0 (no colour) to 1 (the scale's end). */
  intensity: number;
  /** A CSS background colour, or 'transparent'. */
  background: string;
}

/** |A| at which the advantage colour saturates: with G = 8, one right answer out of eight gets A ≈ 2.5. */
export const ADVANTAGE_CAP = 2;

/**
 * Translucent backgrounds at most this opaque: over a light or a dark card the page's own text
 * colour stays readable (contrast above 4.5:1 at full intensity in both themes), so the token
 * views need no per-theme colours.
 */
export const MAX_ALPHA = 0.55;

const RGB: Readonly<Record<Exclude<ColourHue, 'none'>, readonly [number, number, number]>> = {
  positive: [22, 163, 74], // green: reinforced
  negative: [220, 38, 38], // red: pushed down
  above: [37, 99, 235], // blue: probability went up
  below: [234, 88, 12], // orange: probability went down
  clipped: [192, 38, 211], // magenta: outside the clip range
};

function clamp01(x: number): number {
  return x <= 0 ? 0 : x >= 1 ? 1 : x;
}

function colour(hue: ColourHue, intensity: number): TokenColour {
  const i = Number.isNaN(intensity) ? 0 : clamp01(intensity);
  if (hue === 'none' || i === 0) return { hue: 'none', intensity: 0, background: 'transparent' };
  const [r, g, b] = RGB[hue];
  const alpha = Math.round(MAX_ALPHA * i * 1000) / 1000;
  return { hue, intensity: i, background: `rgba(${r}, ${g}, ${b}, ${alpha})` };
}

/**
 * How far a ratio has moved toward its clip bound: 0 at 1, 1 at 1 - epsLow or 1 + epsHigh (and
 * beyond). A zero epsilon puts the bound at 1 itself, so any move there is a full move.
 */
function ratioIntensity(ratio: number, eps: ClipRange): { hue: ColourHue; intensity: number } {
  if (Number.isNaN(ratio) || ratio === 1) return { hue: 'none', intensity: 0 };
  // Comparing with the bound first makes a ratio exactly at it full, whatever the rounding of
  // (1 - ratio) / eps (1 - 0.8 is not exactly 0.2).
  if (ratio > 1) {
    const full = ratio >= 1 + eps.epsHigh || !(eps.epsHigh > 0);
    return { hue: 'above', intensity: full ? 1 : (ratio - 1) / eps.epsHigh };
  }
  const full = ratio <= 1 - eps.epsLow || !(eps.epsLow > 0);
  return { hue: 'below', intensity: full ? 1 : (1 - ratio) / eps.epsLow };
}

/**
 * The background of one token in a colour mode:
 *  - 'advantage': diverging, green for A > 0 and red for A < 0, saturating at |A| = ADVANTAGE_CAP.
 *    Every token of a completion gets the same colour: its advantage is shared.
 *  - 'ratio': 1 is neutral; blue above, orange below, full at the clip bounds.
 *  - 'clipped': only tokens whose ratio left [1 - epsLow, 1 + epsHigh].
 */
export function tokenColour(
  mode: ColourMode,
  token: { ratio: number; clipped: boolean },
  advantage: number,
  eps: ClipRange,
): TokenColour {
  switch (mode) {
    case 'advantage':
      if (Number.isNaN(advantage) || advantage === 0) return colour('none', 0);
      return colour(advantage > 0 ? 'positive' : 'negative', Math.abs(advantage) / ADVANTAGE_CAP);
    case 'ratio': {
      const { hue, intensity } = ratioIntensity(token.ratio, eps);
      return colour(hue, intensity);
    }
    case 'clipped':
      return token.clipped ? colour('clipped', 1) : colour('none', 0);
  }
}
