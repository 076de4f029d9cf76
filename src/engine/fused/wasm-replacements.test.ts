/**
 * Our Add, SplitV, Sum, GatherV2, Slice and Concat on wasm (wasm/kernels.c add_rows, copy_rows_to
 * and column_sum, wasm-replacements.ts)
 * against tfjs's: values on the cpu backend and with tfjs's wasm kernels, the cases handed back
 * to tfjs, gradients through both, and install / uninstall.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nodeKernelModules, tf, useBackend } from '../../node/tfjs-node';
import { Rng } from '../rng';
import { installWasmKernels, uninstallWasmKernels } from './wasm-kernels';
import { largestAbsDifference } from './compare';
import { wasmReplacementCalls } from './wasm-replacements';
import { wasmMatmulSplitCalls } from './batch-matmul-wasm';
import { sameBits } from './matmul-pool-cases';

/** Not a WebAssembly module: install must refuse it and change nothing. */
const BROKEN = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99]);
const BROKEN_MODULES = { unshared: BROKEN, shared: BROKEN };


function randomValues(size: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: size }, () => 2 * rng.next() - 1);
}

interface Out { values: number[]; shape: number[] }

/** Runs fn on a tensor of `shape` (random values from `seed`, or `values`) on the active backend. */
function run(shape: number[], seed: number, fn: (x: tf.Tensor) => tf.Tensor | tf.Tensor[], values?: number[]): Out[] {
  return tf.tidy(() => {
    const x = tf.tensor(values ?? randomValues(tf.util.sizeFromShape(shape), seed), shape, 'float32');
    const y = fn(x);
    return (Array.isArray(y) ? y : [y]).map((t) => ({ values: Array.from(t.dataSync()), shape: t.shape }));
  });
}

/** fn's outputs on the cpu backend, on wasm with tfjs's own kernels, and on wasm with ours; and how many splits and sums ours computed. */
async function threeWays(shape: number[], fn: (x: tf.Tensor) => tf.Tensor | tf.Tensor[], seed = 1) {
  await useBackend('cpu');
  const cpu = run(shape, seed, fn);
  uninstallWasmKernels();
  await useBackend('wasm', { wasmKernels: false });
  const tfjs = run(shape, seed, fn);
  await useBackend('wasm');
  const before = wasmReplacementCalls();
  expect(before, 'ours registered').not.toBeNull();
  const ours = run(shape, seed, fn);
  return { cpu, tfjs, ours, ...callsSince(before!) };
}

/** A copy kernel's check: exactly the values of cpu and of tfjs-wasm, output by output, from one call of ours. */
function expectCopiedByOurs(r: Awaited<ReturnType<typeof threeWays>>, kernel: 'splitV' | 'gather' | 'slice' | 'concat'): void {
  expect(r.ours).toEqual(r.cpu);
  expect(r.ours).toEqual(r.tfjs);
  expect(r[kernel], 'computed by ours').toBe(1);
}

type Calls = NonNullable<ReturnType<typeof wasmReplacementCalls>>;

/** How many of each kernel ours computed since `before`. */
function callsSince(before: Calls): Calls {
  const after = wasmReplacementCalls()!;
  return Object.fromEntries(Object.entries(after).map(([k, n]) => [k, n - before[k as keyof Calls]])) as Calls;
}

/** values() on cpu and on wasm with ours: their largest difference, and how many of each kernel ours computed. */
async function onCpuAndWasm(values: () => number[]) {
  await useBackend('cpu');
  const cpu = values();
  await useBackend('wasm');
  const before = wasmReplacementCalls()!;
  const wasm = values();
  return { difference: largestAbsDifference(wasm, cpu), calls: callsSince(before) };
}

beforeAll(async () => {
  await useBackend('wasm');
});

afterAll(async () => {
  // Leave the wasm backend as the other test files expect it: with all our kernels.
  await useBackend('wasm');
});

describe('our SplitV on wasm', () => {
  test('a small case by hand', async () => {
    await useBackend('wasm');
    const before = wasmReplacementCalls()!.splitV;
    const [a, b] = run([2, 3], 0, (x) => tf.split(x, [1, 2], 1), [1, 2, 3, 4, 5, 6]);
    expect(a).toEqual({ values: [1, 4], shape: [2, 1] });
    expect(b).toEqual({ values: [2, 3, 5, 6], shape: [2, 2] });
    expect(wasmReplacementCalls()!.splitV).toBe(before + 1);
  });

  test.each<[number[], number | number[], number]>([
    [[32, 43, 384], 3, -1],
    [[5, 7, 13], [3, -1, 6], 2],
    [[3, 4, 37], [1, 17, 19], -1],
    [[2, 3, 5], [2, 0, 3], 2],
    [[4, 6, 5], [1, 2, 3], 1],
    [[6, 5], 3, 0],
    [[7, 9, 2], [4, 3], 0],
    [[11], [3, 8], 0],
    [[2, 3, 4, 5], [2, 3], -1],
  ])('%j split %j along axis %i: the values of tfjs, computed by ours', async (shape, splits, axis) => {
    expectCopiedByOurs(await threeWays(shape, (x) => tf.split(x, splits, axis)), 'splitV');
  });

  test('int32 goes to tfjs', async () => {
    await useBackend('wasm');
    const before = wasmReplacementCalls()!.splitV;
    const parts = tf.tidy(() => tf.split(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32'), [2, 1], 1).map((t) => Array.from(t.dataSync())));
    expect(parts).toEqual([[1, 2, 4, 5], [3, 6]]);
    expect(wasmReplacementCalls()!.splitV).toBe(before);
  });
});

describe('our Sum on wasm', () => {
  test('small cases by hand: leading, middle and trailing axes, with and without keepDims', async () => {
    await useBackend('wasm');
    const before = wasmReplacementCalls()!.sum;
    expect(run([2, 3], 0, (x) => tf.sum(x, 0), [1, 2, 3, 4, 5, 6])).toEqual([{ values: [5, 7, 9], shape: [3] }]);
    expect(run([2, 2, 2], 0, (x) => tf.sum(x, [0, 1], true), [1, 2, 3, 4, 5, 6, 7, 8])).toEqual([{ values: [16, 20], shape: [1, 1, 2] }]);
    expect(run([2, 2, 2], 0, (x) => tf.sum(x, 1), [1, 2, 3, 4, 5, 6, 7, 8])).toEqual([{ values: [4, 6, 12, 14], shape: [2, 2] }]);
    const rows = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25];
    expect(run([5, 5], 0, (x) => tf.sum(x, 1, true), rows)).toEqual([{ values: [15, 40, 65, 90, 115], shape: [5, 1] }]);
    expect(wasmReplacementCalls()!.sum).toBe(before + 4);
  });

  test.each<[number[], number | number[], boolean]>([
    [[32, 43, 128], [0, 1], false],
    [[1376, 512], 0, false],
    [[7, 13], 0, true],
    [[3, 5, 37], [0, 1], true],
    [[3, 5, 37], [-2, -3], false],
    [[2, 3, 4, 5], [2, 0, 1], false],
    [[2, 3, 4, 5], [0, 1], true],
    [[1, 9], 0, false],
    [[3000, 3], 0, false],
    [[300, 70], 0, true],
    [[20, 9000], 0, false],
    [[32, 4, 43, 43], -1, true],
    [[7, 13], 1, false],
    [[3, 5, 37], [1, 2], true],
    [[2, 3, 5, 4], [-1, -2], false],
    [[9, 1], 1, false],
    [[6, 4], 1, true],
    [[32, 4, 43, 43], 1, true],
    [[3, 4, 5], 1, false],
    [[2, 3, 4, 5], [1, 2], true],
    [[5, 9, 1], 1, false],
  ])('%j over axes %j, keepDims %s: the values of tfjs, computed by ours', async (shape, axis, keepDims) => {
    const r = await threeWays(shape, (x) => tf.sum(x, axis, keepDims));
    expect(r.ours[0]!.shape).toEqual(r.cpu[0]!.shape);
    expect(r.ours[0]!.shape).toEqual(r.tfjs[0]!.shape);
    const rows = tf.util.sizeFromShape(shape) / r.ours[0]!.values.length;
    expect(largestAbsDifference(r.ours[0]!.values, r.cpu[0]!.values)).toBeLessThan(1e-6 * rows);
    // Each column summed in row order, as tfjs-wasm sums its transposed rows: the same floats when
    // the axes are in ascending order (tfjs transposes the reduced axes into the order given).
    const axes = tf.util.parseAxisParam(axis, shape);
    if (axes.every((d, i) => i === 0 || d > (axes[i - 1] as number))) expect(r.ours[0]!.values).toEqual(r.tfjs[0]!.values);
    else expect(largestAbsDifference(r.ours[0]!.values, r.tfjs[0]!.values)).toBeLessThan(1e-6 * rows);
    expect(r.sum, 'computed by ours').toBe(1);
  });

  test.each<[string, number[], number | number[], 'float32' | 'int32']>([
    ['int32 input', [4, 5], 0, 'int32'],
    ['no axis', [3, 4], [], 'float32'],
    ['every axis', [3, 4], [0, 1], 'float32'],
    ['a 1-D tensor', [6], 0, 'float32'],
    ['axes that are not adjacent', [3, 4, 5], [0, 2], 'float32'],
  ])('%s goes to tfjs, with its values', async (_, shape, axis, dtype) => {
    const values = Array.from({ length: tf.util.sizeFromShape(shape) }, (__, i) => (i % 7) - 3);
    const f = () => tf.tidy(() => {
      const y = tf.sum(tf.tensor(values, shape, dtype), axis);
      return { values: Array.from(y.dataSync()), shape: y.shape, dtype: y.dtype };
    });
    await useBackend('cpu');
    const cpu = f();
    await useBackend('wasm');
    const before = wasmReplacementCalls()!.sum;
    expect(f()).toEqual(cpu);
    expect(wasmReplacementCalls()!.sum).toBe(before);
  });
});

test('gradients through split and sums on wasm are those on cpu', async () => {
  const x = randomValues(6 * 5 * 11, 4);
  const [wa, wb, wc] = [randomValues(5 * 3, 5), randomValues(6 * 5, 7), randomValues(6 * 5, 6)];
  const grad = () => tf.tidy(() => {
    const g = tf.grad((t: tf.Tensor) => {
      // The attention's split, then leading- and trailing-axis sums, weighted so that every entry's gradient differs.
      const [a, b, c] = tf.split(t, [3, 2, 6], -1) as [tf.Tensor, tf.Tensor, tf.Tensor];
      const sa = tf.sum(tf.mul(tf.sum(tf.square(a), 0), tf.tensor2d(wa, [5, 3])));
      const sc = tf.sum(tf.mul(tf.sum(tf.transpose(c, [2, 0, 1]), 0, true), tf.tensor3d(wc, [1, 6, 5])));
      const sb = tf.sum(tf.mul(tf.sum(tf.square(b), -1), tf.tensor2d(wb, [6, 5])));
      return tf.addN([sa, sb, sc]);
    })(tf.tensor3d(x, [6, 5, 11]));
    return Array.from(g.dataSync());
  });
  const { difference, calls } = await onCpuAndWasm(grad);
  expect(calls.splitV).toBeGreaterThan(0);
  expect(calls.sum).toBeGreaterThan(0);
  expect(difference).toBeLessThan(1e-5);
});

describe('our GatherV2 on wasm', () => {
  // Repeated, reordered and dropped rows; a cache's shape; one row of one value; a row kept from a 1-D tensor.
  test.each<[number[], number[]]>([
    [[5, 3, 4], [4, 0, 0, 2]],
    [[8, 4, 7, 32], [7, 1, 2]],
    [[3, 1], [2]],
    [[6], [5, 0]],
  ])('%j, first-axis rows %j: the values of tfjs, computed by ours', async (shape, rows) => {
    expectCopiedByOurs(await threeWays(shape, (x) => tf.gather(x, tf.tensor1d(rows, 'int32'))), 'gather');
  });

  test('int32 values are copied too; another axis, and an index out of range, go to tfjs', async () => {
    await useBackend('wasm');
    const before = wasmReplacementCalls()!.gather;
    const values = tf.tidy(() => Array.from(tf.gather(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32'), tf.tensor1d([2, 0], 'int32')).dataSync()));
    expect(values).toEqual([5, 6, 1, 2]);
    expect(wasmReplacementCalls()!.gather).toBe(before + 1);
    const columns = tf.tidy(() => Array.from(tf.gather(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]), tf.tensor1d([1], 'int32'), 1).dataSync()));
    expect(columns).toEqual([2, 4, 6]);
    // tfjs's own error.
    expect(() => tf.tidy(() => tf.gather(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]), tf.tensor1d([3], 'int32')))).toThrow(/index value 3 is not in \[0, 2\]/);
    expect(wasmReplacementCalls()!.gather).toBe(before + 1);
  });
});

describe('our Slice and Concat on wasm', () => {
  // Cut along the first, a middle and the last axis; the shared-prompt forward's two streams; a whole tensor.
  test.each<[number[], number[], number[]]>([
    [[7, 5, 3], [2, 0, 0], [4, 5, 3]],
    [[6, 9, 4], [0, 3, 0], [6, 5, 4]],
    [[3, 4, 11], [0, 0, 2], [3, 4, 7]],
    [[1, 50, 12], [0, 14, 0], [1, 36, 12]],
    [[4, 5], [0, 0], [4, 5]],
  ])('%j from %j, size %j: the values of tfjs, computed by ours', async (shape, begin, size) => {
    expectCopiedByOurs(await threeWays(shape, (x) => tf.slice(x, begin, size)), 'slice');
  });

  test.each<[number[], number[], number]>([
    [[5, 6, 4], [2, 1, 3], 1],
    [[5, 2, 4], [2, 3], 0],
    [[3, 4, 9], [2, 7], -1],
    [[1, 40, 8], [15, 25], 1],
  ])('%j cut into %j along axis %i and joined again: the values of tfjs, computed by ours', async (shape, sizes, axis) => {
    const r = await threeWays(shape, (x) => tf.concat(tf.split(x, sizes, axis), axis));
    expect(r.ours).toEqual(r.cpu);
    expect(r.ours).toEqual(r.tfjs);
    expect(r.concat, 'computed by ours').toBe(1);
  });

  test('int32 is copied too; a slice cut along two axes goes to tfjs', async () => {
    await useBackend('wasm');
    const before = wasmReplacementCalls()!;
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
    expect(tf.tidy(() => Array.from(tf.slice(x, [1, 0], [2, 2]).dataSync()))).toEqual([3, 4, 5, 6]);
    expect(tf.tidy(() => Array.from(tf.concat([x, x], 1).dataSync()))).toEqual([1, 2, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6]);
    expect(tf.tidy(() => Array.from(tf.slice(x, [1, 1], [2, 1]).dataSync()))).toEqual([4, 6]);
    const after = wasmReplacementCalls()!;
    expect([after.slice - before.slice, after.concat - before.concat]).toEqual([1, 1]);
    x.dispose();
  });

  test('gradients through slice and concat on wasm are those on cpu', async () => {
    const x = randomValues(4 * 6 * 5, 8);
    const w = randomValues(4 * 10 * 5, 9);
    const grad = () => tf.tidy(() => {
      const g = tf.grad((t: tf.Tensor) => {
        const joined = tf.concat([tf.slice(t, [0, 2, 0], [4, 4, 5]), tf.square(t)], 1);
        return tf.sum(tf.mul(joined, tf.tensor3d(w, [4, 10, 5])));
      })(tf.tensor3d(x, [4, 6, 5]));
      return Array.from(g.dataSync());
    });
    const { difference, calls } = await onCpuAndWasm(grad);
    expect(calls.slice).toBeGreaterThan(0);
    expect(calls.concat).toBeGreaterThan(0);
    expect(difference).toBeLessThan(1e-5);
  });
});

describe('our Add on wasm', () => {
  /** a + b of the given shapes (seeded values) on the active backend: the values, bit for bit. */
  const sum = (aShape: number[], bShape: number[]): Float32Array => tf.tidy(() => {
    const a = tf.tensor(randomValues(tf.util.sizeFromShape(aShape), 11), aShape);
    const b = tf.tensor(randomValues(tf.util.sizeFromShape(bShape), 12), bShape);
    return tf.add(a, b).dataSync() as Float32Array;
  });

  // One shape; a bias row added to every row (as b, and as a); a row of rank 3; one row alone.
  test.each<[number[], number[]]>([
    [[3, 5], [3, 5]], [[4, 3, 10], [10]], [[10], [6, 10]], [[2, 3, 9], [1, 1, 9]], [[7], [7]],
  ])('%j + %j: the values of cpu, bit for bit, computed by ours', async (aShape, bShape) => {
    await useBackend('cpu');
    const cpu = sum(aShape, bShape);
    await useBackend('wasm');
    const before = wasmReplacementCalls()!;
    expect(sameBits(sum(aShape, bShape), cpu)).toBe(true);
    expect(callsSince(before).add).toBe(1);
  });

  test('other broadcasts, a scalar and int32 go to tfjs', async () => {
    await useBackend('wasm');
    const before = wasmReplacementCalls()!;
    expect(tf.tidy(() => Array.from(tf.add(tf.tensor2d([1, 2], [2, 1]), tf.tensor2d([10, 20, 30], [1, 3])).dataSync()))).toEqual([11, 21, 31, 12, 22, 32]);
    expect(tf.tidy(() => Array.from(tf.add(tf.tensor1d([1, 2]), 1).dataSync()))).toEqual([2, 3]);
    expect(tf.tidy(() => Array.from(tf.add(tf.tensor1d([1, 2], 'int32'), tf.tensor1d([3, 4], 'int32')).dataSync()))).toEqual([4, 6]);
    expect(callsSince(before).add).toBe(0);
  });

  test("a micro-batch's additions and copies are cut across the threads: the same bits as on one thread", async () => {
    // A residual add, a bias add, and the shared-prompt forward's slice and concat, at the update's size.
    const values = (): Float32Array[] => tf.tidy(() => {
      const x = tf.tensor(randomValues(1068 * 384, 13), [1, 1068, 384]);
      const y = tf.tensor(randomValues(1068 * 384, 14), [1, 1068, 384]);
      const row = tf.tensor1d(randomValues(384, 15));
      const head = tf.slice(x, [0, 0, 0], [1, 44, 384]);
      const rest = tf.slice(x, [0, 44, 0], [1, 1024, 384]);
      return [tf.add(x, y), tf.add(y, row), rest, tf.concat([rest, head], 1), tf.concat([y, x], 2)].map((t) => t.dataSync() as Float32Array);
    });
    await useBackend('wasm', { wasmThreads: 1 });
    const alone = values();
    await useBackend('wasm', { wasmThreads: 2 });
    const before = { split: wasmMatmulSplitCalls() as number, ...wasmReplacementCalls()! };
    const shared = values();
    const calls = callsSince(before);
    expect([calls.add, calls.slice, calls.concat]).toEqual([2, 2, 2]);
    // Both adds, the larger slice and both concatenations (three inputs of them large).
    expect((wasmMatmulSplitCalls() as number) - before.split).toBeGreaterThanOrEqual(5);
    shared.forEach((v, i) => expect(sameBits(v, alone[i] as Float32Array), `output ${i}`).toBe(true));
  });
});

test('installed with the module whatever `fused`, taken out by uninstall; no tensor left behind', async () => {
  await useBackend('wasm');
  expect(wasmReplacementCalls()).not.toBeNull();
  uninstallWasmKernels();
  expect(wasmReplacementCalls()).toBeNull();
  // tfjs's own kernels are back and work.
  expect(run([2, 3], 0, (x) => tf.sum(x, 0), [1, 2, 3, 4, 5, 6])).toEqual([{ values: [5, 7, 9], shape: [3] }]);
  expect((await installWasmKernels(nodeKernelModules(), { fused: false })).installed).toBe(true);
  expect(wasmReplacementCalls()).not.toBeNull();
  // A broken module changes nothing.
  expect((await installWasmKernels(BROKEN_MODULES)).installed).toBe(false);
  expect(wasmReplacementCalls()).not.toBeNull();
  expect((await installWasmKernels(nodeKernelModules())).installed).toBe(true);

  const x = tf.ones([32, 43, 384]);
  const once = () => tf.tidy(() => tf.sum(tf.split(x, 3, -1)[1] as tf.Tensor, [0, 1]).dataSync()[0]);
  once();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 20; i++) expect(once()).toBe(32 * 43);
  expect(tf.memory().numTensors).toBe(before);
  x.dispose();
});
