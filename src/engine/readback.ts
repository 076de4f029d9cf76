/**
 * Computations that read results back from the backend, written once for both ways of reading.
 *
 * A function that needs a tensor's values yields the tensor and is resumed with them (it still
 * owns the tensor and disposes it). `runSync` answers with dataSync, which the CLI and the tests
 * use; `runAsync` answers with `await data()`, which WebGPU needs wherever its synchronous path
 * is slow or broken (a canvas copy per read; zeros on SwiftShader in headless Chromium).
 */
import type * as tf from '@tensorflow/tfjs-core';

export type Values = Float32Array | Int32Array | Uint8Array;

/** A computation that pauses at each readback. */
export type Readbacks<T> = Generator<tf.Tensor, T, Values>;

export function runSync<T>(steps: Readbacks<T>): T {
  let next = steps.next(undefined as unknown as Values);
  while (!next.done) next = steps.next(next.value.dataSync() as Values);
  return next.value;
}

export async function runAsync<T>(steps: Readbacks<T>): Promise<T> {
  let next = steps.next(undefined as unknown as Values);
  while (!next.done) next = steps.next((await next.value.data()) as Values);
  return next.value;
}
