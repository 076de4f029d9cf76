import { describe, expect, test } from 'vitest';
import { microBatchRowsFor } from './grpo-update';
import { CPU_MICRO_BATCH_TOKENS, describeMicroBatchLimit, microBatchLimitOn } from './micro-batch-rows';
import { getPreset } from './presets';

/** `prompts` distinct prompts of `promptTokens` tokens, each in `group` rows, every completion `length` tokens long. */
function batch(prompts: number, group: number, promptTokens: number, length: number) {
  const distinct = Array.from({ length: prompts }, (_, g) => Array.from({ length: promptTokens }, (_, i) => g * 100 + i));
  const rows = distinct.flatMap((p) => Array.from({ length: group }, () => p));
  return { prompts: rows, lengths: rows.map(() => length) };
}

describe('microBatchLimitOn', () => {
  test("'auto' is one batch on WebGPU and passes of about 4,096 token columns on the CPU backends", () => {
    expect(microBatchLimitOn('auto', 'webgpu')).toEqual({ rows: 0 });
    expect(microBatchLimitOn('auto', 'wasm')).toEqual({ tokens: CPU_MICRO_BATCH_TOKENS });
    expect(microBatchLimitOn('auto', 'cpu')).toEqual({ tokens: 4096 });
    expect(describeMicroBatchLimit({ tokens: 4096 })).toBe('passes of about 4096 token columns');
    expect(describeMicroBatchLimit({ rows: 0 })).toBe('one pass over every row');
  });

  test('a number is kept on every backend', () => {
    for (const backend of ['webgpu', 'wasm', 'cpu']) {
      expect(microBatchLimitOn(0, backend)).toEqual({ rows: 0 });
      expect(microBatchLimitOn(8, backend)).toEqual({ rows: 8 });
    }
  });

  test("the r1-zero preset leaves the choice to the backend", () => {
    expect(getPreset('r1-zero').config.microBatchRows).toBe('auto');
  });
});

describe('microBatchRowsFor', () => {
  test('a row limit is taken as it is', () => {
    const b = batch(16, 8, 12, 32);
    expect(microBatchRowsFor({ rows: 32 }, b.prompts, b.lengths)).toBe(32);
    expect(microBatchRowsFor({ rows: 0 }, b.prompts, b.lengths)).toBe(0);
  });

  test('a token limit gives the fewest passes that fit, rows shared evenly in whole groups', () => {
    // The benchmark's batch: 16 x 11 prompt columns + 128 x 32 completion columns = 4,272: two passes of 64 rows.
    const bench = batch(16, 8, 12, 32);
    expect(microBatchRowsFor({ tokens: 4096 }, bench.prompts, bench.lengths)).toBe(64);
    expect(microBatchRowsFor({ tokens: 4272 }, bench.prompts, bench.lengths)).toBe(0);
    // 4,272 / 1,500: three passes; 128 / 3 = 42.7 rows, rounded up to whole groups of 8: 48.
    expect(microBatchRowsFor({ tokens: 1500 }, bench.prompts, bench.lengths)).toBe(48);
    // Short completions fit in one pass: 176 + 128 x 10 = 1,456.
    const short = batch(16, 8, 12, 10);
    expect(microBatchRowsFor({ tokens: 4096 }, short.prompts, short.lengths)).toBe(0);
  });

  test('rows whose prompts have unequal group sizes are shared evenly, one by one', () => {
    const b = batch(3, 3, 4, 20);
    const prompts = [...b.prompts, b.prompts[0] as number[]];
    const lengths = [...b.lengths, 20];
    // 3 x 3 prompt columns + 10 x 20 = 209 columns in passes of 100: three passes of ceil(10 / 3) = 4 rows.
    expect(microBatchRowsFor({ tokens: 100 }, prompts, lengths)).toBe(4);
  });
});
