/**
 * A packed batch (batch.ts) as the tensors the model reads, and the log-probabilities of its
 * tokens under frozen weights (the reference policy, the old policy, or a before/after view).
 *
 * Only the columns from the prompt's last token on are scored (their targets are completion
 * tokens): logits are computed for those alone, and where rows repeat prompts the columns before
 * go through the model once per prompt (shared-prompt.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Readbacks } from './readback';
import { type PackedBatch, packBatch } from './batch';
import type { ModelConfig } from './model-config';
import { type Params, causalBias, hiddenStates, languageModelHead, positionsFor, tokenLogProbs } from './model';
import {
  type SharedPromptTensors, disposeSharedPromptTensors, promptSharing, sharedPromptHidden, sharedPromptTensors,
} from './shared-prompt';

export interface BatchTensors {
  inputs: tf.Tensor2D;
  targets: tf.Tensor2D;
  positions: tf.Tensor2D;
  bias: tf.Tensor4D;
  mask: tf.Tensor2D;
  /** The first scored column: the prompt's last token, whose logits score the first completion token. */
  scoredFrom: number;
  /** targets[:, scoredFrom:]. */
  scoredTargets: tf.Tensor2D;
  /** The shared-prompt forward's tensors, where rows repeat prompts enough for it to pay. */
  shared: SharedPromptTensors | null;
}

export interface TensorOptions {
  /** Compute each distinct prompt once (shared-prompt.ts); default true. Off, every row is computed whole. */
  sharePrompts?: boolean;
}

export function toTensors(b: PackedBatch, anchor: number, options: TensorOptions = {}): BatchTensors {
  const positions = positionsFor(b.valid, b.promptWidth, anchor);
  const scoredFrom = Math.max(0, b.promptWidth - 1);
  const sharing = options.sharePrompts === false ? null : promptSharing(b);
  const bias = causalBias(b.valid);
  return {
    inputs: tf.tensor2d(b.inputs, undefined, 'int32'),
    targets: tf.tensor2d(b.targets, undefined, 'int32'),
    positions: tf.tensor2d(positions, undefined, 'int32'),
    bias,
    mask: tf.tensor2d(b.lossMask),
    scoredFrom,
    scoredTargets: tf.tensor2d(b.targets.map((row) => row.slice(scoredFrom)), undefined, 'int32'),
    shared: sharing ? sharedPromptTensors(b, positions, bias, sharing) : null,
  };
}

export function disposeBatchTensors(t: BatchTensors): void {
  tf.dispose([t.inputs, t.targets, t.positions, t.bias, t.mask, t.scoredTargets]);
  if (t.shared) disposeSharedPromptTensors(t.shared);
}

/** Logits [B, T - scoredFrom, vocab] of the scored columns. */
export function scoredLogits(p: Params, mc: ModelConfig, t: BatchTensors): tf.Tensor3D {
  if (t.shared) return languageModelHead(p, mc, sharedPromptHidden(p, mc, t.shared));
  const hidden = hiddenStates(p, mc, t.inputs, t.positions, t.bias);
  const [B, T, d] = hidden.shape;
  return languageModelHead(p, mc, t.scoredFrom === 0 ? hidden : tf.slice(hidden, [0, t.scoredFrom, 0], [B, T - t.scoredFrom, d]));
}

/** A per-token value of the scored columns [B, T - scoredFrom] at full width [B, T]: zeros in the columns before. */
export function fullWidth(x: tf.Tensor2D, t: BatchTensors): tf.Tensor2D {
  return t.scoredFrom === 0 ? x : tf.pad(x, [[0, 0], [t.scoredFrom, 0]]);
}

/** Log-probabilities [B, T] of the batch's targets, 0 in the unscored columns (the loss mask is 0 there too). */
export function sequenceLogProbs(p: Params, mc: ModelConfig, t: BatchTensors): tf.Tensor2D {
  return fullWidth(tokenLogProbs(scoredLogits(p, mc, t), t.scoredTargets), t);
}

/** Log-probabilities of the batch's tokens under some weights, outside any gradient tape. */
export function frozenLogProbs(p: Params, mc: ModelConfig, t: BatchTensors): tf.Tensor2D {
  return tf.tidy(() => sequenceLogProbs(p, mc, t));
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
