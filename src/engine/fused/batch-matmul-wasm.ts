/**
 * Our SIMD batched matmul (wasm/kernels.c) as the wasm backend's BatchMatMul kernel.
 *
 * tfjs-wasm runs a matmul on XNNPACK (about 45 GFLOP/s on our 2-core machine) only when it is
 * a single 2-D product with neither operand transposed; everything else (the attention's
 * [batch x heads] products and every transposed gradient) goes to a scalar loop at about
 * 3 GFLOP/s. This kernel runs at 40-60 GFLOP/s on all of them, the model's 2-D shapes included
 * (measured against XNNPACK, up to 2048^3), so it takes every float32 matmul; anything else goes
 * back to tfjs's own kernel. The same module holds the wasm versions of the fused kernels
 * (wasm-fused-kernels.ts), and installWasmKernels registers them all from one load.
 *
 * The compiled module imports the wasm backend's WebAssembly.Memory, so it reads the inputs and
 * writes the output where tfjs keeps them: no copies, and a heap growth in tfjs's module is
 * seen by ours (same Memory). Loading is the caller's part (the bytes come from a file in Node
 * and from the app's own origin in the browser); install never throws, it reports why not.
 */
import * as tf from '@tensorflow/tfjs-core';
import { exported, registerWasmFusedKernels, unregisterWasmFusedKernels, wasmFusedCalls } from './wasm-fused-kernels';
import { registerWasmSplitSum, splitSumFunctions, unregisterWasmSplitSum } from './wasm-split-sum';
import { MatmulPool, type StartHelper } from './matmul-pool';
import { type MatmulJob, scratchFloats } from './matmul-split';

const KERNEL = tf.BatchMatMul;
const BACKEND = 'wasm';
const FLOAT_BYTES = 4;

/** The parts of tfjs-wasm's backend (BackendWasm) and its emscripten module that we use. */
interface WasmBackendLike {
  wasm: { asm?: { memory?: unknown }; _malloc(bytes: number): number; _free(ptr: number): void };
  getMemoryOffset(dataId: object): number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

type BatchMatMulFn = (
  a: number, b: number, out: number, batch: number, m: number, n: number, k: number,
  aBatchStride: number, aRowStride: number, aInnerStride: number,
  bBatchStride: number, bInnerStride: number, bColStride: number, scratch: number,
) => void;

export interface WasmKernelsStatus {
  installed: boolean;
  /** Why not, when not installed. */
  error?: string;
  /** Threads that share a large matmul (1: the calling thread alone). */
  threads: number;
  /** Why the requested helper threads are not in use, when they are not. */
  threadsError?: string;
}

interface Installed {
  original: tf.KernelConfig;
  memory: WebAssembly.Memory;
  run: BatchMatMulFn;
  pool: MatmulPool | null;
}

let installed: Installed | null = null;
/** Matmuls our kernel computed itself (not handed back to tfjs's) in this process, for tests. */
let calls = 0;

function tfjsMemory(backend: WasmBackendLike): WebAssembly.Memory | null {
  const memory = backend.wasm.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

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
      };
      const runHere = (j: MatmulJob): void => {
        k.run(j.a, j.b, j.out, j.batch, j.m, j.n, j.k, j.aBatchStride, j.aRow, j.aInner, j.bBatchStride, j.bInner, j.bCol, scratch);
      };
      if (!k.pool?.run(job, k.memory, runHere)) runHere(job);
    } else {
      // Both broadcast along different dims ([2, 1] with [1, 3]): one call per output matrix.
      for (let i = 0; i < batch; i++) {
        const ai = aPtr + broadcastIndex(i, outer, aOuter) * aSize * FLOAT_BYTES;
        const bi = bPtr + broadcastIndex(i, outer, bOuter) * bSize * FLOAT_BYTES;
        k.run(ai, bi, outPtr + i * m * n * FLOAT_BYTES, 1, m, n, inner, 0, aRow, aInner, 0, bInner, bCol, scratch);
      }
    }
  } finally {
    backend.wasm._free(scratch);
  }
  return out;
}

/** Helper threads for large matmuls (matmul-pool.ts). */
export interface MatmulThreadOptions {
  /** kernels-shared.wasm: the same kernels, built for a shared memory. */
  sharedModule: BufferSource | Promise<BufferSource>;
  /** Threads besides the calling one (0: none). */
  helpers: number;
  /** How this environment starts a thread (Node: worker_threads; browser: Worker). */
  start: StartHelper;
  /** How long a helper may take over its part before it is taken for dead (default ANSWER_MS). */
  answerMs?: number;
}

export interface WasmKernelOptions {
  /** Register the fused kernels too (default true); false for benchmarks of the matmul alone. */
  fused?: boolean;
  /** Share large matmuls with helper threads; without it, every matmul runs on the calling thread. */
  threads?: MatmulThreadOptions;
}

/** The pool, or why there is none; a failure here leaves the single-threaded kernel in place. */
async function startPool(options: MatmulThreadOptions | undefined): Promise<{ pool: MatmulPool | null; error?: string }> {
  if (!options || options.helpers < 1) return { pool: null };
  try {
    const module = await WebAssembly.compile(await options.sharedModule);
    return { pool: await MatmulPool.start(module, options.helpers, options.start, options.answerMs) };
  } catch (e) {
    return { pool: null, error: `matmuls run on one thread: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/**
 * Compiles the module against the active wasm backend's memory and registers it as that
 * backend's BatchMatMul and the fused kernels (replacing an earlier install). Call after
 * tf.setBackend('wasm') and tf.ready(). On any failure, tfjs's own kernels (and the composite
 * ops) stay and the status says why.
 */
export async function installWasmKernels(
  bytes: BufferSource | Promise<BufferSource>, options: WasmKernelOptions = {},
): Promise<WasmKernelsStatus> {
  try {
    const backend = tf.findBackend(BACKEND) as unknown as WasmBackendLike | null;
    if (!backend) throw new Error('the wasm backend is not initialised');
    const memory = tfjsMemory(backend);
    if (!memory) throw new Error("tfjs-wasm's module does not expose its WebAssembly.Memory");
    // The multi-threaded build's memory is shared; our module declares an unshared one.
    if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) {
      throw new Error('the multi-threaded wasm build is in use (shared memory)');
    }
    const { instance } = await WebAssembly.instantiate(await bytes, { env: { memory } });
    // Every export is resolved before anything is unregistered: a broken module changes nothing.
    const run = exported<BatchMatMulFn>(instance.exports, 'batch_matmul');
    const fused = wasmFusedCalls(instance.exports);
    const splitSum = splitSumFunctions(instance.exports);
    uninstallWasmKernels();
    const original = tf.getKernel(KERNEL, BACKEND);
    if (!original) throw new Error("tfjs-wasm's BatchMatMul is not registered");
    const { pool, error: threadsError } = await startPool(options.threads);
    const k: Installed = { original, memory, run, pool };
    tf.unregisterKernel(KERNEL, BACKEND);
    // tfjs's setup and dispose stay: they prepare the kernel we delegate to on a new backend.
    tf.registerKernel({ ...original, kernelFunc: (args) => batchMatMul(k, args) });
    installed = k;
    if (options.fused ?? true) registerWasmFusedKernels(fused, memory);
    // SplitV and Sum (wasm-split-sum.ts) have tfjs's semantics: always in, whatever `fused`.
    registerWasmSplitSum(splitSum, memory);
    return { installed: true, threads: pool?.threadCount ?? 1, ...(threadsError ? { threadsError } : {}) };
  } catch (e) {
    return { installed: false, threads: 1, error: `our SIMD batched matmul and fused wasm kernels are not in use: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Puts tfjs's own BatchMatMul, SplitV and Sum back and takes the fused kernels out (a no-op when ours is not installed). */
export function uninstallWasmKernels(): void {
  unregisterWasmFusedKernels();
  unregisterWasmSplitSum();
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

/** Matmuls the helper threads took part in, in this process (null while our kernel is not installed). */
export function wasmMatmulSplitCalls(): number | null {
  return installed ? installed.pool?.splitCalls ?? 0 : null;
}
