/**
 * Repeated timing with warm-up, summarised by the median (robust to the odd slow run on a
 * shared machine). Every workload the benchmark times ends in a readback (dataSync, or await
 * data()), so wall time here is the time the work really took on any backend, WebGPU included.
 */

export interface Timing {
  medianMs: number;
  minMs: number;
  /** Every timed repeat, in order (warm-up runs excluded). */
  samplesMs: number[];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median: no values');
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export interface Repeats {
  /** Untimed runs first: compile shaders, grow caches, let the JIT settle. */
  warmup: number;
  repeats: number;
}

/** Times fn; an async fn is awaited, so work that ends in await data() is timed to its end. */
export async function timeRepeated(fn: () => void | Promise<void>, r: Repeats): Promise<Timing> {
  if (!(Number.isInteger(r.repeats) && r.repeats >= 1)) throw new Error(`repeats: must be an integer >= 1, got ${r.repeats}`);
  for (let i = 0; i < r.warmup; i++) await fn();
  const samplesMs: number[] = [];
  for (let i = 0; i < r.repeats; i++) {
    const t0 = performance.now();
    await fn();
    samplesMs.push(performance.now() - t0);
  }
  return { medianMs: median(samplesMs), minMs: Math.min(...samplesMs), samplesMs };
}
