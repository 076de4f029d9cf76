import { describe, expect, test } from 'vitest';
import { CPU_MICRO_BATCH_ROWS, microBatchRowsOn } from './micro-batch-rows';
import { getPreset } from './presets';

describe('microBatchRowsOn', () => {
  test("'auto' is one batch on WebGPU and 32-row micro-batches on the CPU backends", () => {
    expect(microBatchRowsOn('auto', 'webgpu')).toBe(0);
    expect(microBatchRowsOn('auto', 'wasm')).toBe(CPU_MICRO_BATCH_ROWS);
    expect(microBatchRowsOn('auto', 'cpu')).toBe(32);
  });

  test('a number is kept on every backend', () => {
    for (const backend of ['webgpu', 'wasm', 'cpu']) {
      expect(microBatchRowsOn(0, backend)).toBe(0);
      expect(microBatchRowsOn(8, backend)).toBe(8);
    }
  });

  test("the r1-zero preset leaves the choice to the backend", () => {
    expect(getPreset('r1-zero').config.microBatchRows).toBe('auto');
  });
});
