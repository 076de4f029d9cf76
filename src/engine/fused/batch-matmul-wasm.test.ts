import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nodeKernelModules, tf, useBackend } from '../../node/tfjs-node';
import { causalBias, forward, initialWeights, matMul2d, positionsFor, weightShapes } from '../model';
import type { ModelConfig } from '../model-config';
import { Rng } from '../rng';
import { largestAbsDifference } from './compare';
import { wasmBatchMatMulCalls } from './batch-matmul-wasm';
import { installWasmKernels, uninstallWasmKernels } from './wasm-kernels';

/** Not a WebAssembly module: install must refuse it and change nothing. */
const BROKEN = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99]);
const BROKEN_MODULES = { unshared: BROKEN, shared: BROKEN };


function randomValues(size: number, rng: Rng): Float32Array {
  return Float32Array.from({ length: size }, () => 2 * rng.next() - 1);
}

/** Runs fn on a backend with the given input values; returns the output's values and shape. */
async function on(backend: string, inputs: Array<{ values: Float32Array; shape: number[] }>, fn: (...t: tf.Tensor[]) => tf.Tensor) {
  await useBackend(backend);
  return tf.tidy(() => {
    const y = fn(...inputs.map((x) => tf.tensor(x.values, x.shape, 'float32')));
    return { values: y.dataSync() as Float32Array, shape: y.shape };
  });
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  return largestAbsDifference(a, b);
}

/** The logical [rows, cols] of an operand stored transposed or not. */
const stored = (rows: number, cols: number, transposed: boolean): number[] => (transposed ? [cols, rows] : [rows, cols]);

interface Case { name: string; aBatch: number[]; bBatch: number[]; m: number; k: number; n: number }

const CASES: Case[] = [
  { name: 'the attention scores, [batch, heads] of 44 x 32 by 32 x 44', aBatch: [4, 4], bBatch: [4, 4], m: 44, k: 32, n: 44 },
  { name: 'odd sizes, many batches', aBatch: [7], bBatch: [7], m: 5, k: 13, n: 11 },
  { name: 'batch 1, sizes below one tile', aBatch: [], bBatch: [], m: 3, k: 1, n: 2 },
  { name: 'batch 1, several panels and a ragged edge', aBatch: [1], bBatch: [], m: 37, k: 70, n: 29 },
  { name: 'a shared by every batch of b', aBatch: [1], bBatch: [2, 3], m: 6, k: 9, n: 10 },
  { name: 'b shared by every batch of a (rank 2)', aBatch: [5], bBatch: [], m: 9, k: 4, n: 17 },
  { name: 'both broadcast, along different dims', aBatch: [2, 1], bBatch: [1, 3], m: 7, k: 5, n: 9 },
];

beforeAll(async () => {
  await useBackend('wasm');
});

afterAll(async () => {
  // Leave the wasm backend as the other test files expect it: with our kernel.
  await useBackend('wasm');
});

describe('our SIMD batched matmul on the wasm backend', () => {
  test('is installed by useBackend("wasm") and computes the attention shapes itself', async () => {
    await useBackend('wasm');
    const before = wasmBatchMatMulCalls();
    expect(before).not.toBeNull();
    tf.tidy(() => tf.matMul(tf.ones([2, 4, 44, 32]), tf.ones([2, 4, 44, 32]), false, true));
    expect(wasmBatchMatMulCalls()).toBe((before as number) + 1);
  });

  describe.each(CASES)('$name', (c) => {
    test.each([[false, false], [false, true], [true, false], [true, true]])('transposeA %s, transposeB %s: the values of cpu matMul', async (ta, tb) => {
      const rng = new Rng(c.m * 1000 + c.k * 10 + c.n);
      const aShape = [...c.aBatch, ...stored(c.m, c.k, ta)];
      const bShape = [...c.bBatch, ...stored(c.k, c.n, tb)];
      const inputs = [aShape, bShape].map((shape) => ({ shape, values: randomValues(tf.util.sizeFromShape(shape), rng) }));
      const outBatch = tf.broadcast_util.assertAndGetBroadcastShape(c.aBatch, c.bBatch);
      // The reference spells the broadcast out (tfjs-cpu's own broadcasting covers fewer cases).
      const cpu = await on('cpu', inputs, (a, b) => tf.matMul(
        tf.broadcastTo(a as tf.Tensor, [...outBatch, ...aShape.slice(-2)]), tf.broadcastTo(b as tf.Tensor, [...outBatch, ...bShape.slice(-2)]), ta, tb));
      const calls = wasmBatchMatMulCalls() as number;
      const wasm = await on('wasm', inputs, (a, b) => tf.matMul(a as tf.Tensor, b as tf.Tensor, ta, tb));
      expect(wasm.shape).toEqual([...outBatch, c.m, c.n]);
      expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThan(1e-5);
      expect(wasmBatchMatMulCalls(), 'computed by our kernel').toBe(calls + 1);
    });
  });

  test("a small model's gradients match the cpu backend's, with every matmul of forward and backward on our kernel", async () => {
    const c: ModelConfig = { name: 'odd', layers: 2, dModel: 48, heads: 3, context: 32, promptAnchor: 12, vocabSize: 70 };
    // Matrices 25x the init's scale, so that attention is far from uniform and its gradients are not small.
    const weights = Object.fromEntries(Object.entries(initialWeights(c, 5)).map(([name, w]) => [name, name.endsWith('.g') ? w : w.map((x) => 25 * x)]));
    const rng = new Rng(9);
    const valid = [[0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]];
    const tokens = valid.map((row) => row.map(() => rng.int(1, c.vocabSize - 1)));
    const mix = randomValues(valid.length * 11 * c.vocabSize, rng);
    const names = weightShapes(c).map(([name]) => name);
    const grads = (): Float32Array[] => tf.tidy(() => {
      const params = names.map((name, i) => tf.tensor(weights[name] as Float32Array, (weightShapes(c)[i] as [string, number[]])[1]));
      const loss = (...w: tf.Tensor[]) => {
        const p = Object.fromEntries(names.map((name, i) => [name, w[i] as tf.Tensor]));
        const { logits } = forward(p, c, tf.tensor2d(tokens, undefined, 'int32'), tf.tensor2d(positionsFor(valid, 11, c.promptAnchor), undefined, 'int32'), causalBias(valid));
        // A random mix of the logits, so that every gradient entry is different.
        return tf.sum(tf.mul(logits, tf.tensor(mix, logits.shape)));
      };
      return tf.grads(loss)(params).map((g) => g.dataSync() as Float32Array);
    });
    await useBackend('cpu');
    const cpu = grads();
    await useBackend('wasm');
    const calls = wasmBatchMatMulCalls() as number;
    let wasm: Float32Array[] = [];
    const profile = await tf.profile(() => { wasm = grads(); });
    const matmuls = profile.kernels.filter((kernel) => kernel.name === tf.BatchMatMul).length;
    // 2 layers x (2 forward + 4 backward) attention matmuls, plus the 2-D ones.
    expect(matmuls).toBeGreaterThan(12);
    expect((wasmBatchMatMulCalls() as number) - calls).toBe(matmuls);
    names.forEach((name, i) => {
      const scale = Math.max(1, ...Array.from(cpu[i] as Float32Array, Math.abs));
      expect(maxAbsDiff(wasm[i] as Float32Array, cpu[i] as Float32Array) / scale, name).toBeLessThan(1e-4);
    });
  });

  test('leaves no tensor and no heap behind: scratch is freed, the count and bytes stay flat', async () => {
    await useBackend('wasm');
    const memory = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
    // Scratch of k x n floats = 4 MB per call: without its free, 100 calls would grow the heap by 400 MB.
    const a = tf.ones([2, 8, 1024]);
    const b = tf.ones([2, 1000, 1024]);
    const run = () => tf.tidy(() => tf.matMul(a, b, false, true).dataSync());
    run();
    const before = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, heap: memory.buffer.byteLength };
    for (let i = 0; i < 100; i++) expect(run()[0]).toBe(1024);
    expect({ tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, heap: memory.buffer.byteLength }).toEqual(before);
    tf.dispose([a, b]);
  });

  test('falls back to tfjs: int32 matmuls go to its kernel, a broken module leaves ours in place, uninstall restores tfjs', async () => {
    await useBackend('wasm');
    const calls = wasmBatchMatMulCalls() as number;
    // tfjs-wasm has no int32 matmul; the error is tfjs's own, from its kernel.
    expect(() => tf.tidy(() => tf.matMul(tf.ones([2, 3, 3], 'int32'), tf.ones([2, 3, 3], 'int32')))).toThrow(/non-float32/);
    expect(wasmBatchMatMulCalls()).toBe(calls);

    const broken = await installWasmKernels(BROKEN_MODULES);
    expect(broken.installed).toBe(false);
    expect(broken.error).toMatch(/not in use/);
    expect(wasmBatchMatMulCalls()).toBe(calls);

    uninstallWasmKernels();
    expect(wasmBatchMatMulCalls()).toBeNull();
    const y = tf.tidy(() => tf.matMul(tf.ones([3, 2, 5]), tf.ones([3, 2, 5]), true, false).dataSync());
    expect(Array.from(y.slice(0, 3))).toEqual([2, 2, 2]);
    expect((await installWasmKernels(nodeKernelModules())).installed).toBe(true);
  });

  test("matMul2d: transpose flags with our kernel, explicit transposes with tfjs's, the same values and gradients", async () => {
    await useBackend('wasm');
    const rng = new Rng(5);
    const [a, b, bT] = [randomValues(6 * 7, rng), randomValues(7 * 5, rng), randomValues(5 * 7, rng)];
    /** matMul2d's value and the gradients of sum(y * y) for a and b, with b stored as [k, n] or [n, k]. */
    const run = (transposeB: boolean) => tf.tidy(() => {
      const [ta, tb] = [tf.tensor2d(a, [6, 7]), transposeB ? tf.tensor2d(bT, [5, 7]) : tf.tensor2d(b, [7, 5])];
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(matMul2d(x, y, transposeB))))([ta, tb]);
      return [matMul2d(ta, tb, transposeB), da as tf.Tensor, db as tf.Tensor].map((t) => t.dataSync() as Float32Array);
    });
    for (const transposeB of [false, true]) {
      const calls = wasmBatchMatMulCalls() as number;
      const ours = run(transposeB);
      expect(wasmBatchMatMulCalls()).toBeGreaterThan(calls);
      uninstallWasmKernels();
      const theirs = run(transposeB);
      expect((await installWasmKernels(nodeKernelModules())).installed).toBe(true);
      ours.forEach((x, i) => expect(maxAbsDiff(x, theirs[i] as Float32Array)).toBeLessThan(1e-4));
    }
  });
});
