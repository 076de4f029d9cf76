/**
 * The contract between the lab's UI (main thread) and the trainer worker.
 *
 * The UI imports only types from this file; the worker implements TrainerApi and exposes it
 * through comlink. Events flow back through one TrainerEvents object (a Comlink.proxy), and
 * metrics arrive as batches of new points only, never whole histories.
 */
import type { GrpoConfig } from '../src/engine/config';
import type { PipelineSpec } from '../src/engine/pipeline/pipeline';
import type { RewardName, RewardWeights } from '../src/engine/rewards';

export type BackendName = 'webgpu' | 'wasm' | 'cpu';
/** 'auto' picks WebGPU on a real adapter, else wasm, else cpu. */
export type BackendChoice = 'auto' | BackendName;
export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm', 'cpu'];

export interface BackendInfo {
  name: BackendName;
  /** Human-readable adapter: the GPU's vendor/architecture, or the CPU path used. */
  adapter: string;
  /** True on a software WebGPU adapter (SwiftShader): correct but slow. */
  fallbackAdapter: boolean;
  /** Why a backend earlier in the order was not used; shown to the user. */
  notes: string[];
}

/**
 * Where the run is in the R1 pipeline: 'base' (the starting model's evaluation), 'r1-zero' (a
 * single GRPO run), or a pipeline stage's id ('cold-start', 'reasoning-rl', ...).
 */
export type StageName = string;

/** A pipeline stage as the UI's stage cards show it. */
export interface StageView {
  id: string;
  label: string;
  kind: string;
  /** Checkpoints it reads and the one it writes. */
  from: string[];
  out: string;
  state: 'waiting' | 'running' | 'done';
  firstStep?: number;
  lastStep?: number;
  before?: Record<string, number>;
  after?: Record<string, number>;
  /** Sample-and-filter stages: sampled, kept and rejected counts by reason. */
  counts?: { sampled: number; kept: number; rejected: Record<string, number> };
  /** PPO stages: the value model's parameters, the memory PPO needs beside the policy. */
  valueParameters?: number;
}

export interface RecipeView {
  name: string;
  description: string;
  stages: StageView[];
  /** The full stage list, for the app to edit and run as a custom pipeline. */
  spec: PipelineSpec;
}

/** A named recipe at a scale, or a pipeline edited in the app. */
export type PipelineSource = { recipe: string; scale: 'default' | 'tiny' } | { spec: PipelineSpec };

export type RunPhase = 'loading' | 'ready' | 'running' | 'pausing' | 'paused' | 'done' | 'error';

export interface RunStatus {
  phase: RunPhase;
  stage: StageName;
  /** Completed optimiser steps in this run. */
  step: number;
  totalSteps: number;
  /** Set when phase is 'error', or for a recoverable problem (a skipped non-finite update). */
  message?: string;
}

/** One step's metrics (TRL / verl names), or an evaluation ("eval/..." names), on the run's step axis. */
export interface MetricPoint {
  step: number;
  stage: StageName;
  values: Record<string, number>;
}

export interface WeightChange {
  /** The first step trained with the new weights. */
  step: number;
  weights: RewardWeights;
}

export interface TokenView {
  text: string;
  /** pi_new / pi_old for this token: how much this step's update moved its probability. */
  ratio: number;
  /** The ratio lies outside [1 - epsLow, 1 + epsHigh]: a further update on it would be clipped. */
  clipped: boolean;
}

export interface CompletionView {
  text: string;
  tokens: TokenView[];
  reward: number;
  scores: Partial<Record<RewardName, number>>;
  advantage: number;
  truncated: boolean;
}

/** One prompt's group of G completions from the latest step: the heart of GRPO. */
export interface GroupView {
  step: number;
  prompt: string;
  answer: string;
  language: string;
  difficulty: number;
  rewardMean: number;
  rewardStd: number;
  completions: CompletionView[];
}

export interface ModelSummary {
  name: string;
  parameters: number;
  layers: number;
  dModel: number;
  heads: number;
  context: number;
  /** Where the weights came from: a checkpoint's description, or random initialisation. */
  origin: string;
}

export interface TrainerEvents {
  status(s: RunStatus): void;
  metrics(points: MetricPoint[]): void;
  group(g: GroupView): void;
  weightChange(c: WeightChange): void;
  /** A pipeline stage started, finished, or reported its sample counts. */
  stage(s: StageView): void;
}

export interface TrainerApi {
  /** Picks and initialises the tfjs backend (guarded by a timeout, falling back in order). */
  init(choice: BackendChoice, timeoutMs: number): Promise<BackendInfo>;
  subscribe(events: TrainerEvents): void;
  /** A checkpoint by URL (fetched by the worker) or as bytes (transferred). */
  loadCheckpoint(source: { url: string } | { bytes: ArrayBuffer; name: string }): Promise<ModelSummary>;
  /** Validates and applies a run config; throws an error naming each bad field. Resets the run. */
  configure(config: unknown): Promise<{ config: GrpoConfig; model: ModelSummary }>;
  start(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** One step, when not running. */
  stepOnce(): Promise<void>;
  /** Stops and restores the starting weights, optimiser and history. */
  reset(): Promise<void>;
  /** Applies from the next step on. */
  setRewardWeights(weights: RewardWeights): Promise<WeightChange>;
  /** G fresh completions for a new problem from the current model, scored as a group (no update). */
  sample(): Promise<GroupView>;
  evaluate(): Promise<MetricPoint>;
  /** The named recipes (the R1 pipeline and its variants) at a scale, with their stages. */
  recipes(scale: 'default' | 'tiny'): Promise<RecipeView[]>;
  /**
   * Runs a recipe or an edited pipeline from the loaded checkpoint (as "base"), from stage
   * startAt on; Pause and Resume act on it like on a single run. Progress arrives as stage,
   * metrics and status events. An invalid pipeline is refused with the field named.
   */
  startPipeline(source: PipelineSource, startAt: number): Promise<void>;
  /** The current model as a checkpoint file (UTF-8 JSON bytes, transferred). */
  saveCheckpoint(): Promise<ArrayBuffer>;
}
