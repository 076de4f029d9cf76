import { describe, expect, test } from 'vitest';
import { resolveDomain, stepTicks, valueTicks } from './axis-ticks';

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

describe('valueTicks', () => {
  test('round values covering the data (hand-checked)', () => {
    // A loss from -0.59 to -0.26: spacing 0.33 / 4 = 0.083, rounded up to 0.1.
    expect(valueTicks(-0.59, -0.26)).toEqual([-0.6, -0.5, -0.4, -0.3, -0.2]);
    // KL from 0 to 0.117: spacing 0.029 → 0.05.
    expect(valueTicks(0, 0.117)).toEqual([0, 0.05, 0.1, 0.15]);
    expect(valueTicks(0, 1)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(valueTicks(0, 64)).toEqual([0, 20, 40, 60, 80]);
  });

  test('printable values, without float residue', () => {
    for (const [low, high] of [[0, 0.3], [0.1, 0.7], [-0.03, 0.09], [12, 13.7]] as const) {
      for (const t of valueTicks(low, high)) expect(String(t).length).toBeLessThan(7);
    }
  });

  test('a flat line gets an axis around it', () => {
    expect(valueTicks(0, 0)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(valueTicks(2, 2)).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('resolveDomain', () => {
  test('numbers stay, auto takes the data, functions see it', () => {
    expect(resolveDomain([0, 1], -3, 7)).toEqual([0, 1]);
    expect(resolveDomain([0, 'auto'], 0.2, 0.7)).toEqual([0, 0.7]);
    expect(resolveDomain(undefined, -0.5, 0.7)).toEqual([-0.5, 0.7]);
    expect(resolveDomain([0, (max: number) => (max > 0 ? max : 0.04)], 0, 0)).toEqual([0, 0.04]);
  });
});
