import { describe, expect, test } from 'vitest';
import { sequenceForwardFlops, tokenForwardFlops, trainFlops } from './flops';
import type { ModelConfig } from '../engine/model-config';

const c: ModelConfig = { name: 'x', layers: 2, dModel: 4, heads: 2, context: 16, promptAnchor: 4, vocabSize: 10 };

describe('model FLOPs', () => {
  test('one token: 24 d^2 per layer for the matmuls, 4 d per attended key per layer, 2 d V for the head', () => {
    // layers 2 * (24 * 16 + 4 * 4 * 3 keys) + 2 * 4 * 10 = 2 * (384 + 48) + 80 = 944
    expect(tokenForwardFlops(c, 3)).toBe(944);
  });

  test('a causal sequence sums the tokens, each attending to itself and what came before', () => {
    // tokens attend to 1 and 2 keys: (2 * (384 + 16) + 80) + (2 * (384 + 32) + 80) = 880 + 912
    expect(sequenceForwardFlops(c, 1, 2)).toBe(1792);
    expect(sequenceForwardFlops(c, 3, 2)).toBe(3 * 1792);
    expect(trainFlops(c, 3, 2)).toBe(9 * 1792);
  });
});
