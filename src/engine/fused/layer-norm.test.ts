import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { fusedVsOps } from './compare';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import { LAYER_NORM_GAIN_GRAD_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL, fusedLayerNorm, layerNorm, layerNormOps } from './layer-norm';

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels());

describe('fused layer norm', () => {
  const x = () => tf.randomNormal([3, 5, 16], 0.5, 2, 'float32', 7);
  const gain = () => tf.randomNormal([16], 1, 0.3, 'float32', 8);
  const bias = () => tf.randomNormal([16], 0, 0.3, 'float32', 9);

  test('without a registered kernel, layerNorm is the composite ops: rows with mean 0 and variance 1 before gain and bias', () => {
    const y = tf.tidy(() => layerNorm(x(), tf.ones([16]), tf.zeros([16])));
    const { mean, variance } = tf.moments(y, -1);
    expect(Math.max(...(mean.abs().dataSync() as Float32Array))).toBeLessThan(1e-5);
    expect(Math.max(...(variance.sub(1).abs().dataSync() as Float32Array))).toBeLessThan(1e-3);
    tf.dispose([y, mean, variance]);
  });

  test.each([
    ['its backward pass as tfjs ops', [LAYER_NORM_KERNEL]],
    ['its backward pass as two kernels', [LAYER_NORM_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_GAIN_GRAD_KERNEL]],
  ])('the fused kernel gives the composite values and, with %s, the same gradients', async (_, kernels) => {
    registerCpuFusedKernels(kernels);
    const inputs = [x(), gain(), bias()];
    const [value, ...grads] = await fusedVsOps(fusedLayerNorm, layerNormOps, inputs);
    expect(value).toBeLessThan(1e-5);
    grads.forEach((d, i) => expect(d, `gradient ${i}`).toBeLessThan(1e-4));
    // layerNorm picks the kernel once the backend has it (tf.customGrad's own entry is unnamed).
    const run = await tf.profile(() => layerNorm(inputs[0]!, inputs[1]!, inputs[2]!));
    expect(run.kernelNames.filter(Boolean)).toEqual([LAYER_NORM_KERNEL]);
    // The backward pass: the gradient kernels and one sum (dbias), or the ops (Rsqrt among them).
    const backward = await tf.profile(() => tf.grads((a: tf.Tensor) => tf.sum(layerNorm(a, inputs[1]!, inputs[2]!)))([inputs[0]!]));
    const names = backward.kernels.map((k) => k.name);
    expect(names.includes('Rsqrt')).toBe(kernels.length === 1);
    if (kernels.length > 1) expect(names).toEqual(expect.arrayContaining([LAYER_NORM_GRAD_KERNEL, LAYER_NORM_GAIN_GRAD_KERNEL]));
    tf.dispose([...inputs, run.result as tf.Tensor, ...(backward.result as tf.Tensor[])]);
  });
});
