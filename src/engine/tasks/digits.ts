/**
 * The two digit scripts that act as the lab's two "languages".
 * Western: 0123456789. Eastern Arabic-Indic: ٠١٢٣٤٥٦٧٨٩ (U+0660..U+0669).
 */
import { EASTERN_DIGITS, WESTERN_DIGITS } from '../tokenizer';

export type Language = 'western' | 'eastern';
export const LANGUAGES: readonly Language[] = ['western', 'eastern'];

/** The script a single character belongs to, or null for a non-digit. */
export function scriptOf(ch: string): Language | null {
  if (WESTERN_DIGITS.includes(ch)) return 'western';
  if (EASTERN_DIGITS.includes(ch)) return 'eastern';
  return null;
}

/** Rewrites every digit of text in the given script; other characters are kept. */
export function toScript(text: string, language: Language): string {
  const target = language === 'western' ? WESTERN_DIGITS : EASTERN_DIGITS;
  return Array.from(text, (ch) => {
    const w = WESTERN_DIGITS.indexOf(ch);
    if (w >= 0) return target[w];
    const e = EASTERN_DIGITS.indexOf(ch);
    if (e >= 0) return target[e];
    return ch;
  }).join('');
}

/** Rewrites every digit in Western script (for verifiers, which accept either script). */
export function toWestern(text: string): string {
  return toScript(text, 'western');
}

/** Counts of Western and Eastern digits in text. */
export function digitCounts(text: string): { western: number; eastern: number } {
  let western = 0;
  let eastern = 0;
  for (const ch of text) {
    const s = scriptOf(ch);
    if (s === 'western') western++;
    else if (s === 'eastern') eastern++;
  }
  return { western, eastern };
}
