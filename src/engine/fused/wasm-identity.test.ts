import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nodeKernelModules, tf, useBackend } from '../../node/tfjs-node';
import { modelFixture, largestDifference } from './model-fixture';
import { unregisterWasmIdentity, wasmIdentityShares } from './wasm-identity';
import { installWasmKernels, uninstallWasmKernels } from './wasm-kernels';


beforeAll(async () => {
  await useBackend('wasm');
});

afterAll(async () => {
  await useBackend('wasm');
});

/** How many buffers tfjs holds after cloning x (disposed again before returning), and the clone's values. */
function cloneBuffers(x: tf.Tensor): { buffers: number; values: number[] } {
  const before = tf.memory().numDataBuffers;
  const copy = tf.clone(x);
  const buffers = tf.memory().numDataBuffers - before;
  x.dispose();
  // The clone outlives its source: the shared buffer is still there to read.
  const values = Array.from(copy.dataSync());
  copy.dispose();
  return { buffers, values };
}

describe('Identity on wasm', () => {
  test('a clone shares its source buffer, stays readable after the source is disposed, and frees it with the last reference', () => {
    expect(wasmIdentityShares()).toBe(true);
    const start = tf.memory();
    const { buffers, values } = cloneBuffers(tf.tensor2d([[1, 2], [3, 4]]));
    expect(buffers).toBe(0);
    expect(values).toEqual([1, 2, 3, 4]);
    expect(tf.memory().numDataBuffers).toBe(start.numDataBuffers);
    expect(tf.memory().numTensors).toBe(start.numTensors);
  });

  test("uninstalled, tfjs-wasm's own Identity copies (a new buffer per clone); installed again, it shares", async () => {
    uninstallWasmKernels();
    expect(wasmIdentityShares()).toBe(false);
    expect(cloneBuffers(tf.tensor1d([5, 6, 7])).buffers).toBe(1);
    expect((await installWasmKernels(nodeKernelModules())).installed).toBe(true);
    expect(cloneBuffers(tf.tensor1d([5, 6, 7])).buffers).toBe(0);
  });

  test("the model's weight gradients (the fused ops clone what they save) are the same bits as with tfjs's copying Identity", () => {
    const fixture = modelFixture(36);
    const p = fixture.randomParams();
    const shared = fixture.weightGradients(p);
    unregisterWasmIdentity();
    const copied = fixture.weightGradients(p);
    expect(largestDifference(shared, copied)).toBe(0);
    tf.dispose(Object.values(p));
  });
});
