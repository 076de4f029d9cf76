import { describe, expect, test } from 'vitest';
import { median, timeRepeated } from './timing';

describe('timing', () => {
  test('median of odd and even counts', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow('median: no values');
  });

  test('warm-up runs are not timed; every repeat is', async () => {
    let calls = 0;
    const t = await timeRepeated(() => { calls++; }, { warmup: 2, repeats: 5 });
    expect(calls).toBe(7);
    expect(t.samplesMs).toHaveLength(5);
    expect(t.minMs).toBeLessThanOrEqual(t.medianMs);
    await expect(timeRepeated(() => {}, { warmup: 0, repeats: 0 })).rejects.toThrow('repeats: must be an integer >= 1, got 0');
  });

  test('an async workload is timed to its end', async () => {
    const t = await timeRepeated(() => new Promise((resolve) => setTimeout(resolve, 20)), { warmup: 0, repeats: 2 });
    expect(t.minMs).toBeGreaterThanOrEqual(15);
  });
});
