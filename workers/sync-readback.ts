/**
 * Synchronous readback (dataSync) on WebGPU. tfjs does it by drawing the buffer into a canvas;
 * in headless Chromium on its software adapter (SwiftShader) that returns zeros and then loses
 * the device. The lab's single runs read back with await (readback.ts) and work anywhere; the
 * pipeline's stages still read synchronously, so they are refused on a software adapter, and
 * checkSyncReadback tells a test what an adapter does (it may take the device down with it).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendInfo } from './protocol';

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
      throw new Error(`reading results back synchronously gives wrong values on this adapter (got ${sync.join(', ')}, expected 4, 4, 4)`);
    }
  } finally {
    product.dispose();
  }
}

/** Why a pipeline cannot run on this backend, or null when it can. */
export function pipelineRefusal(backend: BackendInfo | null): string | null {
  if (backend?.name !== 'webgpu' || !backend.fallbackAdapter) return null;
  return 'pipeline: its stages read results back synchronously, which gives zeros on a software WebGPU adapter; choose wasm to run the pipeline';
}
