/**
 * Products large enough that a helper thread takes part (matmul-pool.ts's thresholds), and the
 * check every pool mode must pass: the same bits as on one thread. Shared by the pool's tests in
 * place (matmul-pool.test.ts) and on copies (matmul-pool-copies.test.ts), which need separate
 * processes because tfjs-wasm chooses its memory once per process.
 */
import { expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../rng';
import { wasmMatmulSplitCalls, wasmMatmulThreads } from './batch-matmul-wasm';

export interface MatmulCase { name: string; a: number[]; b: number[]; transposeA?: boolean; transposeB?: boolean }

export const MATMUL_CASES: MatmulCase[] = [
  { name: 'one matrix, rows not a multiple of the 4-row tile', a: [403, 256], b: [256, 200] },
  { name: 'A transposed (a weight gradient)', a: [600, 192], b: [600, 160], transposeA: true },
  { name: 'a weight gradient with more columns than rows, cut by columns (203: off the 8-column panel)', a: [900, 96], b: [900, 203], transposeA: true },
  { name: 'B transposed (a gradient through a linear layer)', a: [520, 160], b: [224, 160], transposeB: true },
  { name: 'batches, cut into runs of whole matrices', a: [8, 128, 128], b: [8, 128, 128] },
  { name: 'B shared by every batch of A', a: [6, 192, 128], b: [128, 160] },
];

/** Seeded values in [-1, 1). */
export function seededValues(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((x, y) => x * y, 1) }, () => 2 * rng.next() - 1), shape);
}

export function product(c: MatmulCase): Float32Array {
  return tf.tidy(() => tf.matMul(seededValues(c.a, 1), seededValues(c.b, 2), c.transposeA, c.transposeB).dataSync() as Float32Array);
}

/** The same floats bit for bit (NaNs and signed zeros included). */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  return x.length === y.length && x.every((bits, i) => bits === y[i]);
}

/** The products on one thread and on two; `useWasm` selects the wasm backend with that many threads. */
export function testSplitProducts(useWasm: (threads: number) => Promise<unknown>): void {
  test.each(MATMUL_CASES)('$name: the same bits as on one thread, and a helper took part', async (c) => {
    await useWasm(1);
    expect(wasmMatmulThreads()).toBe(1);
    const alone = product(c);
    await useWasm(2);
    expect(wasmMatmulThreads()).toBe(2);
    const before = wasmMatmulSplitCalls() as number;
    const shared = product(c);
    expect(wasmMatmulSplitCalls()).toBe(before + 1);
    expect(sameBits(shared, alone)).toBe(true);
  });
}
