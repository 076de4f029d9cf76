/**
 * Kernels of ours in place of tfjs-wasm's own, for the cases where tfjs's are slow; every other
 * case goes to tfjs's kernel. SplitV, Slice, Concat, Sum and Add call our module's copy_rows_to,
 * column_sum, row_sum and add_rows (wasm/kernels.c); GatherV2 copies blocks within tfjs's heap.
 * The copies and additions are cut by rows across the matmul pool's threads when large
 * (kernel-split.ts).
 *
 * - SplitV of float32 (the attention's QKV split, [32, 43, 384] into three [32, 43, 128]):
 *   tfjs-wasm slices each output with one JavaScript typed-array copy per row, about 2.5 ms for
 *   2 MB. Ours copies each output's part of every row in SIMD, along any axis.
 * - Sum of float32 over leading axes ([0] of [rows, n], [0, 1] of [b, t, n]: the bias and gain
 *   gradients) or middle ones (the heads of the attention mask's gradient): tfjs-wasm
 *   transposes, then sums each row. Ours sums the columns in place.
 * - Sum of float32 over trailing axes (the softmax gradient's row sums): tfjs-wasm sums one row
 *   at a time, a chain of dependent scalar adds. Ours sums four rows at once, one per lane.
 * - GatherV2 of 4-byte values along the first axis (generation dropping finished rows from the
 *   KV cache): tfjs-wasm works out every element's source index, about 24 ns per element
 *   (12 ms for 96 rows of a [128, 4, 40, 32] cache). Each of ours is one block copy per index.
 * - Slice of 4-byte values cut along one axis (the shared-prompt forward's two streams,
 *   shared-prompt.ts): tfjs-wasm copies with typed-array sets, which on a shared heap
 *   (shared-heap.ts) run at about 2 GB/s, 3 ms for a [4096, 384] slice. Ours copies in SIMD.
 * - Concat of 4-byte values (the same forward, and the gradients of its slices): the same
 *   typed-array sets in tfjs-wasm, one per input per row.
 * - Add of float32 of one shape, or with a row broadcast (residual streams, biases, gradient
 *   accumulation): tfjs-wasm's is fast, but on one thread; after a matmul split across threads,
 *   half of its input is in the other core's cache (an add of [1068, 512] after such a matmul:
 *   0.104 ms, against 0.062 ms after one computed on this thread alone). Cut the same way, each
 *   thread adds the rows it computed.
 *
 * Both sums add in tfjs's order (each column in row order, each row in column order, from 0),
 * so the values are tfjs's, bit for bit, whenever the axes are given in ascending order (as the
 * gradients give them); tfjs follows the order given, ours does not. Other axis sets (not
 * adjacent, or every axis) and other dtypes stay with tfjs.
 *
 * Same semantics as tfjs's kernels, so installWasmKernels (wasm-kernels.ts) registers these
 * whenever it installs the module, whatever its `fused` option. tfjs's kernel configs are kept
 * (their setup prepares the kernel we delegate to) and put back by uninstall. A wasm backend
 * created after the install (another memory) gets tfjs's kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackendLike, exported, tfjsMemory } from './wasm-backend';
import { type CallSplitter, runSplittable } from './kernel-split';

const BACKEND = 'wasm';
const FLOAT_BYTES = 4;

type CopyRowsToFn = (x: number, out: number, rows: number, stride: number, outStride: number, width: number) => void;
type ColumnSumFn = (x: number, out: number, outer: number, rows: number, n: number) => void;
type RowSumFn = (x: number, out: number, rows: number, n: number) => void;
type AddRowsFn = (a: number, b: number, out: number, rows: number, width: number, bStride: number) => void;

/** The module's functions these kernels call. */
export interface ReplacementFunctions {
  copyRowsTo: CopyRowsToFn;
  columnSum: ColumnSumFn;
  rowSum: RowSumFn;
  addRows: AddRowsFn;
}

/** What the kernels call: our module's functions on tfjs's memory, and the threads that may share a large call. */
interface Context {
  f: ReplacementFunctions;
  memory: WebAssembly.Memory;
  splitter: CallSplitter | null;
}

/** Resolves the module's exports; throws, naming one, when the module lacks it (before anything is registered). */
export function replacementFunctions(exports: WebAssembly.Exports): ReplacementFunctions {
  return {
    copyRowsTo: exported<CopyRowsToFn>(exports, 'copy_rows_to'),
    columnSum: exported<ColumnSumFn>(exports, 'column_sum'),
    rowSum: exported<RowSumFn>(exports, 'row_sum'),
    addRows: exported<AddRowsFn>(exports, 'add_rows'),
  };
}

type Args = Parameters<tf.KernelFunc>[0];
type Result = tf.TensorInfo | tf.TensorInfo[];

/** tfjs's kernels, as registered before ours, by name; empty while ours are not registered. */
let originals = new Map<string, tf.KernelConfig>();
/** Splits, sums, gathers, slices, concatenations and additions we computed (not handed back to tfjs's kernels) in this process, for tests. */
const calls = { splitV: 0, sum: 0, gather: 0, slice: 0, concat: 0, add: 0 };

function splitV(ctx: Context, delegate: () => Result, args: Args): Result {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
  const backend = args.backend as unknown as WasmBackendLike;
  if (x.dtype !== 'float32' || tfjsMemory(backend) !== ctx.memory || x.shape.length === 0) return delegate();
  const a = tf.util.parseAxisParam(axis, x.shape)[0] as number;
  // Bad sizes get tfjs's own error, from its kernel.
  let sizes: number[];
  try {
    sizes = tf.backend_util.prepareSplitSize(x, numOrSizeSplits, a);
  } catch {
    return delegate();
  }
  if (sizes.some((s) => !(s >= 0)) || sizes.reduce((t, s) => t + s, 0) !== x.shape[a]) return delegate();
  // x is [outer, x.shape[a] * inner]; output i is [outer, sizes[i] * inner], from column offset[i].
  const outer = tf.util.sizeFromShape(x.shape.slice(0, a));
  const inner = tf.util.sizeFromShape(x.shape.slice(a + 1));
  const stride = (x.shape[a] as number) * inner;
  const outs = sizes.map((s) => backend.makeOutput(x.shape.map((d, i) => (i === a ? s : d)), 'float32'));
  calls.splitV++;
  // Offsets are read after every output is made (makeOutput may grow the heap; offsets stay valid).
  const xPtr = backend.getMemoryOffset(x.dataId);
  let column = 0;
  outs.forEach((out, i) => {
    const width = (sizes[i] as number) * inner;
    const outPtr = backend.getMemoryOffset(out.dataId);
    // A split along the first axis (outer 1) is one block of whole rows of the axes after it.
    if (width > 0 && outer > 0) copyRows(ctx, xPtr + column * FLOAT_BYTES, outPtr, { rows: outer, stride, outStride: width, width }, inner);
    column += width;
  });
  return outs;
}

function sum(ctx: Context, delegate: () => Result, args: Args): Result {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
  const backend = args.backend as unknown as WasmBackendLike;
  const rank = x.shape.length;
  if (x.dtype !== 'float32' || tfjsMemory(backend) !== ctx.memory || rank < 2) return delegate();
  let axes: number[];
  try {
    axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q);
  } catch {
    return delegate();
  }
  // Ours: one run of adjacent axes, p..q, short of all of them (that is one chain of adds: tfjs's).
  // x is then [outer, rows, n]: column sums of each outer matrix, or row sums when n is 1.
  const [p, q] = [axes[0] as number, axes.at(-1) as number];
  if (axes.length === 0 || axes.length === rank || q - p + 1 !== axes.length) return delegate();
  const outer = tf.util.sizeFromShape(x.shape.slice(0, p));
  const rows = tf.util.sizeFromShape(x.shape.slice(p, q + 1));
  const n = tf.util.sizeFromShape(x.shape.slice(q + 1));
  // Nothing to add: the sums are zeros, which our kernels would not write.
  if (rows === 0) return delegate();
  const out = backend.makeOutput(x.shape.flatMap((d, i) => (i < p || i > q ? [d] : keepDims ? [1] : [])), 'float32');
  if (outer * n === 0) return out;
  calls.sum++;
  const [xPtr, outPtr] = [backend.getMemoryOffset(x.dataId), backend.getMemoryOffset(out.dataId)];
  if (n === 1) ctx.f.rowSum(xPtr, outPtr, outer, rows);
  else ctx.f.columnSum(xPtr, outPtr, outer, rows, n);
  return out;
}

/** Where copy_rows_to copies: `width` floats of each of `rows` rows, `stride` apart in x and `outStride` apart in out. */
interface RowCopy { rows: number; stride: number; outStride: number; width: number }

/**
 * copy_rows_to, cut by rows across the pool's threads when it is large. One row (a slice or a
 * concatenation along the first axis) is first seen as rows of `unit` floats, the size of one
 * index of that axis, so that it too can be cut.
 */
function copyRows(ctx: Context, x: number, out: number, copy: RowCopy, unit: number): void {
  const { rows, stride, outStride, width } = copy.rows === 1 && unit > 0 && copy.width % unit === 0
    ? { rows: copy.width / unit, stride: unit, outStride: unit, width: unit }
    : copy;
  runSplittable(ctx.splitter, {
    name: 'copy_rows_to', local: ctx.f.copyRowsTo, args: [x, out, rows, stride, outStride, width], unitsArg: 2,
    advance: [[0, stride * FLOAT_BYTES], [1, outStride * FLOAT_BYTES]], floatsPerUnit: 2 * width,
  });
}

/** Whether `row` is a shape of ones but its last axis, of `width` (a bias row), no longer than `rank`. */
function isRowOf(row: readonly number[], width: number, rank: number): boolean {
  return row.length >= 1 && row.length <= rank && row.at(-1) === width && row.slice(0, -1).every((d) => d === 1);
}

/**
 * float32 a + b of one shape, or with one of them a row [..., width] added to every row of the
 * other (a bias, or a layer norm's shift): cut by rows across the pool's threads when large, so
 * that each thread adds the rows it has in cache (a thread's half of a split matmul's output).
 */
function add(ctx: Context, delegate: () => Result, args: Args): Result {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const backend = args.backend as unknown as WasmBackendLike;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || tfjsMemory(backend) !== ctx.memory) return delegate();
  const same = tf.util.arraysEqual(a.shape, b.shape);
  // The full operand first; a row operand second, read with stride 0.
  const [full, other] = same || isRowOf(b.shape, a.shape.at(-1) as number, a.shape.length) ? [a, b]
    : isRowOf(a.shape, b.shape.at(-1) as number, b.shape.length) ? [b, a] : [null, null];
  if (!full || !other || full.shape.length === 0) return delegate();
  const out = backend.makeOutput(full.shape, 'float32');
  const width = full.shape.at(-1) as number;
  const rows = tf.util.sizeFromShape(full.shape) / Math.max(1, width);
  if (rows * width === 0) return out;
  calls.add++;
  const bStride = same ? width : 0;
  const [fullPtr, otherPtr, outPtr] = [full, other, out].map((t) => backend.getMemoryOffset(t.dataId)) as [number, number, number];
  runSplittable(ctx.splitter, {
    name: 'add_rows', local: ctx.f.addRows, args: [fullPtr, otherPtr, outPtr, rows, width, bStride], unitsArg: 3,
    advance: [[0, width * FLOAT_BYTES], [1, bStride * FLOAT_BYTES], [2, width * FLOAT_BYTES]], floatsPerUnit: (same ? 3 : 2) * width,
    // A gradient's accumulation ([128, 512] + [128, 512], 196,608 floats) took 0.053-0.061 ms
    // cut and 0.029 whole; a micro-batch's residual add ([1068, 128], 410,112) 0.024-0.026 cut
    // against 0.033-0.035 with tfjs's (each timed after a product on two threads).
    minPartFloats: 1 << 17,
  });
  return out;
}

/**
 * A slice cut along one axis (the other axes whole): one run of floats per index of the axes
 * before it, all runs the same stride apart. Slices cut along several axes go to tfjs.
 */
function slice(ctx: Context, delegate: () => Result, args: Args): Result {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
  const backend = args.backend as unknown as WasmBackendLike;
  if (!['float32', 'int32'].includes(x.dtype) || tfjsMemory(backend) !== ctx.memory || x.shape.length === 0) return delegate();
  let starts: number[], sizes: number[];
  try {
    [starts, sizes] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size) as [number[], number[]];
    tf.slice_util.assertParamsValid(x as tf.Tensor, starts, sizes);
  } catch {
    // Bad parameters get tfjs's own error, from its kernel.
    return delegate();
  }
  const cut = x.shape.map((d, i) => i).filter((i) => sizes[i] !== x.shape[i]);
  if (cut.length > 1) return delegate();
  const out = backend.makeOutput(sizes, x.dtype);
  const a = cut[0] ?? 0;
  // x is [rows, shape[a] * inner]; the slice is columns [start, start + width) of every row.
  const rows = tf.util.sizeFromShape(x.shape.slice(0, a));
  const inner = tf.util.sizeFromShape(x.shape.slice(a + 1));
  const width = (sizes[a] as number) * inner;
  if (rows * width === 0) return out;
  calls.slice++;
  const from = backend.getMemoryOffset(x.dataId) + (starts[a] as number) * inner * FLOAT_BYTES;
  // float32 and int32 alike: copy_rows_to moves 4-byte words as bits.
  copyRows(ctx, from, backend.getMemoryOffset(out.dataId), { rows, stride: (x.shape[a] as number) * inner, outStride: width, width }, inner);
  return out;
}

/** A concatenation of 4-byte values along any axis: each input's part of every output row, one SIMD copy per input. */
function concat(ctx: Context, delegate: () => Result, args: Args): Result {
  const inputs = args.inputs as unknown as tf.TensorInfo[];
  const backend = args.backend as unknown as WasmBackendLike;
  const first = inputs[0];
  if (!first || !['float32', 'int32'].includes(first.dtype) || inputs.some((t) => t.dtype !== first.dtype) || tfjsMemory(backend) !== ctx.memory) return delegate();
  let a: number, shape: number[];
  try {
    a = tf.util.parseAxisParam((args.attrs as unknown as { axis: number }).axis, first.shape)[0] as number;
    tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), a);
    shape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), a);
  } catch {
    // Mismatched shapes get tfjs's own error, from its kernel.
    return delegate();
  }
  const out = backend.makeOutput(shape, first.dtype);
  // The output is [rows, outWidth]; input i fills columns [column, column + width_i) of every row.
  const rows = tf.util.sizeFromShape(shape.slice(0, a));
  const outWidth = tf.util.sizeFromShape(shape.slice(a));
  if (rows * outWidth === 0) return out;
  calls.concat++;
  const outPtr = backend.getMemoryOffset(out.dataId);
  let column = 0;
  for (const t of inputs) {
    const width = tf.util.sizeFromShape(t.shape.slice(a));
    if (width > 0) copyRows(ctx, backend.getMemoryOffset(t.dataId), outPtr + column * FLOAT_BYTES, { rows, stride: width, outStride: outWidth, width }, tf.util.sizeFromShape(t.shape.slice(a + 1)));
    column += width;
  }
  return out;
}

/** Whole blocks x[indices[i]] along the first axis: the same values as tfjs's, copied a block at a time. */
function gather(ctx: Context, delegate: () => Result, args: Args): Result {
  const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
  const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
  const backend = args.backend as unknown as WasmBackendLike;
  if (!['float32', 'int32'].includes(x.dtype) || indices.dtype !== 'int32' || tfjsMemory(backend) !== ctx.memory || x.shape.length === 0) return delegate();
  if (tf.util.parseAxisParam(axis, x.shape)[0] !== 0 || (batchDims ?? 0) !== 0) return delegate();
  const rows = x.shape[0] as number;
  const picks = backend.readSync(indices.dataId) as Int32Array;
  // An index out of range gets tfjs's own handling.
  if (picks.some((i) => i < 0 || i >= rows)) return delegate();
  const block = tf.util.sizeFromShape(x.shape.slice(1));
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], x.dtype);
  calls.gather++;
  // Views made after makeOutput, which may grow the heap (offsets stay valid, buffers do not).
  // Int32 words: float32 and int32 values alike are copied as bits.
  const heap = new Int32Array(ctx.memory.buffer);
  const [from, to] = [backend.getMemoryOffset(x.dataId) / heap.BYTES_PER_ELEMENT, backend.getMemoryOffset(out.dataId) / heap.BYTES_PER_ELEMENT];
  picks.forEach((row, i) => heap.copyWithin(to + i * block, from + row * block, from + (row + 1) * block));
  return out;
}

const KERNELS: Record<string, (ctx: Context, delegate: () => Result, args: Args) => Result> = {
  [tf.Add]: add,
  [tf.SplitV]: splitV,
  [tf.Sum]: sum,
  [tf.GatherV2]: gather,
  [tf.Slice]: slice,
  [tf.Concat]: concat,
};

/**
 * Registers our Add, SplitV, Sum, GatherV2, Slice and Concat on the wasm backend, calling an instance of our module that
 * imports `memory` (tfjs's), in place of tfjs's own (kept, for the cases ours hand back); large copies and additions
 * are cut across `splitter`'s threads.
 */
export function registerWasmReplacements(f: ReplacementFunctions, memory: WebAssembly.Memory, splitter: CallSplitter | null = null): void {
  unregisterWasmReplacements();
  const ctx: Context = { f, memory, splitter };
  for (const [name, kernel] of Object.entries(KERNELS)) {
    const original = tf.getKernel(name, BACKEND);
    if (!original) continue;
    const theirs = original.kernelFunc as tf.KernelFunc;
    tf.unregisterKernel(name, BACKEND);
    // tfjs's setup and dispose stay: they prepare the kernel we delegate to on a new backend.
    tf.registerKernel({ ...original, kernelFunc: (args) => kernel(ctx, () => theirs(args), args) });
    originals.set(name, original);
  }
}

/** Puts tfjs's own Add, SplitV, Sum, GatherV2, Slice and Concat back (a no-op when ours are not registered). */
export function unregisterWasmReplacements(): void {
  for (const [name, original] of originals) {
    if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
    tf.registerKernel(original);
  }
  originals = new Map();
}

/** How many splits, sums, gathers, slices, concatenations and additions ours have computed in this process (null while ours are not registered). */
export function wasmReplacementCalls(): { splitV: number; sum: number; gather: number; slice: number; concat: number; add: number } | null {
  return originals.size > 0 ? { ...calls } : null;
}
