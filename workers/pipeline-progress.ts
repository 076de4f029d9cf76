/**
 * A pipeline run as the UI follows it: stage cards that fill in as stages start and end, and
 * the engine's pipeline events turned into chart points on the run's global step axis.
 */
import { type PipelineEvent, type PipelineSpec, stageInputs, stageSteps } from '../src/engine/pipeline/pipeline';
import type { MetricPoint, StageView } from './protocol';

export function initialStageViews(spec: PipelineSpec): StageView[] {
  return spec.stages.map((s) => ({ id: s.id, label: s.label, kind: s.kind, from: stageInputs(s).map(([, name]) => name), out: s.out, state: 'waiting' }));
}

export function totalSteps(spec: PipelineSpec, startAt = 0): number {
  return spec.stages.slice(startAt).reduce((a, s) => a + stageSteps(s), 0);
}

/**
 * Folds one event into the stage views; returns the changed view (to send) and the chart point
 * the event carries, if any.
 */
export function applyPipelineEvent(views: StageView[], e: PipelineEvent): { view?: StageView; point?: MetricPoint } {
  const find = (id: string) => views.find((v) => v.id === id);
  switch (e.type) {
    case 'stage-start': {
      const v = find(e.stage.id);
      if (!v) return {};
      Object.assign(v, { state: 'running', firstStep: e.globalStep });
      return { view: { ...v } };
    }
    case 'samples': {
      const v = find(e.stageId);
      if (!v) return {};
      v.counts = { sampled: e.counts.sampled, kept: e.counts.kept, rejected: { ...e.counts.rejected } };
      return { view: { ...v } };
    }
    case 'stage-end': {
      const v = find(e.stageId);
      if (!v) return {};
      Object.assign(v, { state: 'done', lastStep: e.globalStep, before: { ...e.before }, after: { ...e.after } });
      return { view: { ...v } };
    }
    case 'metrics': {
      const point = { step: e.globalStep, stage: e.stageId, values: e.values };
      const v = find(e.stageId);
      const valueParameters = e.values['ppo/value_params'];
      if (!v || valueParameters === undefined || v.valueParameters === valueParameters) return { point };
      v.valueParameters = valueParameters;
      return { view: { ...v }, point };
    }
    case 'group':
      return {};
  }
}
