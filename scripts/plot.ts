/**
 * Plots training metrics (JSONL, one object per line) as static SVG charts, plus one combined PNG.
 *
 *   npm run plot -- runs/x.jsonl [more.jsonl ...] [--out dir] [--title text] [--smooth N]
 *
 * Figures: reward (total and per reward function), accuracy (eval pass@1, eval pass@1 with any
 * format, train accuracy reward), mean completion length, KL to the reference policy. Several
 * files overlay: one colour per file, one dash pattern per metric.
 *
 * Why hand-written SVG: recharts 3 renders an empty <div> under react-dom/server (its layout
 * runs in effects; recharts/recharts#5997, #6139), so the charts are drawn here directly. The
 * PNG comes from @resvg/resvg-js when it is installed (prebuilt binary from npm, no browser).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';

// ---------------------------------------------------------------------------------------------
// Reading metrics

/** One metrics line: its numeric fields only (strings, nulls and nested objects are ignored). */
export type MetricsRow = Record<string, number>;

export interface MetricsRun {
  /** Shown in legends: the file name without .jsonl. */
  label: string;
  rows: MetricsRow[];
}

/** Parses JSONL text; errors name the file and the 1-based line number. */
export function parseMetrics(text: string, source: string): MetricsRow[] {
  const rows: MetricsRow[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new Error(`${source}:${i + 1}: not valid JSON (${why})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new Error(`${source}:${i + 1}: expected a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value}`);
    }
    const row: MetricsRow = {};
    for (const [key, v] of Object.entries(value)) {
      if (typeof v === 'number' && Number.isFinite(v)) row[key] = v;
    }
    rows.push(row);
  });
  if (rows.length === 0) throw new Error(`${source}: no metrics lines (the file is empty)`);
  if (!rows.some((r) => r.step !== undefined)) {
    throw new Error(`${source}: no line has a numeric "step" field`);
  }
  return rows;
}

export function readMetricsFile(file: string): MetricsRun {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(error);
    throw new Error(`${file}: cannot read metrics (${why})`);
  }
  return { label: path.basename(file).replace(/\.jsonl?$/i, ''), rows: parseMetrics(text, file) };
}

// ---------------------------------------------------------------------------------------------
// Figures

interface SeriesSpec {
  key: string;
  label: string;
  /** Eval metrics are sparse: drawn with markers and never smoothed. */
  sparse?: boolean;
}

interface FigureSpec {
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

interface DrawnSeries {
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

function figureSeries(figure: FigureSpec, runs: MetricsRun[], smooth: number): DrawnSeries[] {
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

// ---------------------------------------------------------------------------------------------
// SVG drawing

const FONT = "'DejaVu Sans', 'Liberation Sans', Arial, sans-serif";
const PANEL_WIDTH = 560;
const PLOT_HEIGHT = 230;
const MARGIN = { top: 40, right: 20, left: 68 };
const AXIS_BLOCK = 46; // tick labels + x-axis label under the plot
const LEGEND_ROW = 18;

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** About 6.6 px per character at 12 px DejaVu Sans: good enough to lay out the legend. */
function textWidth(s: string, fontSize = 12): number {
  return s.length * fontSize * 0.55;
}

/** Round tick values (1, 2, 5 x 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return niceTicks(lo - pad, hi + pad, target);
  }
  const raw = (hi - lo) / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const first = Math.floor(lo / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let t = first; t <= hi + step * 0.5 && ticks.length < 50; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1]! < hi - 1e-9 * Math.abs(hi)) ticks.push(Number((first + ticks.length * step).toPrecision(12)));
  return ticks;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 10_000) return `${Number((v / 1000).toPrecision(4))}k`;
  if (abs >= 1) return String(Number(v.toPrecision(6)));
  return String(Number(v.toPrecision(3)));
}

function layoutLegend(series: DrawnSeries[], width: number): { rows: { s: DrawnSeries; x: number }[][]; height: number } {
  const rows: { s: DrawnSeries; x: number }[][] = [[]];
  let x = 0;
  for (const s of series) {
    const w = 28 + textWidth(s.label) + 18;
    if (x > 0 && x + w > width) {
      rows.push([]);
      x = 0;
    }
    rows[rows.length - 1]!.push({ s, x });
    x += w;
  }
  return { rows, height: series.length === 0 ? 0 : rows.length * LEGEND_ROW + 6 };
}

interface Panel {
  width: number;
  height: number;
  /** SVG elements, positioned from (0, 0). */
  body: string;
}

/** Draws one figure: axes, grid, series, stage boundaries, legend under the plot. */
export function renderPanel(figure: FigureSpec, runs: MetricsRun[], smooth = 1): Panel {
  const series = figureSeries(figure, runs, smooth);
  const plotW = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const legend = layoutLegend(series, plotW);
  const height = MARGIN.top + PLOT_HEIGHT + AXIS_BLOCK + legend.height + 8;
  const out: string[] = [];
  const x0 = MARGIN.left;
  const y0 = MARGIN.top;
  const smoothed = smooth > 1 && series.some((s) => !s.sparse);
  const mixed = series.some((s) => s.sparse);
  const title = smoothed ? `${figure.title} (${mixed ? 'train series: ' : ''}moving average of ${smooth})` : figure.title;
  out.push(`<text x="${x0}" y="24" font-size="15" font-weight="bold" fill="#222">${escapeXml(title)}</text>`);

  const all = series.flatMap((s) => s.points);
  if (all.length === 0) {
    out.push(`<rect x="${x0}" y="${y0}" width="${plotW}" height="${PLOT_HEIGHT}" fill="none" stroke="#bbb"/>`);
    out.push(
      `<text x="${x0 + plotW / 2}" y="${y0 + PLOT_HEIGHT / 2}" font-size="13" fill="#777" text-anchor="middle">no data for this figure</text>`,
    );
    return { width: PANEL_WIDTH, height, body: out.join('\n') };
  }

  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const xTicks = niceTicks(Math.min(...xs), Math.max(...xs));
  const [yLo, yHi] = figure.yDomain ?? [Math.min(0, ...ys), Math.max(...ys)];
  const yTicks = niceTicks(Math.min(yLo, ...ys), Math.max(yHi, ...ys));
  const xMin = xTicks[0]!;
  const xMax = xTicks[xTicks.length - 1]!;
  const yMin = yTicks[0]!;
  const yMax = yTicks[yTicks.length - 1]!;
  const sx = (x: number) => x0 + ((x - xMin) / (xMax - xMin || 1)) * plotW;
  const sy = (y: number) => y0 + PLOT_HEIGHT - ((y - yMin) / (yMax - yMin || 1)) * PLOT_HEIGHT;
  const f = (v: number) => v.toFixed(1);

  // Grid and tick labels.
  for (const t of yTicks) {
    out.push(`<line x1="${x0}" x2="${x0 + plotW}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x0 - 6}" y="${f(sy(t) + 4)}" font-size="11" fill="#444" text-anchor="end">${formatTick(t)}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${y0}" y2="${y0 + PLOT_HEIGHT}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${f(sx(t))}" y="${y0 + PLOT_HEIGHT + 16}" font-size="11" fill="#444" text-anchor="middle">${formatTick(t)}</text>`);
  }
  out.push(`<rect x="${x0}" y="${y0}" width="${plotW}" height="${PLOT_HEIGHT}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${x0 + plotW / 2}" y="${y0 + PLOT_HEIGHT + 34}" font-size="12" fill="#222" text-anchor="middle">step</text>`);
  const yMid = y0 + PLOT_HEIGHT / 2;
  out.push(
    `<text x="16" y="${yMid}" font-size="12" fill="#222" text-anchor="middle" transform="rotate(-90 16 ${yMid})">${escapeXml(figure.yLabel)}</text>`,
  );

  // Pipeline stage boundaries (from the first run: overlaid runs may differ).
  for (const mark of stageBoundaries(runs[0]?.rows ?? [])) {
    const x = f(sx(mark.x));
    out.push(`<line x1="${x}" x2="${x}" y1="${y0}" y2="${y0 + PLOT_HEIGHT}" stroke="#999" stroke-dasharray="3 3"/>`);
    out.push(`<text x="${Number(x) + 3}" y="${y0 + 11}" font-size="10" fill="#666">stage ${mark.stage}</text>`);
  }

  // Series, clipped to the plot area.
  const clipId = `clip-${figure.id}`;
  out.push(`<clipPath id="${clipId}"><rect x="${x0}" y="${y0}" width="${plotW}" height="${PLOT_HEIGHT}"/></clipPath>`);
  out.push(`<g clip-path="url(#${clipId})">`);
  for (const s of series) {
    const d = s.points.map((p, i) => `${i === 0 ? 'M' : 'L'}${f(sx(p.x))},${f(sy(p.y))}`).join('');
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.8" stroke-linejoin="round"${dash}/>`);
    if (s.markers) {
      for (const p of s.points) out.push(`<circle cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="2.6" fill="${s.color}"/>`);
    }
  }
  out.push('</g>');

  // Legend under the axis label.
  const legendTop = y0 + PLOT_HEIGHT + AXIS_BLOCK;
  legend.rows.forEach((row, r) => {
    const y = legendTop + r * LEGEND_ROW + 10;
    for (const { s, x } of row) {
      const lx = x0 + x;
      const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
      out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${y - 4}" y2="${y - 4}" stroke="${s.color}" stroke-width="2.2"${dash}/>`);
      if (s.markers) out.push(`<circle cx="${lx + 11}" cy="${y - 4}" r="2.6" fill="${s.color}"/>`);
      out.push(`<text x="${lx + 28}" y="${y}" font-size="12" fill="#222">${escapeXml(s.label)}</text>`);
    }
  });

  return { width: PANEL_WIDTH, height, body: out.join('\n') };
}

function svgDocument(width: number, height: number, body: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}

export function panelSvg(panel: Panel): string {
  return svgDocument(panel.width, panel.height, panel.body);
}

/** All panels in a two-column grid under a title. */
export function combinedSvg(panels: Panel[], title: string): string {
  const header = 36;
  const columns = 2;
  const parts: string[] = [
    `<text x="${MARGIN.left}" y="26" font-size="18" font-weight="bold" fill="#111">${escapeXml(title)}</text>`,
  ];
  let y = header;
  for (let i = 0; i < panels.length; i += columns) {
    const row = panels.slice(i, i + columns);
    row.forEach((p, c) => parts.push(`<g transform="translate(${c * PANEL_WIDTH} ${y})">\n${p.body}\n</g>`));
    y += Math.max(...row.map((p) => p.height));
  }
  return svgDocument(columns * PANEL_WIDTH, y, parts.join('\n'));
}

// ---------------------------------------------------------------------------------------------
// CLI

async function svgToPng(svg: string): Promise<Buffer | undefined> {
  let Resvg: typeof import('@resvg/resvg-js').Resvg;
  try {
    ({ Resvg } = await import('@resvg/resvg-js'));
  } catch {
    return undefined;
  }
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: '#ffffff',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return resvg.render().asPng();
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return n;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('plot')
    .description('Plot GRPO Lab metrics (JSONL) as SVG figures and one combined PNG.')
    .argument('<metrics...>', 'metrics JSONL files; several overlay as separate series')
    .option('--out <dir>', 'output folder (default: the first file\'s folder)')
    .option('--name <stem>', 'output file name stem (default: the file names joined by +)')
    .option('--title <text>', 'title of the combined figure (default: the file names)')
    .option('--smooth <n>', 'moving average over n logged points for training series (eval points are never smoothed)', positiveInt, 1)
    .option('--no-png', 'write SVG only')
    .showHelpAfterError();
  program.parse(argv, { from: 'user' });
  const files = program.args;
  const opts = program.opts<{ out?: string; name?: string; title?: string; smooth: number; png: boolean }>();

  const runs = files.map(readMetricsFile);
  const first = files[0]!;
  const outDir = opts.out ?? path.dirname(first);
  const stem = opts.name ?? runs.map((r) => r.label).join('+');
  const title = opts.title ?? runs.map((r) => r.label).join(' vs ');
  mkdirSync(outDir, { recursive: true });

  const written: string[] = [];
  const panels = FIGURES.map((figure) => {
    const panel = renderPanel(figure, runs, opts.smooth);
    const file = path.join(outDir, `${stem}.${figure.id}.svg`);
    writeFileSync(file, panelSvg(panel));
    written.push(file);
    return panel;
  });
  const combined = combinedSvg(panels, title);
  const combinedFile = path.join(outDir, `${stem}.svg`);
  writeFileSync(combinedFile, combined);
  written.push(combinedFile);

  if (opts.png) {
    const png = await svgToPng(combined);
    if (png) {
      const pngFile = path.join(outDir, `${stem}.png`);
      writeFileSync(pngFile, png);
      written.push(pngFile);
    } else {
      console.warn('plot: @resvg/resvg-js is not installed; wrote SVG only');
    }
  }
  for (const file of written) console.log(file);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`plot: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
