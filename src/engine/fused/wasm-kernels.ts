/**
 * Installs our WebAssembly module (wasm/kernels.c) on the wasm backend: one load, one instance
 * on tfjs-wasm's own memory, and from it the SIMD batched matmul (batch-matmul-wasm.ts, with
 * its helper threads: matmul-pool.ts), the fused kernels (wasm-fused-kernels.ts), the split
 * and sum kernels (wasm-replacements.ts) and an Identity that shares its input's buffer
 * (wasm-identity.ts).
 *
 * Loading the bytes is the caller's part (a file in Node, the app's own origin in the browser,
 * and how to start a thread in each); install never throws, it reports why not, and a broken
 * module changes nothing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { batchMatMulFunction, registerWasmBatchMatMul, unregisterWasmBatchMatMul } from './batch-matmul-wasm';
import { type WasmBackendLike, tfjsMemory } from './wasm-backend';
import { MatmulPool, type StartHelper } from './matmul-pool';
import { registerWasmFusedKernels, unregisterWasmFusedKernels, wasmFusedCalls } from './wasm-fused-kernels';
import { registerWasmIdentity, unregisterWasmIdentity } from './wasm-identity';
import { registerWasmReplacements, replacementFunctions, unregisterWasmReplacements } from './wasm-replacements';

const BACKEND = 'wasm';

export interface WasmKernelsStatus {
  installed: boolean;
  /** Why not, when not installed. */
  error?: string;
  /** Threads that share a large matmul (1: the calling thread alone). */
  threads: number;
  /** Why the requested helper threads are not in use, when they are not. */
  threadsError?: string;
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
    const run = batchMatMulFunction(instance.exports);
    const fused = wasmFusedCalls(instance.exports);
    const replacements = replacementFunctions(instance.exports);
    if (!tf.getKernel(tf.BatchMatMul, BACKEND)) throw new Error("tfjs-wasm's BatchMatMul is not registered");
    uninstallWasmKernels();
    const { pool, error: threadsError } = await startPool(options.threads);
    registerWasmBatchMatMul(run, memory, pool);
    if (options.fused ?? true) registerWasmFusedKernels(fused, memory);
    // SplitV, Sum (wasm-replacements.ts) and Identity (wasm-identity.ts) have tfjs's semantics:
    // always in, whatever `fused`.
    registerWasmReplacements(replacements, memory);
    registerWasmIdentity();
    return { installed: true, threads: pool?.threadCount ?? 1, ...(threadsError ? { threadsError } : {}) };
  } catch (e) {
    return { installed: false, threads: 1, error: `our SIMD batched matmul and fused wasm kernels are not in use: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Puts tfjs's own BatchMatMul, SplitV, Sum and Identity back and takes the fused kernels out (a no-op when ours is not installed). */
export function uninstallWasmKernels(): void {
  unregisterWasmIdentity();
  unregisterWasmFusedKernels();
  unregisterWasmReplacements();
  unregisterWasmBatchMatMul();
}
