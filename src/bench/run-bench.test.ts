import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import { Tokenizer } from '../engine/tokenizer';
import { buildReport } from './report';
import { runBench } from './run-bench';
import { QUICK_SHAPES } from './shapes';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('runBench', () => {
  test('times every workload on the active backend and leaves no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const figures = await runBench(new Tokenizer(), {
      sizes: ['test'], shapes: QUICK_SHAPES, repeats: { warmup: 0, repeats: 1 }, grpoSteps: 0, leakSteps: 3,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(figures.backend).toBe('cpu');
    const [size] = figures.sizes;
    expect(size?.size).toBe('test');
    for (const w of [size?.generateCached, size?.generateCachedOnDevice, size?.generateRecompute, size?.update, size?.updateOneBatch, size?.updateWholeRows]) {
      expect(w?.medianMs).toBeGreaterThan(0);
      expect(w?.tokensPerSecond).toBeGreaterThan(0);
      expect(w?.kernels).toBeGreaterThan(0);
      expect(w?.peakBytes).toBeGreaterThan(0);
    }
    expect(figures.leak).toMatchObject({ steps: 3 });
    expect(figures.leak?.tensorsAfter).toBe(figures.leak?.tensorsBefore);
    expect(figures.grpoStep).toBeNull();
  });
});

describe('buildReport', () => {
  test('the headline ratios come from the default model on wasm and the PyTorch figures', () => {
    const workload = (medianMs: number, tokensPerSecond: number) => ({ medianMs, minMs: medianMs, samplesMs: [medianMs], tokensPerSecond, flopsPerSecond: 1, peakBytes: 1, kernels: 1 });
    const wasm = {
      backend: 'wasm', grpoStep: null, leak: null,
      sizes: [{ size: 'default' as const, parameters: 10, generateCached: workload(100, 500), generateCachedOnDevice: workload(90, 550), generateRecompute: workload(900, 50), cachedSpeedup: 10, update: workload(300, 20), updateMicroBatchRows: 32, updateOneBatch: workload(350, 18), updateWholeRows: workload(360, 17) }],
    };
    const torch = {
      torch: '1.13', threads: 1, blas: [],
      sizes: [{ size: 'default', parameters: 10, generateCached: workload(50, 1000), generateRecompute: workload(400, 125), update: workload(100, 60) }],
    };
    const r = buildReport([wasm], torch, QUICK_SHAPES, { warmup: 0, repeats: 1 }, {});
    expect(r.ratio_train_wasm_over_torch).toBe(3);
    expect(r.ratio_train_one_batch_wasm_over_torch).toBe(3.5);
    expect(r.ratio_train_whole_rows_wasm_over_torch).toBeCloseTo(3.6, 12);
    expect(r.ratio_generate_cached_speedup).toBe(10);
    expect(r.ratio_generate_wasm_over_torch).toBe(2);
    expect(r.ratio_train_wasm_over_torch_separate).toBe(3);
    // Timed in alternating blocks, the interleaved ratio is the headline; the separate one stays.
    const interleaved = { size: 'default', torch: { torch: '1.13', threads: 1, blas: [] }, plan: { rounds: 1, block: 1, warmup: 0 }, ours: workload(200, 1), theirs: workload(100, 1), ratio: 2, roundRatios: [2] };
    const both = buildReport([wasm], torch, QUICK_SHAPES, { warmup: 0, repeats: 1 }, {}, interleaved);
    expect(both.ratio_train_wasm_over_torch).toBe(2);
    expect(both.ratio_train_wasm_over_torch_separate).toBe(3);
    const failed = buildReport([wasm], torch, QUICK_SHAPES, { warmup: 0, repeats: 1 }, {}, { unavailable: 'python exited' });
    expect(failed.ratio_train_wasm_over_torch).toBe(3);
    const without = buildReport([wasm], { unavailable: 'no torch' }, QUICK_SHAPES, { warmup: 0, repeats: 1 }, {});
    expect(without.ratio_train_wasm_over_torch).toBeNull();
    expect(without.ratio_train_one_batch_wasm_over_torch).toBeNull();
    expect(without.ratio_generate_cached_speedup).toBe(10);
  });
});
