import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import { LAYER_NORM_KERNEL } from './layer-norm';
import { NORM_LINEAR_KERNEL, fusedNormLinear } from './norm-linear';
import { GPT, forward, normLinearOps } from '../model';
import { modelSize } from '../model-config';
import { decodeStep, prefill } from '../decoding';
import { Tokenizer } from '../tokenizer';
import { largestAbsDifference } from './compare';

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels([NORM_LINEAR_KERNEL]));

describe('layer norm into a linear layer (GrpoNormLinear)', () => {
  test('x = [1, 3]: normalised to [-1, 1] (eps aside), times W, plus bias, through GELU (hand-computed)', () => {
    registerCpuFusedKernels([NORM_LINEAR_KERNEL]);
    tf.tidy(() => {
      const x = tf.tensor2d([[1, 3]]);
      const [gain, shift] = [tf.tensor1d([2, 1]), tf.tensor1d([0, 0.5])];
      // LN(x) = [-1, 1] * (1 / sqrt(1 + 1e-5)) * gain + shift ≈ [-2, 1.5].
      const w = tf.tensor2d([[1, 0, 2], [0, 1, 1]]);
      const r = 1 / Math.sqrt(1 + 1e-5);
      const h = [-2 * r, r + 0.5];
      const plain = [h[0]!, h[1]!, 2 * h[0]! + h[1]!];
      expect(Array.from(fusedNormLinear(x, gain, shift, w).dataSync())).toEqual(plain.map((v) => expect.closeTo(v, 6)));
      const bias = tf.tensor1d([1, -1, 0.5]);
      const z = plain.map((v, i) => v + [1, -1, 0.5][i]!);
      const gelu = z.map((v) => v / (1 + Math.exp(-1.702 * v)));
      expect(Array.from(fusedNormLinear(x, gain, shift, w, { bias, gelu: true }).dataSync())).toEqual(gelu.map((v) => expect.closeTo(v, 6)));
      // W as [N, K] used transposed gives the same product.
      expect(Array.from(fusedNormLinear(x, gain, shift, tf.transpose(w), { transposeW: true }).dataSync())).toEqual(plain.map((v) => expect.closeTo(v, 6)));
    });
  });

  test('random rows: the same as the ops in each form', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([5, 12], 0, 2, 'float32', 1) as tf.Tensor2D;
      const [gain, shift] = [tf.randomNormal([12], 1, 0.3, 'float32', 2), tf.randomNormal([12], 0, 0.3, 'float32', 3)];
      const w = tf.randomNormal([12, 7], 0, 0.5, 'float32', 4) as tf.Tensor2D;
      const bias = tf.randomNormal([7], 0, 0.5, 'float32', 5);
      for (const o of [{}, { bias }, { bias, gelu: true }, { transposeW: true }]) {
        const weight = 'transposeW' in o ? tf.transpose(w) : w;
        const ops = normLinearOps(x, gain, shift, weight, o).dataSync();
        registerCpuFusedKernels([NORM_LINEAR_KERNEL]);
        const fused = fusedNormLinear(x, gain, shift, weight, o);
        expect(fused.shape).toEqual([5, 7]);
        expect(largestAbsDifference(fused.dataSync(), ops)).toBeLessThan(1e-5);
        unregisterCpuFusedKernels([NORM_LINEAR_KERNEL]);
      }
    });
  });

  test('bad shapes and GELU without a bias are refused, naming what was given', () => {
    registerCpuFusedKernels([NORM_LINEAR_KERNEL]);
    tf.tidy(() => {
      const x = tf.zeros([2, 4]) as tf.Tensor2D;
      const [g, s] = [tf.ones([4]), tf.zeros([4])];
      expect(() => fusedNormLinear(x, g, s, tf.zeros([3, 5]))).toThrow(/x \[M, 4\] needs gain and shift of 4, w with 4 inner.*w \[3,5\]/);
      expect(() => fusedNormLinear(x, g, s, tf.zeros([4, 5]), { bias: tf.zeros([4]) })).toThrow(/a bias of 5.*bias 4/);
      expect(() => fusedNormLinear(x, g, s, tf.zeros([4, 5]), { gelu: true })).toThrow(/GELU comes after a bias/);
    });
  });

  test('decoding steps use it (no layer norm kernel left in them); prefill and training passes do not; logits agree', async () => {
    const tok = new Tokenizer();
    const model = GPT.create(modelSize('small', tok.size), 6);
    const c = model.config;
    const prompts = [tok.encode('12+34='), tok.encode('5+6=')].map((p) => [...new Array<number>(6 - p.length).fill(tok.padId), ...p]);
    const valid = prompts.map((p) => p.map((id) => (id === tok.padId ? 0 : 1)));
    const logitsOfStep = async () => {
      const first = prefill(model.params, c, prompts, valid, true);
      const bias = tf.zeros([2, 1, 1, 7]) as tf.Tensor4D;
      const tokens = tf.tensor2d([[3], [4]], undefined, 'int32');
      const profile = await tf.profile(() => decodeStep(model.params, c, tokens, c.promptAnchor, bias, first.cache!).logits);
      const step = decodeStep(model.params, c, tokens, c.promptAnchor, bias, first.cache!);
      const values = step.logits.dataSync();
      tf.dispose([first.logits, ...first.cache!.k, ...first.cache!.v, bias, tokens, step.logits, ...step.cache!.k, ...step.cache!.v]);
      return { values, kernels: profile.kernels.map((k) => k.name) };
    };
    const ops = await logitsOfStep();
    registerCpuFusedKernels([NORM_LINEAR_KERNEL, LAYER_NORM_KERNEL]);
    const fused = await logitsOfStep();
    // Two per layer and the head's; no layer norm of its own left.
    expect(fused.kernels.filter((k) => k === NORM_LINEAR_KERNEL)).toHaveLength(2 * c.layers + 1);
    expect(fused.kernels).not.toContain(LAYER_NORM_KERNEL);
    expect(largestAbsDifference(fused.values, ops.values)).toBeLessThan(1e-4);
    // A whole-sequence pass (prefill, training) keeps the ops: they have a gradient.
    const whole = await tf.profile(() => forward(model.params, c, tf.tensor2d(prompts, undefined, 'int32'), tf.zeros([2, 6], 'int32') as tf.Tensor2D, tf.zeros([2, 1, 6, 6]) as tf.Tensor4D).logits);
    expect(whole.kernelNames).not.toContain(NORM_LINEAR_KERNEL);
    unregisterCpuFusedKernels([LAYER_NORM_KERNEL]);
    model.dispose();
  });
});
