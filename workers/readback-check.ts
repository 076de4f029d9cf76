/**
 * The engine reads results back synchronously (dataSync) at every step: logits while sampling on
 * the host, rewards' inputs, the update's loss and metrics. On WebGPU, tfjs does that by drawing
 * the buffer into a canvas; where that path fails (headless Chromium on its software adapter,
 * SwiftShader, reads back zeros), training would go on with every read value 0 and no error.
 * So a WebGPU backend is checked once before use: a product computed on the GPU must read back
 * synchronously as it does asynchronously.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Throws, saying what came back, when synchronous readback on the active backend is wrong. */
export async function checkSyncReadback(): Promise<void> {
  // [1, 4] x [4, 3] ones: every entry is 4, computed by a kernel on the device.
  const product = tf.matMul(tf.ones([1, 4]), tf.ones([4, 3]));
  try {
    const expected = Array.from(await product.data());
    const again = tf.matMul(tf.ones([1, 4]), tf.ones([4, 3]));
    const sync = Array.from(again.dataSync());
    again.dispose();
    if (expected.some((v) => v !== 4) || sync.some((v, i) => v !== expected[i])) {
      throw new Error(`reading results back synchronously gives wrong values on this adapter (got ${sync.join(', ')}, expected 4, 4, 4); the engine reads results that way, so it cannot train here`);
    }
  } finally {
    product.dispose();
  }
}
