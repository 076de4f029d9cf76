/**
 * One optimiser update, shared by every stage (pretraining, SFT, GRPO): gradients of a scalar
 * loss with respect to the model's weights, clipping by global norm, then AdamW.
 *
 * A non-finite loss or gradient norm skips the update and says so (the weights are untouched),
 * so that one bad batch never destroys a run; the caller decides whether to stop.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GPT } from './model';
import { type AdamW, clipByGlobalNorm } from './optim';

export interface UpdateResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** True when the loss or the gradients were not finite and no update was made. */
  skipped: boolean;
  /** Extra scalars the loss function reported (metrics), read after the update. */
  extras: Record<string, number>;
}

/**
 * lossFn returns the loss and optional metric scalars; all are computed inside one tape so the
 * metrics cost no second forward pass.
 */
export function optimizerUpdate(
  model: Pick<GPT, 'variables'>, optimizer: AdamW, lossFn: () => { loss: tf.Scalar; extras?: Record<string, tf.Scalar> },
  lr: number, maxGradNorm: number,
): UpdateResult {
  const variables = Object.values(model.variables);
  let extras: Record<string, tf.Scalar> = {};
  const { value, grads } = tf.variableGrads(() => {
    const out = lossFn();
    extras = Object.fromEntries(Object.entries(out.extras ?? {}).map(([k, t]) => [k, tf.keep(t)]));
    return out.loss;
  }, variables);
  const loss = value.dataSync()[0] as number;
  value.dispose();
  const clipped = clipByGlobalNorm(grads, maxGradNorm);
  tf.dispose(Object.values(grads));
  const skipped = !Number.isFinite(loss) || !Number.isFinite(clipped.norm);
  if (!skipped) optimizer.step(clipped.grads, lr);
  tf.dispose(Object.values(clipped.grads));
  const extraValues = readScalars(extras);
  tf.dispose(Object.values(extras));
  return { loss, gradNorm: clipped.norm, skipped, extras: extraValues };
}

/** All metric scalars in one readback (one GPU sync on webgpu instead of one per metric). */
function readScalars(scalars: Record<string, tf.Scalar>): Record<string, number> {
  const names = Object.keys(scalars);
  if (names.length === 0) return {};
  const values = tf.tidy(() => tf.stack(names.map((n) => scalars[n] as tf.Scalar)).dataSync());
  return Object.fromEntries(names.map((n, i) => [n, values[i] as number]));
}
