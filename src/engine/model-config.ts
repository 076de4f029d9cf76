/**
 * Model shapes. Named sizes let the UI, the CLI and checkpoints agree on a model by name;
 * parameter counts are computed by parameterCount() and stated in docs/results.md.
 */
import { z } from 'zod';

export const ModelConfigSchema = z.object({
  /** A name shown in the UI and stored in checkpoints. */
  name: z.string().min(1),
  /** Transformer blocks. */
  layers: z.number().int().min(1).max(12),
  /** Residual stream width; must be divisible by heads. */
  dModel: z.number().int().min(4).max(512),
  heads: z.number().int().min(1).max(16),
  /** Longest sequence (prompt + completion) in tokens; learned positions cover exactly this many. */
  context: z.number().int().min(8).max(512),
  /** Position of the first completion token; prompts may be at most this long (see positionsFor). */
  promptAnchor: z.number().int().min(1),
  /** Tokenizer size; filled from the tokenizer when the model is built. */
  vocabSize: z.number().int().min(8).max(4096),
})
  .refine((c) => c.dModel % c.heads === 0, { message: 'dModel must be divisible by heads', path: ['dModel'] })
  .refine((c) => c.promptAnchor < c.context, { message: 'promptAnchor must be below context', path: ['promptAnchor'] });

export type ModelConfig = z.infer<typeof ModelConfigSchema>;

export type ModelSizeName = 'test' | 'small' | 'default';

/**
 * test: for unit tests only (fast on the cpu backend).
 * small: the student for distillation, and a quick model for slow backends.
 * default: trains well in a browser tab on wasm; the shipped base model.
 */
export const MODEL_SIZES: Record<ModelSizeName, Omit<ModelConfig, 'vocabSize'>> = {
  test: { name: 'test', layers: 1, dModel: 16, heads: 2, context: 96, promptAnchor: 20 },
  small: { name: 'small', layers: 2, dModel: 64, heads: 4, context: 96, promptAnchor: 20 },
  default: { name: 'default', layers: 4, dModel: 128, heads: 4, context: 96, promptAnchor: 20 },
};

export function modelSize(name: string, vocabSize: number): ModelConfig {
  const size = MODEL_SIZES[name as ModelSizeName];
  if (!size) {
    throw new Error(`model: "${name}" is not a model size (allowed: ${Object.keys(MODEL_SIZES).join(', ')})`);
  }
  return { ...size, vocabSize };
}

/** Parameters of a model of this shape (tied input/output embedding). */
export function parameterCount(c: ModelConfig): number {
  const d = c.dModel;
  const perLayer = 2 * d /* ln1 */ + 3 * d * d /* qkv */ + d * d /* proj */ + 2 * d /* ln2 */ +
    d * 4 * d + 4 * d /* mlp in */ + 4 * d * d + d; /* mlp out */
  return c.vocabSize * d + c.context * d + c.layers * perLayer + 2 * d;
}
