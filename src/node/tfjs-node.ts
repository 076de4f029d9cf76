/**
 * TensorFlow.js set up for Node (the CLI, benchmarks and unit tests).
 *
 * In Node, tfjs-core's own gradient registration is ESM with extensionless imports that Node's
 * resolver rejects; the union package @tensorflow/tfjs registers every gradient from its CommonJS
 * build, against the same global kernel registry that tfjs-core uses. The browser worker imports
 * tfjs-core's register_all_gradients instead (Vite resolves it).
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { type KernelModules, installWasmKernels, uninstallWasmKernels } from '../engine/fused/wasm-kernels';
import { matmulThreadsFor } from '../engine/fused/matmul-pool';
import { startNodeHelper } from './matmul-threads';
import { initWasmBackend } from '../engine/fused/shared-heap';

// Production mode: silences tfjs's advice to install tfjs-node (a native build that cannot be
// downloaded here) and skips debug-only checks.
tf.env().set('PROD', true);

export type NodeBackend = 'cpu' | 'wasm';
export const NODE_BACKENDS: readonly NodeBackend[] = ['cpu', 'wasm'];

const KERNELS_WASM = new URL('../engine/fused/wasm/kernels.wasm', import.meta.url);
const KERNELS_SHARED_WASM = new URL('../engine/fused/wasm/kernels-shared.wasm', import.meta.url);

/** Our wasm kernels' two builds, read from the source tree. */
export function nodeKernelModules(): KernelModules {
  return { unshared: readFile(KERNELS_WASM), shared: readFile(KERNELS_SHARED_WASM) };
}

/** Threads for large wasm matmuls by default: every core, up to MAX_MATMUL_THREADS. */
export const DEFAULT_WASM_THREADS = matmulThreadsFor(os.availableParallelism());

export interface BackendOptions {
  /**
   * wasm only: our SIMD batched matmul in place of tfjs's BatchMatMul (default true). False
   * puts tfjs's own kernel back, for benchmarks that compare the two in one process.
   */
  wasmKernels?: boolean;
  /**
   * wasm with wasmKernels only: our fused kernels (layer norm, masked softmax, bias + GELU) too
   * (default true). False leaves the model on the composite ops, for A/B benchmarks.
   */
  wasmFused?: boolean;
  /**
   * wasm with wasmKernels only: threads that share a large matmul, this one included (default
   * DEFAULT_WASM_THREADS; 1 keeps every matmul on this thread). Results are identical either way.
   */
  wasmThreads?: number;
  /**
   * wasm only, at its first start in the process: tfjs's memory made shared, so that helper
   * threads work in place (default true; false leaves it unshared, and helpers work on copies).
   */
  wasmSharedHeap?: boolean;
}

/**
 * Selects a backend and waits for it; throws with the allowed values for anything else. On wasm,
 * our own kernels are registered too; if they fail to load, tfjs's stay and a warning says why.
 */
export async function useBackend(name: string, options: BackendOptions = {}): Promise<NodeBackend> {
  if (!NODE_BACKENDS.includes(name as NodeBackend)) {
    throw new Error(`backend: "${name}" is not available in Node (allowed: ${NODE_BACKENDS.join(', ')})`);
  }
  // tfjs-wasm starts on a shared memory (shared-heap.ts) so that the helper threads work in place
  // on its tensors. It starts once per process: later calls keep the memory it started with.
  const ok = await (name === 'wasm' ? initWasmBackend(() => tf.setBackend(name), options.wasmSharedHeap ?? true) : tf.setBackend(name));
  await tf.ready();
  if (!ok || tf.getBackend() !== name) throw new Error(`backend: "${name}" failed to initialise`);
  if (name === 'wasm') {
    if (options.wasmKernels ?? true) {
      const helpers = (options.wasmThreads ?? DEFAULT_WASM_THREADS) - 1;
      const status = await installWasmKernels(nodeKernelModules(), {
        fused: options.wasmFused ?? true,
        threads: { helpers, start: startNodeHelper },
      });
      if (status.error) console.warn(`warning: ${status.error}`);
      if (status.threadsError) console.warn(`warning: ${status.threadsError}`);
    } else {
      uninstallWasmKernels();
    }
  }
  return name as NodeBackend;
}

export { tf };
