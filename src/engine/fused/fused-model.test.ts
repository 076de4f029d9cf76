/**
 * The model with every fused kernel (their cpu versions, cpu-kernels.ts) against the model on
 * the composite ops: the same logits, the same gradients, no tensor left behind.
 */
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import { ADAMW_KERNELS, FUSED_KERNELS } from './kernels';
import { TOKEN_ENTROPY_KERNEL } from './token-stats';
import { largestDifference, modelFixture } from './model-fixture';

const { randomParams, generationLogits, weightGradients, kernelNames } = modelFixture(32);

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels());

describe('the model with the fused kernels', () => {
  test('runs each fused kernel, and none of the composite ops they replace', async () => {
    const p = randomParams();
    registerCpuFusedKernels();
    // Generation and a gradient: the forward kernels, the decode step's and the backward ones.
    const names = await kernelNames(p);
    // All but the optimiser's and the entropy metric's (optim.test.ts and token-stats.test.ts check those).
    for (const name of FUSED_KERNELS.filter((k) => !ADAMW_KERNELS.includes(k) && k !== TOKEN_ENTROPY_KERNEL)) expect(names, name).toContain(name);
    for (const op of ['Softmax', 'Sigmoid', 'Sqrt', 'Rsqrt']) expect(names, op).not.toContain(op);
    tf.dispose(Object.values(p));
  });

  test('gives the logits of the composite ops, at prefill and at a decode step on the KV cache', () => {
    const p = randomParams();
    const ops = generationLogits(p);
    registerCpuFusedKernels();
    const fused = generationLogits(p);
    // Logits here are units to tens: 1e-5 is float32 rounding in a different order, no more.
    expect(Math.max(...ops.map((l) => Math.max(...l.map(Math.abs))))).toBeGreaterThan(1);
    expect(largestDifference(fused, ops)).toBeLessThan(1e-5);
    tf.dispose(Object.values(p));
  });

  test('gives the gradients of the composite ops for every weight', () => {
    const p = randomParams();
    const ops = weightGradients(p);
    registerCpuFusedKernels();
    const fused = weightGradients(p);
    const scale = Math.max(...ops.map((g) => Math.max(...g.map(Math.abs))));
    expect(largestDifference(fused, ops) / scale).toBeLessThan(1e-5);
    tf.dispose(Object.values(p));
  });

  test('leaves no tensor behind, in generation or in a gradient', () => {
    const p = randomParams();
    registerCpuFusedKernels();
    generationLogits(p);
    weightGradients(p);
    const before = tf.memory().numTensors;
    generationLogits(p);
    weightGradients(p);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(p));
  });
});
