/**
 * The work the benchmark times, shared with the PyTorch reference (bench/reference_torch.py),
 * which receives these shapes as JSON so that both sides do the same arithmetic.
 */
import { MODEL_SIZES, type ModelConfig, type ModelSizeName } from '../engine/model-config';

export interface BenchShapes {
  /** Sampling: rows decoded together, prompt length, tokens generated per row (no early stop). */
  generation: { rows: number; promptTokens: number; newTokens: number };
  /**
   * One GRPO update on rows of prompt + completion: the r1-zero preset's 16 prompts x 8, each
   * prompt in groupSize rows as GRPO samples it (the engine computes a shared prompt once,
   * shared-prompt.ts; the PyTorch reference computes every row whole).
   */
  update: { rows: number; promptTokens: number; completionTokens: number; groupSize: number };
}

export const DEFAULT_SHAPES: BenchShapes = {
  generation: { rows: 16, promptTokens: 12, newTokens: 128 },
  update: { rows: 128, promptTokens: 12, completionTokens: 32, groupSize: 8 },
};

/** Small enough to run in seconds (tests, SwiftShader). */
export const QUICK_SHAPES: BenchShapes = {
  generation: { rows: 4, promptTokens: 8, newTokens: 16 },
  update: { rows: 8, promptTokens: 8, completionTokens: 8, groupSize: 4 },
};

export const BENCH_SIZES = Object.keys(MODEL_SIZES) as ModelSizeName[];

/**
 * A named size with room for the benchmark's sequences: the shipped sizes hold 96 tokens, and
 * generating 128 after the prompt needs more learned positions (nothing else changes).
 */
export function benchModelConfig(size: ModelSizeName, vocabSize: number, shapes: BenchShapes): ModelConfig {
  const base = MODEL_SIZES[size];
  const longest = Math.max(
    base.promptAnchor + shapes.generation.newTokens,
    base.promptAnchor + shapes.update.completionTokens,
  );
  return { ...base, vocabSize, context: Math.max(base.context, longest) };
}

/** The input width of the update batch: prompt + completion, minus the last token (it is only a target). */
export function updateInputLength(shapes: BenchShapes): number {
  return shapes.update.promptTokens + shapes.update.completionTokens - 1;
}
