import { afterAll, describe, expect, test } from 'vitest';
import { nodeKernelModules, tf, useBackend } from '../../node/tfjs-node';
import { startNodeHelper } from '../../node/matmul-threads';
import { wasmMatmulSplitCalls, wasmMatmulThreads, wasmMatmulThreadsFailure } from './batch-matmul-wasm';
import { installWasmKernels } from './wasm-kernels';
import { MAX_MATMUL_THREADS, type StartHelper, matmulThreadsFor } from './matmul-pool';
import { MATMUL_CASES, product, sameBits, seededValues, testSplitProducts } from './matmul-pool-cases';
import { biasGelu } from './bias-gelu';
import { attention } from './attention';
import { causalBias } from '../model';
import { isSharedMemory } from './shared-heap';
import { type WasmBackendLike, tfjsMemory } from './wasm-backend';

const CASES = MATMUL_CASES;

/** Installs our kernels on the active wasm backend with the given helper threads. */
async function installWith(start: StartHelper, answerMs?: number) {
  return installWasmKernels(nodeKernelModules(), { threads: { helpers: 1, start, answerMs } });
}

afterAll(async () => {
  await useBackend('wasm');
});

describe('large wasm matmuls shared with helper threads, in place on tfjs\'s shared memory', () => {
  testSplitProducts((threads) => useBackend('wasm', { wasmThreads: threads }));

  test('tfjs-wasm runs on a shared memory, and the helpers work in place on it', async () => {
    await useBackend('wasm', { wasmThreads: 1 });
    expect(isSharedMemory(tfjsMemory(tf.backend() as unknown as WasmBackendLike) as WebAssembly.Memory)).toBe(true);
    const status = await installWasmKernels(nodeKernelModules(), { threads: { helpers: 1, start: startNodeHelper } });
    expect(status).toMatchObject({ installed: true, threads: 2, inPlace: true });
  });

  test('a training batch\'s bias + GELU and attention kernels are cut across the threads: the same bits and gradients as on one thread', async () => {
    // The update's shapes: 32 rows of 43 tokens, 4 heads of 32.
    const x = seededValues([1376, 512], 3);
    const bias = seededValues([512], 4);
    const qkv = tf.tidy(() => tf.mul(seededValues([32, 43, 384], 5), 2));
    const mask = causalBias(Array.from({ length: 32 }, (_, b) => Array.from({ length: 43 }, (_, t) => (t < b % 7 ? 0 : 1))));
    // The shared-prompt forward's rows query their last 32 tokens.
    const rowMask = tf.slice(mask, [0, 0, 11, 0], [32, 1, 32, 43]);
    const run = (): Float32Array[] => tf.tidy(() => {
      const [dx, dBias] = tf.grads((a: tf.Tensor, c: tf.Tensor) => tf.sum(tf.square(biasGelu(a, c))))([x, bias]);
      const dqkv = tf.grad((q: tf.Tensor) => tf.sum(tf.square(attention(q, mask, 4, 0.17))))(qkv);
      const dRows = tf.grad((q: tf.Tensor) => tf.sum(tf.square(attention(q, rowMask, 4, 0.17))))(qkv);
      return [biasGelu(x, bias), dx!, dBias!, attention(qkv, mask, 4, 0.17), dqkv, attention(qkv, rowMask, 4, 0.17), dRows].map((t) => t.dataSync() as Float32Array);
    });
    await useBackend('wasm', { wasmThreads: 1 });
    const alone = run();
    await useBackend('wasm', { wasmThreads: 2 });
    const before = wasmMatmulSplitCalls() as number;
    const shared = run();
    // Bias + GELU and its gradient, and the attention's three kernels twice, each cut once (besides the matmuls).
    expect((wasmMatmulSplitCalls() as number) - before).toBeGreaterThanOrEqual(8);
    shared.forEach((values, i) => expect(sameBits(values, alone[i] as Float32Array), `output ${i}`).toBe(true));
    tf.dispose([x, bias, qkv, mask, rowMask]);
  });

  test('a helper asleep between jobs is woken for the next one (it is notified only while asleep)', async () => {
    // A short answer time: a job posted to a sleeping helper without a notify would stop the pool.
    await useBackend('wasm', { wasmThreads: 1 });
    await installWith(startNodeHelper, 2000);
    const expected = CASES.map((c) => product(c));
    for (let round = 0; round < 3; round++) {
      // Far longer than the helper's spin before it sleeps (SPIN_CHECKS, a fraction of a millisecond).
      await new Promise((resolve) => setTimeout(resolve, 30));
      const before = wasmMatmulSplitCalls() as number;
      CASES.forEach((c, i) => expect(product(c), `round ${round}, case ${i}`).toEqual(expected[i]));
      expect(wasmMatmulSplitCalls() as number).toBeGreaterThan(before);
    }
    expect(wasmMatmulThreadsFailure()).toBeNull();
    expect(wasmMatmulThreads()).toBe(2);
  });

  test('every core shares the matmuls, up to the cap', () => {
    expect(matmulThreadsFor(1)).toBe(1);
    expect(matmulThreadsFor(2)).toBe(2);
    expect(matmulThreadsFor(64)).toBe(MAX_MATMUL_THREADS);
    expect(matmulThreadsFor(0)).toBe(1);
  });

  test("small products stay on the calling thread (a 16-row decoding step's, 128 x 128 x 128); a 128-row step's MLP products are shared", async () => {
    await useBackend('wasm', { wasmThreads: 2 });
    const before = wasmMatmulSplitCalls() as number;
    tf.tidy(() => tf.matMul(tf.ones([16, 128]), tf.ones([128, 512])).dataSync());
    tf.tidy(() => tf.matMul(tf.ones([16, 512]), tf.ones([512, 128])).dataSync());
    tf.tidy(() => tf.matMul(tf.ones([128, 128]), tf.ones([128, 128])).dataSync());
    expect(wasmMatmulSplitCalls()).toBe(before);
    tf.tidy(() => tf.matMul(tf.ones([128, 128]), tf.ones([128, 512])).dataSync());
    tf.tidy(() => tf.matMul(tf.ones([128, 512]), tf.ones([512, 128])).dataSync());
    expect(wasmMatmulSplitCalls()).toBe(before + 2);
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
