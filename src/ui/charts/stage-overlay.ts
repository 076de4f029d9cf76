/**
 * Compared stages drawn over each other: GRPO and PPO (or any stages a pipeline marks as
 * alternatives, PipelineSpec.compare) each re-based to start at step 0, so their curves share
 * an axis instead of following one another along the pipeline's global steps.
 */
import type { MetricPoint, StageView } from '../../../workers/protocol';
import type { ChartLine } from './MetricChart';

/** Overlay keys are `${stageId}|${metric}`; metric names use '/' and '@' but never '|'. */
export function overlayKey(stageId: string, key: string): string {
  return `${stageId}|${key}`;
}

/** One colour per compared stage, in order; the metric is told apart by the line's style. */
const STAGE_COLORS = ['var(--chart-blue)', 'var(--chart-orange)', 'var(--chart-green)', 'var(--chart-purple)'];

/** The compared stages that have started, in pipeline order. */
export function startedComparedStages(stages: readonly StageView[], compare: readonly string[]): StageView[] {
  return stages.filter((s) => compare.includes(s.id) && s.firstStep !== undefined);
}

/**
 * The history of the compared stages on a shared axis: a point at global step g of a stage
 * that began at step f moves to step g - f (the stage's evaluation before training lands on 0),
 * and its metrics are renamed per stage. Points of one relative step are merged into one.
 */
export function overlayHistory(history: readonly MetricPoint[], stages: readonly StageView[]): MetricPoint[] {
  const start = new Map(stages.map((s) => [s.id, s.firstStep as number]));
  const byStep = new Map<number, Record<string, number>>();
  for (const p of history) {
    const first = start.get(p.stage);
    if (first === undefined) continue;
    const step = p.step - first;
    const values = byStep.get(step) ?? {};
    for (const [k, v] of Object.entries(p.values)) values[overlayKey(p.stage, k)] = v;
    byStep.set(step, values);
  }
  return [...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([step, values]) => ({ step, stage: 'compare', values }));
}

/**
 * A chart's lines for the overlay: its main training line and its main held-out line (the first
 * of each), once per compared stage, coloured by stage; held-out lines dashed.
 */
export function overlayLines(lines: readonly ChartLine[], stages: readonly StageView[]): ChartLine[] {
  const main = [lines.find((l) => !l.key.startsWith('eval/')), lines.find((l) => l.key.startsWith('eval/'))]
    .filter((l): l is ChartLine => l !== undefined);
  return stages.flatMap((s, i) => main.map((l) => ({
    key: overlayKey(s.id, l.key),
    label: `${l.label}: ${s.label}`,
    color: STAGE_COLORS[i % STAGE_COLORS.length] as string,
    dashed: l.key.startsWith('eval/'),
    emphasis: l.emphasis,
  })));
}
