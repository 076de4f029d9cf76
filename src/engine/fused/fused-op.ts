/**
 * How every fused op in this folder is put together: a kernel of our own, run through
 * tf.customGrad with a hand-written backward pass (tfjs cannot differentiate a kernel it does not
 * know), and a composite form in tfjs ops for every backend that has no such kernel registered.
 */
import * as tf from '@tensorflow/tfjs-core';

/** What a fused op's forward returns to tf.customGrad: its value, and one gradient per input. */
interface FusedForward {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
}

/**
 * tf.customGrad with the argument list typed: tfjs types its callback as taking a fixed spread of
 * tensors, so every call site would need the same double cast without this.
 */
export function customGradOp<A extends tf.Tensor[]>(f: (...args: [...A, tf.GradSaveFunc]) => FusedForward): (...args: A) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...args: A) => tf.Tensor;
}

/**
 * The fused form where the active backend has every kernel it runs registered (one name, or a
 * list), the composite ops elsewhere. Checked at each call, not once, because the backend can
 * change at run time (the lab falls back from webgpu to wasm) and bench:gpu --no-fused and
 * --leave-out unregister kernels.
 */
export function fusedWhereRegistered<A extends unknown[], R = tf.Tensor>(
  kernels: string | readonly string[], fused: (...args: A) => R, ops: (...args: A) => R,
): (...args: A) => R {
  const names = typeof kernels === 'string' ? [kernels] : kernels;
  return (...args: A) => (names.every((name) => tf.getKernel(name, tf.getBackend())) ? fused(...args) : ops(...args));
}
