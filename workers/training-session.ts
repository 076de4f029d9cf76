/**
 * One training run as the lab drives it: a checkpoint to start from, a config, and a loop that
 * can be started, paused, resumed, stepped and reset, with reward weights changed between steps.
 *
 * It is the worker's logic without the worker: no comlink and no DOM, so Vitest runs it in Node.
 * The loop yields to the event loop between steps, so a pause or a weight change that arrives
 * while a step runs acts at the next step boundary.
 */
import { parseCheckpoint, serializeCheckpoint } from '../src/engine/checkpoint';
import { type GrpoConfig, validateConfig } from '../src/engine/config';
import { evalMetrics } from '../src/engine/eval';
import { GrpoTrainer } from '../src/engine/grpo-trainer';
import { GPT, type Params, disposeParams } from '../src/engine/model';
import { type ModelConfig, modelSize, parameterCount } from '../src/engine/model-config';
import type { RewardWeights } from '../src/engine/rewards';
import { Tokenizer } from '../src/engine/tokenizer';
import { type ModelWeights, type PipelineEvent, type PipelineSpec, runPipeline, validatePipeline } from '../src/engine/pipeline/pipeline';
import { RECIPES, type RecipeScale, getRecipe } from '../src/engine/pipeline/recipes';
import { groupView, sampleGroup } from './group-view';
import { applyPipelineEvent, initialStageViews, totalSteps } from './pipeline-progress';
import { LatestThrottle } from './latest-throttle';
import { MetricBatcher } from './metric-batcher';
import type { GroupView, MetricPoint, ModelSummary, PipelineSource, RecipeView, RunPhase, RunStatus, StageName, StageView, TrainerEvents, WeightChange } from './protocol';

interface StartingPoint {
  model: ModelConfig;
  weights: Record<string, Float32Array>;
  origin: string;
}

interface Run {
  config: GrpoConfig;
  model: GPT;
  reference: Params | null;
  trainer: GrpoTrainer;
}

/** A recipe in progress: the engine's stage generator, and the cards and step axis it fills. */
interface PipelineRun {
  spec: PipelineSpec;
  events: Generator<PipelineEvent, unknown, void>;
  views: StageView[];
  stage: StageName;
  step: number;
  totalSteps: number;
  finished: boolean;
}

const NO_EVENTS: TrainerEvents = { status() {}, metrics() {}, group() {}, weightChange() {}, stage() {} };

/** Lets queued messages (pause, new weights) run between steps. */
function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Most often the step counter is sent while training runs (phase changes go at once). */
const STATUS_INTERVAL_MS = 100;

export class TrainingSession {
  private readonly tokenizer = new Tokenizer();
  private events: TrainerEvents = NO_EVENTS;
  private start_: StartingPoint | null = null;
  private run: Run | null = null;
  private pipeline: PipelineRun | null = null;
  /** Checkpoints the last pipeline wrote, kept so that a run from a later stage can read them. */
  private pipelineCheckpoints = new Map<string, ModelWeights>();
  private phase: RunPhase = 'loading';
  private message: string | undefined;
  private loop: Promise<void> | null = null;
  private pauseRequested = false;
  private evaluatedAtStart = false;
  /** The single run's config while a pipeline replaces it (Reset goes back to it). */
  private lastConfig: GrpoConfig | null = null;
  private sampleCount = 0;
  private readonly batcher: MetricBatcher;
  private readonly groups: LatestThrottle<GroupView>;
  private readonly statuses: LatestThrottle<RunStatus>;

  /**
   * Metrics go to the UI at most once per interval and the latest group at most once per
   * groupIntervalMs (a group view redraw is large), both at once at every boundary. Progress
   * (the step counter) goes at most every STATUS_INTERVAL_MS, a change of phase at once: a tiny
   * model trains 30 steps a second, and each status message costs the page a redraw.
   * checkBackend runs after every step and throws when the backend has failed under it (the
   * worker passes gpu-errors.ts's check): the run then stops with that message.
   */
  constructor(sendIntervalMs = 250, groupIntervalMs = 1000, private readonly checkBackend: () => void = () => {}) {
    this.batcher = new MetricBatcher(sendIntervalMs, (points) => this.events.metrics(points));
    this.groups = new LatestThrottle(groupIntervalMs, (g) => this.events.group(g));
    this.statuses = new LatestThrottle(Math.min(sendIntervalMs, STATUS_INTERVAL_MS), (st) => this.events.status(st));
  }

  subscribe(events: TrainerEvents): void {
    this.events = events;
  }

  /** Parses and checks a checkpoint (errors name the field) and makes it the starting point. */
  loadCheckpoint(text: string, source: string): ModelSummary {
    if (this.loop) throw new Error('checkpoint: pause the run before loading another model');
    const c = parseCheckpoint(text, this.tokenizer.vocab);
    const stage = typeof c.meta.stage === 'string' ? c.meta.stage : 'checkpoint';
    const steps = typeof c.meta.step === 'number' ? `, ${c.meta.step} steps` : '';
    this.start_ = { model: c.model, weights: c.weights, origin: `${source} (${stage}${steps})` };
    this.disposeRun();
    this.pipeline = null;
    this.setPhase('ready');
    return this.summary(c.model, this.start_.origin);
  }

  /**
   * Validates the config (the error names every bad field) and builds a fresh run from the
   * starting checkpoint; a model size the checkpoint does not hold starts from random weights.
   */
  configure(input: unknown): { config: GrpoConfig; model: ModelSummary } {
    const config = validateConfig(input);
    if (this.loop) throw new Error('settings: pause the run before applying new settings');
    this.disposeRun();
    this.pipeline = null;
    const { model, origin } = this.buildModel(config);
    const reference = config.beta > 0 ? model.snapshot() : null;
    this.run = { config, model, reference, trainer: new GrpoTrainer(config, this.tokenizer, model, reference) };
    this.evaluatedAtStart = false;
    this.message = undefined;
    this.setPhase('ready');
    return { config, model: this.summary(model.config, origin) };
  }

  /** Runs steps until the config's total, a pause, or an error. */
  async start(): Promise<void> {
    if (this.loop) return this.loop;
    if (this.pipeline) {
      if (this.pipeline.finished) return;
    } else {
      const run = this.requireRun();
      if (run.trainer.step >= run.config.steps) return;
    }
    this.pauseRequested = false;
    this.setPhase('running');
    return this.exclusive(this.pipeline ? this.runPipelineLoop(this.pipeline) : this.runLoop());
  }

  /**
   * Marks the session busy until work settles. Steps read back with await, so other calls can
   * arrive mid-step: while busy, start waits for the work, and step, sample, evaluate and the
   * setters refuse (they check this.loop).
   */
  private exclusive<T>(work: Promise<T>): Promise<T> {
    this.loop = work.then(() => undefined, () => undefined).finally(() => {
      this.loop = null;
    });
    return work;
  }

  /** Resolves once the current step has finished and the loop has stopped. */
  async pause(): Promise<void> {
    if (!this.loop) return;
    this.pauseRequested = true;
    this.setPhase('pausing');
    await this.loop;
  }

  resume(): Promise<void> {
    return this.start();
  }

  async stepOnce(): Promise<void> {
    if (this.pipeline) throw new Error('step: a pipeline runs stage by stage; use Start and Pause');
    const run = this.requireRun();
    if (this.loop) throw new Error('step: the run is already going; pause it first');
    if (run.trainer.step >= run.config.steps) throw new Error(`step: the run has finished its ${run.config.steps} steps; reset to start again`);
    this.setPhase('running');
    return this.exclusive((async () => {
      try {
        await this.evaluateAtStartOnce();
        await this.trainOneStep();
        this.setPhase(run.trainer.step >= run.config.steps ? 'done' : 'paused');
      } catch (e) {
        this.fail(e);
        throw e;
      } finally {
        this.flushToUi();
      }
    })());
  }

  /** Stops the loop and rebuilds the run from the starting checkpoint (a pipeline is dropped). */
  async reset(): Promise<void> {
    await this.pause();
    const config = this.run?.config ?? this.lastConfig;
    this.pipeline = null;
    if (config) this.configure(config);
  }

  /** The recipes the worker can run, with their stages as cards. */
  recipes(scale: RecipeScale): RecipeView[] {
    return Object.entries(RECIPES).map(([name, r]) => {
      const spec = r.build(scale);
      return { name, description: r.description, stages: initialStageViews(spec), spec };
    });
  }

  /**
   * Replaces the single run with a recipe from the loaded checkpoint (as "base"). From a later
   * stage, the checkpoints the previous pipeline wrote are read (a fork with the same recipe).
   */
  startPipeline(source: PipelineSource, startAt: number): void {
    if (this.loop) throw new Error('pipeline: pause the current run first');
    const start = this.start_;
    if (!start) throw new Error('pipeline: load a base checkpoint first');
    const spec = 'spec' in source ? source.spec : getRecipe(source.recipe, source.scale);
    if (!Number.isInteger(startAt) || startAt < 0 || startAt >= spec.stages.length) {
      throw new Error(`pipeline.startAt: must be a stage index from 0 to ${spec.stages.length - 1}`);
    }
    const checkpoints = new Map(startAt > 0 ? this.pipelineCheckpoints : []);
    checkpoints.set('base', { model: start.model, weights: start.weights });
    validatePipeline(spec, checkpoints.keys(), startAt);
    const events = runPipeline(spec, this.tokenizer, checkpoints, startAt);
    this.lastConfig = this.run?.config ?? this.lastConfig;
    this.disposeRun();
    this.pipelineCheckpoints = checkpoints;
    const views = initialStageViews(spec);
    this.pipeline = { spec, events, views, stage: spec.stages[startAt]!.id, step: 0, totalSteps: totalSteps(spec, startAt), finished: false };
    for (const v of views) this.events.stage({ ...v });
    // Runs on after this returns, like start(); await start() to wait for the end or a pause.
    void this.start();
  }

  setRewardWeights(weights: RewardWeights): WeightChange {
    if (this.pipeline) throw new Error('reward weights: each pipeline stage sets its own; Reset returns to a single run with live weights');
    const run = this.requireRun();
    run.trainer.setRewardWeights(weights);
    const change = { step: run.trainer.step + 1, weights: run.trainer.rewardWeights };
    this.events.weightChange(change);
    return change;
  }

  /** A new problem's group of completions from the current model, scored, with no update. */
  async sample(): Promise<GroupView> {
    const run = this.requireRun();
    if (this.loop) throw new Error('sample: pause the run first (sampling shares the model with training)');
    return this.exclusive(sampleGroup(run.trainer, this.tokenizer, run.config.seed * 1009 + ++this.sampleCount));
  }

  async evaluate(): Promise<MetricPoint> {
    const run = this.requireRun();
    if (this.loop) throw new Error('evaluate: pause the run first (evaluation shares the model with training)');
    const point = await this.exclusive(this.evaluationPoint(run));
    this.batcher.push(point);
    this.batcher.flush();
    return point;
  }

  /** The current model as checkpoint text, with the run's config and step in its metadata. */
  async saveCheckpoint(): Promise<string> {
    const run = this.requireRun();
    return serializeCheckpoint({
      model: run.model.config,
      vocab: [...this.tokenizer.vocab],
      meta: { stage: this.stage(run), step: run.trainer.step, config: run.config, parameters: run.model.parameterCount },
      weights: await run.model.weights(),
    });
  }

  status(): RunStatus {
    const run = this.run;
    const p = this.pipeline;
    if (p) {
      return { phase: this.phase, stage: p.stage, step: p.step, totalSteps: p.totalSteps, ...(this.message ? { message: this.message } : {}) };
    }
    return {
      phase: this.phase,
      stage: run ? this.stage(run) : 'base',
      step: run?.trainer.step ?? 0,
      totalSteps: run?.config.steps ?? 0,
      ...(this.message ? { message: this.message } : {}),
    };
  }

  dispose(): void {
    this.disposeRun();
  }

  private async runLoop(): Promise<void> {
    const run = this.requireRun();
    try {
      await this.evaluateAtStartOnce();
      while (!this.pauseRequested && run.trainer.step < run.config.steps) {
        await this.trainOneStep();
        await yieldToEvents();
      }
      this.setPhase(run.trainer.step >= run.config.steps ? 'done' : 'paused');
    } catch (e) {
      this.fail(e);
    } finally {
      this.flushToUi();
    }
  }

  /** Advances the recipe event by event; a pause acts between any two events. */
  private async runPipelineLoop(p: PipelineRun): Promise<void> {
    try {
      while (!this.pauseRequested) {
        const next = p.events.next();
        if (next.done) {
          p.finished = true;
          break;
        }
        this.onPipelineEvent(p, next.value);
        await yieldToEvents();
      }
      this.setPhase(p.finished ? 'done' : 'paused');
    } catch (e) {
      this.fail(e);
    } finally {
      this.flushToUi();
    }
  }

  private onPipelineEvent(p: PipelineRun, e: PipelineEvent): void {
    this.checkBackend();
    if (e.type === 'stage-start') p.stage = e.stage.id;
    if (e.type === 'group') this.groups.push(groupView(e.globalStep, e.group, e.logRatios, e.config, this.tokenizer));
    const { view, point } = applyPipelineEvent(p.views, e);
    if (view) {
      this.batcher.flush();
      this.events.stage(view);
    }
    if (point) {
      this.batcher.push(point);
      if (point.step > p.step) {
        p.step = point.step;
        this.emitStatus();
      }
    }
  }

  private flushToUi(): void {
    this.batcher.flush();
    this.statuses.flush();
    this.groups.flush();
  }

  /** One step, reading results back with await: on WebGPU the synchronous path is slow or wrong. */
  private async trainOneStep(): Promise<void> {
    const run = this.requireRun();
    const c = run.config;
    const r = await run.trainer.trainStepAsync({ inspect: true });
    this.checkBackend();
    const point: MetricPoint = { step: r.step, stage: 'r1-zero', values: { ...r.metrics } };
    if ((c.evalEvery > 0 && r.step % c.evalEvery === 0) || r.step === c.steps) {
      Object.assign(point.values, (await this.evaluationPoint(run)).values);
    }
    this.batcher.push(point);
    if (r.inspection) {
      this.groups.push(groupView(r.step, r.groups[r.inspection.groupIndex]!, r.inspection.logRatios, c, this.tokenizer));
    }
    this.message = r.metrics.skipped_updates
      ? `step ${r.step}: the loss or a gradient was not finite, so the update was skipped and the weights kept`
      : undefined;
    this.emitStatus();
  }

  /** The starting model's held-out scores, charted at step 0 as the base stage. */
  private async evaluateAtStartOnce(): Promise<void> {
    const run = this.requireRun();
    if (this.evaluatedAtStart || run.trainer.step > 0) return;
    this.evaluatedAtStart = true;
    this.batcher.push({ ...(await this.evaluationPoint(run)), stage: 'base' });
    this.batcher.flush();
  }

  private async evaluationPoint(run: Run): Promise<MetricPoint> {
    return { step: run.trainer.step, stage: this.stage(run), values: evalMetrics(await run.trainer.evaluateAsync()) };
  }

  private stage(run: Run): StageName {
    return run.trainer.step === 0 ? 'base' : 'r1-zero';
  }

  private buildModel(config: GrpoConfig): { model: GPT; origin: string } {
    const start = this.start_;
    if (start && start.model.name === config.model) {
      return { model: new GPT(start.model, start.weights), origin: start.origin };
    }
    const size = modelSize(config.model, this.tokenizer.size);
    const why = start ? `the loaded checkpoint holds a "${start.model.name}" model` : 'no checkpoint is loaded';
    return { model: GPT.create(size, config.seed), origin: `random weights, seed ${config.seed} (${why})` };
  }

  private summary(m: ModelConfig, origin: string): ModelSummary {
    return { name: m.name, parameters: parameterCount(m), layers: m.layers, dModel: m.dModel, heads: m.heads, context: m.context, origin };
  }

  private requireRun(): Run {
    if (!this.run) throw new Error('no run is configured: load a checkpoint and apply settings first');
    return this.run;
  }

  private fail(e: unknown): void {
    this.message = e instanceof Error ? e.message : String(e);
    this.setPhase('error');
  }

  private setPhase(phase: RunPhase): void {
    this.phase = phase;
    this.emitStatus();
    this.statuses.flush();
  }

  private emitStatus(): void {
    this.statuses.push(this.status());
  }

  private disposeRun(): void {
    const run = this.run;
    if (!run) return;
    if (this.loop) throw new Error('cannot replace the run while it trains; pause it first');
    run.trainer.dispose();
    if (run.reference) disposeParams(run.reference);
    run.model.dispose();
    this.run = null;
    this.batcher.clear();
    this.groups.clear();
  }
}
