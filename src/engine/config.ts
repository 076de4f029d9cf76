/**
 * Every tunable of a GRPO run, typed, with defaults, units and the reason for each default.
 * One zod schema serves the CLI, the worker and the UI, and its errors name the field and the
 * allowed values.
 */
import { z } from 'zod';
import { MODEL_SIZES } from './model-config';
import { REWARD_NAMES, type RewardName } from './rewards';

const modelNames = Object.keys(MODEL_SIZES) as [string, ...string[]];
/** Every way to miss microBatchRows gets this one message, which names both of its forms. */
const MICRO_BATCH_ROWS_RULE = { error: "must be 'auto' or a whole number from 0 to 4096" };
const rewardWeightsSchema = z.partialRecord(z.enum(REWARD_NAMES), z.number().finite());

export const GrpoConfigSchema = z.object({
  /** Task family the prompts come from. */
  task: z.enum(['addition', 'countdown', 'multiplication']),
  /** Model size; must match the starting checkpoint. */
  model: z.enum(modelNames),
  seed: z.number().int().min(0),
  /** Optimiser steps (each one sampled batch, used numIterations times). */
  steps: z.number().int().min(1).max(1_000_000),
  /** Prompts per step (B). */
  promptsPerStep: z.number().int().min(1).max(512),
  /** Completions per prompt (G); GRPO's baseline is the group mean, so at least 2. */
  groupSize: z.number().int().min(2).max(64),
  /** Tokens a completion may have before it is cut (and flagged truncated). */
  maxCompletionLength: z.number().int().min(4).max(480),
  /** Sampling temperature; 1 samples the policy as it is, which GRPO's ratio assumes. */
  temperature: z.number().gt(0).max(2),
  topK: z.number().int().min(0),
  topP: z.number().gt(0).max(1),
  /** Peak learning rate (AdamW). */
  lr: z.number().gt(0).max(1),
  warmupSteps: z.number().int().min(0),
  lrDecay: z.enum(['constant', 'linear', 'cosine']),
  minLrRatio: z.number().min(0).max(1),
  weightDecay: z.number().min(0).max(1),
  /** Gradient clipping by global norm; 0 turns it off. */
  maxGradNorm: z.number().min(0),
  /** Weight of the k3 KL penalty to the frozen reference (R1: 0.001; TRL default 0). */
  beta: z.number().min(0).max(10),
  /** PPO-style clip range of the ratio: [1 - epsLow, 1 + epsHigh] (DAPO clip-higher: 0.28). */
  epsLow: z.number().min(0).max(1),
  epsHigh: z.number().min(0).max(10),
  /** Token aggregation of the loss (see grpo.ts). */
  lossType: z.enum(['grpo', 'bnpo', 'dr_grpo', 'dapo']),
  /** Divide advantages by the group's std, the batch's std, or not at all (Dr. GRPO). */
  scaleRewards: z.enum(['group', 'batch', 'none']),
  /** Updates per sampled batch (mu); above 1 the ratio and the clip come into play. */
  numIterations: z.number().int().min(1).max(16),
  /**
   * Completions per gradient micro-batch (0: the whole batch at once; 'auto': whole on WebGPU,
   * passes of about 4,096 token columns elsewhere, see micro-batch-rows.ts). Same update either
   * way; smaller micro-batches need less memory (tfjs holds a whole backward pass's
   * intermediates).
   */
  microBatchRows: z.union([
    z.literal('auto', MICRO_BATCH_ROWS_RULE),
    z.number(MICRO_BATCH_ROWS_RULE).int(MICRO_BATCH_ROWS_RULE).min(0, MICRO_BATCH_ROWS_RULE).max(4096, MICRO_BATCH_ROWS_RULE),
  ], MICRO_BATCH_ROWS_RULE),
  /** DAPO dynamic sampling: drop groups whose rewards are all equal and sample more prompts. */
  dynamicSampling: z.boolean(),
  /** Extra sampling rounds allowed per step when dynamic sampling is on. */
  maxResampleRounds: z.number().int().min(0).max(16),
  rewardWeights: rewardWeightsSchema,
  /** DAPO soft overlong window (tokens) before maxCompletionLength, for the overlong reward. */
  overlongBuffer: z.number().int().min(0),
  /** Held-out evaluation every n steps (and at step 0 and the last step); 0 = start and end only. */
  evalEvery: z.number().int().min(0),
  /** Held-out problems per evaluation. */
  evalSize: z.number().int().min(1).max(500),
  /** Samples per problem for maj@k and pass@k (0 skips them). */
  evalK: z.number().int().min(0).max(64),
}).superRefine((c, ctx) => {
  if (c.overlongBuffer >= c.maxCompletionLength) {
    ctx.addIssue({ code: 'custom', path: ['overlongBuffer'], message: `must be < maxCompletionLength (${c.maxCompletionLength})` });
  }
});

export type GrpoConfig = z.infer<typeof GrpoConfigSchema>;
export type RewardWeightsConfig = Partial<Record<RewardName, number>>;

/** Every problem with a config, by field path ("groupSize", "rewardWeights.accuracy"); empty when valid. */
export function configIssues(input: unknown): Record<string, string> {
  const parsed = GrpoConfigSchema.safeParse(input);
  if (parsed.success) return {};
  const out: Record<string, string> = {};
  for (const issue of parsed.error.issues) {
    const path = issue.path.join('.') || '(config)';
    const allowed = 'values' in issue && Array.isArray(issue.values) ? ` (allowed: ${issue.values.join(', ')})` : '';
    out[path] ??= `${issue.message}${allowed}`;
  }
  return out;
}

/** Checks a config; the error names every bad field, its problem and (for choices) the allowed values. */
export function validateConfig(input: unknown): GrpoConfig {
  const parsed = GrpoConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new Error(Object.entries(configIssues(input)).map(([path, message]) => `config.${path}: ${message}`).join('\n'));
}
