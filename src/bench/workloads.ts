/**
 * The timed workloads, each on the active tfjs backend: sampling with and without the KV cache,
 * one GRPO update, and whole GRPO steps split into their phases. Engine code only, so the same
 * functions run in Node (npm run bench) and in Chromium (npm run bench:browser).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorOptions } from '../engine/batch-tensors';
import type { GrpoConfig } from '../engine/config';
import { GrpoTrainer } from '../engine/grpo-trainer';
import { type UpdateRows, grpoUpdateSteps } from '../engine/grpo-update';
import { GPT, disposeParams } from '../engine/model';
import { AdamW } from '../engine/optim';
import { Rng } from '../engine/rng';
import { runAsync } from '../engine/readback';
import { type SamplingOptions, generateSteps } from '../engine/sampling';
import type { Tokenizer } from '../engine/tokenizer';
import { sequenceForwardFlops, trainFlops } from './flops';
import type { ModelSizeName } from '../engine/model-config';
import { type InterleavedPlan, type InterleavedTiming, type TimedRun, timeInterleaved, wallTimed } from './interleaved';
import { type BenchShapes, benchModelConfig, updateInputLength } from './shapes';
import { type Repeats, type Timing, median, timeRepeated } from './timing';

export interface WorkloadFigures extends Timing {
  tokensPerSecond: number;
  /**
   * Model FLOP/s at the median time (flops.ts): the arithmetic of every row computed whole, so
   * work the engine leaves out (a shared prompt computed once, shared-prompt.ts) shows as rate.
   */
  flopsPerSecond: number;
  /** Largest tfjs tensor memory seen while it ran, weights included (bytes); null where not measured. */
  peakBytes: number | null;
  /** tfjs kernels launched by one run (what a dispatch-bound backend pays for); null where not measured. */
  kernels: number | null;
}

/**
 * tf.profile times every kernel; on WebGPU that means timestamp queries, whose readback fails on
 * Chromium's software adapter and takes the device down with it. WebGPU runs are not profiled.
 */
async function profiled(fn: () => Promise<void>, timing: Timing, tokens: number, flops: number): Promise<WorkloadFigures> {
  const seconds = timing.medianMs / 1000;
  const rates = { ...timing, tokensPerSecond: tokens / seconds, flopsPerSecond: flops / seconds };
  if (tf.getBackend() === 'webgpu') return { ...rates, peakBytes: null, kernels: null };
  const info = await tf.profile(async () => { await fn(); });
  return { ...rates, peakBytes: info.peakBytes, kernels: info.kernels.length };
}

/** A fixed prompt of n ordinary tokens (digits): speed does not depend on which. */
export function syntheticPrompt(tokenizer: Tokenizer, n: number): number[] {
  const digits = tokenizer.encode('0123456789');
  return Array.from({ length: n }, (_, i) => digits[i % digits.length] as number);
}

/**
 * Sampling of shapes.generation.newTokens tokens per row, never stopping early, with or without
 * the KV cache, tokens chosen on the host or on the device (sampling.ts). Every workload here
 * reads back with await (readback.ts), as the lab does: WebGPU's synchronous path is slow, and
 * on a software adapter wrong.
 */
export async function benchGeneration(
  model: GPT, tokenizer: Tokenizer, shapes: BenchShapes, mode: Pick<SamplingOptions, 'kvCache' | 'tokenChoice'>, repeats: Repeats,
): Promise<WorkloadFigures> {
  const { rows, promptTokens, newTokens } = shapes.generation;
  const prompts = Array.from({ length: rows }, () => syntheticPrompt(tokenizer, promptTokens));
  const run = async (): Promise<void> => {
    await runAsync(generateSteps(model.params, model.config, prompts, {
      maxNewTokens: newTokens, temperature: 1, topK: 0, topP: 1, stopIds: [], padId: tokenizer.padId, ...mode,
    }, new Rng(1)));
  };
  const timing = await timeRepeated(run, repeats);
  // The arithmetic the model needs is the cached amount either way; recompute does more of it.
  const flops = sequenceForwardFlops(model.config, rows, promptTokens + newTokens) - sequenceForwardFlops(model.config, rows, promptTokens);
  return profiled(run, timing, rows * newTokens, flops);
}

/** Random completions of shapes.update's length with advantages +1 and -1 in turn (seeded). */
export function randomUpdateRows(tokenizer: Tokenizer, vocab: number, shapes: BenchShapes): UpdateRows {
  const { rows, promptTokens, completionTokens, groupSize } = shapes.update;
  const rng = new Rng(2);
  const digits = tokenizer.encode('0123456789');
  // Distinct prompts of random digits, each repeated for its group's rows, as GRPO lays them out.
  const distinct = Array.from({ length: Math.ceil(rows / groupSize) }, () => Array.from({ length: promptTokens }, () => digits[rng.int(0, digits.length - 1)] as number));
  return {
    prompts: Array.from({ length: rows }, (_, i) => distinct[Math.floor(i / groupSize)] as number[]),
    completions: Array.from({ length: rows }, () => Array.from({ length: completionTokens }, () => rng.int(0, vocab - 1))),
    advantages: Float32Array.from({ length: rows }, (_, i) => (i % 2 === 0 ? 1 : -1)),
  };
}

/** The r1-zero preset's update settings, without the KL term (its reference pass is timed in the step split). */
export function updateConfig(base: GrpoConfig, shapes: BenchShapes): GrpoConfig {
  return { ...base, beta: 0, maxCompletionLength: shapes.update.completionTokens, numIterations: 1 };
}

/** One GRPO update as a function to call again and again, and what to dispose after. */
export interface UpdateRun {
  run(): Promise<void>;
  dispose(): void;
}

/**
 * One GRPO update (forward, backward, clipping, AdamW) on random completions with random
 * advantages. The learning rate is tiny so the weights, and with them the arithmetic, stay put.
 */
export function updateRun(model: GPT, tokenizer: Tokenizer, shapes: BenchShapes, config: GrpoConfig, options: TensorOptions = {}): UpdateRun {
  const batch = randomUpdateRows(tokenizer, model.config.vocabSize, shapes);
  const optimizer = new AdamW(Object.values(model.variables), { weightDecay: 0 });
  return {
    run: async () => { await runAsync(grpoUpdateSteps(model, optimizer, null, batch, config, 1e-7, tokenizer.padId, options)); },
    dispose: () => optimizer.dispose(),
  };
}

/** updateRun's update, timed and profiled. */
export async function benchUpdate(
  model: GPT, tokenizer: Tokenizer, shapes: BenchShapes, config: GrpoConfig, repeats: Repeats, options: TensorOptions = {},
): Promise<WorkloadFigures> {
  const { rows } = shapes.update;
  const update = updateRun(model, tokenizer, shapes, config, options);
  try {
    const timing = await timeRepeated(update.run, repeats);
    const length = updateInputLength(shapes);
    return await profiled(update.run, timing, rows * length, trainFlops(model.config, rows, length));
  } finally {
    update.dispose();
  }
}

/**
 * The update of a fresh model of `size` with `config`'s settings (through updateConfig, as the
 * other update timings), timed in blocks alternating with another implementation's
 * (interleaved.ts): the PyTorch reference's, in npm run bench.
 */
export async function benchUpdateInterleaved(
  tokenizer: Tokenizer, shapes: BenchShapes, size: ModelSizeName, config: GrpoConfig, theirs: TimedRun, plan: InterleavedPlan,
): Promise<InterleavedTiming> {
  const model = GPT.create(benchModelConfig(size, tokenizer.size, shapes), 1);
  const update = updateRun(model, tokenizer, shapes, updateConfig(config, shapes));
  try {
    return await timeInterleaved(wallTimed(update.run), theirs, plan);
  } finally {
    update.dispose();
    model.dispose();
  }
}

export interface StepSplit {
  steps: number;
  /** Medians over the timed steps, in seconds. */
  stepSeconds: number;
  generateSeconds: number;
  scoreSeconds: number;
  referenceSeconds: number;
  updateSeconds: number;
  completionTokensPerStep: number;
}

/**
 * Whole GRPO steps of a preset from a given model, after warm-up; the median of each phase.
 * Steps read back with await, as the lab does, so this runs on every backend, WebGPU included.
 */
export async function benchGrpoSteps(model: GPT, tokenizer: Tokenizer, config: GrpoConfig, repeats: Repeats): Promise<StepSplit> {
  const reference = config.beta > 0 ? model.snapshot() : null;
  const trainer = new GrpoTrainer({ ...config, steps: repeats.warmup + repeats.repeats }, tokenizer, model, reference);
  try {
    for (let i = 0; i < repeats.warmup; i++) await trainer.trainStepAsync();
    const runs: Array<Awaited<ReturnType<GrpoTrainer['trainStepAsync']>>['metrics']> = [];
    for (let i = 0; i < repeats.repeats; i++) runs.push((await trainer.trainStepAsync()).metrics);
    const m = (name: string): number => median(runs.map((r) => r[name] as number));
    return {
      steps: repeats.repeats,
      stepSeconds: m('step_time'),
      generateSeconds: m('time/generate'),
      scoreSeconds: m('time/score'),
      referenceSeconds: m('time/reference'),
      updateSeconds: m('time/update'),
      completionTokensPerStep: median(runs.map((r) => (r.step_time as number) * (r.tokens_per_second as number))),
    };
  } finally {
    trainer.dispose();
    if (reference) disposeParams(reference);
  }
}

export interface LeakCheck {
  steps: number;
  tensorsBefore: number;
  tensorsAfter: number;
  bytesBefore: number;
  bytesAfter: number;
}

/** Many GRPO steps of a small preset: the tensor count and bytes must end where they began. */
export async function checkTensorLeak(
  model: GPT, tokenizer: Tokenizer, config: GrpoConfig, steps: number, progress: (step: number) => void = () => {},
): Promise<LeakCheck> {
  const before = tf.memory();
  const trainer = new GrpoTrainer({ ...config, steps, beta: 0 }, tokenizer, model, null);
  for (let i = 1; i <= steps; i++) {
    await trainer.trainStepAsync();
    // Every 100 steps: a long check on a slow backend says it is alive.
    if (i % 100 === 0 && i < steps) progress(i);
  }
  trainer.dispose();
  const after = tf.memory();
  return { steps, tensorsBefore: before.numTensors, tensorsAfter: after.numTensors, bytesBefore: before.numBytes, bytesAfter: after.numBytes };
}
