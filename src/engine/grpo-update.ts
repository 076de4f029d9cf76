/**
 * One GRPO policy update on a batch of scored completions: reference log-probs (for the KL
 * term), then numIterations optimiser steps of the clipped surrogate (grpo.ts). The trainer
 * calls it every step; the benchmark times it on its own.
 *
 * The batch is cut into micro-batches (microBatchRows) of rows of similar length, or of whole
 * groups sharing a prompt (planMicroBatches), whose gradients add up to the whole batch's (see
 * microBatchWeights): the same update with less memory and less padding.
 */
import * as tf from '@tensorflow/tfjs-core';
import { packBatch } from './batch';
import { type BatchTensors, type TensorOptions, disposeBatchTensors, frozenLogProbs, fullWidth, scoredLogits, toTensors } from './batch-tensors';
import type { GrpoConfig } from './config';
import { grpoLoss } from './grpo';
import { type GPT, type Params, tokenEntropy, tokenLogProbs } from './model';
import type { AdamW } from './optim';
import { type MicroBatchLimit, microBatchLimitOn } from './micro-batch-rows';
import { sharingPays } from './shared-prompt';
import { stopGradient } from './stop-gradient';
import { type Readbacks, runSync } from './readback';
import { type LossFn, accumulatedUpdateSteps } from './train-step';

export type GrpoUpdateConfig = Pick<GrpoConfig,
  'numIterations' | 'beta' | 'lossType' | 'epsLow' | 'epsHigh' | 'maxCompletionLength' | 'maxGradNorm' | 'microBatchRows'>;

/** Row i of the batch: prompt ids, completion ids and the completion's advantage. */
export interface UpdateRows {
  prompts: number[][];
  completions: number[][];
  advantages: Float32Array;
}

export interface GrpoUpdateResult {
  /** Metric scalars (policy_loss, kl, entropy, clip ratios), averaged over the iterations. */
  extras: Record<string, number>;
  loss: number;
  gradNorm: number;
  /** Iterations whose update was skipped because the loss or gradients were not finite. */
  skipped: number;
  /** Milliseconds spent on the reference policy's log-probs. */
  referenceMs: number;
}

/**
 * Row indices in micro-batches of at most `size` rows (0: one batch), longest completions
 * first, so that each micro-batch is padded only to its own longest row.
 */
export function microBatches(completionLengths: readonly number[], size: number): number[][] {
  const order = completionLengths.map((_, i) => i).sort((a, b) => (completionLengths[b] as number) - (completionLengths[a] as number) || a - b);
  if (size <= 0 || size >= order.length) return [order];
  const out: number[][] = [];
  for (let i = 0; i < order.length; i += size) out.push(order.slice(i, i + size));
  return out;
}

/**
 * Row indices in micro-batches of at most `size` rows, in whichever of two orders has the model
 * compute fewer token columns (plannedColumns): microBatches' longest completions first, which
 * pads least; or prompt by prompt, so that each micro-batch holds whole groups of rows sharing a
 * prompt, computed once (shared-prompt.ts). Where the groups are large enough to share their
 * prompts, the second wins, since the shared-prompt forward leaves the padding out; the first
 * is for micro-batches whose rows are computed whole.
 */
export function planMicroBatches(prompts: readonly (readonly number[])[], completionLengths: readonly number[], size: number): number[][] {
  const byLength = microBatches(completionLengths, size);
  if (byLength.length === 1) return byLength;
  const keys = prompts.map((p) => p.join(','));
  const rowsOf = new Map<string, number[]>();
  for (const i of byLength.flat()) {
    const group = rowsOf.get(keys[i] as string) ?? [];
    group.push(i);
    rowsOf.set(keys[i] as string, group);
  }
  // Groups in the order of their longest completion (each group's rows are already longest first).
  const byPrompt = [...rowsOf.values()].flat();
  const chunks: number[][] = [];
  for (let i = 0; i < byPrompt.length; i += size) chunks.push(byPrompt.slice(i, i + size));
  const columns = (rows: number[]): number => plannedColumns(rows.map((i) => prompts[i] as readonly number[]), rows.map((i) => completionLengths[i] as number));
  const total = (plan: number[][]): number => plan.reduce((sum, rows) => sum + columns(rows), 0);
  return total(chunks) < total(byLength) ? chunks : byLength;
}

/**
 * Token columns the model computes for one micro-batch: each row's padded prompt and completion
 * (packBatch), or, where its rows share prompts as promptSharing (shared-prompt.ts) finds them,
 * each distinct prompt's columns once and each row's scored ones, padding left out (one per
 * completion token).
 */
export function plannedColumns(prompts: readonly (readonly number[])[], completionLengths: readonly number[]): number {
  const rows = prompts.length;
  const promptWidth = Math.max(...prompts.map((p) => p.length));
  const completionWidth = Math.max(1, ...completionLengths);
  const distinct = distinctPrompts(prompts);
  if (!sharingPays(distinct, rows, promptWidth - 1)) return rows * (promptWidth + completionWidth - 1);
  return distinct * (promptWidth - 1) + completionLengths.reduce((sum, n) => sum + n, 0);
}

/** How many distinct prompts the rows hold, by promptSharing's key: the left-padded prompt without its last token. */
function distinctPrompts(prompts: readonly (readonly number[])[]): number {
  const promptWidth = Math.max(...prompts.map((p) => p.length));
  return new Set(prompts.map((p) => `${promptWidth - p.length}|${p.slice(0, -1).join(',')}`)).size;
}

/**
 * Rows per micro-batch (0: one batch) under a limit: a row limit as it is; a token limit as the
 * fewest passes of at most that many of the batch's token columns (plannedColumns), the rows
 * shared evenly among them, rounded up to whole groups where every prompt has as many rows.
 */
export function microBatchRowsFor(limit: MicroBatchLimit, prompts: readonly (readonly number[])[], completionLengths: readonly number[]): number {
  if ('rows' in limit) return limit.rows;
  const passes = Math.ceil(plannedColumns(prompts, completionLengths) / limit.tokens);
  if (passes <= 1) return 0;
  const rows = prompts.length;
  const distinct = distinctPrompts(prompts);
  const group = rows % distinct === 0 ? rows / distinct : 1;
  return Math.ceil(Math.ceil(rows / passes) / group) * group;
}

/**
 * What a micro-batch's loss and metrics are multiplied by so that the parts sum to the whole
 * batch's value. The token-level losses (dapo, bnpo) divide by the batch's completion tokens:
 * a part counts by its share of tokens. grpo (a mean of per-sequence means) and dr_grpo (a sum
 * over rows x maxCompletionLength) count a part by its share of rows. Token-mean metrics (KL,
 * entropy, clip ratios) count by tokens.
 */
export function microBatchWeights(
  lossType: GrpoConfig['lossType'], rows: number, tokens: number, totalRows: number, totalTokens: number,
): { loss: number; tokenMean: number } {
  const tokenShare = totalTokens > 0 ? tokens / totalTokens : rows / totalRows;
  return { loss: lossType === 'dapo' || lossType === 'bnpo' ? tokenShare : rows / totalRows, tokenMean: tokenShare };
}

interface MicroBatch {
  tensors: BatchTensors;
  advantages: tf.Tensor1D;
  refLogp?: tf.Tensor2D;
  oldLogp?: tf.Tensor2D;
  weights: { loss: number; tokenMean: number };
}

function scaled(x: tf.Scalar, w: number): tf.Scalar {
  return w === 1 ? x : (tf.mul(x, w) as tf.Scalar);
}

function lossPart(model: GPT, mb: MicroBatch, c: GrpoUpdateConfig): LossFn {
  return () => {
    const t = mb.tensors;
    const logits = scoredLogits(model.params, model.config, t);
    const logp = fullWidth(tokenLogProbs(logits, t.scoredTargets), t);
    const out = grpoLoss(
      // With one update per batch the sampling policy is the current one: old log-probs are the
      // current ones with the gradient stopped (ratio exactly 1). With more, they were frozen first.
      { logp, oldLogp: mb.oldLogp ?? stopGradient(logp), refLogp: mb.refLogp, advantages: mb.advantages, mask: t.mask },
      { lossType: c.lossType, epsLow: c.epsLow, epsHigh: c.epsHigh, beta: c.beta, maxCompletionLength: c.maxCompletionLength },
    );
    const entropy = tf.div(tf.sum(tf.mul(fullWidth(tokenEntropy(stopGradient(logits)), t), t.mask)), tf.maximum(tf.sum(t.mask), 1)) as tf.Scalar;
    const w = mb.weights;
    return {
      loss: scaled(out.loss, w.loss),
      extras: {
        policy_loss: scaled(out.policyLoss, w.loss), kl: scaled(out.kl, w.tokenMean), entropy: scaled(entropy, w.tokenMean),
        'clip_ratio/low_mean': scaled(out.clipRatioLow, w.tokenMean), 'clip_ratio/high_mean': scaled(out.clipRatioHigh, w.tokenMean),
        'clip_ratio/region_mean': scaled(out.clipRatioRegion, w.tokenMean),
      },
    };
  };
}

/** The update's loss as micro-batch parts, with the tensors they read; dispose() frees those. */
export interface GrpoLossParts {
  parts: LossFn[];
  /** Milliseconds spent on the reference policy's log-probs. */
  referenceMs: number;
  dispose(): void;
}

/**
 * Packs the rows into micro-batches on the backend, with their frozen log-probs (reference,
 * and old policy when numIterations > 1), and returns one loss part per micro-batch.
 */
export function grpoLossParts(
  model: GPT, reference: Params | null, rows: UpdateRows, c: GrpoUpdateConfig, padId: number, options: TensorOptions = {},
): GrpoLossParts {
  const lengths = rows.completions.map((x) => x.length);
  const totalTokens = lengths.reduce((a, b) => a + b, 0);
  let referenceMs = 0;
  const size = microBatchRowsFor(microBatchLimitOn(c.microBatchRows, tf.getBackend()), rows.prompts, lengths);
  const batches: MicroBatch[] = planMicroBatches(rows.prompts, lengths, size).map((idx) => {
    const tensors = toTensors(packBatch(idx.map((i) => rows.prompts[i] as number[]), idx.map((i) => rows.completions[i] as number[]), padId), model.config.promptAnchor, options);
    const tRef0 = performance.now();
    const refLogp = reference && c.beta > 0 ? frozenLogProbs(reference, model.config, tensors) : undefined;
    referenceMs += performance.now() - tRef0;
    const oldLogp = c.numIterations > 1 ? frozenLogProbs(model.params, model.config, tensors) : undefined;
    const tokens = idx.reduce((a, i) => a + (lengths[i] as number), 0);
    return {
      tensors, refLogp, oldLogp,
      advantages: tf.tensor1d(idx.map((i) => rows.advantages[i] as number)),
      weights: microBatchWeights(c.lossType, idx.length, tokens, lengths.length, totalTokens),
    };
  });
  return {
    parts: batches.map((mb) => lossPart(model, mb, c)),
    referenceMs,
    dispose: () => {
      for (const mb of batches) {
        disposeBatchTensors(mb.tensors);
        tf.dispose([mb.advantages, ...(mb.refLogp ? [mb.refLogp] : []), ...(mb.oldLogp ? [mb.oldLogp] : [])]);
      }
    },
  };
}

export function grpoUpdate(
  model: GPT, optimizer: AdamW, reference: Params | null, rows: UpdateRows, c: GrpoUpdateConfig, lr: number, padId: number,
  options: TensorOptions = {},
): GrpoUpdateResult {
  return runSync(grpoUpdateSteps(model, optimizer, reference, rows, c, lr, padId, options));
}

/** grpoUpdate() as a computation with readbacks (readback.ts). */
export function* grpoUpdateSteps(
  model: GPT, optimizer: AdamW, reference: Params | null, rows: UpdateRows, c: GrpoUpdateConfig, lr: number, padId: number,
  options: TensorOptions = {},
): Readbacks<GrpoUpdateResult> {
  const loss = grpoLossParts(model, reference, rows, c, padId, options);
  const sums: Record<string, number> = {};
  let meanLoss = 0, gradNorm = 0, skipped = 0;
  try {
    for (let it = 0; it < c.numIterations; it++) {
      const r = yield* accumulatedUpdateSteps(model, optimizer, loss.parts, lr, c.maxGradNorm);
      meanLoss += r.loss / c.numIterations;
      gradNorm += r.gradNorm / c.numIterations;
      skipped += Number(r.skipped);
      for (const [k, v] of Object.entries(r.extras)) sums[k] = (sums[k] ?? 0) + v / c.numIterations;
    }
  } finally {
    loss.dispose();
  }
  return { extras: sums, loss: meanLoss, gradNorm, skipped, referenceMs: loss.referenceMs };
}
