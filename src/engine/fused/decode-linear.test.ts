import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import { LAYER_NORM_KERNEL } from './layer-norm';
import { APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL } from './decode-attention';
import { DECODE_LINEAR_KERNEL, type DecodeLinearOptions, fusedDecodeLinear } from './decode-linear';
import { GPT, decodeLinearOps, forward } from '../model';
import { modelSize } from '../model-config';
import { decodeStep, prefill } from '../decoding';
import { Tokenizer } from '../tokenizer';
import { largestAbsDifference } from './compare';

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels([DECODE_LINEAR_KERNEL]));

const closeTo = (values: number[]) => values.map((v) => expect.closeTo(v, 6));

describe("a decoding step's linear layer in one kernel (GrpoDecodeLinear)", () => {
  test('x = [1, 3]: normalised to [-1, 1] (eps aside), times W, plus bias, GELU, residual (hand-computed)', () => {
    registerCpuFusedKernels([DECODE_LINEAR_KERNEL]);
    tf.tidy(() => {
      const x = tf.tensor2d([[1, 3]]);
      const norm = { gain: tf.tensor1d([2, 1]), shift: tf.tensor1d([0, 0.5]) };
      const w = tf.tensor2d([[1, 0, 2], [0, 1, 1]]);
      // LN(x) = [-1, 1] / sqrt(1 + 1e-5) * gain + shift.
      const r = 1 / Math.sqrt(1 + 1e-5);
      const h = [-2 * r, r + 0.5];
      const plain = [h[0]!, h[1]!, 2 * h[0]! + h[1]!];
      expect(Array.from(fusedDecodeLinear(x, w, { norm }).dataSync())).toEqual(closeTo(plain));
      const z = plain.map((v, i) => v + [1, -1, 0.5][i]!);
      const bias = tf.tensor1d([1, -1, 0.5]);
      expect(Array.from(fusedDecodeLinear(x, w, { norm, bias, gelu: true }).dataSync())).toEqual(closeTo(z.map((v) => v / (1 + Math.exp(-1.702 * v)))));
      // W as [N, K] used transposed gives the same product.
      expect(Array.from(fusedDecodeLinear(x, tf.transpose(w), { norm, transposeW: true }).dataSync())).toEqual(closeTo(plain));
      // No norm: x itself, then bias and residual: [1, 3] · W = [1, 3, 5], + bias, + [10, 20, 30].
      const residual = tf.tensor2d([[10, 20, 30]]);
      expect(Array.from(fusedDecodeLinear(x, w, { bias, residual }).dataSync())).toEqual(closeTo([12, 22, 35.5]));
    });
  });

  test('random rows: the same as the ops in each form the model uses', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([5, 12], 0, 2, 'float32', 1) as tf.Tensor2D;
      const norm = { gain: tf.randomNormal([12], 1, 0.3, 'float32', 2), shift: tf.randomNormal([12], 0, 0.3, 'float32', 3) };
      const w = tf.randomNormal([12, 7], 0, 0.5, 'float32', 4) as tf.Tensor2D;
      const bias = tf.randomNormal([7], 0, 0.5, 'float32', 5);
      const residual = tf.randomNormal([5, 7], 0, 1, 'float32', 6);
      const forms: Array<[tf.Tensor, DecodeLinearOptions]> = [
        [w, { norm }], [w, { norm, bias, gelu: true }], [w, { bias, residual }], [tf.transpose(w), { norm, transposeW: true }],
      ];
      for (const [weight, o] of forms) {
        const ops = decodeLinearOps(x, weight, o).dataSync();
        registerCpuFusedKernels([DECODE_LINEAR_KERNEL]);
        const fused = fusedDecodeLinear(x, weight, o);
        expect(fused.shape).toEqual([5, 7]);
        expect(largestAbsDifference(fused.dataSync(), ops)).toBeLessThan(1e-5);
        unregisterCpuFusedKernels([DECODE_LINEAR_KERNEL]);
      }
    });
  });

  test('inputs that do not fit are refused, naming what was given, by the kernel and the ops alike', () => {
    registerCpuFusedKernels([DECODE_LINEAR_KERNEL]);
    tf.tidy(() => {
      const x = tf.zeros([2, 4]) as tf.Tensor2D;
      const norm = { gain: tf.ones([4]), shift: tf.zeros([4]) };
      const w = tf.zeros([4, 5]);
      for (const f of [fusedDecodeLinear, decodeLinearOps]) {
        expect(() => f(x, tf.zeros([3, 5]), { norm })).toThrow(/x \[M, K\] and w \[K, N\].*got x \[2,4\] and w \[3,5\]/);
        expect(() => f(x, w, { norm: { gain: tf.ones([3]), shift: tf.zeros([4]) } })).toThrow(/gain and shift need 4 values, got 3 and 4/);
        expect(() => f(x, w, { bias: tf.zeros([4]) })).toThrow(/the bias needs 5 values, got 4/);
        expect(() => f(x, w, { gelu: true })).toThrow(/GELU comes after a bias/);
        expect(() => f(x, w, { residual: tf.zeros([2, 4]) })).toThrow(/the residual needs \[2, 5\], got \[2,4\]/);
      }
    });
  });

  test('decoding steps use it (no layer norm or add kernel left in their blocks); prefill and training passes do not; logits agree', async () => {
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
    registerCpuFusedKernels([DECODE_LINEAR_KERNEL, LAYER_NORM_KERNEL, APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL]);
    const fused = await logitsOfStep();
    // With the decode attention's kernels too, as on WebGPU: three per layer and the head's, no
    // layer norm of its own, and one add only, the embeddings'.
    expect(fused.kernels.filter((k) => k === DECODE_LINEAR_KERNEL)).toHaveLength(3 * c.layers + 1);
    expect(fused.kernels).not.toContain(LAYER_NORM_KERNEL);
    expect(fused.kernels.filter((k) => k === 'Add')).toHaveLength(1);
    expect(largestAbsDifference(fused.values, ops.values)).toBeLessThan(1e-4);
    // A whole-sequence pass (prefill, training) keeps the ops: they have a gradient.
    const whole = await tf.profile(() => forward(model.params, c, tf.tensor2d(prompts, undefined, 'int32'), tf.zeros([2, 6], 'int32') as tf.Tensor2D, tf.zeros([2, 1, 6, 6]) as tf.Tensor4D).logits);
    expect(whole.kernelNames).not.toContain(DECODE_LINEAR_KERNEL);
    unregisterCpuFusedKernels([LAYER_NORM_KERNEL, APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL]);
    model.dispose();
  });
});
