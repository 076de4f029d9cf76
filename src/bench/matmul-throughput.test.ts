import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import { matmulThroughput } from './matmul-throughput';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('matmulThroughput', () => {
  test('times every repeat and leaves no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const f = await matmulThroughput(8, 3, { warmup: 1, repeats: 2 });
    expect(tf.memory().numTensors).toBe(before);
    expect(f.samplesMs).toHaveLength(2);
    expect(f.n).toBe(8);
  });
});
