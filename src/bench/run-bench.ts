/**
 * Every figure of the benchmark for the backend that is active now: for each model size,
 * sampling with and without the KV cache and one GRPO update; then whole r1-zero steps from
 * the shipped base model, split into phases; then a tensor-leak check over many small steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GPT } from '../engine/model';
import { type ModelSizeName, modelSize } from '../engine/model-config';
import { microBatchLimitOn } from '../engine/micro-batch-rows';
import { microBatchRowsFor } from '../engine/grpo-update';
import { getPreset } from '../engine/presets';
import type { Tokenizer } from '../engine/tokenizer';
import { type BenchShapes, benchModelConfig } from './shapes';
import type { Repeats } from './timing';
import {
  type LeakCheck, type StepSplit, type WorkloadFigures,
  benchGeneration, benchGrpoSteps, benchUpdate, checkTensorLeak, randomUpdateRows, updateConfig,
} from './workloads';

export interface SizeFigures {
  size: ModelSizeName;
  parameters: number;
  /** With the KV cache, tokens chosen on the host (one readback per token). */
  generateCached: WorkloadFigures;
  /** With the KV cache, tokens chosen on the device (one readback per call). */
  generateCachedOnDevice: WorkloadFigures;
  generateRecompute: WorkloadFigures | null;
  /** Cached tokens/s over recompute tokens/s. */
  cachedSpeedup: number | null;
  /** One GRPO update as the r1-zero preset makes it, in micro-batches of updateMicroBatchRows. */
  update: WorkloadFigures;
  /**
   * The rows per micro-batch (0: one pass) that the preset's setting gives this batch on this
   * backend ('auto': passes of about 4,096 token columns on wasm and cpu, one pass on WebGPU).
   */
  updateMicroBatchRows: number;
  /** The same update in one backward pass over every row (microBatchRows 0). */
  updateOneBatch: WorkloadFigures;
  /**
   * The preset's update with every row computed whole, prompt included (sharePrompts off,
   * shared-prompt.ts), as the PyTorch reference computes it.
   */
  updateWholeRows: WorkloadFigures;
}

export interface BackendFigures {
  backend: string;
  sizes: SizeFigures[];
  /** The r1-zero preset's steps from the shipped base model (null when no base weights were given). */
  grpoStep: StepSplit | null;
  leak: LeakCheck | null;
}

export interface BenchPlan {
  sizes: ModelSizeName[];
  shapes: BenchShapes;
  repeats: Repeats;
  /** Skip the recompute timing (it is the slow one) for these sizes. */
  skipRecompute?: ModelSizeName[];
  /** Steps of the r1-zero preset to time (0 skips). */
  grpoSteps: number;
  /** Steps of the tiny preset for the leak check (0 skips). */
  leakSteps: number;
  /** The shipped base model's weights, for the r1-zero steps. */
  baseWeights?: Record<string, Float32Array>;
  log?: (line: string) => void;
}

async function benchSize(size: ModelSizeName, tokenizer: Tokenizer, plan: BenchPlan): Promise<SizeFigures> {
  const log = plan.log ?? (() => {});
  const model = GPT.create(benchModelConfig(size, tokenizer.size, plan.shapes), 1);
  try {
    log(`${size}: sampling with the KV cache, tokens chosen on the host`);
    const generateCached = await benchGeneration(model, tokenizer, plan.shapes, { kvCache: true, tokenChoice: 'host' }, plan.repeats);
    log(`${size}: sampling with the KV cache, tokens chosen on the device`);
    const generateCachedOnDevice = await benchGeneration(model, tokenizer, plan.shapes, { kvCache: true, tokenChoice: 'device' }, plan.repeats);
    let generateRecompute: WorkloadFigures | null = null;
    if (!plan.skipRecompute?.includes(size)) {
      log(`${size}: sampling by full recompute`);
      generateRecompute = await benchGeneration(model, tokenizer, plan.shapes, { kvCache: false, tokenChoice: 'host' }, plan.repeats);
    }
    const preset = getPreset('r1-zero').config;
    const rows = randomUpdateRows(tokenizer, model.config.vocabSize, plan.shapes);
    const updateMicroBatchRows = microBatchRowsFor(microBatchLimitOn(preset.microBatchRows, tf.getBackend()), rows.prompts, rows.completions.map((c) => c.length));
    log(`${size}: one GRPO update in ${updateMicroBatchRows ? `micro-batches of ${updateMicroBatchRows} rows` : 'one pass'}`);
    const update = await benchUpdate(model, tokenizer, plan.shapes, updateConfig(preset, plan.shapes), plan.repeats);
    log(`${size}: one GRPO update in one batch`);
    const updateOneBatch = await benchUpdate(model, tokenizer, plan.shapes, { ...updateConfig(preset, plan.shapes), microBatchRows: 0 }, plan.repeats);
    log(`${size}: one GRPO update in micro-batches, every row computed whole`);
    const updateWholeRows = await benchUpdate(model, tokenizer, plan.shapes, updateConfig(preset, plan.shapes), plan.repeats, { sharePrompts: false });
    return {
      size, parameters: model.parameterCount, generateCached, generateCachedOnDevice, generateRecompute, update, updateMicroBatchRows, updateOneBatch, updateWholeRows,
      cachedSpeedup: generateRecompute ? generateCached.tokensPerSecond / generateRecompute.tokensPerSecond : null,
    };
  } finally {
    model.dispose();
  }
}

export async function runBench(tokenizer: Tokenizer, plan: BenchPlan): Promise<BackendFigures> {
  const log = plan.log ?? (() => {});
  const sizes: SizeFigures[] = [];
  for (const size of plan.sizes) sizes.push(await benchSize(size, tokenizer, plan));

  let grpoStep: StepSplit | null = null;
  if (plan.grpoSteps > 0 && plan.baseWeights) {
    log(`r1-zero: ${plan.grpoSteps} GRPO steps from the base model`);
    const config = getPreset('r1-zero').config;
    const model = new GPT(modelSize(config.model, tokenizer.size), plan.baseWeights);
    try {
      grpoStep = await benchGrpoSteps(model, tokenizer, config, { warmup: 1, repeats: plan.grpoSteps });
    } finally {
      model.dispose();
    }
  }

  let leak: LeakCheck | null = null;
  if (plan.leakSteps > 0) {
    log(`leak check: ${plan.leakSteps} steps of the tiny preset`);
    const config = getPreset('tiny').config;
    const model = GPT.create(modelSize(config.model, tokenizer.size), 3);
    try {
      leak = await checkTensorLeak(model, tokenizer, config, plan.leakSteps, (step) => log(`leak check: ${step} of ${plan.leakSteps} steps`));
    } finally {
      model.dispose();
    }
  }
  return { backend: tf.getBackend(), sizes, grpoStep, leak };
}
