import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import { SAMPLE_TOKENS_KERNEL, fusedSampleTokens } from './sample-tokens';
import { nextTokensOnDevice } from '../token-choice';
import { GPT } from '../model';
import { modelSize } from '../model-config';
import { Rng } from '../rng';
import { generate } from '../sampling';
import { Tokenizer } from '../tokenizer';

const PAD = 0;

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels([SAMPLE_TOKENS_KERNEL]));

/**
 * Each row's next token from the fused kernel and from the ops, for rows of logits, draws and
 * stopped flags. The draws are the middle step of three; the steps around them would pick other
 * tokens (0.001: the first token with weight, 0.999: the last).
 */
function bothWays(rows: number[][], draws: number[], done: boolean[], temperature: number): { fused: number[]; ops: number[] } {
  const o = { temperature, topK: 0, topP: 1, padId: PAD };
  return tf.tidy(() => {
    const steps = [draws.map(() => 0.001), draws, draws.map(() => 0.999)];
    const [logits, u, stopped] = [tf.tensor2d(rows), tf.tensor2d(steps), tf.tensor1d(done, 'bool')];
    const ops = nextTokensOnDevice(logits, u, 1, stopped, o).arraySync();
    registerCpuFusedKernels([SAMPLE_TOKENS_KERNEL]);
    const fused = fusedSampleTokens(logits, u, 1, stopped, temperature, PAD);
    expect(fused.dtype).toBe('int32');
    return { fused: fused.arraySync(), ops };
  });
}

describe('fused token choice (GrpoSampleTokens)', () => {
  test('logits [0, ln 2, 0]: weights 1, 2, 1 split [0, 1) at 1/4 and 3/4; a stopped row gets the pad (hand-computed)', () => {
    const row = [0, Math.log(2), 0];
    const { fused, ops } = bothWays([row, row, row, row, row], [0.2, 0.3, 0.7, 0.8, 0.5], [false, false, false, false, true], 1);
    expect(fused).toEqual([0, 1, 1, 2, PAD]);
    expect(ops).toEqual(fused);
  });

  test('temperature 2 flattens the weights to 1, √2, 1: a draw of 0.72 (× 3.414 = 2.458 > 1 + √2) picks token 2, at temperature 1 token 1 (2.88 < 3)', () => {
    const row = [0, Math.log(2), 0];
    expect(bothWays([row, row], [0.2, 0.72], [false, false], 2).fused).toEqual([0, 2]);
    expect(bothWays([row, row], [0.2, 0.72], [false, false], 1).fused).toEqual([0, 1]);
  });

  test('random logits over the model vocabulary: the same tokens as the ops, stopped rows padded', () => {
    const rng = new Rng(3);
    const rows = Array.from({ length: 300 }, () => Array.from({ length: 70 }, () => 4 * (rng.next() - 0.5)));
    const draws = rows.map(() => Math.fround(rng.next()));
    const done = rows.map((_, b) => b % 7 === 0);
    for (const temperature of [1, 0.6]) {
      const { fused, ops } = bothWays(rows, draws, done, temperature);
      expect(fused).toEqual(ops);
      expect(fused.filter((id, b) => !done[b] && id !== PAD).length).toBeGreaterThan(200);
    }
  });

  test('greedy and top-k or top-p choice keep the ops; plain sampling runs the one kernel', async () => {
    registerCpuFusedKernels([SAMPLE_TOKENS_KERNEL]);
    const [logits, u, done] = [tf.randomNormal([4, 9], 0, 2, 'float32', 1) as tf.Tensor2D, tf.tensor2d([[0.1, 0.4, 0.6, 0.9]]), tf.tensor1d([false, true, false, false], 'bool')];
    const kernels = async (o: { temperature: number; topK: number; topP: number }) =>
      (await tf.profile(() => nextTokensOnDevice(logits, u, 0, done, { ...o, padId: PAD }))).kernelNames;
    // One kernel, no cast: it writes int32 ids itself.
    expect(await kernels({ temperature: 1, topK: 0, topP: 1 })).toEqual([SAMPLE_TOKENS_KERNEL]);
    const plain = nextTokensOnDevice(logits, u, 0, done, { temperature: 1, topK: 0, topP: 1, padId: PAD });
    expect(plain.dtype).toBe('int32');
    plain.dispose();
    for (const o of [{ temperature: 0, topK: 0, topP: 1 }, { temperature: 1, topK: 3, topP: 1 }, { temperature: 1, topK: 0, topP: 0.9 }]) {
      expect(await kernels(o)).not.toContain(SAMPLE_TOKENS_KERNEL);
    }
    tf.dispose([logits, u, done]);
  });

  test('bad input is refused with the shapes, the step or the temperature named', () => {
    registerCpuFusedKernels([SAMPLE_TOKENS_KERNEL]);
    tf.tidy(() => {
      const logits = tf.zeros([3, 5]) as tf.Tensor2D;
      const done = tf.zeros([3], 'bool') as tf.Tensor1D;
      const draws = tf.zeros([4, 3]) as tf.Tensor2D;
      expect(() => fusedSampleTokens(logits, tf.zeros([4, 2]) as tf.Tensor2D, 0, done, 1, PAD)).toThrow(/draws of \[steps, 3\] and done of \[3\].*\[4,2\] and \[3\]/);
      expect(() => fusedSampleTokens(logits, draws, 4, done, 1, PAD)).toThrow(/step must be a whole number from 0 to 3 \(got 4\)/);
      expect(() => fusedSampleTokens(logits, draws, 0, done, 0, PAD)).toThrow(/temperature must be above 0 \(got 0\)/);
    });
  });

  test('the device loop with it gives the host completions, stops included, and leaks no tensor', () => {
    const tok = new Tokenizer();
    const model = GPT.create(modelSize('test', tok.size), 4);
    const prompts = ['12+3=', '7+8=', '45+6=', '100+2000='].map((s) => tok.encode(s));
    const o = { maxNewTokens: 14, temperature: 1, topK: 0, topP: 1, padId: tok.padId };
    const free = generate(model.params, model.config, prompts, { ...o, stopIds: [], tokenChoice: 'host' }, new Rng(2));
    const stopIds = [free.completions[0]?.[2] as number, free.completions[3]?.[5] as number];
    const host = generate(model.params, model.config, prompts, { ...o, stopIds, tokenChoice: 'host' }, new Rng(2));
    registerCpuFusedKernels([SAMPLE_TOKENS_KERNEL]);
    const before = tf.memory().numTensors;
    const device = generate(model.params, model.config, prompts, { ...o, stopIds, tokenChoice: 'device' }, new Rng(2));
    expect(tf.memory().numTensors).toBe(before);
    expect(device).toEqual(host);
    expect(host.truncated).toContain(false);
    model.dispose();
  });
});
