import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { causalBias, hiddenStates, initialWeights, positionsFor } from '../model';
import { modelSize } from '../model-config';
import { Rng } from '../rng';
import { Tokenizer } from '../tokenizer';
import { heldOutPreferencePairs, preferencePairs } from './general-prompts';
import {
  REWARD_HEAD_META_KEY, RewardModel, bradleyTerryLoss, encodePairs, pairwiseAccuracyOf, rewardHeadFromMeta, rewardHeadToMeta,
} from './reward-model';

const tok = new Tokenizer();
const testSize = modelSize('test', tok.size);
const softplus = (x: number): number => Math.log1p(Math.exp(x));

describe('bradleyTerryLoss', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  test.each([
    // chosen, rejected, expected: mean of -log sigmoid(c - r) = softplus(r - c)
    [[2, 0], [0, 0], (softplus(-2) + softplus(0)) / 2],
    [[0], [0], Math.log(2)],
    [[1, -1, 3], [0, 1, 3], (softplus(-1) + softplus(2) + softplus(0)) / 3],
  ])('chosen %j vs rejected %j', (c, r, expected) => {
    const loss = bradleyTerryLoss(tf.tensor1d(c), tf.tensor1d(r));
    expect(loss.shape).toEqual([]);
    expect(loss.dataSync()[0]).toBeCloseTo(expected, 5);
  });

  test('stays finite for a large margin of the wrong sign, and is near 0 for a large right one', () => {
    expect(bradleyTerryLoss(tf.tensor1d([-200]), tf.tensor1d([200])).dataSync()[0]).toBeCloseTo(400, 3);
    expect(bradleyTerryLoss(tf.tensor1d([200]), tf.tensor1d([-200])).dataSync()[0]).toBeCloseTo(0, 6);
  });

  test('its gradient is -sigmoid(r - c) / n for chosen and the opposite for rejected', () => {
    const c = tf.tensor1d([2, 0]);
    const r = tf.tensor1d([0, 0]);
    const [gc, gr] = tf.grads((a: tf.Tensor, b: tf.Tensor) => bradleyTerryLoss(a as tf.Tensor1D, b as tf.Tensor1D))([c, r]);
    const sig = (x: number): number => 1 / (1 + Math.exp(-x));
    const expected = [-sig(-2) / 2, -sig(0) / 2];
    Array.from(gc!.dataSync()).forEach((g, i) => expect(g).toBeCloseTo(expected[i]!, 5));
    Array.from(gr!.dataSync()).forEach((g, i) => expect(g).toBeCloseTo(-expected[i]!, 5));
  });

  test('pairwiseAccuracyOf counts ties as half', () => {
    expect(pairwiseAccuracyOf([1, 2, 3, 0], [0, 5, 3, -1])).toBe((1 + 0 + 0.5 + 1) / 4);
    expect(pairwiseAccuracyOf([], [])).toBe(0);
  });
});

describe('RewardModel (test size)', () => {
  beforeAll(async () => {
    // wasm: about 20x faster than the cpu backend for these batches (training takes ~2 s).
    await useBackend('wasm');
  });

  test('score reads the last real token: it equals the head applied to an unpadded single-row forward pass', () => {
    const rm = RewardModel.create(testSize, 3);
    const prompts = [tok.encode('describe 4072:'), tok.encode('about ٣:')];
    const completions = [tok.encode('<answer>4072 is even</answer>'), tok.encode('<answer>٣</answer>')];
    const batched = rm.score(prompts, completions);
    const { w, b } = rm.headWeights();
    prompts.forEach((p, i) => {
      const seq = [...p, ...completions[i]!];
      const valid = [seq.map(() => 1)];
      const expected = tf.tidy(() => {
        const h = hiddenStates(rm.trunk.params, testSize, tf.tensor2d([seq], undefined, 'int32'),
          tf.tensor2d(positionsFor(valid, p.length, testSize.promptAnchor), undefined, 'int32'), causalBias(valid));
        const last = tf.slice(h, [0, seq.length - 1, 0], [1, 1, testSize.dModel]);
        return tf.add(tf.sum(tf.mul(tf.reshape(last, [testSize.dModel]), tf.tensor1d(w))), b[0]!).dataSync()[0]!;
      });
      expect(batched[i]).toBeCloseTo(expected, 4);
    });
    rm.dispose();
  });

  test('score is deterministic, independent of batch company, and sensitive to the completion', () => {
    const rm = RewardModel.create(testSize, 4);
    const pairs = encodePairs(tok, heldOutPreferencePairs(6));
    const prompts = pairs.map((p) => p.prompt);
    const completions = pairs.map((p) => p.chosen);
    const a = rm.score(prompts, completions);
    expect(rm.score(prompts, completions)).toEqual(a);
    const alone = rm.score([prompts[2]!], [completions[2]!]);
    expect(alone[0]).toBeCloseTo(a[2]!, 4);
    const other = rm.score([prompts[2]!], [pairs[2]!.rejected]);
    expect(other[0]).not.toBeCloseTo(a[2]!, 4);
    expect(rm.score([], [])).toEqual([]);
    rm.dispose();
  });

  test('inputs that do not fit the model are rejected with the limit named', () => {
    const rm = RewardModel.create(testSize, 5);
    expect(() => rm.score([tok.encode('a'.repeat(21))], [[1]])).toThrow(/prompt anchor \(20\)/);
    expect(() => rm.score([tok.encode('a')], [tok.encode('b'.repeat(77))])).toThrow(/at most 76/);
    expect(() => rm.score([[1]], [])).toThrow(/1 prompts but 0 completions/);
    expect(() => rm.trainStep([], 1e-3)).toThrow(/at least one pair/);
    rm.dispose();
  });

  test('from random init, held-out pairwise accuracy rises from about 0.5 to above 0.8, with flat memory', () => {
    const baseline = tf.memory().numTensors;
    const rm = RewardModel.create(testSize, 1);
    const held = encodePairs(tok, heldOutPreferencePairs());
    const before = rm.pairwiseAccuracy(held);
    expect(before).toBeGreaterThan(0.3);
    expect(before).toBeLessThan(0.7);
    const rng = new Rng(7);
    const counts: number[] = [];
    const losses: number[] = [];
    for (let s = 0; s < 60; s++) {
      const r = rm.trainStep(encodePairs(tok, preferencePairs(rng, 32)), 3e-3);
      expect(r.skipped).toBe(false);
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(r.accuracy).toBeLessThanOrEqual(1);
      losses.push(r.loss);
      counts.push(tf.memory().numTensors);
    }
    const after = rm.pairwiseAccuracy(held);
    expect(after).toBeGreaterThan(0.8);
    const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
    expect(mean(losses.slice(-10))).toBeLessThan(mean(losses.slice(0, 5)));
    // Optimiser moments appear at the first step; from then on nothing leaks.
    expect(counts[counts.length - 1]).toBe(counts[1]);
    rm.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });

  test('the head round-trips through checkpoint meta, and a rebuilt model scores the same', () => {
    const rm = RewardModel.create(testSize, 6);
    rm.trainStep(encodePairs(tok, preferencePairs(new Rng(1), 8)), 1e-2);
    const pairs = encodePairs(tok, heldOutPreferencePairs(4));
    const scores = rm.scorePairs(pairs);
    const meta = JSON.parse(JSON.stringify({ [REWARD_HEAD_META_KEY]: rewardHeadToMeta(rm.headWeights()) })) as Record<string, unknown>;
    const trunk = Object.fromEntries(Object.entries(rm.trunk.variables).map(([n, v]) => [n, Float32Array.from(v.dataSync())]));
    const copy = new RewardModel(testSize, trunk, rewardHeadFromMeta(meta[REWARD_HEAD_META_KEY], testSize.dModel));
    const again = copy.scorePairs(pairs);
    again.chosen.forEach((s, i) => expect(s).toBeCloseTo(scores.chosen[i]!, 5));
    again.rejected.forEach((s, i) => expect(s).toBeCloseTo(scores.rejected[i]!, 5));
    expect(() => rewardHeadFromMeta({ w: [1, 2], b: 0 }, testSize.dModel)).toThrow(/meta\.rewardHead\.w: expected 16/);
    expect(() => rewardHeadFromMeta({ w: new Array(16).fill(0), b: 'x' }, testSize.dModel)).toThrow(/meta\.rewardHead\.b/);
    expect(() => rewardHeadFromMeta(undefined, testSize.dModel)).toThrow(/meta\.rewardHead/);
    expect(() => new RewardModel(testSize, initialWeights(testSize, 1), { w: new Float32Array(3), b: new Float32Array(1) }))
      .toThrow(/expected 16 \+ 1/);
    copy.dispose();
    rm.dispose();
  });
});
