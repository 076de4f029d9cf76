/**
 * Two implementations of one workload timed in alternating blocks, so that a machine that
 * speeds up or slows down during a benchmark (a shared VM, a neighbour's job, a clock that
 * drifts) weighs on both sides alike. Timed one after the other, each side's median came from a
 * different minute: on the 2-core machine of docs/results.md, PyTorch's update took 288-369 ms
 * in five runs of the benchmark, and the ratio to it moved with it.
 *
 * A round is one block of each side, their order swapped from round to round (ABBA...). A block
 * starts with untimed runs: they take the switch from the other side (whose threads may still be
 * spinning, and whose data fills the caches) and leave the timed runs back to back, as each side
 * runs alone.
 */
import { type Timing, median } from './timing';

export interface InterleavedPlan {
  rounds: number;
  /** Timed runs per side per round. */
  block: number;
  /** Untimed runs at the start of every block. */
  warmup: number;
}

export interface InterleavedTiming {
  plan: InterleavedPlan;
  ours: Timing;
  theirs: Timing;
  /** median(ours) / median(theirs) over every timed run. */
  ratio: number;
  /** The same ratio within each round, in order: how far one round's view can stray. */
  roundRatios: number[];
}

/** A side's timed run: resolves to its time in ms. */
export type TimedRun = () => Promise<number>;

/** Times a run from outside: the wall time until its promise resolves. */
export function wallTimed(run: () => Promise<void>): TimedRun {
  return async () => {
    const t0 = performance.now();
    await run();
    return performance.now() - t0;
  };
}

function checkPlan(p: InterleavedPlan): void {
  for (const [name, value, least] of [['rounds', p.rounds, 1], ['block', p.block, 1], ['warmup', p.warmup, 0]] as const) {
    if (!(Number.isInteger(value) && value >= least)) throw new Error(`${name}: must be an integer >= ${least}, got ${value}`);
  }
}

async function block(run: TimedRun, plan: InterleavedPlan): Promise<number[]> {
  for (let i = 0; i < plan.warmup; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < plan.block; i++) samples.push(await run());
  return samples;
}

function timing(samplesMs: number[]): Timing {
  return { medianMs: median(samplesMs), minMs: Math.min(...samplesMs), samplesMs };
}

export async function timeInterleaved(ours: TimedRun, theirs: TimedRun, plan: InterleavedPlan): Promise<InterleavedTiming> {
  checkPlan(plan);
  const oursMs: number[] = [];
  const theirsMs: number[] = [];
  const roundRatios: number[] = [];
  for (let round = 0; round < plan.rounds; round++) {
    const oursFirst = round % 2 === 0;
    const firstBlock = await block(oursFirst ? ours : theirs, plan);
    const secondBlock = await block(oursFirst ? theirs : ours, plan);
    const [mine, other] = oursFirst ? [firstBlock, secondBlock] : [secondBlock, firstBlock];
    oursMs.push(...mine);
    theirsMs.push(...other);
    roundRatios.push(median(mine) / median(other));
  }
  return { plan, ours: timing(oursMs), theirs: timing(theirsMs), ratio: median(oursMs) / median(theirsMs), roundRatios };
}
