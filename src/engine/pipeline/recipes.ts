/**
 * Named pipelines: the DeepSeek-R1 recipe and its variants, each at two scales ('default' for
 * real runs from the shipped base model, 'tiny' for tests and quick looks).
 */
import type { GrpoConfig } from '../config';
import { PRESETS } from '../presets';
import { DEFAULT_PRETRAIN_CONFIG } from '../pretrain';
import type { GrpoStage, PipelineSpec, SampleSftStage, StageSpec } from './pipeline';

export type RecipeScale = 'default' | 'tiny';

interface Scale {
  rl: GrpoConfig;
  rlSteps: number;
  collectPrompts: number;
  sftSteps: number;
  /** Pretraining steps of the small distillation student. */
  studentSteps: number;
  /** Pretraining steps of a default-size base (the reflection recipe pretrains its own). */
  baseSteps: number;
  /** Steps of the reflection recipe's R1-Zero stage (reflection needs longer than a comparison). */
  longRlSteps: number;
  rewardModelSteps: number;
  evalSize: number;
}

const SCALES: Record<RecipeScale, Scale> = {
  default: { rl: PRESETS['r1-zero-300']!.config, rlSteps: 100, collectPrompts: 400, sftSteps: 150, studentSteps: 600, baseSteps: 1000, longRlSteps: 300, rewardModelSteps: 150, evalSize: 200 },
  tiny: { rl: PRESETS.tiny!.config, rlSteps: 3, collectPrompts: 8, sftSteps: 3, studentSteps: 3, baseSteps: 3, longRlSteps: 3, rewardModelSteps: 3, evalSize: 8 },
};

function grpo(s: Scale, id: string, label: string, from: string, rewardWeights: GrpoConfig['rewardWeights'], steps = s.rlSteps): GrpoStage {
  return { kind: 'grpo', id, label, from, out: id, config: { ...s.rl, steps, rewardWeights } };
}

function sampleSft(s: Scale, id: string, label: string, sampleFrom: string, trainFrom: string): SampleSftStage {
  return {
    kind: 'sample-sft', id, label, sampleFrom, trainFrom, out: id, task: s.rl.task,
    collect: {
      prompts: s.collectPrompts, samplesPerPrompt: 4, maxPerPrompt: 2, temperature: 1,
      maxCompletionLength: s.rl.maxCompletionLength, promptsPerBatch: 50,
    },
    // SFT from the base model at a moderate rate: the samples teach format and language, not arithmetic.
    sft: { steps: s.sftSteps, batchSize: 32, lr: 3e-4, warmupSteps: Math.min(10, s.sftSteps), maxGradNorm: 1, seed: s.rl.seed },
  };
}

/** A small model pretrained on the same corpus: the student that distillation and RL compete on. */
function student(s: Scale): StageSpec {
  return { kind: 'pretrain', id: 'student-base', label: 'Small student base', out: 'student-base', config: { ...DEFAULT_PRETRAIN_CONFIG, model: 'small', steps: s.studentSteps, warmupSteps: Math.min(30, s.studentSteps) } };
}

/**
 * A base like the shipped one, except that some slips in its worked solutions are caught by a
 * "wait" and redone (the self-check pattern, tasks/reflection.ts), so reflection is there from step 0.
 */
function reflectiveBase(s: Scale): StageSpec {
  return {
    kind: 'pretrain', id: 'reflective-base', label: 'Base with self-checks', out: 'reflective-base',
    config: { ...DEFAULT_PRETRAIN_CONFIG, steps: s.baseSteps, warmupSteps: Math.min(DEFAULT_PRETRAIN_CONFIG.warmupSteps, s.baseSteps), corpus: { ...DEFAULT_PRETRAIN_CONFIG.corpus, recheckRate: 0.5 } },
  };
}

/** A Bradley-Terry reward model whose trunk starts from the base model (as R1's reward models start from V3). */
function rewardModel(s: Scale): StageSpec {
  return {
    kind: 'reward-model', id: 'reward-model', label: 'Reward model', from: 'base', out: 'reward-model',
    steps: s.rewardModelSteps, batchSize: 32, lr: 3e-4, seed: s.rl.seed, evalPairs: s.evalSize >= 128 ? 128 : 16, evalEvery: Math.max(1, Math.floor(s.rewardModelSteps / 6)),
  };
}

/** R1's share of general (non-reasoning) prompts in rejection sampling and final RL. */
const GENERAL_SHARE = 0.25;

interface Recipe {
  description: string;
  build(scale: RecipeScale): PipelineSpec;
}

/** A recipe from its stages at a scale, and the ids of the stages it compares (if any). */
function recipe(description: string, stages: (s: Scale) => StageSpec[], compare?: string[]): Recipe {
  return {
    description,
    build: (scale) => {
      const s = SCALES[scale];
      return { task: s.rl.task, stages: stages(s), evalSize: s.evalSize, maxCompletionLength: s.rl.maxCompletionLength, seed: s.rl.seed, ...(compare ? { compare } : {}) };
    },
  };
}

const ACC_FORMAT = { accuracy: 1, format: 0.2 };
const ACC_FORMAT_LANGUAGE = { accuracy: 1, format: 0.2, language: 0.2 };
const WITH_PREFERENCE = { ...ACC_FORMAT_LANGUAGE, preference: 1 };

export const RECIPES: Record<string, Recipe> = {
  r1: recipe(
    'The DeepSeek-R1 recipe in miniature: R1-Zero, a cold start on its verified samples, reasoning RL with a language ' +
    'reward, a reward model for general prompts, rejection sampling (verifier for sums, reward model for the rest), and a ' +
    'final RL on both. Watch each hand-off: what is kept, and what each stage does to accuracy, length and language.',
    (s) => {
      const general = { share: GENERAL_SHARE, rewardModel: 'reward-model' };
      return [
        grpo(s, 'r1-zero', 'R1-Zero', 'base', ACC_FORMAT),
        sampleSft(s, 'cold-start', 'Cold start', 'r1-zero', 'base'),
        grpo(s, 'reasoning-rl', 'Reasoning RL', 'cold-start', ACC_FORMAT_LANGUAGE),
        rewardModel(s),
        { ...sampleSft(s, 'rejection-sampling', 'Rejection sampling', 'reasoning-rl', 'base'), general },
        { ...grpo(s, 'final-rl', 'Final RL', 'rejection-sampling', WITH_PREFERENCE), general },
      ];
    },
  ),
  'language-on-off': recipe(
    'Reasoning RL twice from the same cold start, with and without the language-consistency reward. R1 reports that ' +
    'the reward costs a little accuracy and buys readable reasoning: compare pass@1 and language consistency of the two.',
    (s) => [
      grpo(s, 'r1-zero', 'R1-Zero', 'base', ACC_FORMAT),
      sampleSft(s, 'cold-start', 'Cold start', 'r1-zero', 'base'),
      grpo(s, 'reasoning-rl', 'Reasoning RL, language reward', 'cold-start', ACC_FORMAT_LANGUAGE),
      grpo(s, 'reasoning-rl-no-language', 'Reasoning RL, no language reward', 'cold-start', ACC_FORMAT),
    ],
    ['reasoning-rl', 'reasoning-rl-no-language'],
  ),
  'distill-vs-rl': recipe(
    'A small model taught two ways on the same number of optimiser steps: fine-tuned on the big model\'s verified ' +
    'answers (distillation), or trained by GRPO itself. R1 found distillation beats RL on small models: compare their pass@1.',
    (s) => {
      const studentRl = grpo(s, 'student-rl', 'GRPO on the student', 'student-base', ACC_FORMAT, s.sftSteps);
      return [
        grpo(s, 'teacher', 'Teacher (R1-Zero)', 'base', ACC_FORMAT),
        student(s),
        sampleSft(s, 'distill', 'Distillation into the student', 'teacher', 'student-base'),
        { ...studentRl, config: { ...studentRl.config, model: 'small' } },
      ];
    },
    ['distill', 'student-rl'],
  ),
  'grpo-vs-ppo': recipe(
    'The DeepSeekMath comparison: GRPO (group mean as the baseline) and PPO (a learned value model, GAE) from the same ' +
    'base, seed and number of sampled completions. Compare their curves, step times and PPO\'s extra memory (ppo/value_params).',
    (s) => [
      grpo(s, 'grpo', 'GRPO', 'base', ACC_FORMAT),
      { ...grpo(s, 'ppo', 'PPO', 'base', ACC_FORMAT), algorithm: 'ppo' },
    ],
    ['grpo', 'ppo'],
  ),
  reflection: recipe(
    'Does "aha" grow? A base pretrained on worked solutions where half the slips are caught by a "wait" and redone, then ' +
    'R1-Zero from it. Watch the reflection chart beside accuracy and length: does the self-check share rise with RL, or does length grow without it?',
    (s) => [reflectiveBase(s), grpo(s, 'r1-zero', 'R1-Zero from it', 'reflective-base', ACC_FORMAT, s.longRlSteps)],
  ),
  'r1-zero-only': recipe(
    'GRPO straight from the base model, as one stage of the pipeline.',
    (s) => [grpo(s, 'r1-zero', 'R1-Zero', 'base', ACC_FORMAT)],
  ),
};

export function getRecipe(name: string, scale: string): PipelineSpec {
  const recipe = RECIPES[name];
  if (!recipe) throw new Error(`recipe: "${name}" is not a recipe (allowed: ${Object.keys(RECIPES).join(', ')})`);
  if (!(scale in SCALES)) throw new Error(`scale: "${scale}" is not a scale (allowed: ${Object.keys(SCALES).join(', ')})`);
  return recipe.build(scale as RecipeScale);
}
