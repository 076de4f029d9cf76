/**
 * How far a fused op is from its composite form on the active backend, for the unit tests (cpu,
 * with cpu-kernels.ts registered) and the WebGPU probe (e2e/webgpu-probe.ts, in Chromium).
 */
import * as tf from '@tensorflow/tfjs-core';

type Op = (...inputs: tf.Tensor[]) => tf.Tensor;

/** The largest |a[i] - b[i]|. */
export function largestAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

/**
 * The largest absolute differences between `fused` and `ops` on `inputs`: in value, then in the
 * gradient with respect to each input. Gradients are of a weighted sum of the output with random
 * weights, so every output element's gradient differs and a wrong term would show. Reads back
 * with await, which every backend supports (WebGPU in Chromium reads zeros synchronously).
 */
export async function fusedVsOps(fused: Op, ops: Op, inputs: tf.Tensor[], seed = 1): Promise<number[]> {
  const pairs = tf.tidy(() => {
    const weights = tf.randomNormal(fused(...inputs).shape, 0, 1, 'float32', seed);
    const gradients = (f: Op) => tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), weights)))(inputs);
    const [a, b] = [gradients(fused), gradients(ops)];
    return [[fused(...inputs), ops(...inputs)], ...a.map((g, i) => [g, b[i] as tf.Tensor])] as Array<[tf.Tensor, tf.Tensor]>;
  });
  try {
    return await Promise.all(pairs.map(async ([a, b]) => {
      const [x, y] = (await Promise.all([a.data(), b.data()])) as Float32Array[];
      return largestAbsDifference(x!, y!);
    }));
  } finally {
    tf.dispose(pairs.flat());
  }
}
