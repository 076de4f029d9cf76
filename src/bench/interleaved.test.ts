import { describe, expect, test } from 'vitest';
import { timeInterleaved, wallTimed } from './interleaved';

/** A side that logs each run and answers the next of its times (warm-up runs included). */
function side(name: string, log: string[], times: number[]) {
  let i = 0;
  return async () => {
    log.push(name);
    return times[i++] as number;
  };
}

describe('timeInterleaved', () => {
  test('alternates blocks ABBA, leaves the warm-up runs out, and takes the ratio of the medians', async () => {
    const log: string[] = [];
    // Per block: one warm-up (999, never counted) and two timed runs.
    const ours = side('ours', log, [999, 10, 30, 999, 20, 20, 999, 40, 50]);
    const theirs = side('theirs', log, [999, 20, 20, 999, 10, 10, 999, 30, 30]);
    const r = await timeInterleaved(ours, theirs, { rounds: 3, block: 2, warmup: 1 });
    expect(log).toEqual([
      'ours', 'ours', 'ours', 'theirs', 'theirs', 'theirs', // round 0: ours first
      'theirs', 'theirs', 'theirs', 'ours', 'ours', 'ours', // round 1: theirs first
      'ours', 'ours', 'ours', 'theirs', 'theirs', 'theirs',
    ]);
    expect(r.ours.samplesMs).toEqual([10, 30, 20, 20, 40, 50]);
    expect(r.theirs.samplesMs).toEqual([20, 20, 10, 10, 30, 30]);
    // Medians: ours (20 + 30) / 2 = 25 of [10, 20, 20, 30, 40, 50]; theirs 20 of [10, 10, 20, 20, 30, 30].
    expect(r.ours.medianMs).toBe(25);
    expect(r.theirs.medianMs).toBe(20);
    expect(r.ratio).toBe(1.25);
    // Per round: 20 / 20, 20 / 10, 45 / 30.
    expect(r.roundRatios).toEqual([1, 2, 1.5]);
    expect(r.ours.minMs).toBe(10);
  });

  test('refuses a plan without timed runs, naming the field', async () => {
    const run = async () => 1;
    await expect(timeInterleaved(run, run, { rounds: 0, block: 1, warmup: 0 })).rejects.toThrow('rounds: must be an integer >= 1, got 0');
    await expect(timeInterleaved(run, run, { rounds: 1, block: 1.5, warmup: 0 })).rejects.toThrow('block: must be an integer >= 1, got 1.5');
    await expect(timeInterleaved(run, run, { rounds: 1, block: 1, warmup: -1 })).rejects.toThrow('warmup: must be an integer >= 0, got -1');
  });

  test('wallTimed times a run until its promise resolves', async () => {
    const ms = await wallTimed(() => new Promise((resolve) => setTimeout(resolve, 30)))();
    expect(ms).toBeGreaterThanOrEqual(25);
  });
});
