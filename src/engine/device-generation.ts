/**
 * Generation with tokens chosen on the backend: the logits never leave it. Each step's token ids,
 * the rows' stopped flags and the attention mask stay tensors; what is read back is the block
 * of token ids at the end and, every STOP_CHECK_EVERY tokens, one flag saying whether every row
 * has stopped (the loop ends there; without it, it would always run maxNewTokens steps, twice
 * what a batch of ~30-token answers needs). On a GPU this removes a wait per token.
 *
 * Stopped rows feed the pad token, hidden from attention, exactly as the host loop does, so the
 * completions are the same.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type StepOut, decodeStep, disposeCache, prefill, tidyObject } from './decoding';
import type { ModelConfig } from './model-config';
import { type KVCache, MASKED, type Params } from './model';
import type { Readbacks } from './readback';
import type { Rng } from './rng';
import type { Generation, PaddedPrompts, SamplingOptions } from './sampling';
import { chooseTokensOnDevice, nextDraws } from './token-choice';

/** The loop's state between steps, all on the backend. */
interface DeviceState {
  /** [B] bool: the row has produced a stop token. */
  done: tf.Tensor1D;
  /** [B, Tk] 0 where a key is visible, MASKED where it is a pad. */
  keyBias: tf.Tensor2D;
}

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
  let state: DeviceState = {
    done: tf.zeros([B], 'bool') as tf.Tensor1D,
    keyBias: tf.tensor2d(rows.valid.map((row) => row.map((v) => (v === 1 ? 0 : MASKED)))),
  };
  const chosen: tf.Tensor1D[] = [];
  for (let step = 0; step < o.maxNewTokens; step++) {
    const u = tf.tensor1d(nextDraws(draws, B));
    const next = tf.tidy(() => tf.where(state.done, tf.fill([B], o.padId, 'int32'), chooseTokensOnDevice(tf.squeeze(logits, [1]) as tf.Tensor2D, u, o)));
    u.dispose();
    logits.dispose();
    chosen.push(next as tf.Tensor1D);
    if (step === o.maxNewTokens - 1) break;
    const out = advance(p, c, state, next as tf.Tensor1D, c.promptAnchor + step, cache, o.stopIds);
    disposeCache(cache);
    state.done.dispose();
    state.keyBias.dispose();
    ({ logits, cache, state } = out);
    if (o.stopIds.length > 0 && (step + 1) % STOP_CHECK_EVERY === 0) {
      const allStopped = tf.all(state.done);
      const stopped = (yield allStopped)[0] === 1;
      allStopped.dispose();
      if (stopped) break;
    }
  }
  if (!logits.isDisposed) logits.dispose();
  disposeCache(cache);
  state.done.dispose();
  state.keyBias.dispose();
  const block = tf.stack(chosen, 1) as tf.Tensor2D;
  chosen.forEach((t) => t.dispose());
  return block;
}

/** Feeds this step's tokens, and marks the rows that stopped with them. */
function advance(
  p: Params, c: ModelConfig, state: DeviceState, next: tf.Tensor1D, position: number, cache: KVCache, stopIds: readonly number[],
): StepOut & { cache: KVCache; state: DeviceState } {
  const B = next.shape[0];
  return tidyObject(() => {
    // A row that had already stopped feeds a pad: hidden from later queries, visible to itself now.
    const column = tf.reshape(tf.where(state.done, tf.fill([B], MASKED), tf.zeros([B])), [B, 1]);
    const bias = tf.concat([state.keyBias, tf.zeros([B, 1])], 1);
    const out = decodeStep(p, c, tf.reshape(next, [B, 1]) as tf.Tensor2D, position, tf.reshape(bias, [B, 1, 1, -1]) as tf.Tensor4D, cache);
    const hitStop = stopIds.reduce<tf.Tensor>((acc, id) => tf.logicalOr(acc, tf.equal(next, id)), tf.zeros([B], 'bool'));
    return {
      logits: out.logits,
      cache: out.cache as KVCache,
      state: { done: tf.logicalOr(state.done, hitStop) as tf.Tensor1D, keyBias: tf.concat([state.keyBias, column], 1) as tf.Tensor2D },
    };
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
