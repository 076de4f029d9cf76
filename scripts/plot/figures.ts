/**
 * Which series each figure draws, from the keys a run's metrics have, and their colours.
 */
import type { MetricsRow, MetricsRun } from './metrics';

interface SeriesSpec {
  key: string;
  label: string;
  /** Eval metrics are sparse: drawn with markers and never smoothed. */
  sparse?: boolean;
}

export interface FigureSpec {
  id: string;
  title: string;
  yLabel: string;
  /** Fixed y range (accuracy); otherwise from the data, including 0. */
  yDomain?: [number, number];
  /** The series this figure draws from a run's keys (in legend order). */
  series: (keys: Set<string>) => SeriesSpec[];
}

const REWARD_FN = /^rewards\/(.+)\/mean$/;

/** One sparse series per difficulty level found among the keys (prefix + level). */
function byDifficulty(keys: Set<string>, prefix: string, unit: string): SeriesSpec[] {
  return [...keys]
    .filter((k) => k.startsWith(prefix))
    .sort()
    .map((k) => ({ key: k, label: `${k.slice(prefix.length)}${unit}`, sparse: true }));
}

export const FIGURES: FigureSpec[] = [
  {
    id: 'reward',
    title: 'Reward',
    yLabel: 'mean reward per completion',
    series: (keys) => [
      ...(keys.has('reward') ? [{ key: 'reward', label: 'total' }] : []),
      ...[...keys]
        .filter((k) => REWARD_FN.test(k))
        .sort()
        .map((k) => ({ key: k, label: k.replace(REWARD_FN, '$1') })),
    ],
  },
  {
    id: 'accuracy',
    title: 'Accuracy',
    yLabel: 'fraction correct',
    yDomain: [0, 1],
    series: (keys) =>
      [
        { key: 'eval/pass@1', label: 'eval pass@1', sparse: true },
        { key: 'eval/pass@1_any_format', label: 'eval pass@1, any format', sparse: true },
        { key: 'eval/step_accuracy', label: 'eval step accuracy of the reasoning', sparse: true },
        { key: 'rewards/accuracy/mean', label: 'train accuracy reward' },
      ].filter((s) => keys.has(s.key)),
  },
  {
    id: 'length',
    title: 'Mean completion length',
    yLabel: 'tokens',
    series: (keys) => (keys.has('completions/mean_length') ? [{ key: 'completions/mean_length', label: 'mean length' }] : []),
  },
  {
    id: 'accuracy-by-difficulty',
    title: 'Held-out accuracy by difficulty (any format)',
    yLabel: 'fraction correct',
    yDomain: [0, 1],
    series: (keys) => byDifficulty(keys, 'eval/pass@1_any_format/d', '-digit'),
  },
  {
    id: 'length-by-difficulty',
    title: 'Held-out completion length by difficulty',
    yLabel: 'tokens (greedy)',
    series: (keys) => byDifficulty(keys, 'eval/mean_length/d', '-digit'),
  },
  {
    id: 'reflection',
    title: 'Self-checks ("wait")',
    yLabel: 'share of completions',
    series: (keys) =>
      [
        { key: 'completions/reflection', label: 'sampled completions (T = 1)' },
        { key: 'eval/reflection', label: 'held-out, greedy', sparse: true },
      ].filter((s) => keys.has(s.key) && (s.key !== 'eval/reflection' || keys.has('completions/reflection'))),
  },
  {
    id: 'kl',
    title: 'KL to reference policy',
    yLabel: 'KL (nats per token)',
    series: (keys) => (keys.has('kl') ? [{ key: 'kl', label: 'KL' }] : []),
  },
];

interface Point {
  x: number;
  y: number;
}

export interface DrawnSeries {
  label: string;
  points: Point[];
  color: string;
  dash: string;
  markers: boolean;
  sparse: boolean;
}

// Okabe-Ito: distinguishable with the common colour-vision deficiencies.
const COLORS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2'];

/** Trailing moving average over `window` points (window 1 = raw). */
export function movingAverage(points: Point[], window: number): Point[] {
  if (window <= 1) return points;
  let sum = 0;
  return points.map((p, i) => {
    sum += p.y;
    if (i >= window) sum -= points[i - window]!.y;
    return { x: p.x, y: sum / Math.min(i + 1, window) };
  });
}

function seriesPoints(rows: MetricsRow[], key: string): Point[] {
  const points: Point[] = [];
  for (const row of rows) {
    const x = row.step;
    const y = row[key];
    if (x !== undefined && y !== undefined) points.push({ x, y });
  }
  return points;
}

/** Steps where the "stage" field changes (the first step of each new stage). */
export function stageBoundaries(rows: MetricsRow[]): { x: number; stage: number }[] {
  const marks: { x: number; stage: number }[] = [];
  let previous: number | undefined;
  for (const row of rows) {
    if (row.stage === undefined || row.step === undefined) continue;
    if (previous !== undefined && row.stage !== previous) marks.push({ x: row.step, stage: row.stage });
    previous = row.stage;
  }
  return marks;
}

export function figureSeries(figure: FigureSpec, runs: MetricsRun[], smooth: number): DrawnSeries[] {
  const several = runs.length > 1;
  const drawn: DrawnSeries[] = [];
  runs.forEach((run, runIndex) => {
    const keys = new Set(run.rows.flatMap((r) => Object.keys(r)));
    figure.series(keys).forEach((spec, specIndex) => {
      const raw = seriesPoints(run.rows, spec.key);
      if (raw.length === 0) return;
      const sparse = spec.sparse ?? false;
      drawn.push({
        label: several ? `${run.label}: ${spec.label}` : spec.label,
        points: sparse ? raw : movingAverage(raw, smooth),
        color: COLORS[(several ? runIndex : specIndex) % COLORS.length]!,
        dash: several ? DASHES[specIndex % DASHES.length]! : '',
        markers: sparse || raw.length <= 40,
        sparse,
      });
    });
  });
  return drawn;
}
