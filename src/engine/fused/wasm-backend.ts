/**
 * What our wasm kernels use of tfjs-wasm's backend (BackendWasm, whose class is not exported
 * with types) and of our module's instance: one description for the matmul, the fused kernels
 * and the split and sum kernels.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** The parts of tfjs-wasm's backend and its emscripten module that our kernels call. */
export interface WasmBackendLike {
  wasm: { asm?: { memory?: unknown }; _malloc(bytes: number): number; _free(ptr: number): void };
  getMemoryOffset(dataId: object): number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  readSync(dataId: object): tf.backend_util.BackendValues;
  typedArrayFromHeap(t: tf.TensorInfo): tf.backend_util.TypedArray;
}

/**
 * tfjs-wasm's WebAssembly.Memory, where its tensors live; null if its module does not expose it.
 * A kernel built against one memory hands a backend with another (re-created since) to tfjs.
 */
export function tfjsMemory(backend: WasmBackendLike): WebAssembly.Memory | null {
  const memory = backend.wasm.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

/** A function our module exports; throws, naming it, when the module lacks it. */
export function exported<F>(exports: WebAssembly.Exports, name: string): F {
  const f = exports[name];
  if (typeof f !== 'function') throw new Error(`the module has no ${name} export`);
  return f as F;
}
