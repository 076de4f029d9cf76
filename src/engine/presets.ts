/**
 * Named run configurations. Each says in its description what to look for.
 */
import { type GrpoConfig, validateConfig } from './config';

export interface Preset {
  description: string;
  config: GrpoConfig;
}

/**
 * R1-Zero in miniature, 300 steps: GRPO straight from the base model, accuracy + format rewards.
 * The first results (docs/results.md, section 2) and every pipeline recipe's RL stages use it.
 */
const r1Zero300: GrpoConfig = {
  task: 'addition',
  model: 'default',
  seed: 1,
  steps: 300,
  promptsPerStep: 16,
  groupSize: 8,
  maxCompletionLength: 64,
  temperature: 1,
  topK: 0,
  topP: 1,
  // lr 3e-4 (no other change) first broke the base model's column arithmetic (held-out step
  // accuracy 0.95 -> 0.66, pass@1 0.42 -> 0.24) before recovering; 1e-4 with beta 0.04 climbs
  // without the dip (docs/results.md).
  lr: 1e-4,
  warmupSteps: 5,
  lrDecay: 'constant',
  minLrRatio: 1,
  weightDecay: 0,
  maxGradNorm: 1,
  beta: 0.04,
  epsLow: 0.2,
  epsHigh: 0.28,
  lossType: 'dapo',
  scaleRewards: 'group',
  numIterations: 1,
  // 'auto': passes of about 4,096 token columns on wasm and cpu, one batch on WebGPU
  // (micro-batch-rows.ts). On wasm one backward pass over 128 completions of 64 tokens holds
  // about 1 GB (tfjs keeps every intermediate until the pass ends); three passes hold 432 MiB.
  // On a GPU each pass repeats every kernel launch, and one pass is 3x faster (docs/results.md,
  // section 6).
  microBatchRows: 'auto',
  dynamicSampling: false,
  maxResampleRounds: 2,
  rewardWeights: { accuracy: 1, format: 0.2 },
  overlongBuffer: 8,
  evalEvery: 10,
  evalSize: 200,
  evalK: 4,
};

export const PRESETS: Record<string, Preset> = {
  'r1-zero': {
    description:
      'GRPO straight from the base model with accuracy and format rewards, as DeepSeek-R1-Zero, for 1,000 steps with ' +
      'dynamic sampling and a cosine learning-rate decay. Watch held-out accuracy and mean response length rise together, ' +
      'and compare strict with format-blind accuracy; the long sums improve last.',
    // 0.42 -> 0.91 held-out pass@1 at step 1000 from the shipped base, 0.90 or more from step 840 on
    // (docs/results.md, section 2). The decay holds the gains that a constant rate let wander.
    config: { ...r1Zero300, steps: 1000, dynamicSampling: true, lrDecay: 'cosine', minLrRatio: 0.3 },
  },
  'r1-zero-300': {
    description:
      'The short R1-Zero: 300 steps at a constant learning rate, about a quarter of the time. ' +
      'Accuracy and length rise within the first 50 steps; the long sums stay weak.',
    config: r1Zero300,
  },
  'r1-zero-dapo': {
    description:
      'The short R1-Zero with DAPO\'s dynamic sampling (groups whose rewards are all equal are dropped and replaced). ' +
      'Watch frac_reward_zero_std: every step trains only on groups that carry a signal.',
    config: { ...r1Zero300, dynamicSampling: true },
  },
  tiny: {
    description: 'A tiny model and batch for tests and quick looks: it runs in seconds on any backend, but learns little.',
    config: { ...r1Zero300, model: 'test', steps: 4, warmupSteps: 1, promptsPerStep: 4, groupSize: 4, maxCompletionLength: 24, evalEvery: 0, evalSize: 16, overlongBuffer: 4 },
  },
};

export function getPreset(name: string): Preset {
  const preset = PRESETS[name];
  if (!preset) throw new Error(`preset: "${name}" is not a preset (allowed: ${Object.keys(PRESETS).join(', ')})`);
  validateConfig(preset.config);
  return preset;
}
