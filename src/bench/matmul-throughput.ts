/**
 * Square float32 matmuls: a backend's best case, to set a model's FLOP/s against (npm run
 * bench:gpu reports them as a share of the adapter's peak). Reads back with await, so it runs
 * on WebGPU in Node too.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type Repeats, type Timing, timeRepeated } from './timing';

export interface MatmulFigures extends Timing {
  n: number;
  flopsPerSecond: number;
}

/** `count` chained n x n products per run, then one readback of a single element. */
export async function matmulThroughput(n: number, count: number, repeats: Repeats): Promise<MatmulFigures> {
  const a = tf.randomNormal([n, n], 0, 1 / Math.sqrt(n), 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1 / Math.sqrt(n), 'float32', 2);
  const run = async (): Promise<void> => {
    let x = a;
    for (let i = 0; i < count; i++) {
      const y = tf.matMul(x, b);
      if (x !== a) x.dispose();
      x = y;
    }
    const corner = tf.slice(x, [0, 0], [1, 1]);
    await corner.data();
    tf.dispose([corner, x]);
  };
  try {
    const timing = await timeRepeated(run, repeats);
    return { n, ...timing, flopsPerSecond: (2 * n ** 3 * count) / (timing.medianMs / 1000) };
  } finally {
    tf.dispose([a, b]);
  }
}
