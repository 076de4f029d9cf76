/**
 * Installs our WebAssembly module (wasm/kernels.c) on the wasm backend: one load, one instance
 * on tfjs-wasm's own memory (kernels.wasm, or kernels-shared.wasm where that memory is shared:
 * shared-heap.ts), and from it the SIMD batched matmul (batch-matmul-wasm.ts, with
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
import { MatmulPool, type SharedHeap, type StartHelper } from './matmul-pool';
import { isSharedMemory } from './shared-heap';
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
  /** Helpers work in place on tfjs's memory, and share the large fused kernels too (shared-heap.ts). */
  inPlace: boolean;
  /** Why the requested helper threads are not in use, when they are not. */
  threadsError?: string;
}

/** Helper threads for large matmuls (matmul-pool.ts); they run kernels-shared.wasm. */
export interface MatmulThreadOptions {
  /** Threads besides the calling one (0: none). */
  helpers: number;
  /** How this environment starts a thread (Node: worker_threads; browser: Worker). */
  start: StartHelper;
  /** How long a helper may take over its part before it is taken for dead (default ANSWER_MS). */
  answerMs?: number;
}

/**
 * Our module's two builds (scripts/build-wasm-kernels.sh): kernels.wasm for an unshared memory,
 * kernels-shared.wasm for a shared one. WebAssembly refuses a module whose memory type differs,
 * so tfjs's memory picks this thread's build, and the helper threads always run the shared one.
 */
export interface KernelModules {
  unshared: BufferSource | Promise<BufferSource>;
  shared: BufferSource | Promise<BufferSource>;
}

export interface WasmKernelOptions {
  /** Register the fused kernels too (default true); false for benchmarks of the matmul alone. */
  fused?: boolean;
  /** Share large matmuls with helper threads; without it, every matmul runs on the calling thread. */
  threads?: MatmulThreadOptions;
}

/**
 * The pool, working in place on `heap` when tfjs's memory is shared, or why there is none; a
 * failure here leaves the single-threaded kernel in place.
 */
async function startPool(
  sharedModule: KernelModules['shared'], threads: MatmulThreadOptions | undefined, heap: SharedHeap | null,
): Promise<{ pool: MatmulPool | null; error?: string }> {
  if (!threads || threads.helpers < 1) return { pool: null };
  try {
    const module = await WebAssembly.compile(await sharedModule);
    return { pool: await MatmulPool.start(module, threads.helpers, threads.start, threads.answerMs, heap) };
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
export async function installWasmKernels(modules: KernelModules, options: WasmKernelOptions = {}): Promise<WasmKernelsStatus> {
  try {
    const backend = tf.findBackend(BACKEND) as unknown as WasmBackendLike | null;
    if (!backend) throw new Error('the wasm backend is not initialised');
    const memory = tfjsMemory(backend);
    if (!memory) throw new Error("tfjs-wasm's module does not expose its WebAssembly.Memory");
    const shared = isSharedMemory(memory);
    const { instance } = await WebAssembly.instantiate(await (shared ? modules.shared : modules.unshared), { env: { memory } });
    // Every export is resolved before anything is unregistered: a broken module changes nothing.
    const run = batchMatMulFunction(instance.exports);
    const fused = wasmFusedCalls(instance.exports);
    const replacements = replacementFunctions(instance.exports);
    if (!tf.getKernel(tf.BatchMatMul, BACKEND)) throw new Error("tfjs-wasm's BatchMatMul is not registered");
    uninstallWasmKernels();
    const heap = shared ? { memory, malloc: (n: number) => backend.wasm._malloc(n), free: (p: number) => backend.wasm._free(p) } : null;
    const { pool, error: threadsError } = await startPool(modules.shared, options.threads, heap);
    registerWasmBatchMatMul(run, memory, pool);
    if (options.fused ?? true) registerWasmFusedKernels(fused, memory, pool);
    // Our Add, SplitV, Sum, GatherV2, Slice, Concat (wasm-replacements.ts) and Identity (wasm-identity.ts) have tfjs's semantics:
    // always in, whatever `fused`.
    registerWasmReplacements(replacements, memory, pool);
    registerWasmIdentity();
    return { installed: true, threads: pool?.threadCount ?? 1, inPlace: pool?.inPlace ?? false, ...(threadsError ? { threadsError } : {}) };
  } catch (e) {
    return { installed: false, threads: 1, inPlace: false, error: `our SIMD batched matmul and fused wasm kernels are not in use: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Puts tfjs's own BatchMatMul, SplitV, Sum and Identity back and takes the fused kernels out (a no-op when ours is not installed). */
export function uninstallWasmKernels(): void {
  unregisterWasmIdentity();
  unregisterWasmFusedKernels();
  unregisterWasmReplacements();
  unregisterWasmBatchMatMul();
}
