/**
 * Our SIMD batched matmul (wasm/kernels.c) as the wasm backend's BatchMatMul kernel.
 *
 * tfjs-wasm runs a matmul on XNNPACK (about 45 GFLOP/s on our 2-core machine) only when it is
 * a single 2-D product with neither operand transposed; everything else (the attention's
 * [batch x heads] products and every transposed gradient) goes to a scalar loop at about
 * 3 GFLOP/s. This kernel runs at 40-60 GFLOP/s on all of them, the model's 2-D shapes included
 * (measured against XNNPACK, up to 2048^3), so it takes every float32 matmul; anything else goes
 * back to tfjs's own kernel. Large products are shared with helper threads (matmul-pool.ts).
 * wasm-kernels.ts loads the module and registers this with the module's other kernels.
 *
 * The module instance imports the wasm backend's WebAssembly.Memory, so it reads the inputs and
 * writes the output where tfjs keeps them: no copies, and a heap growth in tfjs's module is
 * seen by ours (same Memory).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type WasmBackendLike, exported, tfjsMemory } from './wasm-backend';
import type { MatmulPool } from './matmul-pool';
import { type MatmulJob, batchMatmulArgs, scratchFloats } from './matmul-split';

const KERNEL = tf.BatchMatMul;
const BACKEND = 'wasm';
const FLOAT_BYTES = 4;

export type BatchMatMulFn = (
  a: number, b: number, out: number, batch: number, m: number, n: number, k: number,
  aBatchStride: number, aRowStride: number, aInnerStride: number,
  bBatchStride: number, bInnerStride: number, bColStride: number, outBatchStride: number, outRowStride: number, scratch: number,
) => void;

interface Installed {
  original: tf.KernelConfig;
  memory: WebAssembly.Memory;
  run: BatchMatMulFn;
  pool: MatmulPool | null;
}

let installed: Installed | null = null;
/** Matmuls our kernel computed itself (not handed back to tfjs's) in this process, for tests. */
let calls = 0;

/** For output batch index i of the broadcast batch shape `outer`, the matching index into an operand's own batch shape. */
function broadcastIndex(i: number, outer: number[], own: number[]): number {
  let index = 0;
  let stride = 1;
  let rest = i;
  // Shapes align on the right; an operand's dim of 1 repeats its one matrix along that dim.
  for (let d = 1; d <= outer.length; d++) {
    const outDim = outer[outer.length - d] as number;
    const coord = rest % outDim;
    rest = Math.floor(rest / outDim);
    if (d > own.length) continue;
    const ownDim = own[own.length - d] as number;
    if (ownDim !== 1) index += coord * stride;
    stride *= ownDim;
  }
  return index;
}

function batchMatMul(k: Installed, args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo | tf.TensorInfo[] {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
  const backend = args.backend as unknown as WasmBackendLike;
  const delegate = (): tf.TensorInfo | tf.TensorInfo[] => (k.original.kernelFunc as tf.KernelFunc)(args);
  // A backend other than the one we were built against (re-created since) keeps tfjs's kernel.
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || tfjsMemory(backend) !== k.memory) return delegate();
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return delegate();
  const [aRows, aCols] = [a.shape[ra - 2] as number, a.shape[ra - 1] as number];
  const [bRows, bCols] = [b.shape[rb - 2] as number, b.shape[rb - 1] as number];
  const m = transposeA ? aCols : aRows;
  const inner = transposeA ? aRows : aCols;
  const n = transposeB ? bRows : bCols;
  // A mismatch gets tfjs's own error message.
  if (inner !== (transposeB ? bCols : bRows)) return delegate();
  const aOuter = a.shape.slice(0, -2);
  const bOuter = b.shape.slice(0, -2);
  const batchA = tf.util.sizeFromShape(aOuter);
  const batchB = tf.util.sizeFromShape(bOuter);

  const outer = tf.broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const batch = tf.util.sizeFromShape(outer);
  const out = backend.makeOutput([...outer, m, n], 'float32');
  if (batch * m * n === 0) return out;
  calls++;
  const aPtr = backend.getMemoryOffset(a.dataId);
  const bPtr = backend.getMemoryOffset(b.dataId);
  const outPtr = backend.getMemoryOffset(out.dataId);
  // A[r][p] = a[r * aRow + p * aInner]; B[p][j] = b[p * bInner + j * bCol] (strides in floats).
  const [aRow, aInner] = transposeA ? [1, m] : [inner, 1];
  const [bInner, bCol] = transposeB ? [1, inner] : [n, 1];
  const scratch = backend.wasm._malloc(scratchFloats({ n, k: inner }) * FLOAT_BYTES);
  try {
    const aSize = m * inner;
    const bSize = inner * n;
    if ((batchA === batch || batchA === 1) && (batchB === batch || batchB === 1)) {
      // Equal batches, or one operand shared by all (batch stride 0): one job, shared with the
      // helper threads when it is large enough.
      const job: MatmulJob = {
        a: aPtr, b: bPtr, out: outPtr, batch, m, n, k: inner,
        aBatchStride: batchA === 1 ? 0 : aSize, aRow, aInner, bBatchStride: batchB === 1 ? 0 : bSize, bInner, bCol,
        outBatchStride: m * n, outRow: n,
      };
      const runHere = (j: MatmulJob): void => {
        k.run(...(batchMatmulArgs(j, scratch) as Parameters<BatchMatMulFn>));
      };
      if (!k.pool?.run(job, k.memory, runHere)) runHere(job);
    } else {
      // Both broadcast along different dims ([2, 1] with [1, 3]): one call per output matrix.
      for (let i = 0; i < batch; i++) {
        const ai = aPtr + broadcastIndex(i, outer, aOuter) * aSize * FLOAT_BYTES;
        const bi = bPtr + broadcastIndex(i, outer, bOuter) * bSize * FLOAT_BYTES;
        k.run(ai, bi, outPtr + i * m * n * FLOAT_BYTES, 1, m, n, inner, 0, aRow, aInner, 0, bInner, bCol, m * n, n, scratch);
      }
    }
  } finally {
    backend.wasm._free(scratch);
  }
  return out;
}

/** batch_matmul from an instance of our module; throws, naming it, when the module lacks it. */
export function batchMatMulFunction(exports: WebAssembly.Exports): BatchMatMulFn {
  return exported<BatchMatMulFn>(exports, 'batch_matmul');
}

/**
 * Registers `run` (an instance on tfjs's `memory`) as the wasm backend's BatchMatMul, sharing
 * large products with `pool` when there is one. Replaces an earlier registration.
 */
export function registerWasmBatchMatMul(run: BatchMatMulFn, memory: WebAssembly.Memory, pool: MatmulPool | null): void {
  unregisterWasmBatchMatMul();
  const original = tf.getKernel(KERNEL, BACKEND);
  if (!original) throw new Error("tfjs-wasm's BatchMatMul is not registered");
  const k: Installed = { original, memory, run, pool };
  tf.unregisterKernel(KERNEL, BACKEND);
  // tfjs's setup and dispose stay: they prepare the kernel we delegate to on a new backend.
  tf.registerKernel({ ...original, kernelFunc: (args) => batchMatMul(k, args) });
  installed = k;
}

/** Puts tfjs's own BatchMatMul back and stops the helper threads (a no-op when ours is not registered). */
export function unregisterWasmBatchMatMul(): void {
  if (!installed) return;
  installed.pool?.stop();
  tf.unregisterKernel(KERNEL, BACKEND);
  tf.registerKernel(installed.original);
  installed = null;
}

/** Whether our kernel is the wasm backend's BatchMatMul now. */
export function wasmBatchMatMulInstalled(): boolean {
  return installed !== null;
}

/** How many matmuls our kernel has computed in this process (null while it is not installed). */
export function wasmBatchMatMulCalls(): number | null {
  return installed ? calls : null;
}

/** Threads sharing large matmuls now (1 with no helpers, or while our kernel is not installed). */
export function wasmMatmulThreads(): number {
  return installed?.pool?.threadCount ?? 1;
}

/** Why the helper threads stopped by themselves (one did not answer), or null. */
export function wasmMatmulThreadsFailure(): string | null {
  return installed?.pool?.failure ?? null;
}

/** Calls (matmuls, and fused kernels in place) the helper threads took part in, in this process (null while our kernel is not installed). */
export function wasmMatmulSplitCalls(): number | null {
  return installed ? installed.pool?.splitCalls ?? 0 : null;
}
