import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '../node/tfjs-node';
import { matmulThroughput } from './matmul-throughput';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('matmulThroughput', () => {
  test('a run counts 2 n^3 FLOPs per product', async () => {
    const f = await matmulThroughput(8, 3, { warmup: 0, repeats: 1 });
    expect(f.flopsPerSecond * (f.medianMs / 1000)).toBeCloseTo(2 * 8 ** 3 * 3, 3);
  });
});
