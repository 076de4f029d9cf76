/**
 * Model FLOPs (the arithmetic the model needs, not what an implementation happens to do), for
 * reporting achieved FLOP/s. Counted as 2 per multiply-add:
 *   per token and layer: q, k, v, output projection and the MLP, 2 * 12 d^2; attention scores
 *   and the weighted sum, 2 * 2 * d * (keys attended);
 *   per token: the output head, 2 * d * vocab (embeddings are lookups and cost nothing).
 * A training pass (forward + backward) is 3 forward passes, the usual estimate.
 */
import type { ModelConfig } from '../engine/model-config';

/** Forward FLOPs for one token that attends to `keys` positions. */
export function tokenForwardFlops(c: ModelConfig, keys: number): number {
  const d = c.dModel;
  return c.layers * (2 * 12 * d * d + 2 * 2 * d * keys) + 2 * d * c.vocabSize;
}

/** Forward FLOPs of `rows` full sequences of `length` tokens under a causal mask. */
export function sequenceForwardFlops(c: ModelConfig, rows: number, length: number): number {
  let perRow = 0;
  for (let t = 1; t <= length; t++) perRow += tokenForwardFlops(c, t);
  return rows * perRow;
}

/** Forward + backward FLOPs of a training pass over `rows` sequences of `length` tokens. */
export function trainFlops(c: ModelConfig, rows: number, length: number): number {
  return 3 * sequenceForwardFlops(c, rows, length);
}
