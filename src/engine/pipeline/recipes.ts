/**
 * Named pipelines: the DeepSeek-R1 recipe and its variants, each at two scales ('default' for
 * real runs from the shipped base model, 'tiny' for tests and quick looks).
 */
import type { GrpoConfig } from '../config';
import { PRESETS } from '../presets';
import type { PipelineSpec, SampleSftStage, StageSpec } from './pipeline';

export type RecipeScale = 'default' | 'tiny';

interface Scale {
  rl: GrpoConfig;
  rlSteps: number;
  collectPrompts: number;
  sftSteps: number;
  evalSize: number;
}

const SCALES: Record<RecipeScale, Scale> = {
  default: { rl: PRESETS['r1-zero']!.config, rlSteps: 100, collectPrompts: 400, sftSteps: 150, evalSize: 200 },
  tiny: { rl: PRESETS.tiny!.config, rlSteps: 3, collectPrompts: 8, sftSteps: 3, evalSize: 8 },
};

function grpo(s: Scale, id: string, label: string, from: string, rewardWeights: GrpoConfig['rewardWeights']): StageSpec {
  return { kind: 'grpo', id, label, from, out: id, config: { ...s.rl, steps: s.rlSteps, rewardWeights } };
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

function spec(s: Scale, stages: StageSpec[]): PipelineSpec {
  return { task: s.rl.task, stages, evalSize: s.evalSize, maxCompletionLength: s.rl.maxCompletionLength, seed: s.rl.seed };
}

const ACC_FORMAT = { accuracy: 1, format: 0.2 };
const ACC_FORMAT_LANGUAGE = { accuracy: 1, format: 0.2, language: 0.2 };

export const RECIPES: Record<string, { description: string; build(scale: RecipeScale): PipelineSpec }> = {
  r1: {
    description:
      'The DeepSeek-R1 recipe in miniature: R1-Zero, a cold start on its verified samples, reasoning RL with a language ' +
      'reward, then rejection sampling. Watch each hand-off: what the cold start keeps, and what each stage does to accuracy, length and language.',
    build: (scale) => {
      const s = SCALES[scale];
      return spec(s, [
        grpo(s, 'r1-zero', 'R1-Zero', 'base', ACC_FORMAT),
        sampleSft(s, 'cold-start', 'Cold start', 'r1-zero', 'base'),
        grpo(s, 'reasoning-rl', 'Reasoning RL', 'cold-start', ACC_FORMAT_LANGUAGE),
        sampleSft(s, 'rejection-sampling', 'Rejection sampling', 'reasoning-rl', 'base'),
      ]);
    },
  },
  'r1-zero-only': {
    description: 'GRPO straight from the base model, as one stage of the pipeline.',
    build: (scale) => {
      const s = SCALES[scale];
      return spec(s, [grpo(s, 'r1-zero', 'R1-Zero', 'base', ACC_FORMAT)]);
    },
  },
};

export function getRecipe(name: string, scale: string): PipelineSpec {
  const recipe = RECIPES[name];
  if (!recipe) throw new Error(`recipe: "${name}" is not a recipe (allowed: ${Object.keys(RECIPES).join(', ')})`);
  if (!(scale in SCALES)) throw new Error(`scale: "${scale}" is not a scale (allowed: ${Object.keys(SCALES).join(', ')})`);
  return recipe.build(scale as RecipeScale);
}
