/**
 * Workloads that read back only with await data(): what WebGPU in Node allows (see
 * src/node/tfjs-webgpu-node.ts), and what a GPU prefers anywhere. Used by npm run bench:gpu.
 *
 * - matmulThroughput: square float32 products, the backend's best case, to set the model's
 *   figures against.
 * - benchDeviceGeneration: sampling with tokens chosen on the device, one readback per call.
 * - benchUpdateArithmetic: one GRPO update's forward, backward, clip and AdamW, in the engine's
 *   micro-batches; the loss is read back once at the end, and the engine's skip of a non-finite
 *   update (which needs the values on the host first) is left out.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GrpoConfig } from '../engine/config';
import { grpoLossParts } from '../engine/grpo-update';
import type { GPT } from '../engine/model';
import { AdamW, globalNorm, scaleGradients } from '../engine/optim';
import { Rng } from '../engine/rng';
import { runAsync } from '../engine/readback';
import { generateTokenBlock } from '../engine/sampling';
import type { Tokenizer } from '../engine/tokenizer';
import { type LossFn, accumulateGradients } from '../engine/train-step';
import { sequenceForwardFlops, trainFlops } from './flops';
import { type BenchShapes, updateInputLength } from './shapes';
import { type Repeats, type Timing, timeRepeated } from './timing';
import { randomUpdateRows, syntheticPrompt } from './workloads';

export interface RateFigures extends Timing {
  /** Tokens per second at the median time (0 for plain matmuls). */
  tokensPerSecond: number;
  flopsPerSecond: number;
}

function rates(timing: Timing, tokens: number, flops: number): RateFigures {
  const seconds = timing.medianMs / 1000;
  return { ...timing, tokensPerSecond: tokens / seconds, flopsPerSecond: flops / seconds };
}

/** `count` chained n x n products per run, then one readback of a single element. */
export async function matmulThroughput(n: number, count: number, repeats: Repeats): Promise<RateFigures & { n: number }> {
  const a = tf.randomNormal([n, n], 0, 1 / Math.sqrt(n), 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1 / Math.sqrt(n), 'float32', 2);
  const run = async (): Promise<void> => {
    let x = a;
    for (let i = 0; i < count; i++) {
      const y = tf.matMul(x, b);
      if (x !== a) x.dispose();
      x = y;
    }
    const corner = tf.slice(x, [0, 0], [1, 1]);
    await corner.data();
    tf.dispose([corner, x]);
  };
  try {
    return { n, ...rates(await timeRepeated(run, repeats), 0, 2 * n ** 3 * count) };
  } finally {
    tf.dispose([a, b]);
  }
}

/** Sampling of shapes.generation.newTokens tokens per row with tokens chosen on the device. */
export async function benchDeviceGeneration(
  model: GPT, tokenizer: Tokenizer, generation: BenchShapes['generation'], repeats: Repeats,
): Promise<RateFigures> {
  const { rows, promptTokens, newTokens } = generation;
  const prompts = Array.from({ length: rows }, () => syntheticPrompt(tokenizer, promptTokens));
  const run = async (): Promise<void> => {
    // No stop ids: every row runs newTokens steps, and the block is the only readback.
    const block = await runAsync(generateTokenBlock(model.params, model.config, prompts, {
      maxNewTokens: newTokens, temperature: 1, topK: 0, topP: 1, stopIds: [], padId: tokenizer.padId,
    }, new Rng(1)));
    await block.data();
    block.dispose();
  };
  const flops = sequenceForwardFlops(model.config, rows, promptTokens + newTokens) - sequenceForwardFlops(model.config, rows, promptTokens);
  return rates(await timeRepeated(run, repeats), rows * newTokens, flops);
}

/**
 * train-step.ts's accumulatedUpdate with the clip factor computed on the device and no skip:
 * nothing is read back; the summed loss is returned for the caller to await.
 */
export function updateWithoutReadback(
  model: Pick<GPT, 'variables'>, optimizer: AdamW, parts: readonly LossFn[], lr: number, maxGradNorm: number,
): tf.Scalar {
  const sums = accumulateGradients(model, parts);
  const coef = tf.tidy(() => tf.minimum(1, tf.div(maxGradNorm, tf.add(globalNorm(sums.grads), 1e-6))) as tf.Scalar);
  const clipped = scaleGradients(sums.grads, coef);
  optimizer.step(clipped, lr);
  tf.dispose([coef, ...Object.values(sums.extras), ...Object.values(sums.grads), ...Object.values(clipped)]);
  return sums.loss;
}

/** The update of workloads.ts's benchUpdate, read back once with await. */
export async function benchUpdateArithmetic(
  model: GPT, tokenizer: Tokenizer, shapes: BenchShapes, config: GrpoConfig, repeats: Repeats,
): Promise<RateFigures> {
  const rows = randomUpdateRows(tokenizer, model.config.vocabSize, shapes);
  const optimizer = new AdamW(Object.values(model.variables), { weightDecay: 0 });
  const run = async (): Promise<void> => {
    const parts = grpoLossParts(model, null, rows, config, tokenizer.padId);
    const loss = updateWithoutReadback(model, optimizer, parts.parts, 1e-7, config.maxGradNorm);
    await loss.data();
    loss.dispose();
    parts.dispose();
  };
  try {
    const length = updateInputLength(shapes);
    return rates(await timeRepeated(run, repeats), shapes.update.rows * length, trainFlops(model.config, shapes.update.rows, length));
  } finally {
    optimizer.dispose();
  }
}
