import { expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
test('grad', async () => {
  for (const b of ['cpu', 'wasm']) {
  await useBackend(b);
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(tf.tensor1d([1, 2]));
  expect(Array.from(g.dataSync())).toEqual([2, 4]);
  expect(tf.getBackend()).toBe(b);
  }
});
