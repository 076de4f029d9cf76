/**
 * The model calls behind generation: a prefill over whole rows and a one-token decode step that
 * reads and extends the KV cache. Both token-choice loops (host and device, see sampling.ts and
 * device-generation.ts) drive these.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './model-config';
import { type KVCache, type Params, causalBias, forward, positionsFor } from './model';

export interface StepOut {
  /** [B, 1, vocab]: the next-token logits of each row. */
  logits: tf.Tensor3D;
  cache: KVCache | null;
}

/** tf.tidy keeps every tensor inside the returned object; its typing only knows plain containers. */
export function tidyObject<T extends object>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/**
 * The whole of each row so far in one pass: the prompts at first, and every step when the cache
 * is off. Positions stay anchored at the prompt's end (promptWidth), as in decodeStep.
 */
export function prefill(
  p: Params, c: ModelConfig, padded: number[][], valid: number[][], keepCache: boolean, promptWidth = padded[0]?.length ?? 0,
): StepOut {
  return tidyObject(() => {
    const out = forward(p, c, tf.tensor2d(padded, undefined, 'int32'), tf.tensor2d(positionsFor(valid, promptWidth, c.promptAnchor), undefined, 'int32'),
      causalBias(valid), null, keepCache);
    const last = tf.slice(out.logits, [0, out.logits.shape[1] - 1, 0], [-1, 1, -1]) as tf.Tensor3D;
    return { logits: last, cache: out.cache };
  });
}

/**
 * One new token per row: tokens [B, 1] int32 at the same position in every row (rows advance
 * together), attending to the cache under bias [B, 1, 1, W]: its first Tk columns, where Tk
 * counts the cache plus the new token (a wider bias lets the device loop keep one for every step).
 */
export function decodeStep(p: Params, c: ModelConfig, tokens: tf.Tensor2D, position: number, bias: tf.Tensor4D, cache: KVCache): StepOut {
  return tidyObject(() => {
    const out = forward(p, c, tokens, Math.min(position, c.context - 1), bias, cache, true);
    return { logits: out.logits, cache: out.cache as KVCache };
  });
}

export function disposeCache(cache: KVCache): void {
  cache.k.forEach((t) => t.dispose());
  cache.v.forEach((t) => t.dispose());
}

/** The cache of the given rows only, in that order (the old cache is disposed). */
export function keepRows(cache: KVCache, rows: number[]): KVCache {
  const kept = tidyObject(() => {
    const indices = tf.tensor1d(rows, 'int32');
    return { k: cache.k.map((t) => tf.gather(t, indices)), v: cache.v.map((t) => tf.gather(t, indices)) };
  });
  disposeCache(cache);
  return kept;
}
