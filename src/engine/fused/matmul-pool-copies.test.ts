/**
 * The matmul pool where tfjs-wasm's memory is not shared (shared-heap.ts could not make it so):
 * helpers work on copies of the operands. A file of its own, since tfjs-wasm chooses its memory
 * once per process (vitest runs each test file in its own).
 */
import { describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { wasmMatmulSplitCalls } from './batch-matmul-wasm';
import { biasGelu } from './bias-gelu';
import { seededValues, testSplitProducts } from './matmul-pool-cases';
import { isSharedMemory } from './shared-heap';
import { type WasmBackendLike, tfjsMemory } from './wasm-backend';

const UNSHARED = { wasmSharedHeap: false };

describe('large wasm matmuls shared with helper threads, on copies of an unshared memory', () => {
  testSplitProducts((threads) => useBackend('wasm', { ...UNSHARED, wasmThreads: threads }));

  test('tfjs-wasm keeps its unshared memory; fused kernels stay on the calling thread', async () => {
    await useBackend('wasm', { ...UNSHARED, wasmThreads: 2 });
    expect(isSharedMemory(tfjsMemory(tf.backend() as unknown as WasmBackendLike) as WebAssembly.Memory)).toBe(false);
    const before = wasmMatmulSplitCalls() as number;
    tf.tidy(() => biasGelu(seededValues([1376, 512], 3), seededValues([512], 4)).dataSync());
    expect(wasmMatmulSplitCalls()).toBe(before);
  });
});
