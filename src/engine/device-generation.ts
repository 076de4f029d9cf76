/**
 * Generation with tokens chosen on the backend: the logits never leave it. Each step's token ids,
 * the rows' stopped flags and the attention mask stay tensors; what is read back is the block
 * of token ids at the end and, every STOP_CHECK_EVERY tokens, one flag saying whether every row
 * has stopped (the loop ends there; without it, it would always run maxNewTokens steps, twice
 * what a batch of ~30-token answers needs). On a GPU this removes a wait per token.
 *
 * The stopped flags are brought up to date at those checks only, from the tokens chosen since
 * the last one: per token that would be a compare and an or (two dispatches per stop id).
 * A row that has stopped stays in the batch (on a GPU a step costs its dispatches, not its rows):
 * until the next check it samples on, and after it it is given the pad token, whatever its
 * logits say. Either way its tokens after the stop token are cut off (completionsFrom), and they
 * change nothing else: rows do not see each other, and a stopped row's later keys are seen by
 * its own queries only, so they are left unmasked. So the completions are the host loop's, which
 * drops stopped rows.
 * Per token the loop runs the model's decode step and one kernel to choose the tokens
 * (fused/sample-tokens.ts, for plain sampling).
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeStep, disposeCache, prefill, tidyObject } from './decoding';
import type { ModelConfig } from './model-config';
import { type KVCache, MASKED, type Params } from './model';
import type { Readbacks } from './readback';
import type { Rng } from './rng';
import type { Generation, PaddedPrompts, SamplingOptions } from './sampling';
import { drawsForSteps, nextTokensOnDevice } from './token-choice';

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
 * sooner), left on the backend for the caller to read. After a row's stop token come its own
 * samples up to the next check, then pads.
 */
function* generateTokensOnDevice(p: Params, c: ModelConfig, rows: PaddedPrompts, o: SamplingOptions, draws: Rng): Readbacks<tf.Tensor2D> {
  const B = rows.padded.length;
  const first = prefill(p, c, rows.padded, rows.valid, true);
  let logits = first.logits;
  let cache = first.cache as KVCache;
  // [B] bool: the row had produced a stop token by the last check.
  let done = tf.zeros([B], 'bool') as tf.Tensor1D;
  // Every key the loop will have, [B, 1, 1, prompt + maxNewTokens]: MASKED over a prompt's pads,
  // 0 over every generated token. Each step's attention reads the columns of the keys it has so
  // far (fused/decode-attention.ts), so one tensor serves every step.
  const width = (rows.valid[0]?.length ?? 0) + o.maxNewTokens;
  const keyBias = tf.tensor4d(rows.valid.flatMap((row) => [...row.map((v) => (v === 1 ? 0 : MASKED)), ...new Array<number>(o.maxNewTokens).fill(0)]), [B, 1, 1, width]);
  // int32 like the tokens, so that comparing them casts nothing.
  const stopIds = o.stopIds.map((id) => tf.scalar(id, 'int32'));
  // Every step's draws in one upload (the same numbers as a step at a time; the stream is this
  // call's own, so the ones a loop that ends early leaves unused change nothing).
  const allDraws = tf.tensor2d(drawsForSteps(draws, o.maxNewTokens, B), [o.maxNewTokens, B]);
  const chosen: tf.Tensor1D[] = [];
  for (let step = 0; step < o.maxNewTokens; step++) {
    const next = tf.tidy(() => nextTokensOnDevice(tf.squeeze(logits, [1]) as tf.Tensor2D, allDraws, step, done, o));
    logits.dispose();
    chosen.push(next);
    if (step === o.maxNewTokens - 1) break;
    const out = tidyObject(() => decodeStep(p, c, tf.reshape(next, [B, 1]) as tf.Tensor2D, c.promptAnchor + step, keyBias, cache));
    disposeCache(cache);
    logits = out.logits;
    cache = out.cache as KVCache;
    if (stopIds.length > 0 && (step + 1) % STOP_CHECK_EVERY === 0) {
      const marked = markStopped(done, chosen.slice(-STOP_CHECK_EVERY), stopIds);
      done.dispose();
      done = marked;
      const allStopped = tf.all(done);
      const stopped = (yield allStopped)[0] === 1;
      allStopped.dispose();
      if (stopped) break;
    }
  }
  if (!logits.isDisposed) logits.dispose();
  tf.dispose([...stopIds, keyBias, allDraws, done]);
  disposeCache(cache);
  const block = tf.stack(chosen, 1) as tf.Tensor2D;
  chosen.forEach((t) => t.dispose());
  return block;
}

/** done [B] with the rows that chose a stop token among `recent` (each [B]) marked too: a new tensor. */
function markStopped(done: tf.Tensor1D, recent: tf.Tensor1D[], stopIds: readonly tf.Scalar[]): tf.Tensor1D {
  return tf.tidy(() => {
    const block = tf.stack(recent, 1); // [B, recent]
    const hit = stopIds.map((id) => tf.equal(block, id)).reduce((a, b) => tf.logicalOr(a, b));
    return tf.logicalOr(done, tf.any(hit, 1)) as tf.Tensor1D;
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
