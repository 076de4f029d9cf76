import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { Rng } from '../rng';
import { wasmMatmulSplitCalls, wasmMatmulThreads, wasmMatmulThreadsFailure } from './batch-matmul-wasm';
import { installWasmKernels } from './wasm-kernels';
import { MAX_MATMUL_THREADS, type StartHelper, matmulThreadsFor } from './matmul-pool';

const WASM = readFileSync(new URL('./wasm/kernels.wasm', import.meta.url));
const SHARED_WASM = readFileSync(new URL('./wasm/kernels-shared.wasm', import.meta.url));

interface Case { name: string; a: number[]; b: number[]; transposeA?: boolean; transposeB?: boolean }

/** Each large enough that a helper takes part (matmul-pool.ts's thresholds). */
const CASES: Case[] = [
  { name: 'one matrix, rows not a multiple of the 4-row tile', a: [403, 256], b: [256, 200] },
  { name: 'A transposed (a weight gradient)', a: [600, 192], b: [600, 160], transposeA: true },
  { name: 'B transposed (a gradient through a linear layer)', a: [520, 160], b: [224, 160], transposeB: true },
  { name: 'batches, cut into runs of whole matrices', a: [8, 128, 128], b: [8, 128, 128] },
  { name: 'B shared by every batch of A', a: [6, 192, 128], b: [128, 160] },
];

function values(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => 2 * rng.next() - 1), shape);
}

function product(c: Case): Float32Array {
  return tf.tidy(() => tf.matMul(values(c.a, 1), values(c.b, 2), c.transposeA, c.transposeB).dataSync() as Float32Array);
}

/** Installs our kernels on the active wasm backend with the given helper threads. */
async function installWith(start: StartHelper, answerMs?: number) {
  return installWasmKernels(WASM, { threads: { sharedModule: SHARED_WASM, helpers: 1, start, answerMs } });
}

afterAll(async () => {
  await useBackend('wasm');
});

describe('large wasm matmuls shared with helper threads', () => {
  test.each(CASES)('$name: the same bits as on one thread, and a helper took part', async (c) => {
    await useBackend('wasm', { wasmThreads: 1 });
    expect(wasmMatmulThreads()).toBe(1);
    const alone = product(c);
    await useBackend('wasm', { wasmThreads: 2 });
    expect(wasmMatmulThreads()).toBe(2);
    const before = wasmMatmulSplitCalls() as number;
    const shared = product(c);
    expect(wasmMatmulSplitCalls()).toBe(before + 1);
    expect(Buffer.from(shared.buffer).equals(Buffer.from(alone.buffer))).toBe(true);
  });

  test('every core shares the matmuls, up to the cap', () => {
    expect(matmulThreadsFor(1)).toBe(1);
    expect(matmulThreadsFor(2)).toBe(2);
    expect(matmulThreadsFor(64)).toBe(MAX_MATMUL_THREADS);
    expect(matmulThreadsFor(0)).toBe(1);
  });

  test("a decoding step's matmuls (128 rows, the largest) stay on the calling thread", async () => {
    await useBackend('wasm', { wasmThreads: 2 });
    const before = wasmMatmulSplitCalls() as number;
    tf.tidy(() => tf.matMul(tf.ones([128, 128]), tf.ones([128, 512])).dataSync());
    tf.tidy(() => tf.matMul(tf.ones([128, 512]), tf.ones([512, 128])).dataSync());
    expect(wasmMatmulSplitCalls()).toBe(before);
  });

  test('helpers that cannot start leave the kernel on one thread, and say why', async () => {
    await useBackend('wasm', { wasmThreads: 1 });
    const expected = product(CASES[0]!);
    const status = await installWith(() => ({ ready: Promise.reject(new Error('no threads here')), stop: () => {} }));
    expect(status).toMatchObject({ installed: true, threads: 1 });
    expect(status.threadsError).toMatch(/matmuls run on one thread: no threads here/);
    expect(product(CASES[0]!)).toEqual(expected);
  });

  test('a helper that never answers: its part is computed here, and the pool stops with a reason', async () => {
    await useBackend('wasm', { wasmThreads: 1 });
    const expected = product(CASES[0]!);
    // "Ready", but no thread behind it: the posted job is never taken.
    const status = await installWith(() => ({ ready: Promise.resolve(), stop: () => {} }), 50);
    expect(status.threads).toBe(2);
    expect(product(CASES[0]!)).toEqual(expected);
    expect(wasmMatmulThreadsFailure()).toMatch(/did not answer within 50 ms/);
    expect(wasmMatmulThreads()).toBe(1);
    expect(product(CASES[0]!)).toEqual(expected);
  });
});
