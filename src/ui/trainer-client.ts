/**
 * The main thread's side of the trainer worker: starts the worker, wires its events into the
 * store, and turns every failure into a message the user sees (nothing fails silently).
 *
 * Switching backend replaces the worker: a tfjs backend is chosen once per worker, and a fresh
 * worker is the one state we know is clean.
 */
import * as Comlink from 'comlink';
import type { GrpoConfig } from '../engine/config';
import type { RewardWeights } from '../engine/rewards';
import type { BackendChoice, MetricPoint, PipelineSource, RecipeView, TrainerApi, TrainerEvents } from '../../workers/protocol';
import { type LabStoreHook, PREVIOUS_RUN_PREFIX } from './store/lab-store';

/** Where the pretrained base checkpoint is served from (public/checkpoints/base.json). */
export const BASE_CHECKPOINT_URL = `${import.meta.env.BASE_URL}checkpoints/base.json`;
/** How long a backend may take to initialise before the next one is tried. */
const BACKEND_TIMEOUT_MS = 20_000;

function isPreviousRun(p: MetricPoint): boolean {
  return Object.keys(p.values).some((k) => k.startsWith(PREVIOUS_RUN_PREFIX));
}

function asPreviousRun(p: MetricPoint): MetricPoint {
  return { ...p, values: Object.fromEntries(Object.entries(p.values).map(([k, v]) => [`${PREVIOUS_RUN_PREFIX}${k}`, v])) };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class TrainerClient {
  private worker: Worker | null = null;
  private api: Comlink.Remote<TrainerApi> | null = null;
  /** Bumped by every boot, so a superseded boot's late failure is not reported. */
  private generation = 0;

  constructor(private readonly store: LabStoreHook) {}

  /** (Re)starts the worker on a backend, loads the base model and applies the current settings. */
  async boot(choice: BackendChoice): Promise<void> {
    this.shutdown();
    const generation = ++this.generation;
    const s = this.store.getState();
    s.set({ backendChoice: choice, backend: null, fatalError: null, model: null, status: { ...s.status, phase: 'loading', step: 0 } });
    s.clearRun();
    const worker = new Worker(new URL('../../workers/trainer.worker.ts', import.meta.url), { type: 'module', name: 'trainer' });
    worker.addEventListener('error', (e) => {
      if (generation === this.generation) this.fatal(`the trainer worker failed: ${e.message || 'could not load its script'}`);
    });
    this.worker = worker;
    const api = Comlink.wrap<TrainerApi>(worker);
    this.api = api;
    try {
      await api.subscribe(Comlink.proxy(this.events()));
      const backend = await api.init(choice, BACKEND_TIMEOUT_MS);
      if (generation !== this.generation) return;
      this.store.getState().set({ backend });
      await api.loadCheckpoint({ url: new URL(BASE_CHECKPOINT_URL, self.location.href).href });
      if (generation !== this.generation) return;
      await this.configure(this.store.getState().settings);
    } catch (e) {
      if (generation === this.generation) this.fatal(messageOf(e));
    }
  }

  /** Applies settings (a fresh run); returns false and shows the error when the worker rejects them. */
  async configure(settings: GrpoConfig): Promise<boolean> {
    const api = this.requireApi();
    try {
      // Cleared before the worker answers: its 'ready' status may arrive before this call returns.
      this.store.getState().clearRun();
      const { config, model } = await api.configure(settings);
      this.store.getState().set({ model, appliedSettings: config, rewardWeights: { ...config.rewardWeights } });
      return true;
    } catch (e) {
      this.store.getState().set({ actionError: messageOf(e) });
      return false;
    }
  }

  /**
   * A checkpoint file chosen by the user becomes the starting point of a fresh run. A corrupt or
   * mismatched file is rejected with the reason, and the current run is kept.
   */
  loadCheckpointFile = (file: File) => this.act(async (api) => {
    const bytes = await file.arrayBuffer();
    const model = await api.loadCheckpoint(Comlink.transfer({ bytes, name: file.name }, [bytes]));
    this.store.getState().set({ model });
    const s = this.store.getState();
    const settings = { ...s.settings, model: model.name };
    s.set({ settings, settingsRevision: s.settingsRevision + 1 });
    await this.configure(settings);
  });

  /** The recipes at a scale (names, descriptions, stage cards). */
  async recipes(scale: 'default' | 'tiny'): Promise<RecipeView[]> {
    let out: RecipeView[] = [];
    await this.act(async (api) => { out = await api.recipes(scale); });
    return out;
  }

  /**
   * Runs a recipe. From the first stage the charts start afresh; from a later stage the points
   * of that stage on are replaced, and the earlier stages' cards and points stay. `compare`
   * names the stages the charts may overlay (the pipeline's PipelineSpec.compare).
   */
  startPipeline = (source: PipelineSource, startAt: number, compare: string[] = []) => this.act(async (api) => {
    const s = this.store.getState();
    const previous = { history: s.history, stages: s.stages, latestGroup: s.latestGroup, weightChanges: s.weightChanges, forkGhost: s.forkGhost, compareStages: s.compareStages };
    const keep = startAt > 0 ? s.stages.slice(0, startAt) : [];
    const from = keep.length > 0 ? (keep[keep.length - 1]?.lastStep ?? 0) : -1;
    // A re-run from a later stage keeps the replaced run's later points, renamed, beside the new ones.
    const current = s.history.filter((p) => !isPreviousRun(p));
    const replaced = keep.length > 0 ? current.filter((p) => p.step > from).map(asPreviousRun) : [];
    s.set({
      history: [...current.filter((p) => p.step <= from), ...replaced], historyVersion: s.historyVersion + 1,
      stages: [], latestGroup: null, weightChanges: [], forkGhost: replaced.length > 0, compareStages: compare,
    });
    try {
      await api.startPipeline(source, startAt);
    } catch (e) {
      // A refused pipeline (an invalid edit) loses nothing: the charts and cards come back.
      this.store.getState().set({ ...previous, historyVersion: this.store.getState().historyVersion + 1 });
      throw e;
    }
    // The worker re-announces every card; the earlier stages keep what they showed.
    for (const card of keep) this.store.getState().updateStage(card);
  });

  start = () => this.act(async (api) => api.start());
  pause = () => this.act(async (api) => api.pause());
  resume = () => this.act(async (api) => api.resume());
  stepOnce = () => this.act(async (api) => api.stepOnce());
  sample = () => this.act(async (api) => this.store.getState().set({ latestGroup: await api.sample() }));
  evaluate = () => this.act(async (api) => { await api.evaluate(); });

  reset = () => this.act(async (api) => {
    await api.reset();
    this.store.getState().clearRun();
  });

  setRewardWeights = (weights: RewardWeights) => this.act(async (api) => { await api.setRewardWeights(weights); });

  /** The current model as a downloadable checkpoint file. */
  async saveCheckpoint(): Promise<Blob | null> {
    let blob: Blob | null = null;
    await this.act(async (api) => { blob = new Blob([await api.saveCheckpoint()], { type: 'application/json' }); });
    return blob;
  }

  shutdown(): void {
    this.generation++;
    if (this.api) this.api[Comlink.releaseProxy]();
    this.worker?.terminate();
    this.worker = null;
    this.api = null;
  }

  private events(): TrainerEvents {
    const store = this.store;
    return {
      status: (status) => store.getState().set({ status }),
      metrics: (points) => store.getState().appendMetrics(points),
      group: (latestGroup) => store.getState().set({ latestGroup }),
      weightChange: (change) => store.getState().addWeightChange(change),
      stage: (view) => store.getState().updateStage(view),
    };
  }

  private async act(work: (api: Comlink.Remote<TrainerApi>) => Promise<unknown>): Promise<void> {
    this.store.getState().set({ actionError: null });
    try {
      await work(this.requireApi());
    } catch (e) {
      this.store.getState().set({ actionError: messageOf(e) });
    }
  }

  private requireApi(): Comlink.Remote<TrainerApi> {
    if (!this.api) throw new Error('the trainer is not running; reload the page');
    return this.api;
  }

  private fatal(message: string): void {
    const s = this.store.getState();
    s.set({ fatalError: message, status: { ...s.status, phase: 'error', message } });
  }
}
