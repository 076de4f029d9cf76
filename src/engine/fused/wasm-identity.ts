/**
 * Identity on the wasm backend without a copy. tfjs-wasm's own Identity copies the tensor into a
 * new buffer; tfjs calls it for every tf.clone, and tf.customGrad clones each tensor a fused op
 * saves for its backward pass, so a GRPO update of the default model ran about a thousand copies
 * (19 ms of about 500, tf.profile). Tensors are immutable, so the clone can share the buffer and
 * count one more reference to it, as tfjs's cpu and webgpu backends and its own wasm Reshape do;
 * the buffer is freed when the last tensor on it is disposed.
 */
import * as tf from '@tensorflow/tfjs-core';

const BACKEND = 'wasm';

interface RefCountingBackend {
  incRef(dataId: object): void;
}

let original: tf.KernelConfig | null = null;

function shareBuffer(args: Parameters<tf.KernelFunc>[0], theirs: tf.KernelFunc): tf.TensorInfo {
  const { x } = args.inputs as { x: tf.TensorInfo };
  // Strings live outside the heap; tfjs's kernel handles them.
  if (x.dtype === 'string') return theirs(args) as tf.TensorInfo;
  (args.backend as unknown as RefCountingBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Registers the sharing Identity in place of tfjs-wasm's (kept, to put back and for strings). */
export function registerWasmIdentity(): void {
  unregisterWasmIdentity();
  const theirs = tf.getKernel(tf.Identity, BACKEND);
  if (!theirs) return;
  tf.unregisterKernel(tf.Identity, BACKEND);
  tf.registerKernel({ ...theirs, kernelFunc: (args) => shareBuffer(args, theirs.kernelFunc as tf.KernelFunc) });
  original = theirs;
}

/** Puts tfjs-wasm's copying Identity back (a no-op when ours is not registered). */
export function unregisterWasmIdentity(): void {
  if (!original) return;
  if (tf.getKernel(tf.Identity, BACKEND)) tf.unregisterKernel(tf.Identity, BACKEND);
  tf.registerKernel(original);
  original = null;
}

/** Whether the sharing Identity is registered. */
export function wasmIdentityShares(): boolean {
  return original !== null;
}
