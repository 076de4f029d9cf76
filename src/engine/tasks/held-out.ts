/**
 * A task's fixed held-out set: the first problems of a seeded stream of distinct problems.
 * evalSet(n) returns a prefix of it, so any eval size up to maxSize never overlaps training,
 * and isHeldOut tells generators and corpora which problems to skip.
 */
import { Rng } from '../rng';
import type { Problem } from './task';

export interface HeldOutSpec {
  task: string;
  seed: number;
  /** The held-out set's size: the largest eval set, and what isHeldOut covers. */
  maxSize: number;
  /** The next candidate problem of the stream. */
  draw(rng: Rng): Problem;
  /** Problems with the same key count as the same problem (e.g. "3*7" and "7*3"). */
  key(problem: Problem): string;
}

export interface HeldOutSet {
  evalSet(size: number): Problem[];
  isHeldOut(problem: Problem): boolean;
}

export function heldOutSet(spec: HeldOutSpec): HeldOutSet {
  const build = (size: number): Problem[] => {
    const rng = new Rng(spec.seed);
    const out: Problem[] = [];
    const seen = new Set<string>();
    while (out.length < size) {
      const p = spec.draw(rng);
      const key = spec.key(p);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(p);
    }
    return out;
  };
  let keys: Set<string> | null = null;
  return {
    evalSet(size) {
      if (!Number.isInteger(size) || size < 1 || size > spec.maxSize) {
        throw new Error(`${spec.task}: eval set size must be an integer in 1..${spec.maxSize} (got ${size})`);
      }
      return build(size);
    },
    isHeldOut(problem) {
      keys ??= new Set(build(spec.maxSize).map(spec.key));
      return keys.has(spec.key(problem));
    },
  };
}
