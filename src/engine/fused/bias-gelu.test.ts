import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { fusedVsOps } from './compare';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import { BIAS_GELU_GRAD_KERNEL, BIAS_GELU_KERNEL, biasGelu, biasGeluOps, fusedBiasGelu } from './bias-gelu';

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels());

// Wide enough (std 4) that both tails of the sigmoid and its steep middle are exercised.
const x = () => tf.randomNormal([6, 5, 24], 0, 4, 'float32', 21);
const bias = () => tf.randomNormal([24], 0, 1, 'float32', 22);

describe('fused bias + GELU', () => {
  test('without a registered kernel, biasGelu is the composite ops: z * sigmoid(1.702 z) of z = x + bias', () => {
    const y = tf.tidy(() => biasGelu(tf.tensor2d([[-1, 0, 2]]), tf.tensor1d([0, 1, 1])));
    const expected = [-1, 1, 3].map((z) => z / (1 + Math.exp(-1.702 * z)));
    Array.from(y.dataSync()).forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 6));
    y.dispose();
  });

  test.each([
    ['its backward pass as tfjs ops', [BIAS_GELU_KERNEL]],
    ['its backward pass as one kernel', [BIAS_GELU_KERNEL, BIAS_GELU_GRAD_KERNEL]],
  ])('the fused kernel gives the composite values and, with %s, the same gradients for x and bias', async (_, kernels) => {
    registerCpuFusedKernels(kernels);
    const inputs = [x(), bias()];
    const [value, dx, dBias] = await fusedVsOps((a, b) => fusedBiasGelu(a!, b!), (a, b) => biasGeluOps(a!, b!), inputs);
    expect(value).toBeLessThan(1e-5);
    expect(dx).toBeLessThan(1e-5);
    // dBias sums 30 rows of dx: its float32 rounding grows with them.
    expect(dBias).toBeLessThan(1e-4);
    const run = await tf.profile(() => biasGelu(inputs[0]!, inputs[1]!));
    expect(run.kernelNames.filter(Boolean)).toEqual([BIAS_GELU_KERNEL]);
    const backward = await tf.profile(() => tf.grads((a: tf.Tensor) => tf.sum(biasGelu(a, inputs[1]!)))([inputs[0]!]));
    const names = backward.kernels.map((k) => k.name);
    expect(names.includes('Sigmoid')).toBe(kernels.length === 1);
    expect(names.includes(BIAS_GELU_GRAD_KERNEL)).toBe(kernels.length > 1);
    tf.dispose([...inputs, run.result as tf.Tensor, ...(backward.result as tf.Tensor[])]);
  });

  test('a bias that is not [width] is refused rather than read wrongly', () => {
    registerCpuFusedKernels([BIAS_GELU_KERNEL]);
    const [a, b] = [x(), tf.zeros([5, 24])];
    expect(() => biasGelu(a, b)).toThrow(/bias \[width\]/);
    tf.dispose([a, b]);
  });
});
