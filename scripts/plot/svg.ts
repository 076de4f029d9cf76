/**
 * Drawing panels as static SVG (axes, ticks, legend, stage markers), and the combined figure.
 */
import { type DrawnSeries, type FigureSpec, figureSeries, stageBoundaries } from './figures';
import type { MetricsRun } from './metrics';

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
