/**
 * Supervised fine-tuning: next-token cross-entropy on completion tokens only (the prompt is
 * given, not learned). Used for pretraining the base model on the corpus and by later stages.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PackedBatch } from './batch';
import type { ModelConfig } from './model-config';
import { type Params, causalBias, forward, positionsFor, tokenLogProbs } from './model';

/** Mean negative log-likelihood over the batch's completion tokens. */
export function sftLoss(p: Params, c: ModelConfig, batch: PackedBatch): tf.Scalar {
  return tf.tidy(() => {
    const { logits } = forward(p, c, tf.tensor2d(batch.inputs, undefined, 'int32'),
      tf.tensor2d(positionsFor(batch.valid, batch.promptWidth, c.promptAnchor), undefined, 'int32'), causalBias(batch.valid));
    const logp = tokenLogProbs(logits, tf.tensor2d(batch.targets, undefined, 'int32'));
    const mask = tf.tensor2d(batch.lossMask);
    return tf.div(tf.neg(tf.sum(tf.mul(logp, mask))), tf.maximum(tf.sum(mask), 1)) as tf.Scalar;
  });
}
