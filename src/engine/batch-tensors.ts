/**
 * A packed batch (batch.ts) as the tensors the model reads, and the log-probabilities of its
 * tokens under frozen weights (the reference policy, the old policy, or a before/after view).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Readbacks } from './readback';
import { type PackedBatch, packBatch } from './batch';
import type { ModelConfig } from './model-config';
import { type Params, causalBias, forward, positionsFor, tokenLogProbs } from './model';

export interface BatchTensors {
  inputs: tf.Tensor2D;
  targets: tf.Tensor2D;
  positions: tf.Tensor2D;
  bias: tf.Tensor4D;
  mask: tf.Tensor2D;
}

export function toTensors(b: PackedBatch, anchor: number): BatchTensors {
  return {
    inputs: tf.tensor2d(b.inputs, undefined, 'int32'),
    targets: tf.tensor2d(b.targets, undefined, 'int32'),
    positions: tf.tensor2d(positionsFor(b.valid, b.promptWidth, anchor), undefined, 'int32'),
    bias: causalBias(b.valid),
    mask: tf.tensor2d(b.lossMask),
  };
}

export function disposeBatchTensors(t: BatchTensors): void {
  tf.dispose([t.inputs, t.targets, t.positions, t.bias, t.mask]);
}

/** Log-probabilities of the batch's tokens under some weights, outside any gradient tape. */
export function frozenLogProbs(p: Params, mc: ModelConfig, t: BatchTensors): tf.Tensor2D {
  return tf.tidy(() => tokenLogProbs(forward(p, mc, t.inputs, t.positions, t.bias).logits, t.targets));
}

/**
 * Per-token log-probabilities of each completion after one shared prompt (for the UI's token
 * view), as plain arrays: row i has one value per token of completions[i]. Reads back (readback.ts).
 */
export function* completionLogProbs(p: Params, mc: ModelConfig, promptIds: number[], completions: number[][], padId: number): Readbacks<number[][]> {
  const batch = packBatch(completions.map(() => promptIds), completions, padId);
  const t = toTensors(batch, mc.promptAnchor);
  const logp = frozenLogProbs(p, mc, t);
  const width = logp.shape[1];
  const flat = (yield logp) as Float32Array;
  logp.dispose();
  disposeBatchTensors(t);
  // Completion token j of row i is predicted at input column promptWidth - 1 + j.
  return completions.map((c, i) => Array.from(flat.subarray(i * width + batch.promptWidth - 1, i * width + batch.promptWidth - 1 + c.length)));
}
