import { describe, expect, test } from 'vitest';
import { median, timeRepeated } from './timing';

describe('timing', () => {
  test('median of odd and even counts', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow('median: no values');
  });

  test('warm-up runs are not timed; every repeat is', () => {
    let calls = 0;
    const t = timeRepeated(() => { calls++; }, { warmup: 2, repeats: 5 });
    expect(calls).toBe(7);
    expect(t.samplesMs).toHaveLength(5);
    expect(t.minMs).toBeLessThanOrEqual(t.medianMs);
    expect(() => timeRepeated(() => {}, { warmup: 0, repeats: 0 })).toThrow('repeats: must be an integer >= 1, got 0');
  });
});
