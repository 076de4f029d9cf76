/**
 * The lab's whole UI state, in one zustand store.
 *
 * The metric history keeps every point (charts downsample for display only). Points are appended
 * in place and `historyVersion` is bumped, so appending 10,000 steps stays O(new points) and
 * components that chart the history re-render on the version, not on array identity.
 */
import { create } from 'zustand';
import type { GrpoConfig } from '../../engine/config';
import type { RewardWeights } from '../../engine/rewards';
import type {
  BackendChoice, BackendInfo, GroupView, MetricPoint, ModelSummary, RunStatus, StageView, WeightChange,
} from '../../../workers/protocol';

/** Names of a replaced run's metrics, kept beside a re-run from a later stage. */
export const PREVIOUS_RUN_PREFIX = 'previous:';

export interface LabState {
  backendChoice: BackendChoice;
  backend: BackendInfo | null;
  /** A backend or worker failure the user must see. */
  fatalError: string | null;
  model: ModelSummary | null;
  status: RunStatus;
  /** The settings form's values (may be invalid while the user types). */
  settings: GrpoConfig;
  /** The settings the current run was configured with (null before the worker accepted any). */
  appliedSettings: GrpoConfig | null;
  /** The last control action's error (a rejected setting, a step on a finished run). */
  actionError: string | null;
  /** Bumped when settings change from outside the form (a loaded checkpoint), so the form reloads them. */
  settingsRevision: number;
  /** Field name -> message for every invalid setting; a run cannot start while any is present. */
  settingsErrors: Record<string, string>;
  presetName: string;
  rewardWeights: RewardWeights;
  history: MetricPoint[];
  historyVersion: number;
  weightChanges: WeightChange[];
  latestGroup: GroupView | null;
  /** The running or last pipeline's stages, in order (empty for a single run). */
  stages: StageView[];
  /**
   * True after a re-run from a later stage: the history then also holds the replaced run's
   * points, under "previous:"-prefixed names, for the charts to draw beside the new ones.
   */
  forkGhost: boolean;
  /** Stages the running pipeline compares (PipelineSpec.compare); empty for a chain or a single run. */
  compareStages: string[];
  /** Draw the compared stages over each other, each from its own step 0 (charts toolbar). */
  overlay: boolean;
  /** Smoothing of the charts' step metrics, 0 (none) to 0.99 (exponential moving average weight). */
  smoothing: number;
}

export interface LabActions {
  set(partial: Partial<LabState>): void;
  appendMetrics(points: MetricPoint[]): void;
  addWeightChange(change: WeightChange): void;
  /** A stage card changed: replaces the card with the same id, or adds it. */
  updateStage(view: StageView): void;
  clearRun(): void;
}

export type LabStore = LabState & LabActions;

export function initialStatus(totalSteps: number): RunStatus {
  return { phase: 'loading', stage: 'base', step: 0, totalSteps };
}

export function createLabStore(settings: GrpoConfig, presetName: string) {
  return create<LabStore>()((set, get) => ({
    backendChoice: 'auto',
    backend: null,
    fatalError: null,
    model: null,
    status: initialStatus(settings.steps),
    settings,
    appliedSettings: null,
    actionError: null,
    settingsErrors: {},
    settingsRevision: 0,
    presetName,
    rewardWeights: { ...settings.rewardWeights },
    history: [],
    historyVersion: 0,
    weightChanges: [],
    latestGroup: null,
    stages: [],
    forkGhost: false,
    compareStages: [],
    overlay: true,
    smoothing: 0.6,
    set: (partial) => set(partial),
    appendMetrics: (points) => {
      if (points.length === 0) return;
      const history = get().history;
      history.push(...points);
      set({ historyVersion: get().historyVersion + 1 });
    },
    addWeightChange: (change) => set({ weightChanges: [...get().weightChanges, change] }),
    updateStage: (view) => {
      const stages = get().stages;
      const i = stages.findIndex((s) => s.id === view.id);
      set({ stages: i < 0 ? [...stages, view] : stages.map((s, j) => (j === i ? view : s)) });
    },
    clearRun: () => set({ history: [], historyVersion: get().historyVersion + 1, weightChanges: [], latestGroup: null, stages: [], forkGhost: false, compareStages: [] }),
  }));
}

export type LabStoreHook = ReturnType<typeof createLabStore>;
