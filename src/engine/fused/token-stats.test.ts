import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { fusedVsOps, largestAbsDifference } from './compare';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import {
  TOKEN_ENTROPY_KERNEL, TOKEN_LOGPROBS_GRAD_KERNEL, TOKEN_LOGPROBS_KERNEL, TOKEN_STATS_KERNELS as KERNELS,
  fusedTokenEntropy, fusedTokenLogProbs, tokenEntropy, tokenEntropyOps, tokenLogProbs, tokenLogProbsOps,
} from './token-stats';

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels());

describe('fused token statistics', () => {
  test('logits [0, ln 3, ln 2]: probabilities 1/6, 1/2, 1/3, so log p(1) = ln 1/2 and the entropy is their -Σ p ln p (hand-computed)', async () => {
    registerCpuFusedKernels(KERNELS);
    const logits = tf.tensor2d([[0, Math.log(3), Math.log(2)]]);
    const targets = tf.tensor1d([1], 'int32');
    const entropy = -(1 / 6) * Math.log(1 / 6) - (1 / 2) * Math.log(1 / 2) - (1 / 3) * Math.log(1 / 3);
    for (const [logp, h] of [[fusedTokenLogProbs, fusedTokenEntropy], [tokenLogProbsOps, tokenEntropyOps]] as const) {
      const [a, b] = [logp(logits, targets), h(logits)];
      expect((await a.data())[0]).toBeCloseTo(Math.log(1 / 2), 6);
      expect((await b.data())[0]).toBeCloseTo(entropy, 6);
      tf.dispose([a, b]);
    }
    tf.dispose([logits, targets]);
  });

  // A vocabulary off a multiple of 4 (the SIMD lanes), the smallest (tfjs's one-hot needs 2), and the model's.
  test.each([[[2, 5, 7]], [[3, 2]], [[4, 70]]])('logits %j: the composite values, and the logits gradient', async (shape) => {
    registerCpuFusedKernels(KERNELS);
    const logits = tf.randomNormal(shape, 0, 4, 'float32', 9);
    const V = shape.at(-1) as number;
    const targets = tf.tidy(() => tf.cast(tf.floor(tf.mul(tf.randomUniform(shape.slice(0, -1), 0, 1, 'float32', 10), V)), 'int32'));
    const [value, dlogits] = await fusedVsOps((l) => fusedTokenLogProbs(l!, targets), (l) => tokenLogProbsOps(l!, targets), [logits]);
    expect(value).toBeLessThan(1e-5);
    expect(dlogits).toBeLessThan(1e-6);
    const [fused, ops] = [fusedTokenEntropy(logits), tokenEntropyOps(logits)];
    expect(largestAbsDifference(await fused.data(), await ops.data())).toBeLessThan(1e-5);
    tf.dispose([logits, targets, fused, ops]);
  });

  test('one kernel each where registered, in place of the log-softmax, one-hot pick and their gradient', async () => {
    registerCpuFusedKernels(KERNELS);
    const logits = tf.randomNormal([2, 3, 6], 0, 1, 'float32', 11);
    const targets = tf.tensor2d([[0, 5, 2], [1, 1, 3]], undefined, 'int32');
    const run = await tf.profile(() => tf.grad((l: tf.Tensor) => tokenLogProbs(l, targets))(logits));
    const names = [...run.kernelNames];
    expect(names).toContain(TOKEN_LOGPROBS_KERNEL);
    expect(names).toContain(TOKEN_LOGPROBS_GRAD_KERNEL);
    for (const op of ['Exp', 'Log', 'OneHot', 'Max']) expect(names, op).not.toContain(op);
    const entropy = await tf.profile(() => tokenEntropy(logits));
    expect(entropy.kernelNames).toEqual([TOKEN_ENTROPY_KERNEL]);
    tf.dispose([logits, targets, run.result as tf.Tensor, entropy.result as tf.Tensor]);
  });

  test('targets whose shape is not the logits\' leading shape are refused, naming both', () => {
    registerCpuFusedKernels(KERNELS);
    const [logits, targets] = [tf.zeros([2, 3, 6]), tf.zeros([2, 4], 'int32')];
    expect(() => tokenLogProbs(logits, targets)).toThrow(/targets \[\.\.\.\] of the same leading shape.*\[2,3,6\] and \[2,4\]/);
    tf.dispose([logits, targets]);
  });
});
