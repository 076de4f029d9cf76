import { describe, expect, test } from 'vitest';
import { stepTicks } from './step-ticks';

describe('stepTicks', () => {
  test('round steps up to the last one, never the last one itself unless it is round', () => {
    expect(stepTicks(62)).toEqual([0, 20, 40, 60]);
    expect(stepTicks(1000)).toEqual([0, 250, 500, 750, 1000]);
    expect(stepTicks(10_000)).toEqual([0, 2500, 5000, 7500, 10_000]);
    expect(stepTicks(137)).toEqual([0, 50, 100]);
  });

  test('whole steps only, and a lone step 0', () => {
    expect(stepTicks(3)).toEqual([0, 1, 2, 3]);
    expect(stepTicks(9)).toEqual([0, 5]);
    expect(stepTicks(0)).toEqual([0]);
  });

  test('at most count ticks', () => {
    for (let last = 1; last < 3000; last += 7) expect(stepTicks(last).length).toBeLessThanOrEqual(5);
  });
});
