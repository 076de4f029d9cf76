/**
 * One optimiser update, shared by every stage (pretraining, SFT, GRPO): gradients of a scalar
 * loss with respect to the model's weights, clipping by global norm, then AdamW.
 *
 * The loss may come in parts (micro-batches) whose sum is the loss: each part's gradients are
 * taken and added up before the clip and the step. tfjs keeps every intermediate of a backward
 * pass alive until the pass ends, so parts bound the memory a large batch needs.
 *
 * A non-finite loss or gradient norm skips the update and says so (the weights are untouched),
 * so that one bad batch never destroys a run; the caller decides whether to stop.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GPT } from './model';
import { type AdamW, type GradMap, clipCoefficient, globalNorm, scaleGradients } from './optim';
import { type Readbacks, runSync } from './readback';

export interface UpdateResult {
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** True when the loss or the gradients were not finite and no update was made. */
  skipped: boolean;
  /** Extra scalars the loss function reported (metrics), read after the update. */
  extras: Record<string, number>;
}

/** A loss (or one part of it) with optional metric scalars, all computed inside one tape. */
export type LossFn = () => { loss: tf.Scalar; extras?: Record<string, tf.Scalar> };

/** One update on one loss: the metrics cost no second forward pass. */
export function optimizerUpdate(
  model: Pick<GPT, 'variables'>, optimizer: AdamW, lossFn: LossFn, lr: number, maxGradNorm: number,
): UpdateResult {
  return accumulatedUpdate(model, optimizer, [lossFn], lr, maxGradNorm);
}

/**
 * One update on a loss given as parts: loss, gradients and each metric are the sums over the
 * parts (each part weights its own loss and metrics). Everything is read back once, after the
 * gradients: the loss, the gradient norm and the metrics together.
 */
export function accumulatedUpdate(
  model: Pick<GPT, 'variables'>, optimizer: AdamW, parts: readonly LossFn[], lr: number, maxGradNorm: number,
): UpdateResult {
  return runSync(accumulatedUpdateSteps(model, optimizer, parts, lr, maxGradNorm));
}

/** accumulatedUpdate() as a computation with readbacks (readback.ts). */
export function* accumulatedUpdateSteps(
  model: Pick<GPT, 'variables'>, optimizer: AdamW, parts: readonly LossFn[], lr: number, maxGradNorm: number,
): Readbacks<UpdateResult> {
  const { loss: lossSum, grads, extras } = accumulateGradients(model, parts);
  const scalars = yield* readScalars({ ...extras, '#loss': lossSum, '#norm': globalNorm(grads) });
  const { '#loss': loss = NaN, '#norm': gradNorm = NaN, ...extraValues } = scalars;
  const skipped = !Number.isFinite(loss) || !Number.isFinite(gradNorm);
  if (!skipped) {
    const clipped = scaleGradients(grads, clipCoefficient(gradNorm, maxGradNorm));
    optimizer.step(clipped, lr);
    tf.dispose(Object.values(clipped));
  }
  tf.dispose(Object.values(grads));
  return { loss, gradNorm, skipped, extras: extraValues };
}

/** The summed loss, gradients and metrics of the parts, all tensors owned by the caller: no readback. */
export function accumulateGradients(
  model: Pick<GPT, 'variables'>, parts: readonly LossFn[],
): { loss: tf.Scalar; grads: GradMap; extras: Record<string, tf.Scalar> } {
  if (parts.length === 0) throw new Error('accumulatedUpdate: needs at least one loss part');
  const variables = Object.values(model.variables);
  let lossSum: tf.Scalar | null = null;
  let gradSum: GradMap | null = null;
  const extraSums: Record<string, tf.Scalar> = {};
  for (const part of parts) {
    let extras: Record<string, tf.Scalar> = {};
    const { value, grads } = tf.variableGrads(() => {
      const out = part();
      extras = Object.fromEntries(Object.entries(out.extras ?? {}).map(([k, t]) => [k, tf.keep(t)]));
      return out.loss;
    }, variables);
    lossSum = addInto(lossSum, value);
    gradSum = gradSum ? addGrads(gradSum, grads) : grads;
    for (const [k, t] of Object.entries(extras)) extraSums[k] = addInto(extraSums[k] ?? null, t);
  }
  return { loss: lossSum as tf.Scalar, grads: gradSum as GradMap, extras: extraSums };
}

/** sum + t (both disposed, the result owned by the caller); t alone when there is no sum yet. */
function addInto(sum: tf.Scalar | null, t: tf.Scalar): tf.Scalar {
  if (!sum) return t;
  const out = tf.add(sum, t) as tf.Scalar;
  sum.dispose();
  t.dispose();
  return out;
}

function addGrads(sum: GradMap, grads: GradMap): GradMap {
  const out: GradMap = {};
  for (const [name, g] of Object.entries(grads)) {
    const s = sum[name];
    out[name] = s ? tf.add(s, g) : g;
    if (s) {
      s.dispose();
      g.dispose();
    }
  }
  return out;
}

/** All the scalars in one readback (one GPU sync on webgpu instead of one each), then disposed. */
function* readScalars(scalars: Record<string, tf.Scalar>): Readbacks<Record<string, number>> {
  const names = Object.keys(scalars);
  const stacked = tf.stack(names.map((n) => scalars[n] as tf.Scalar));
  const values = yield stacked;
  stacked.dispose();
  tf.dispose(Object.values(scalars));
  return Object.fromEntries(names.map((n, i) => [n, values[i] as number]));
}
