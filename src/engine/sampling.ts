/**
 * Batched generation with a KV cache: all prompts advance together, one token per step.
 *
 * The prompts are left-padded and run through the model once (prefill); after that each step
 * feeds only the newest token and attends to the cached keys and values. A row stops at a stop
 * token (included in its completion); a row that reaches maxNewTokens first is truncated.
 * Token choice happens on the CPU in JavaScript with the seeded Rng, so a run is reproducible
 * on every backend up to the backends' float differences.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './model-config';
import { type KVCache, type Params, MASKED, causalBias, forward, positionsFor } from './model';
import type { Rng } from './rng';

export interface SamplingOptions {
  maxNewTokens: number;
  /** 0 means greedy (argmax). */
  temperature: number;
  /** Keep the k most likely tokens (0 = off). */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches topP (1 = off). */
  topP: number;
  stopIds: readonly number[];
  padId: number;
  /**
   * false runs the whole sequence through the model again for every new token instead of
   * reading keys and values from the cache. Same tokens, far more arithmetic: it exists so the
   * benchmark can measure what the cache saves.
   */
  kvCache?: boolean;
}

export interface Generation {
  /** Completion token ids per prompt, stop token included when one was produced. */
  completions: number[][];
  /** True where the row hit maxNewTokens without a stop token. */
  truncated: boolean[];
}

/** Generates one completion per prompt (repeat a prompt G times in the list for a group). */
export function generate(p: Params, c: ModelConfig, prompts: number[][], o: SamplingOptions, rng: Rng): Generation {
  const B = prompts.length;
  if (o.maxNewTokens < 1) throw new Error(`generate: maxNewTokens must be at least 1 (got ${o.maxNewTokens})`);
  const promptWidth = Math.max(...prompts.map((q) => q.length));
  if (promptWidth > c.promptAnchor) {
    throw new Error(`generate: a prompt of ${promptWidth} tokens is longer than the model's prompt anchor (${c.promptAnchor})`);
  }
  if (c.promptAnchor + o.maxNewTokens > c.context) {
    throw new Error(`generate: maxNewTokens (${o.maxNewTokens}) exceeds the model's room for completions (${c.context - c.promptAnchor})`);
  }
  const valid = prompts.map((q) => [...new Array(promptWidth - q.length).fill(0), ...q.map(() => 1)]);
  const padded = prompts.map((q) => [...new Array(promptWidth - q.length).fill(o.padId), ...q]);
  const nextPos = prompts.map(() => c.promptAnchor);
  const completions: number[][] = prompts.map(() => []);
  const done = new Array(B).fill(false);

  const recompute = o.kvCache === false;
  let { logits, cache } = prefill(p, c, padded, valid, !recompute);
  for (let step = 0; step < o.maxNewTokens; step++) {
    const rows = lastLogits(logits);
    logits.dispose();
    const next = rows.map((row, b) => (done[b] ? o.padId : chooseToken(row, o, rng)));
    next.forEach((id, b) => {
      if (done[b]) return;
      (completions[b] as number[]).push(id);
      if (o.stopIds.includes(id)) done[b] = true;
    });
    for (let b = 0; b < B; b++) (valid[b] as number[]).push(done[b] && !o.stopIds.includes(next[b] as number) ? 0 : 1);
    if (done.every(Boolean) || step === o.maxNewTokens - 1) break;
    for (let b = 0; b < B; b++) (padded[b] as number[]).push(next[b] as number);
    const out = recompute ? prefill(p, c, padded, valid, false, promptWidth) : decodeStep(p, c, next, nextPos, valid, cache as KVCache);
    if (cache) disposeCache(cache);
    logits = out.logits;
    cache = out.cache;
    for (let b = 0; b < B; b++) nextPos[b] = (nextPos[b] as number) + 1;
  }
  if (cache) disposeCache(cache);
  return { completions, truncated: completions.map((_, b) => !done[b]) };
}

interface StepOut {
  logits: tf.Tensor3D;
  cache: KVCache | null;
}

/** tf.tidy keeps every tensor inside the returned object; its typing only knows plain containers. */
function tidyStep(fn: () => StepOut): StepOut {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as StepOut;
}

/**
 * The whole of each row so far in one pass: the prompts at first, and every step when the cache
 * is off. Positions stay anchored at the prompt's end (promptWidth), as in decodeStep.
 */
function prefill(p: Params, c: ModelConfig, padded: number[][], valid: number[][], keepCache: boolean, promptWidth = padded[0]?.length ?? 0): StepOut {
  return tidyStep(() => {
    const out = forward(p, c, tf.tensor2d(padded, undefined, 'int32'), tf.tensor2d(positionsFor(valid, promptWidth, c.promptAnchor), undefined, 'int32'),
      causalBias(valid), null, keepCache);
    const last = tf.slice(out.logits, [0, out.logits.shape[1] - 1, 0], [-1, 1, -1]) as tf.Tensor3D;
    return { logits: last, cache: out.cache };
  });
}

function decodeStep(
  p: Params, c: ModelConfig, tokens: number[], positions: number[], valid: number[][], cache: KVCache,
): StepOut {
  return tidyStep(() => {
    const B = tokens.length;
    const Tk = (valid[0] as number[]).length;
    const bias = new Float32Array(B * Tk);
    // The newest token (last column) is always visible to itself; earlier pads are hidden.
    valid.forEach((row, b) => row.forEach((v, j) => { bias[b * Tk + j] = v === 1 || j === Tk - 1 ? 0 : MASKED; }));
    const out = forward(p, c, tf.tensor2d(tokens, [B, 1], 'int32'), tf.tensor2d(positions.map((q) => Math.min(q, c.context - 1)), [B, 1], 'int32'),
      tf.tensor4d(bias, [B, 1, 1, Tk]), cache, true);
    return { logits: out.logits, cache: out.cache as KVCache };
  });
}

function lastLogits(logits: tf.Tensor3D): Float32Array[] {
  const [B, , V] = logits.shape;
  const data = logits.dataSync() as Float32Array;
  const rows: Float32Array[] = [];
  for (let b = 0; b < B; b++) rows.push(data.subarray(b * V, (b + 1) * V));
  return rows;
}

function disposeCache(cache: KVCache): void {
  cache.k.forEach((t) => t.dispose());
  cache.v.forEach((t) => t.dispose());
}

/** Picks a token id from one row of logits under temperature, top-k and top-p. */
export function chooseToken(logits: ArrayLike<number>, o: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>, rng: Rng): number {
  const V = logits.length;
  if (o.temperature <= 0) {
    let best = 0;
    for (let i = 1; i < V; i++) if ((logits[i] as number) > (logits[best] as number)) best = i;
    return best;
  }
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => (logits[b] as number) - (logits[a] as number));
  const keep = o.topK > 0 ? order.slice(0, o.topK) : order;
  const maxLogit = logits[keep[0] as number] as number;
  const weights = keep.map((i) => Math.exp(((logits[i] as number) - maxLogit) / o.temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let cut = keep.length;
  if (o.topP < 1) {
    let cumulative = 0;
    for (let k = 0; k < keep.length; k++) {
      cumulative += (weights[k] as number) / total;
      if (cumulative >= o.topP) { cut = k + 1; break; }
    }
  }
  return keep[rng.weighted(weights.slice(0, cut))] as number;
}
