/**
 * Chart data, without React: picking one metric out of the history, TensorBoard-style smoothing,
 * and downsampling for display.
 *
 * The store keeps every MetricPoint (10,000 steps and more); nothing here mutates it. A chart only
 * needs a few hundred points across its width, but naive decimation (every n-th point) would hide
 * exactly what a learner should see: a reward collapse or a KL spike. So the downsamplers keep
 * each bucket's minimum and maximum.
 */
import type { MetricPoint } from '../../../workers/protocol';

export interface SeriesPoint {
  step: number;
  value: number;
}

/**
 * One row of a recharts data array: the step, one number per series, and optionally a
 * [low, high] pair for a band. `range` is set on rows that stand for a bucket of steps, so the
 * tooltip can say so instead of pretending the value belongs to one exact step.
 */
export interface ChartRow {
  step: number;
  range?: [number, number];
  [key: string]: number | [number, number] | undefined;
}

/** Evaluation metrics are held-out measurements, not training noise: they are never smoothed. */
export function isEvalKey(key: string): boolean {
  // A previous run's held-out points (kept after a re-run from a later stage) are evaluations too,
  // and so are a compared stage's ("ppo|eval/pass@1", stage-overlay.ts).
  return /^(previous:|[^|]+\|)?eval\//.test(key);
}

/** The points of `history` that carry a finite value for `key`, in history order. */
export function seriesOf(history: readonly MetricPoint[], key: string): SeriesPoint[] {
  const out: SeriesPoint[] = [];
  for (const point of history) {
    const value = point.values[key];
    if (value !== undefined && Number.isFinite(value)) out.push({ step: point.step, value });
  }
  return out;
}

/** True when at least one point carries a finite value for `key` (stops at the first). */
export function hasKey(history: readonly MetricPoint[], key: string): boolean {
  for (const point of history) {
    const value = point.values[key];
    if (value !== undefined && Number.isFinite(value)) return true;
  }
  return false;
}

/**
 * Exponential moving average with TensorBoard's debiasing: the accumulator starts at 0, so early
 * averages are divided by (1 - weight^n) instead of being dragged towards 0. Weight 0 returns the
 * values unchanged; a constant series stays constant for every weight. Non-finite values are
 * passed through and do not disturb the average.
 */
export function smoothEma(values: readonly number[], weight: number): number[] {
  // 1 would freeze the average at 0 and divide by 0 when debiasing.
  const w = Math.min(Math.max(Number.isFinite(weight) ? weight : 0, 0), 0.999);
  const out: number[] = new Array<number>(values.length);
  let accumulator = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    accumulator = accumulator * w + (1 - w) * v;
    n++;
    out[i] = w === 0 ? v : accumulator / (1 - w ** n);
  }
  return out;
}

export function smoothSeries(points: readonly SeriesPoint[], weight: number): SeriesPoint[] {
  if (weight <= 0) return points.slice();
  const smoothed = smoothEma(points.map((p) => p.value), weight);
  return points.map((p, i) => ({ step: p.step, value: smoothed[i]! }));
}

/**
 * At most `maxPoints` of `points` for display, each one a real point (its own step and value):
 * the first and the last, and from each of the equal-width buckets in between its minimum and its
 * maximum, in step order. A one-step spike therefore survives any amount of downsampling.
 */
export function downsample(points: readonly SeriesPoint[], maxPoints: number): SeriesPoint[] {
  const limit = Math.floor(maxPoints);
  if (points.length <= limit) return points.slice();
  if (limit <= 0) return [];
  if (limit === 1) return [points[points.length - 1]!];
  const first = points[0]!;
  const last = points[points.length - 1]!;
  const buckets = Math.floor((limit - 2) / 2);
  const out: SeriesPoint[] = [first];
  const interior = points.length - 2;
  for (let b = 0; b < buckets; b++) {
    const from = 1 + Math.floor((b * interior) / buckets);
    const to = 1 + Math.floor(((b + 1) * interior) / buckets);
    if (to <= from) continue;
    let iMin = from;
    let iMax = from;
    for (let i = from + 1; i < to; i++) {
      const v = points[i]!.value;
      if (v < points[iMin]!.value) iMin = i;
      if (v > points[iMax]!.value) iMax = i;
    }
    const a = Math.min(iMin, iMax);
    const b2 = Math.max(iMin, iMax);
    out.push(points[a]!);
    if (b2 !== a) out.push(points[b2]!);
  }
  out.push(last);
  return out;
}

/**
 * How a series is reduced inside a bucket of steps when several series share rows:
 * - 'extremes': its minimum and maximum, in the order they occurred (a line keeps its spikes);
 * - 'min' / 'max': the bucket's minimum / maximum on both of the bucket's rows (the lower and
 *   upper edges of a band, which must enclose everything they summarise).
 */
export type BucketMode = 'extremes' | 'min' | 'max';

export interface AlignedSeries {
  key: string;
  points: readonly SeriesPoint[];
  mode?: BucketMode;
}

/**
 * Several step series merged into recharts rows keyed by step, at most `maxRows` rows.
 *
 * Downsampling each series separately would keep different steps for each (the minimum of one is
 * rarely at the step of the maximum of another), and the merged rows would grow with the number
 * of series. Instead all series share the buckets: each bucket becomes two rows, at its first and
 * its last step, and each series puts its bucket extremes on those two rows. A value can thus be
 * drawn up to one bucket (under a pixel) away from its step; those rows carry `range`. The first
 * and the last step are kept exactly, so a line still ends at the latest value.
 */
export function alignSeries(series: readonly AlignedSeries[], maxRows: number): ChartRow[] {
  const stepSet = new Set<number>();
  for (const s of series) for (const p of s.points) stepSet.add(p.step);
  const steps = Array.from(stepSet).sort((a, b) => a - b);
  const limit = Math.max(Math.floor(maxRows), 2);

  if (steps.length <= limit) {
    const rowAt = new Map<number, ChartRow>(steps.map((step) => [step, { step }]));
    for (const s of series) for (const p of s.points) rowAt.get(p.step)![s.key] = p.value;
    return steps.map((step) => rowAt.get(step)!);
  }

  // Each series' points sorted by step, walked with one cursor per series as buckets advance.
  const sorted = series.map((s) => ({
    key: s.key,
    mode: s.mode ?? 'extremes',
    points: isSortedByStep(s.points) ? s.points : s.points.slice().sort((a, b) => a.step - b.step),
    cursor: 0,
  }));

  const firstStep = steps[0]!;
  const lastStep = steps[steps.length - 1]!;
  const firstRow: ChartRow = { step: firstStep };
  const lastRow: ChartRow = { step: lastStep };
  for (const s of sorted) {
    const head = s.points[0];
    if (head && head.step === firstStep) {
      firstRow[s.key] = head.value;
      s.cursor = 1;
    }
    const tail = s.points[s.points.length - 1];
    if (tail && tail.step === lastStep) lastRow[s.key] = tail.value;
  }

  const rows: ChartRow[] = [firstRow];
  const interior = steps.length - 2;
  const buckets = Math.floor((limit - 2) / 2);
  for (let b = 0; b < buckets; b++) {
    const from = 1 + Math.floor((b * interior) / buckets);
    const to = 1 + Math.floor(((b + 1) * interior) / buckets);
    if (to <= from) continue;
    const lo = steps[from]!;
    const hi = steps[to - 1]!;
    const range: [number, number] = [lo, hi];
    const start: ChartRow = lo === hi ? { step: lo } : { step: lo, range };
    const end: ChartRow = { step: hi, range };
    for (const s of sorted) {
      while (s.cursor < s.points.length && s.points[s.cursor]!.step < lo) s.cursor++;
      let iMin = -1;
      let iMax = -1;
      let i = s.cursor;
      for (; i < s.points.length && s.points[i]!.step <= hi; i++) {
        const v = s.points[i]!.value;
        if (iMin < 0 || v < s.points[iMin]!.value) iMin = i;
        if (iMax < 0 || v > s.points[iMax]!.value) iMax = i;
      }
      s.cursor = i;
      if (iMin < 0) continue;
      const min = s.points[iMin]!.value;
      const max = s.points[iMax]!.value;
      if (s.mode === 'min' || s.mode === 'max') {
        const v = s.mode === 'min' ? min : max;
        start[s.key] = v;
        end[s.key] = v;
      } else {
        start[s.key] = iMin <= iMax ? min : max;
        end[s.key] = iMin <= iMax ? max : min;
      }
    }
    rows.push(start);
    if (hi !== lo) rows.push(end);
  }
  rows.push(lastRow);
  return rows;
}

function isSortedByStep(points: readonly SeriesPoint[]): boolean {
  for (let i = 1; i < points.length; i++) if (points[i]!.step < points[i - 1]!.step) return false;
  return true;
}

/**
 * Adds sparse points (evaluations) to step-sorted rows at their exact steps: into the row at that
 * step when there is one, else into a new row, so each eval dot sits where it was measured.
 */
export function mergeSparse(rows: readonly ChartRow[], key: string, points: readonly SeriesPoint[]): ChartRow[] {
  if (points.length === 0) return rows.slice();
  const byStep = new Map<number, number>();
  for (const p of points) byStep.set(p.step, p.value);
  const out: ChartRow[] = [];
  for (const row of rows) {
    const v = byStep.get(row.step);
    if (v === undefined) {
      out.push(row);
    } else {
      out.push({ ...row, [key]: v });
      byStep.delete(row.step);
    }
  }
  for (const [step, value] of byStep) out.push({ step, [key]: value });
  return out.sort((a, b) => a.step - b.step);
}

export interface ChartDataSpec {
  /** Keys of the lines; "eval/..." keys are plotted raw at their own steps, the rest smoothed. */
  keys: readonly string[];
  /** A min/max band between two step metrics, stored on each row under `band.key` as [low, high]. */
  band?: { key: string; lowKey: string; highKey: string };
}

/**
 * Everything one chart draws, from the full history: step metrics smoothed (over all their
 * points, before downsampling, so the smoothing does not depend on zoom) and aligned into at most
 * `maxRows` rows in all; eval metrics added unsmoothed at their exact steps (downsampled only if
 * there are unusually many of them).
 */
export function buildChartRows(
  history: readonly MetricPoint[],
  spec: ChartDataSpec,
  smoothing: number,
  maxRows: number,
): ChartRow[] {
  const stepSeries: AlignedSeries[] = [];
  const evalKeys: string[] = [];
  for (const key of spec.keys) {
    if (isEvalKey(key)) evalKeys.push(key);
    else stepSeries.push({ key, points: smoothSeries(seriesOf(history, key), smoothing) });
  }
  const band = spec.band;
  if (band) {
    stepSeries.push({ key: band.lowKey, points: smoothSeries(seriesOf(history, band.lowKey), smoothing), mode: 'min' });
    stepSeries.push({ key: band.highKey, points: smoothSeries(seriesOf(history, band.highKey), smoothing), mode: 'max' });
  }
  // Evaluations are few (one every evalEvery steps); a quarter of the budget is plenty for them,
  // and the step rows get what the evals leave, so the chart stays within maxRows.
  const evalBudget = Math.max(Math.floor(maxRows / 4), 2);
  const evalSeries = evalKeys.map((key) => ({ key, points: downsample(seriesOf(history, key), evalBudget) }));
  const evalSteps = new Set<number>();
  for (const s of evalSeries) for (const p of s.points) evalSteps.add(p.step);
  let rows = alignSeries(stepSeries, Math.max(maxRows - evalSteps.size, Math.floor(maxRows / 2)));
  for (const s of evalSeries) rows = mergeSparse(rows, s.key, s.points);
  if (band) {
    for (const row of rows) {
      const lo = row[band.lowKey];
      const hi = row[band.highKey];
      if (typeof lo === 'number' && typeof hi === 'number') row[band.key] = [lo, hi];
    }
  }
  return rows;
}

/** Short numbers for axes and tooltips: 12.3k, 0.0421, 1.2e-5. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs === 0) return '0';
  if (abs >= 1e6) return `${trimZeros((value / 1e6).toFixed(1))}M`;
  if (abs >= 1e4) return `${trimZeros((value / 1e3).toFixed(1))}k`;
  if (abs >= 100) return String(Math.round(value));
  if (abs >= 1e-3) return trimZeros(value.toPrecision(3));
  return value.toExponential(1);
}

function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}
