/**
 * One GRPO policy update on a batch of scored completions: reference log-probs (for the KL
 * term), then numIterations optimiser steps of the clipped surrogate (grpo.ts). The trainer
 * calls it every step; the benchmark times it on its own.
 */
import * as tf from '@tensorflow/tfjs-core';
import { packBatch } from './batch';
import { disposeBatchTensors, frozenLogProbs, toTensors } from './batch-tensors';
import type { GrpoConfig } from './config';
import { grpoLoss } from './grpo';
import { type GPT, type Params, forward, tokenEntropy, tokenLogProbs } from './model';
import type { AdamW } from './optim';
import { stopGradient } from './stop-gradient';
import { optimizerUpdate } from './train-step';

export type GrpoUpdateConfig = Pick<GrpoConfig, 'numIterations' | 'beta' | 'lossType' | 'epsLow' | 'epsHigh' | 'maxCompletionLength' | 'maxGradNorm'>;

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

export function grpoUpdate(
  model: GPT, optimizer: AdamW, reference: Params | null, rows: UpdateRows, c: GrpoUpdateConfig, lr: number, padId: number,
): GrpoUpdateResult {
  const t = toTensors(packBatch(rows.prompts, rows.completions, padId), model.config.promptAnchor);
  const adv = tf.tensor1d(rows.advantages);
  const tRef0 = performance.now();
  const refLogp = reference && c.beta > 0 ? frozenLogProbs(reference, model.config, t) : undefined;
  const referenceMs = performance.now() - tRef0;
  // With one update per batch the sampling policy is the current one: old log-probs are the
  // current ones with the gradient stopped (ratio exactly 1). With more, they are frozen first.
  const oldLogp = c.numIterations > 1 ? frozenLogProbs(model.params, model.config, t) : null;
  const sums: Record<string, number> = {};
  let loss = 0, gradNorm = 0, skipped = 0;
  for (let it = 0; it < c.numIterations; it++) {
    const r = optimizerUpdate(model, optimizer, () => {
      const logits = forward(model.params, model.config, t.inputs, t.positions, t.bias).logits;
      const logp = tokenLogProbs(logits, t.targets);
      const out = grpoLoss(
        { logp, oldLogp: oldLogp ?? stopGradient(logp), refLogp, advantages: adv, mask: t.mask },
        { lossType: c.lossType, epsLow: c.epsLow, epsHigh: c.epsHigh, beta: c.beta, maxCompletionLength: c.maxCompletionLength },
      );
      const entropy = tf.div(tf.sum(tf.mul(tokenEntropy(stopGradient(logits)), t.mask)), tf.maximum(tf.sum(t.mask), 1)) as tf.Scalar;
      return {
        loss: out.loss,
        extras: {
          policy_loss: out.policyLoss, kl: out.kl, entropy,
          'clip_ratio/low_mean': out.clipRatioLow, 'clip_ratio/high_mean': out.clipRatioHigh, 'clip_ratio/region_mean': out.clipRatioRegion,
        },
      };
    }, lr, c.maxGradNorm);
    loss += r.loss / c.numIterations;
    gradNorm += r.gradNorm / c.numIterations;
    skipped += Number(r.skipped);
    for (const [k, v] of Object.entries(r.extras)) sums[k] = (sums[k] ?? 0) + v / c.numIterations;
  }
  disposeBatchTensors(t);
  adv.dispose();
  refLogp?.dispose();
  oldLogp?.dispose();
  return { extras: sums, loss, gradNorm, skipped, referenceMs };
}
