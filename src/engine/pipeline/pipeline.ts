/**
 * The R1 recipe as a chain of stages with named checkpoints as hand-offs.
 *
 * A stage reads the checkpoints it names, trains, and writes one checkpoint. The run is a
 * generator of events (stage start and end, metric points on one global step axis, sample
 * counts), so the CLI can simply iterate it while the browser worker can pause between any two
 * events. Every stage is evaluated on the held-out set before and after, so the hand-offs show
 * what each stage bought: pass@1, format-blind pass@1, length and language consistency.
 */
import { type GrpoConfig, validateConfig } from '../config';
import { type EvalResult, evaluate, evalMetrics } from '../eval';
import { GrpoTrainer, type ScoredGroup } from '../grpo-trainer';
import { GPT, disposeParams } from '../model';
import { learningRate } from '../optim';
import { PpoTrainer } from '../ppo-trainer';
import { generalQuality } from '../preference/general-eval';
import { heldOutPreferencePairs, preferencePairs } from '../preference/general-prompts';
import { generalTask } from '../preference/general-task';
import { type RewardHeadWeights, RewardModel, encodePairs } from '../preference/reward-model';
import { type PretrainConfig, Pretrainer } from '../pretrain';
import type { GeneralMix } from '../rollout';
import type { ModelConfig } from '../model-config';
import { Rng } from '../rng';
import { TASKS } from '../tasks/registry';
import type { TaskName } from '../tasks/task';
import type { Tokenizer } from '../tokenizer';
import { type SftOptions, SftTrainer } from './sft-trainer';
import { type SampleCounts, type VerifiedSampleOptions, addCounts, collectPreferredSamples, collectVerifiedSamples } from './verified-samples';

/** A model's weights as stages hand them on. */
export interface ModelWeights {
  model: ModelConfig;
  weights: Record<string, Float32Array>;
  /** Present when the checkpoint is a reward model (the trunk's weights plus this scalar head). */
  rewardHead?: RewardHeadWeights;
}

interface StageBase {
  /** Unique within the pipeline; names the stage on charts. */
  id: string;
  label: string;
  /** Checkpoint the stage writes. */
  out: string;
}

/**
 * RL from a checkpoint (R1-Zero, reasoning RL, final RL): the config says which rewards count.
 * GRPO by default; PPO (a learned value model, GAE) for the DeepSeekMath comparison.
 */
export interface GrpoStage extends StageBase {
  kind: 'grpo';
  from: string;
  config: GrpoConfig;
  algorithm?: 'grpo' | 'ppo';
  /** Final RL: this share of prompts are general ones, scored by the named reward-model checkpoint. */
  general?: { share: number; rewardModel: string };
}

/** A Bradley-Terry reward model trained on generated preference pairs, its trunk starting from a checkpoint. */
export interface RewardModelStage extends StageBase {
  kind: 'reward-model';
  from: string;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Held-out pairs for its pairwise accuracy. */
  evalPairs: number;
  evalEvery: number;
}

/**
 * Sample from one model, keep verified completions, fine-tune another on them: the cold start
 * (samples from R1-Zero, SFT of the base) and rejection sampling (samples from reasoning RL).
 */
export interface SampleSftStage extends StageBase {
  kind: 'sample-sft';
  /** The model whose completions are collected. */
  sampleFrom: string;
  /** The model that is fine-tuned on them. */
  trainFrom: string;
  task: TaskName;
  collect: VerifiedSampleOptions;
  sft: SftOptions;
  /**
   * Rejection sampling's general part: this share of the prompts are general ones, and of each
   * one's samples the named reward model's favourite is kept (R1: about a quarter).
   */
  general?: { share: number; rewardModel: string };
}

/** Pretraining a model from random weights on the synthetic corpus (e.g. a small distillation student). */
export interface PretrainStage extends StageBase {
  kind: 'pretrain';
  config: PretrainConfig;
}

export type StageSpec = GrpoStage | SampleSftStage | PretrainStage | RewardModelStage;

/** Optimiser steps a stage takes (its width on the pipeline's step axis). */
export function stageSteps(s: StageSpec): number {
  switch (s.kind) {
    case 'grpo': return s.config.steps;
    case 'sample-sft': return s.sft.steps;
    case 'pretrain': return s.config.steps;
    case 'reward-model': return s.steps;
  }
}

/** The checkpoints a stage reads, by field name. */
export function stageInputs(s: StageSpec): Array<[field: string, checkpoint: string]> {
  switch (s.kind) {
    case 'grpo': return s.general ? [['from', s.from], ['general.rewardModel', s.general.rewardModel]] : [['from', s.from]];
    case 'sample-sft': {
      const reads: Array<[string, string]> = [['sampleFrom', s.sampleFrom], ['trainFrom', s.trainFrom]];
      return s.general ? [...reads, ['general.rewardModel', s.general.rewardModel]] : reads;
    }
    case 'pretrain': return [];
    case 'reward-model': return [['from', s.from]];
  }
}

export interface PipelineSpec {
  task: TaskName;
  stages: StageSpec[];
  /** Held-out problems per before/after evaluation. */
  evalSize: number;
  maxCompletionLength: number;
  seed: number;
  /**
   * Ids of stages that are alternatives to one another rather than links of a chain (GRPO vs
   * PPO from one base): the app can chart them over each other, each from its own step 0.
   */
  compare?: string[];
}

/**
 * A stage's held-out scores: eval/pass@1, eval/pass@1_any_format, eval/mean_length,
 * eval/language and eval/reflection for policies; eval/rm_pairwise_accuracy for a reward model; eval/general_quality
 * when a stage mixes in general prompts.
 */
export type StageEvaluation = Record<string, number>;

export type PipelineEvent =
  | { type: 'stage-start'; stage: StageSpec; index: number; globalStep: number }
  | { type: 'metrics'; stageId: string; globalStep: number; values: Record<string, number> }
  | { type: 'samples'; stageId: string; counts: SampleCounts }
  /** A GRPO step's inspected group (the UI's group view), with how the update moved its tokens. */
  | { type: 'group'; stageId: string; globalStep: number; group: ScoredGroup; logRatios: number[][]; config: GrpoConfig }
  | { type: 'stage-end'; stageId: string; globalStep: number; before: StageEvaluation; after: StageEvaluation };

export interface StageRecord {
  id: string;
  kind: StageSpec['kind'];
  from: string[];
  out: string;
  firstStep: number;
  lastStep: number;
  before: StageEvaluation;
  after: StageEvaluation;
  counts?: SampleCounts;
}

function pick(e: EvalResult): StageEvaluation {
  return {
    'eval/pass@1': e['eval/pass@1'], 'eval/pass@1_any_format': e['eval/pass@1_any_format'],
    'eval/mean_length': e['eval/mean_length'], 'eval/language': e['eval/language'],
    'eval/reflection': e['eval/reflection'],
  };
}

const STAGE_KINDS = ['grpo', 'sample-sft', 'pretrain', 'reward-model'] as const;

function requireObject(path: string, v: unknown): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${path}: missing (an object of settings is needed)`);
}

function requirePositiveInt(path: string, v: unknown): void {
  if (!Number.isInteger(v) || (v as number) < 1) throw new Error(`${path}: must be a whole number >= 1 (got ${String(v)})`);
}

function requirePositive(path: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${path}: must be a number > 0 (got ${String(v)})`);
}

/** A stage's own settings (a recipe edited in the app arrives as plain data). */
/** Checks one stage's own settings (not its hand-offs); errors name the field under `at`. */
export function validateStageSettings(s: StageSpec, at: string): void {
  if (!(STAGE_KINDS as readonly string[]).includes(s.kind)) {
    throw new Error(`${at}.kind: "${String(s.kind)}" is not a stage kind (allowed: ${STAGE_KINDS.join(', ')})`);
  }
  switch (s.kind) {
    case 'grpo':
      try {
        validateConfig(s.config);
      } catch (e) {
        throw new Error((e as Error).message.replace(/^config\./gm, `${at}.config.`));
      }
      if (s.algorithm !== undefined && s.algorithm !== 'grpo' && s.algorithm !== 'ppo') {
        throw new Error(`${at}.algorithm: "${String(s.algorithm)}" is not an algorithm (allowed: grpo, ppo)`);
      }
      break;
    case 'sample-sft':
      requireObject(`${at}.collect`, s.collect);
      requireObject(`${at}.sft`, s.sft);
      for (const k of ['prompts', 'samplesPerPrompt', 'maxPerPrompt', 'maxCompletionLength', 'promptsPerBatch'] as const) requirePositiveInt(`${at}.collect.${k}`, s.collect[k]);
      requirePositiveInt(`${at}.sft.steps`, s.sft.steps);
      requirePositiveInt(`${at}.sft.batchSize`, s.sft.batchSize);
      requirePositive(`${at}.sft.lr`, s.sft.lr);
      break;
    case 'pretrain':
      requireObject(`${at}.config`, s.config);
      requirePositiveInt(`${at}.config.steps`, s.config.steps);
      break;
    case 'reward-model':
      requirePositiveInt(`${at}.steps`, s.steps);
      requirePositiveInt(`${at}.batchSize`, s.batchSize);
      requirePositive(`${at}.lr`, s.lr);
      break;
  }
  const general = s.kind === 'grpo' || s.kind === 'sample-sft' ? s.general : undefined;
  if (general && !(general.share >= 0 && general.share <= 1)) throw new Error(`${at}.general.share: must be between 0 and 1 (got ${general.share})`);
}

/**
 * Checks a pipeline before anything trains: every stage's settings, unique ids, every hand-off
 * (each stage reads only checkpoints that exist by then) and the compared stages. From `startAt`
 * on (a re-run from a later stage), with `available` the checkpoints the earlier stages left.
 * Errors name the field.
 */
export function validatePipeline(spec: PipelineSpec, available: Iterable<string>, startAt = 0): void {
  const stages = Array.isArray(spec.stages) ? spec.stages.slice(startAt) : [];
  if (stages.length === 0) throw new Error('pipeline.stages: needs at least one stage');
  const known = new Set(available);
  const ids = new Set<string>();
  stages.forEach((s, j) => {
    const at = `pipeline.stages[${startAt + j}]`;
    validateStageSettings(s, at);
    if (ids.has(s.id)) throw new Error(`${at}.id: "${s.id}" is used twice`);
    ids.add(s.id);
    for (const [field, name] of stageInputs(s)) {
      if (!known.has(name)) {
        throw new Error(`${at}.${field}: no checkpoint "${name}" exists before stage "${s.id}" (allowed: ${[...known].join(', ')})`);
      }
    }
    known.add(s.out);
  });
  const all = spec.stages.map((s) => s.id);
  (spec.compare ?? []).forEach((id, i) => {
    if (!all.includes(id)) throw new Error(`pipeline.compare[${i}]: "${id}" is not a stage of this pipeline (allowed: ${all.join(', ')})`);
  });
}

/**
 * Runs the stages in order, from `startAt` (a fork re-runs from a stage with the checkpoints
 * the earlier stages left). Checkpoints written by stages are added to `checkpoints`.
 */
export function* runPipeline(
  spec: PipelineSpec, tokenizer: Tokenizer, checkpoints: Map<string, ModelWeights>, startAt = 0,
): Generator<PipelineEvent, StageRecord[], void> {
  validatePipeline(spec, checkpoints.keys(), startAt);
  const task = TASKS[spec.task];
  const evalProblems = task.evalSet(spec.evalSize);
  const evalOf = (m: GPT, stageIndex: number, when: number): StageEvaluation =>
    pick(evaluate(m.params, m.config, tokenizer, task, evalProblems,
      { maxCompletionLength: spec.maxCompletionLength, k: 0, temperature: 1, batchSize: 100 },
      new Rng(spec.seed * 31 + stageIndex * 7 + when)));
  const records: StageRecord[] = [];
  // A run from a later stage keeps the step axis of the full recipe, so both runs line up.
  let globalStep = spec.stages.slice(0, startAt).reduce((a, s) => a + stageSteps(s), 0);
  for (let i = startAt; i < spec.stages.length; i++) {
    const stage = spec.stages[i] as StageSpec;
    yield { type: 'stage-start', stage, index: i, globalStep };
    const firstStep = globalStep;
    const before = (m: GPT) => evalOf(m, i, 0);
    const run = yield* runStage(stage, tokenizer, checkpoints, globalStep, before, spec);
    globalStep = run.globalStep;
    const after = run.after ?? evalOf(run.model, i, 1);
    checkpoints.set(stage.out, { model: run.model.config, weights: readWeights(run.model), ...(run.rewardHead ? { rewardHead: run.rewardHead } : {}) });
    run.model.dispose();
    yield { type: 'metrics', stageId: stage.id, globalStep, values: { ...after } };
    yield { type: 'stage-end', stageId: stage.id, globalStep, before: run.before, after };
    records.push({
      id: stage.id, kind: stage.kind, out: stage.out, firstStep, lastStep: globalStep, before: run.before, after,
      from: stageInputs(stage).map(([, name]) => name),
      ...(run.counts ? { counts: run.counts } : {}),
    });
  }
  return records;
}

/** The weights as plain arrays, read synchronously (the generator cannot await). */
function readWeights(m: GPT): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const [name, v] of Object.entries(m.variables)) out[name] = v.dataSync() as Float32Array;
  return out;
}

function load(checkpoints: Map<string, ModelWeights>, name: string): GPT {
  const c = checkpoints.get(name);
  if (!c) throw new Error(`pipeline: checkpoint "${name}" is missing`);
  return new GPT(c.model, c.weights);
}

interface StageRun {
  model: GPT;
  before: StageEvaluation;
  /** Set by stages whose model is not a policy to evaluate on the task (a reward model). */
  after?: StageEvaluation;
  globalStep: number;
  counts?: SampleCounts;
  rewardHead?: RewardHeadWeights;
}

function runStage(
  stage: StageSpec, tokenizer: Tokenizer, checkpoints: Map<string, ModelWeights>, globalStep: number,
  evalOf: (m: GPT) => StageEvaluation, spec: PipelineSpec,
): Generator<PipelineEvent, StageRun, void> {
  switch (stage.kind) {
    case 'grpo': return runGrpoStage(stage, tokenizer, checkpoints, globalStep, evalOf, spec);
    case 'sample-sft': return runSampleSftStage(stage, tokenizer, checkpoints, globalStep, evalOf);
    case 'pretrain': return runPretrainStage(stage, tokenizer, globalStep, evalOf);
    case 'reward-model': return runRewardModelStage(stage, tokenizer, checkpoints, globalStep);
  }
}

function* runGrpoStage(
  stage: GrpoStage, tokenizer: Tokenizer, checkpoints: Map<string, ModelWeights>, globalStep: number,
  evalOf: (m: GPT) => StageEvaluation, spec: PipelineSpec,
): Generator<PipelineEvent, StageRun, void> {
  const model = load(checkpoints, stage.from);
  const judge = stage.general ? loadRewardModel(checkpoints, stage.general.rewardModel) : null;
  const quality = (): StageEvaluation => (stage.general
    ? { 'eval/general_quality': generalQuality(model.params, model.config, tokenizer, Math.min(64, spec.evalSize), stage.config.maxCompletionLength) }
    : {});
  const before = { ...evalOf(model), ...quality() };
  const reference = stage.config.beta > 0 ? model.snapshot() : null;
  const config = { ...stage.config, evalEvery: 0 };
  const mix: GeneralMix | undefined = judge && stage.general
    ? { share: stage.general.share, task: generalTask, score: (prompts, completions) => judge.score(prompts, completions) }
    : undefined;
  const trainer = stage.algorithm === 'ppo'
    ? new PpoTrainer(config, tokenizer, model, reference)
    : new GrpoTrainer(config, tokenizer, model, reference, mix);
  yield { type: 'metrics', stageId: stage.id, globalStep, values: { ...before } };
  try {
    for (let s = 0; s < stage.config.steps; s++) {
      const r = trainer instanceof GrpoTrainer ? trainer.trainStep({ inspect: true }) : trainer.trainStep();
      const values = { ...r.metrics };
      if (stage.config.evalEvery > 0 && r.step % stage.config.evalEvery === 0 && r.step < stage.config.steps) {
        Object.assign(values, evalMetrics(trainer.evaluate()));
      }
      yield { type: 'metrics', stageId: stage.id, globalStep: globalStep + r.step, values };
      const inspection = 'inspection' in r ? r.inspection : undefined;
      if (inspection) {
        const group = r.groups[inspection.groupIndex] as ScoredGroup;
        yield { type: 'group', stageId: stage.id, globalStep: globalStep + r.step, group, logRatios: inspection.logRatios, config };
      }
    }
  } finally {
    trainer.dispose();
    if (reference) disposeParams(reference);
    judge?.dispose();
  }
  const after = stage.general ? { ...evalOf(model), ...quality() } : undefined;
  return { model, before, ...(after ? { after } : {}), globalStep: globalStep + stage.config.steps };
}

function loadRewardModel(checkpoints: Map<string, ModelWeights>, name: string): RewardModel {
  const c = checkpoints.get(name);
  if (!c) throw new Error(`pipeline: checkpoint "${name}" is missing`);
  if (!c.rewardHead) throw new Error(`pipeline: checkpoint "${name}" is not a reward model (it has no reward head)`);
  return new RewardModel(c.model, c.weights, c.rewardHead);
}

function* runSampleSftStage(
  stage: SampleSftStage, tokenizer: Tokenizer, checkpoints: Map<string, ModelWeights>, globalStep: number,
  evalOf: (m: GPT) => StageEvaluation,
): Generator<PipelineEvent, StageRun, void> {
  const source = load(checkpoints, stage.sampleFrom);
  const task = TASKS[stage.task];
  const rng = new Rng(stage.sft.seed);
  let collected;
  try {
    const generalPrompts = stage.general ? Math.round(stage.collect.prompts * stage.general.share) : 0;
    collected = collectVerifiedSamples(source.params, source.config, tokenizer, task, { ...stage.collect, prompts: stage.collect.prompts - generalPrompts }, rng);
    if (stage.general && generalPrompts > 0) {
      const judge = loadRewardModel(checkpoints, stage.general.rewardModel);
      try {
        const preferred = collectPreferredSamples(source.params, source.config, tokenizer, generalTask, { ...stage.collect, prompts: generalPrompts }, rng,
          (prompts, completions) => judge.score(prompts, completions));
        collected = { samples: [...collected.samples, ...preferred.samples], counts: addCounts(collected.counts, preferred.counts) };
      } finally {
        judge.dispose();
      }
    }
  } finally {
    source.dispose();
  }
  yield { type: 'samples', stageId: stage.id, counts: collected.counts };
  const model = load(checkpoints, stage.trainFrom);
  const before = evalOf(model);
  yield { type: 'metrics', stageId: stage.id, globalStep, values: { ...before, 'samples/kept': collected.counts.kept, 'samples/sampled': collected.counts.sampled } };
  // Nothing passed the filter (a model that never answers right): the stage hands its starting
  // model on unchanged, and the counts say why.
  if (collected.samples.length === 0) return { model, before, globalStep, counts: collected.counts };
  const trainer = new SftTrainer(model, collected.samples, stage.sft, tokenizer.padId);
  try {
    for (let s = 0; s < stage.sft.steps; s++) {
      const m = trainer.trainStep();
      yield { type: 'metrics', stageId: stage.id, globalStep: globalStep + m.step, values: { 'sft/loss': m['sft/loss'], grad_norm: m.grad_norm, lr: m.lr } };
    }
  } finally {
    trainer.dispose();
  }
  return { model, before, globalStep: globalStep + stage.sft.steps, counts: collected.counts };
}

function* runPretrainStage(
  stage: PretrainStage, tokenizer: Tokenizer, globalStep: number, evalOf: (m: GPT) => StageEvaluation,
): Generator<PipelineEvent, StageRun, void> {
  const pretrainer = new Pretrainer(stage.config, tokenizer);
  const before = evalOf(pretrainer.model);
  yield { type: 'metrics', stageId: stage.id, globalStep, values: { ...before } };
  for (let s = 0; s < stage.config.steps; s++) {
    const m = pretrainer.trainStep();
    yield { type: 'metrics', stageId: stage.id, globalStep: globalStep + m.step, values: { 'sft/loss': m.loss, grad_norm: m.grad_norm, lr: m.lr } };
  }
  // The model outlives the pretrainer (the pipeline reads and disposes it); only the optimiser goes.
  pretrainer.disposeOptimizer();
  return { model: pretrainer.model, before, globalStep: globalStep + stage.config.steps };
}

function* runRewardModelStage(
  stage: RewardModelStage, tokenizer: Tokenizer, checkpoints: Map<string, ModelWeights>, globalStep: number,
): Generator<PipelineEvent, StageRun, void> {
  const c = checkpoints.get(stage.from);
  if (!c) throw new Error(`pipeline: checkpoint "${stage.from}" is missing`);
  const rm = new RewardModel(c.model, c.weights, undefined, { seed: stage.seed });
  const heldOut = encodePairs(tokenizer, heldOutPreferencePairs(stage.evalPairs));
  const accuracy = (): StageEvaluation => ({ 'eval/rm_pairwise_accuracy': rm.pairwiseAccuracy(heldOut) });
  const before = accuracy();
  yield { type: 'metrics', stageId: stage.id, globalStep, values: { ...before } };
  const rng = new Rng(stage.seed);
  try {
    for (let s = 1; s <= stage.steps; s++) {
      const lr = learningRate(s - 1, { lr: stage.lr, warmupSteps: Math.min(10, stage.steps), totalSteps: stage.steps, decay: 'cosine', minLrRatio: 0.1 });
      const r = rm.trainStep(encodePairs(tokenizer, preferencePairs(rng, stage.batchSize)), lr);
      const values: Record<string, number> = { 'rm/loss': r.loss, 'rm/train_accuracy': r.accuracy, 'rm/margin': r.margin, grad_norm: r.gradNorm, lr };
      if (stage.evalEvery > 0 && s % stage.evalEvery === 0 && s < stage.steps) Object.assign(values, accuracy());
      yield { type: 'metrics', stageId: stage.id, globalStep: globalStep + s, values };
    }
    const after = accuracy();
    // The trunk is handed on as the stage's model (the pipeline stores and disposes it); the head rides along.
    const rewardHead = rm.headWeights();
    const trunk = new GPT(rm.config, readWeights(rm.trunk));
    return { model: trunk, before, after, globalStep: globalStep + stage.steps, rewardHead };
  } finally {
    rm.dispose();
  }
}
