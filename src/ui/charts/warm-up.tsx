/**
 * Draws one throwaway chart, out of sight, while the page is idle after loading.
 *
 * The first chart recharts ever draws on a page runs code the browser has not compiled yet: in
 * headless Chromium on a 2-core machine that first draw took one task of 77-138 ms, the same
 * chart drawn again later 20-40 ms. Without this, the first draw came with the first metrics
 * of a run, a long task right after pressing Start (or on loading a long history). Drawing a
 * chart with every part the lab's charts use (lines, eval dots, a band, a stage band, a weight
 * change marker, the tooltip) while nothing trains moves that cost to the idle page.
 */
import { createRoot } from 'react-dom/client';
import type { MetricPoint } from '../../../workers/protocol';
import { MetricChart, type ChartLine } from './MetricChart';

/** Set on <html> once the throwaway chart has been drawn and removed (tests wait for it). */
export const CHARTS_WARM_ATTRIBUTE = 'data-charts-warm';

const LINES: readonly ChartLine[] = [
  { key: 'reward', label: 'reward', color: 'var(--chart-fg)', emphasis: true },
  { key: 'loss', label: 'loss', color: 'var(--chart-blue)', dashed: true },
  { key: 'eval/pass@1', label: 'held-out', color: 'var(--chart-green)' },
];
const BAND = { lowKey: 'low', highKey: 'high', label: 'band', color: 'var(--chart-blue)' };
/** Rows of a made-up run, with a held-out evaluation every fifth step. */
function history(steps: number): MetricPoint[] {
  return Array.from({ length: steps }, (_, i) => ({
    step: i + 1,
    stage: 'r1-zero',
    values: { reward: i / steps, loss: 1 / (i + 1), low: 0, high: i, ...(i % 5 === 0 ? { 'eval/pass@1': i / steps } : {}) },
  }));
}
/**
 * The chart is drawn, then redrawn with more rows, as a run's first batches do: the browser
 * optimises code it has run a few times, and one draw alone left the real first draw at 56-74 ms.
 */
const DRAWS = [3, 20, 60];
/** Between draws: other work gets in, and each draw is its own task. */
const GAP_MS = 50;
const STAGES = [{ id: 'r1-zero', label: 'R1-Zero', firstStep: 1 }];
const WEIGHT_CHANGES = [{ step: 2, weights: {} }];

let scheduled = false;

/** Once per page: when the main thread is next idle (within 2 s), draw and remove the chart. */
export function scheduleChartWarmUp(): void {
  if (scheduled || typeof document === 'undefined') return;
  scheduled = true;
  const idle = window.requestIdleCallback ?? ((fn: () => void) => setTimeout(fn, 200));
  idle(drawThrowawayChart, { timeout: 2000 });
}

function drawThrowawayChart(): void {
  const host = document.createElement('div');
  host.setAttribute('aria-hidden', 'true');
  // Laid out (so the chart really draws) but out of sight and out of the page's flow.
  host.style.cssText = 'position:fixed;left:-10000px;top:0;width:480px;visibility:hidden;pointer-events:none';
  document.body.appendChild(host);
  const root = createRoot(host);
  const draw = (i: number) => {
    if (i === DRAWS.length) {
      root.unmount();
      host.remove();
      document.documentElement.setAttribute(CHARTS_WARM_ATTRIBUTE, 'true');
      return;
    }
    root.render(
      <MetricChart
        id="warm-up"
        title=""
        explanation=""
        lines={LINES}
        band={BAND}
        history={history(DRAWS[i] ?? 0)}
        historyVersion={i}
        smoothing={0.5}
        weightChanges={WEIGHT_CHANGES}
        stageBands={STAGES}
      />,
    );
    setTimeout(() => draw(i + 1), GAP_MS);
  };
  draw(0);
}
