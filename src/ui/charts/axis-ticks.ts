/**
 * The charts' axis labels, at round values: 1, 2, 2.5 or 5 times a power of ten.
 *
 * recharts' own ticks end an axis at its data's extreme (an x axis on [0, dataMax] ends at
 * step 62, whose label lands on 60's: "6062"; a KL axis ends at 0.117), and on an 'auto' axis
 * they can step by 0.085. With every label drawn (interval 0, which spares recharts measuring
 * them) the charts need round values chosen here instead.
 */
import type { AxisDomain } from 'recharts';

const MULTIPLES = [1, 2, 2.5, 5, 10];

/** The smallest round spacing at or above `wanted` (a whole number where `whole`). */
function roundSpacing(wanted: number, whole: boolean): number {
  const magnitude = 10 ** Math.floor(Math.log10(wanted));
  const candidates = MULTIPLES.map((m) => Number((m * magnitude).toPrecision(6)));
  return candidates.find((s) => s >= wanted && (!whole || Number.isInteger(s))) ?? 10 * magnitude;
}

/** Labels for the step axis: round steps from 0 up to the last step drawn, at most `count`; the last step itself only when it is round. */
export function stepTicks(lastStep: number, count = 5): number[] {
  if (!(lastStep > 0) || count < 2) return [0];
  const spacing = roundSpacing(lastStep / (count - 1), true);
  const ticks: number[] = [];
  for (let t = 0; t <= lastStep; t += spacing) ticks.push(t);
  return ticks;
}

/** Labels for a value axis covering [low, high]: round values from at or below low to at or above high, about `count` of them. */
export function valueTicks(low: number, high: number, count = 5): number[] {
  if (!Number.isFinite(low) || !Number.isFinite(high)) return [0, 1];
  // A flat line still gets an axis: around its value, or 0 to 1 at 0.
  if (high - low < 1e-12) [low, high] = low === 0 ? [0, 1] : [Math.min(0, 2 * low), Math.max(0, 2 * high)];
  const spacing = roundSpacing((high - low) / (count - 1), false);
  const digits = Math.max(0, 1 - Math.floor(Math.log10(spacing)));
  const first = Math.floor(low / spacing + 1e-9);
  const last = Math.ceil(high / spacing - 1e-9);
  return Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * spacing).toFixed(digits)));
}

/** A recharts y domain ([0, 1], [0, 'auto'], [0, max => ...], or none for ['auto', 'auto']) applied to the data's extent; other words count as 'auto'. */
export function resolveDomain(domain: AxisDomain | undefined, dataLow: number, dataHigh: number): [number, number] {
  if (typeof domain === 'function') { const [low, high] = domain([dataLow, dataHigh], false); return [low, high]; }
  const [low, high] = Array.isArray(domain) ? domain : ['auto', 'auto'];
  const end = (bound: unknown, data: number): number => {
    if (typeof bound === 'number') return bound;
    if (typeof bound === 'function') return Number((bound as (x: number, overflow: boolean) => number)(data, false));
    return data;
  };
  return [end(low, dataLow), end(high, dataHigh)];
}
