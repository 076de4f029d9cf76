/**
 * One chart panel: a title, a sentence or two for learners, and the metric lines over steps.
 *
 * Presentational: it is given the history and draws it. The history array is mutated in place by
 * the store, so `historyVersion` (not the array's identity) is what invalidates the derived rows.
 * Training metrics are smoothed and downsampled (see series.ts); evaluation metrics are drawn raw,
 * with dots, because there are few of them and each one is a real held-out measurement.
 */
import { memo, useId, useMemo, type ReactNode } from 'react';
import {
  Area, CartesianGrid, ComposedChart, Curve, Line, ReferenceArea, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis,
  type AxisDomain, type LineDrawShapeProps,
} from 'recharts';
import type { MetricPoint, WeightChange } from '../../../workers/protocol';
import { buildChartRows, formatValue, isEvalKey, type ChartDataSpec, type ChartRow } from './series';
import { resolveDomain, stepTicks, valueTicks } from './axis-ticks';

export interface ChartLine {
  /** Metric name in MetricPoint.values; "eval/..." names are drawn unsmoothed, with dots. */
  key: string;
  label: string;
  /** Any CSS colour; the panel passes var(--chart-...) so the palette follows the theme. */
  color: string;
  dashed?: boolean;
  /** Thicker, for the series the chart is mainly about. */
  emphasis?: boolean;
}

/** A shaded range between two step metrics (e.g. the shortest and longest completion). */
export interface ChartBand {
  lowKey: string;
  highKey: string;
  label: string;
  color: string;
}

/** A pipeline stage's span on the step axis, drawn as a tinted band with its name. */
export interface StageBand {
  id: string;
  label: string;
  firstStep: number;
  /** Absent while the stage runs: the band reaches the end of the axis. */
  lastStep?: number;
}

/** Alternating tints, so neighbouring stages stay apart in light and dark themes. */
const STAGE_TINTS = ['var(--chart-blue)', 'var(--chart-orange)'];

export interface MetricChartProps {
  /** Attached to the chart's section (what decides whether it is on screen). */
  sectionRef?: (node: HTMLElement | null) => void;
  /** Pipeline stages to band the chart with (none for a single run). */
  stageBands?: readonly StageBand[];
  /** Stable id: the section's data-testid is `chart-${id}`. */
  id: string;
  title: string;
  explanation: ReactNode;
  /** Keep the array's identity stable between renders: it is a memo dependency. */
  lines: readonly ChartLine[];
  band?: ChartBand;
  history: readonly MetricPoint[];
  historyVersion: number;
  /** EMA weight for step metrics, 0 to 0.99. */
  smoothing: number;
  weightChanges: readonly WeightChange[];
  /**
   * y-axis bounds in recharts' terms, e.g. [0, 1] for rates or [0, 'auto']; data outside a fixed
   * bound still widens the axis. Default: fitted to the data.
   */
  yDomain?: AxisDomain;
  /** Shown instead of an empty axis when the history has points but none for this chart. */
  emptyText?: string;
  /** Most rows handed to recharts; about one per two pixels of a typical panel. */
  maxPoints?: number;
  /** Plot height in pixels (the panel's height does not depend on its parent's). */
  height?: number;
}

const DEFAULT_MAX_POINTS = 150;
const DEFAULT_HEIGHT = 240;
/** The band is stored on each row under this key as [low, high]; no metric name contains '#'. */
const BAND_KEY = '#band';

interface AxisTickProps {
  x?: number | string;
  y?: number | string;
  payload?: { value?: unknown };
  textAnchor?: 'start' | 'middle' | 'end' | 'inherit';
  verticalAnchor?: string;
}

/**
 * Tick labels as plain SVG text. recharts' own tick text measures every label's words in the DOM
 * on each redraw (to wrap them), the largest single cost of a redraw; these labels are short
 * numbers that never wrap. interval={0} on the axes keeps recharts from measuring them to thin
 * out overlaps too: the number axes ask for about five nice ticks, which fit at these widths.
 */
function AxisTick({ x = 0, y = 0, payload, textAnchor = 'middle', verticalAnchor = 'start' }: AxisTickProps) {
  return (
    <text x={x} y={y} dy={verticalAnchor === 'start' ? '0.71em' : '0.32em'} textAnchor={textAnchor} fill="var(--muted)" fontSize={11}>
      {formatValue(Number(payload?.value))}
    </text>
  );
}

const TICK = (props: AxisTickProps) => <AxisTick {...props} />;

/**
 * A line's path without the reference recharts keeps to it. recharts measures the path's length
 * (getTotalLength, for its draw-in animation) on every redraw when it holds that reference, even
 * with animation off: a forced layout of the page per line, 170 ms of every 12 s of training in a
 * CPU profile. Without the reference it skips the measurement.
 */
function StillCurve({ pathRef: _ref, visibleLength: _length, animationElapsedTime: _t, isAnimating: _a, isEntrance: _e, ...curve }: LineDrawShapeProps) {
  return <Curve {...curve} />;
}
const TOOLTIP_CONTENT = {
  background: 'var(--card)',
  border: '1px solid var(--border)',
  borderRadius: '0.375rem',
  color: 'var(--fg)',
  fontSize: 12,
  padding: '0.375rem 0.5rem',
};
const TOOLTIP_LABEL = { color: 'var(--fg)', fontWeight: 600, marginBottom: 2 };

function tooltipValue(value: unknown): string {
  if (typeof value === 'number') return formatValue(value);
  if (Array.isArray(value) && value.length === 2) {
    return `${formatValue(Number(value[0]))} – ${formatValue(Number(value[1]))}`;
  }
  return String(value);
}

/** Says "steps a–b" for rows that stand for a bucket of downsampled steps. */
function tooltipLabel(label: ReactNode, payload: ReadonlyArray<{ payload?: unknown }>): string {
  const row = payload[0]?.payload as ChartRow | undefined;
  if (row?.range) return `steps ${row.range[0]}–${row.range[1]}`;
  return `step ${String(label)}`;
}

/**
 * The legend as plain HTML, drawn once per set of lines: recharts' own legend measures itself in
 * the DOM on every redraw, which made each chart's redraw a long task.
 */
const StaticLegend = memo(function StaticLegend({ lines, band }: { lines: readonly ChartLine[]; band?: ChartBand }) {
  return (
    <ul className="metric-chart__legend">
      {band && (
        <li><span className="metric-chart__swatch metric-chart__swatch--band" style={{ background: band.color }} />{band.label}</li>
      )}
      {lines.map((l) => (
        <li key={l.key}>
          <span className={`metric-chart__swatch${l.dashed ? ' metric-chart__swatch--dashed' : ''}`} style={{ borderColor: l.color }} />
          {l.label}
        </li>
      ))}
    </ul>
  );
});

/** The lowest and highest value the rows hold for the chart's lines and band (0, 0 when none). */
function dataExtent(rows: readonly ChartRow[], spec: ChartDataSpec): [number, number] {
  let low = Infinity;
  let high = -Infinity;
  const take = (v: unknown): void => {
    if (typeof v === 'number' && Number.isFinite(v)) { low = Math.min(low, v); high = Math.max(high, v); }
  };
  for (const row of rows) {
    for (const key of spec.keys) take(row[key]);
    const band = spec.band ? row[spec.band.key] : undefined;
    if (Array.isArray(band)) band.forEach(take);
  }
  return low <= high ? [low, high] : [0, 0];
}

function MetricChartImpl({
  id, title, explanation, lines, band, history, historyVersion, smoothing, weightChanges, stageBands,
  yDomain, emptyText, maxPoints = DEFAULT_MAX_POINTS, height = DEFAULT_HEIGHT, sectionRef,
}: MetricChartProps) {
  const headingId = useId();

  const spec = useMemo<ChartDataSpec>(() => ({
    keys: lines.map((l) => l.key),
    band: band ? { key: BAND_KEY, lowKey: band.lowKey, highKey: band.highKey } : undefined,
  }), [lines, band]);

  const rows = useMemo(() => {
    // The store appends to `history` in place; its version is what says the contents changed.
    void historyVersion;
    return buildChartRows(history, spec, smoothing, maxPoints);
  }, [history, historyVersion, spec, smoothing, maxPoints]);

  // Several changes at one step (a slider dragged between steps) draw one line.
  const changeSteps = useMemo(
    () => Array.from(new Set(weightChanges.map((c) => c.step))).sort((a, b) => a - b),
    [weightChanges],
  );

  const yTicks = useMemo(() => {
    const [low, high] = dataExtent(rows, spec);
    const [from, to] = resolveDomain(yDomain, low, high);
    return valueTicks(from, to);
  }, [rows, spec, yDomain]);

  // A single row draws no line segment; dots make the first step visible.
  const stepDot = rows.length === 1 ? { r: 3 } : false;

  return (
    <section ref={sectionRef} className="metric-chart" data-testid={`chart-${id}`} data-points={rows.length} aria-labelledby={headingId}>
      <h3 className="metric-chart__title" id={headingId}>{title}</h3>
      <p className="metric-chart__explain">{explanation}</p>
      {rows.length === 0 ? (
        <div className="metric-chart__empty" style={{ height }}>
          {history.length === 0
            ? 'Press Start to train; this chart fills in as steps complete.'
            : (emptyText ?? 'No values for this chart yet.')}
        </div>
      ) : (
        <>
        <StaticLegend lines={lines} band={band} />
        <div className="metric-chart__plot" style={{ height }}>
          <ResponsiveContainer width="100%" height="100%" minWidth={0} initialDimension={{ width: 320, height }}>
            <ComposedChart data={rows} margin={{ top: 8, right: 12, bottom: 4, left: 0 }}>
              <CartesianGrid stroke="var(--border)" strokeDasharray="3 3" />
              <XAxis
                dataKey="step"
                type="number"
                // From 0 so the ticks fall on round steps (0, 2500, 5000) rather than 1, 2501, 5001.
                domain={[0, 'dataMax']}
                ticks={stepTicks(rows[rows.length - 1]?.step ?? 0)}
                allowDecimals={false}
                interval={0}
                tick={TICK}
                stroke="var(--border)"
                height={32}
                label={{ value: 'step', position: 'insideBottomRight', offset: 0, fill: 'var(--muted)', fontSize: 11 }}
              />
              <YAxis
                width={52}
                domain={[yTicks[0] as number, yTicks[yTicks.length - 1] as number]}
                ticks={yTicks}
                allowDataOverflow={false}
                interval={0}
                tick={TICK}
                stroke="var(--border)"
              />
              <Tooltip
                isAnimationActive={false}
                contentStyle={TOOLTIP_CONTENT}
                labelStyle={TOOLTIP_LABEL}
                cursor={{ stroke: 'var(--muted)', strokeDasharray: '2 2' }}
                formatter={tooltipValue}
                labelFormatter={tooltipLabel}
              />
              {band && (
                <Area
                  dataKey={BAND_KEY}
                  name={band.label}
                  type="linear"
                  stroke="none"
                  fill={band.color}
                  fillOpacity={0.2}
                  connectNulls
                  activeDot={false}
                  legendType="square"
                  isAnimationActive={false}
                />
              )}
              {stageBands?.map((b, i) => (
                <ReferenceArea
                  key={b.id}
                  x1={b.firstStep}
                  x2={b.lastStep === undefined ? undefined : Math.max(b.lastStep, b.firstStep + 0.5)}
                  fill={STAGE_TINTS[i % STAGE_TINTS.length]}
                  fillOpacity={0.08}
                  stroke="none"
                  label={{ value: b.label, position: 'insideTopLeft', fill: 'var(--muted)', fontSize: 10 }}
                  data-testid={`stage-band-${b.id}`}
                />
              ))}
              {changeSteps.map((step) => (
                <ReferenceLine
                  key={step}
                  x={step}
                  stroke="var(--muted)"
                  strokeDasharray="4 3"
                  label={{ value: 'weights', position: 'insideTopRight', fill: 'var(--muted)', fontSize: 10 }}
                />
              ))}
              {lines.map((l) => {
                const evalLine = isEvalKey(l.key);
                return (
                  <Line
                    key={l.key}
                    dataKey={l.key}
                    name={l.label}
                    type="linear"
                    stroke={l.color}
                    strokeWidth={l.emphasis ? 2.25 : 1.5}
                    strokeDasharray={l.dashed ? '5 4' : undefined}
                    // Eval points are sparse, real measurements: show each one.
                    dot={evalLine ? { r: 3, fill: l.color, stroke: l.color, strokeWidth: 1, strokeDasharray: '' } : stepDot}
                    activeDot={{ r: evalLine ? 5 : 3 }}
                    // Rows hold only some series (eval steps, metrics that appear later): draw across gaps.
                    connectNulls
                    legendType="plainline"
                    isAnimationActive={false}
                    shape={StillCurve}
                  />
                );
              })}
            </ComposedChart>
          </ResponsiveContainer>
        </div>
        </>
      )}
    </section>
  );
}

/** Re-renders only when its inputs change (the panel re-renders on every history append). */
export const MetricChart = memo(MetricChartImpl);
