/**
 * The lab's vocabulary: one token per character, plus single-token special tags.
 *
 * Character-level keeps the model tiny and makes every token visible in the UI. The tags that
 * R1's template asks for (<think>, </think>, <answer>, </answer>) are single tokens so that
 * "did the model open a think block" is one decision, and so that format is learnable quickly.
 *
 * Two digit scripts give the tasks two "languages": Western 0-9 and Eastern Arabic-Indic ٠-٩.
 * A prompt is written in one of them; reasoning that drifts into the other is language mixing,
 * which the language-consistency reward measures (see rewards.ts).
 */

export const PAD = '<pad>';
export const EOS = '<eos>';
export const THINK_OPEN = '<think>';
export const THINK_CLOSE = '</think>';
export const ANSWER_OPEN = '<answer>';
export const ANSWER_CLOSE = '</answer>';

export const SPECIAL_TOKENS = [PAD, EOS, THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE] as const;

export const WESTERN_DIGITS = '0123456789';
export const EASTERN_DIGITS = '٠١٢٣٤٥٦٧٨٩';
const SYMBOLS = ' +-*/=(),:;?.!<>|\n';
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** The default vocabulary, in id order. Changing it invalidates every checkpoint (see checkpoint.ts). */
export const DEFAULT_VOCAB: readonly string[] = [
  ...SPECIAL_TOKENS,
  ...WESTERN_DIGITS,
  ...EASTERN_DIGITS,
  ...SYMBOLS,
  ...LETTERS,
];

export class Tokenizer {
  readonly vocab: readonly string[];
  private readonly ids: Map<string, number>;
  /** Special tokens sorted longest first, so that the encoder matches greedily. */
  private readonly specials: string[];

  constructor(vocab: readonly string[] = DEFAULT_VOCAB) {
    this.vocab = vocab;
    this.ids = new Map(vocab.map((t, i) => [t, i]));
    if (this.ids.size !== vocab.length) throw new Error('Tokenizer: the vocabulary has duplicate tokens');
    for (const s of SPECIAL_TOKENS) {
      if (!this.ids.has(s)) throw new Error(`Tokenizer: the vocabulary lacks the special token ${s}`);
    }
    this.specials = vocab.filter((t) => t.length > 1).sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.vocab.length;
  }

  get padId(): number {
    return this.id(PAD);
  }

  get eosId(): number {
    return this.id(EOS);
  }

  /** The id of one token; throws for a string that is not a token. */
  id(token: string): number {
    const id = this.ids.get(token);
    if (id === undefined) throw new Error(`Tokenizer: ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }

  has(token: string): boolean {
    return this.ids.has(token);
  }

  /** Text to ids. Special tags are matched before single characters; an unknown character is an error. */
  encode(text: string): number[] {
    const out: number[] = [];
    const chars = Array.from(text);
    let i = 0;
    while (i < chars.length) {
      const special = this.matchSpecial(chars, i);
      if (special !== null) {
        out.push(this.id(special));
        i += Array.from(special).length;
        continue;
      }
      const ch = chars[i] as string;
      const id = this.ids.get(ch);
      if (id === undefined) {
        throw new Error(
          `Tokenizer: character ${JSON.stringify(ch)} at position ${i} is not in the vocabulary (allowed: digits, ` +
            `Eastern Arabic-Indic digits, a-z, ${JSON.stringify(SYMBOLS)} and the tags ${SPECIAL_TOKENS.join(' ')})`,
        );
      }
      out.push(id);
      i += 1;
    }
    return out;
  }

  /** Ids to text. Padding is dropped; with stopAtEos, decoding ends before the first eos. */
  decode(ids: ArrayLike<number>, opts: { stopAtEos?: boolean } = {}): string {
    let text = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      const token = this.vocab[id];
      if (token === undefined) throw new Error(`Tokenizer: id ${id} is outside the vocabulary (0..${this.size - 1})`);
      if (token === EOS && opts.stopAtEos) break;
      if (token === PAD) continue;
      text += token;
    }
    return text;
  }

  /** Each id as its own string, for token-level views. */
  tokens(ids: ArrayLike<number>): string[] {
    return Array.from(ids, (id) => this.vocab[id] ?? '?');
  }

  private matchSpecial(chars: string[], at: number): string | null {
    if (chars[at] !== '<') return null;
    for (const s of this.specials) {
      const sc = Array.from(s);
      let ok = true;
      for (let k = 0; k < sc.length && ok; k++) ok = chars[at + k] === sc[k];
      if (ok) return s;
    }
    return null;
  }
}
