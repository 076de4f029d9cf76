/**
 * Generation with tokens chosen on the backend: the logits never leave it. Each step's token ids,
 * the rows' stopped flags and the attention mask stay tensors; what is read back is the block
 * of token ids at the end and, every STOP_CHECK_EVERY tokens, one flag saying whether every row
 * has stopped (the loop ends there; without it, it would always run maxNewTokens steps, twice
 * what a batch of ~30-token answers needs). On a GPU this removes a wait per token.
 *
 * A row that has stopped stays in the batch (on a GPU a step costs its dispatches, not its rows)
 * and is given the pad token from then on, whatever its logits say. Its later keys are left
 * visible to its own queries: masking them would change only logits that are never used, and
 * rows do not see each other. So the completions are the host loop's, which drops stopped rows.
 * Per token the loop runs the model's decode step, one kernel to choose the tokens
 * (fused/sample-tokens.ts, for plain sampling), and a few ops to mark the rows that stopped.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type StepOut, decodeStep, disposeCache, prefill, tidyObject } from './decoding';
import type { ModelConfig } from './model-config';
import { type KVCache, MASKED, type Params } from './model';
import type { Readbacks } from './readback';
import type { Rng } from './rng';
import type { Generation, PaddedPrompts, SamplingOptions } from './sampling';
import { nextDraws, nextTokensOnDevice } from './token-choice';

/** Tokens between two checks of whether every row has stopped (a one-flag readback each). */
export const STOP_CHECK_EVERY = 8;

export function* generateOnDevice(p: Params, c: ModelConfig, rows: PaddedPrompts, o: SamplingOptions, draws: Rng): Readbacks<Generation> {
  const block = yield* generateTokensOnDevice(p, c, rows, o, draws);
  const [B, width] = block.shape;
  const flat = (yield block) as Int32Array;
  block.dispose();
  const ids = Array.from({ length: B }, (_, b) => Array.from(flat.subarray(b * width, (b + 1) * width)));
  return completionsFrom(ids, o.stopIds);
}

/**
 * The loop itself: [B, steps] int32 token ids (steps = maxNewTokens unless every row stopped
 * sooner), pads after a row's stop token, left on the backend for the caller to read.
 */
function* generateTokensOnDevice(p: Params, c: ModelConfig, rows: PaddedPrompts, o: SamplingOptions, draws: Rng): Readbacks<tf.Tensor2D> {
  const B = rows.padded.length;
  const first = prefill(p, c, rows.padded, rows.valid, true);
  let logits = first.logits;
  let cache = first.cache as KVCache;
  // [B] bool: the row has produced a stop token.
  let done = tf.zeros([B], 'bool') as tf.Tensor1D;
  // Every key the loop will have, [B, prompt + maxNewTokens]: MASKED over a prompt's pads, 0 over
  // every generated token. Each step attends through the columns of the keys it has so far.
  const keyBias = tf.tensor2d(rows.valid.map((row) => [...row.map((v) => (v === 1 ? 0 : MASKED)), ...new Array<number>(o.maxNewTokens).fill(0)]));
  const promptWidth = rows.valid[0]?.length ?? 0;
  // int32 like the tokens, so that comparing them casts nothing.
  const stopIds = o.stopIds.map((id) => tf.scalar(id, 'int32'));
  const chosen: tf.Tensor1D[] = [];
  for (let step = 0; step < o.maxNewTokens; step++) {
    const u = tf.tensor1d(nextDraws(draws, B));
    const next = tf.tidy(() => nextTokensOnDevice(tf.squeeze(logits, [1]) as tf.Tensor2D, u, done, o));
    u.dispose();
    logits.dispose();
    chosen.push(next);
    if (step === o.maxNewTokens - 1) break;
    const out = advance(p, c, done, next, c.promptAnchor + step, keyBias, promptWidth + step + 1, cache, stopIds);
    disposeCache(cache);
    done.dispose();
    ({ logits, cache, done } = out);
    if (o.stopIds.length > 0 && (step + 1) % STOP_CHECK_EVERY === 0) {
      const allStopped = tf.all(done);
      const stopped = (yield allStopped)[0] === 1;
      allStopped.dispose();
      if (stopped) break;
    }
  }
  if (!logits.isDisposed) logits.dispose();
  tf.dispose([...stopIds, keyBias, done]);
  disposeCache(cache);
  const block = tf.stack(chosen, 1) as tf.Tensor2D;
  chosen.forEach((t) => t.dispose());
  return block;
}

/** Feeds this step's tokens, attending through the first `keys` columns of keyBias, and marks the rows that stopped with them. */
function advance(
  p: Params, c: ModelConfig, done: tf.Tensor1D, next: tf.Tensor1D, position: number, keyBias: tf.Tensor2D, keys: number, cache: KVCache,
  stopIds: readonly tf.Scalar[],
): StepOut & { cache: KVCache; done: tf.Tensor1D } {
  const B = next.shape[0];
  return tidyObject(() => {
    const bias = tf.reshape(tf.slice(keyBias, [0, 0], [B, keys]), [B, 1, 1, keys]) as tf.Tensor4D;
    const out = decodeStep(p, c, tf.reshape(next, [B, 1]) as tf.Tensor2D, position, bias, cache);
    // From a clone, so that the new flags are never the old tensor (which the caller disposes).
    const stopped = stopIds.reduce<tf.Tensor>((acc, id) => tf.logicalOr(acc, tf.equal(next, id)), tf.clone(done)) as tf.Tensor1D;
    return { logits: out.logits, cache: out.cache as KVCache, done: stopped };
  });
}

/** Each row's tokens up to and including its first stop token; a row without one is truncated. */
function completionsFrom(ids: number[][], stopIds: readonly number[]): Generation {
  const stops = ids.map((row) => row.findIndex((id) => stopIds.includes(id)));
  return {
    completions: ids.map((row, b) => ((stops[b] as number) < 0 ? row : row.slice(0, (stops[b] as number) + 1))),
    truncated: stops.map((stop) => stop < 0),
  };
}
