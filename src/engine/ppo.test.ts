import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import { explainedVariance, gae, ppoLoss, whiten } from './ppo';

function expectRowsClose(actual: number[][], expected: number[][], digits = 10): void {
  expect(actual.map((r) => r.length)).toEqual(expected.map((r) => r.length));
  actual.forEach((row, i) => row.forEach((x, t) => expect(x, `row ${i}, token ${t}`).toBeCloseTo((expected[i] as number[])[t] as number, digits)));
}

describe('gae', () => {
  test('gamma 1, lambda 1: Monte Carlo return minus the value; returns are the outcome at every token', () => {
    const { advantages, returns } = gae([[0, 0, 1]], [[0.5, 0.5, 0.5]], 1, 1);
    expectRowsClose(advantages, [[0.5, 0.5, 0.5]]);
    expectRowsClose(returns, [[1, 1, 1]]);
  });

  test('gamma 1, lambda 0.95: the last token\'s TD error, decayed by 0.95 per token backwards', () => {
    // deltas: [0 + 0.5 - 0.5, 0 + 0.5 - 0.5, 1 + 0 - 0.5] = [0, 0, 0.5]
    const { advantages, returns } = gae([[0, 0, 1]], [[0.5, 0.5, 0.5]], 1, 0.95);
    expectRowsClose(advantages, [[0.95 * 0.95 * 0.5, 0.95 * 0.5, 0.5]]);
    expectRowsClose(returns, [[0.45125 + 0.5, 0.475 + 0.5, 1]]);
  });

  test('lambda 0 is the one-step TD error; gamma 0.9 with lambda 1 gives discounted returns', () => {
    expectRowsClose(gae([[0, 0, 1]], [[0.5, 0.5, 0.5]], 1, 0).advantages, [[0, 0, 0.5]]);
    const d = gae([[0, 0, 1]], [[0.5, 0.5, 0.5]], 0.9, 1);
    expectRowsClose(d.returns, [[0.81, 0.9, 1]]);
    expectRowsClose(d.advantages, [[0.31, 0.4, 0.5]]);
  });

  test('rows of different lengths are independent; each ends in a terminal state of value 0; an empty row stays empty', () => {
    // Row 0: deltas [0 + 0.4 - 0.2, 1 - 0.4] = [0.2, 0.6]; A = [0.2 + 0.5 * 0.6, 0.6].
    // Row 1: deltas [-0.1 + 0.1 - 0, -0.1 + 0.3 - 0.1, 0.5 - 0.3] = [0, 0.1, 0.2];
    //        A = [0 + 0.5 * 0.2, 0.1 + 0.5 * 0.2, 0.2] = [0.1, 0.2, 0.2].
    const { advantages, returns } = gae([[0, 1], [-0.1, -0.1, 0.5], []], [[0.2, 0.4], [0, 0.1, 0.3], []], 1, 0.5);
    expectRowsClose(advantages, [[0.5, 0.6], [0.1, 0.2, 0.2], []]);
    expectRowsClose(returns, [[0.7, 1], [0.1, 0.3, 0.5], []]);
  });

  test('mismatched rows, non-finite entries and out-of-range gamma or lambda throw, naming the problem', () => {
    expect(() => gae([[0, 1]], [[0.5]], 1, 1)).toThrow(/row 0 has 2 rewards but 1 values/);
    expect(() => gae([[0]], [], 1, 1)).toThrow(/1 reward rows but 0 value rows/);
    expect(() => gae([[Number.NaN]], [[0]], 1, 1)).toThrow(/row 0, token 0/);
    expect(() => gae([[0]], [[0]], 1.5, 1)).toThrow(/gamma/);
    expect(() => gae([[0]], [[0]], 1, -0.1)).toThrow(/lambda/);
  });
});

describe('whiten and explainedVariance', () => {
  test('whiten uses every token of the batch and the unbiased variance; shiftMean false keeps the mean', () => {
    // mean 4, unbiased variance (16 + 0 + 16) / 2 = 16, std 4
    expectRowsClose(whiten([[0, 4], [8]]), [[-1, 0], [1]], 6);
    expectRowsClose(whiten([[0, 4], [8]], false), [[3, 4], [5]], 6);
    // A single token (variance 0) and equal tokens become 0, not NaN.
    expect(whiten([[3]])).toEqual([[0]]);
    expect(whiten([[2, 2], [2]])).toEqual([[0, 0], [0]]);
  });

  test('explained variance: 1 for exact values, 0 for the mean, 2/3 in a hand-computed case, 0 when returns are constant', () => {
    expect(explainedVariance([[1, 2], [3]], [[1, 2], [3]])).toBeCloseTo(1, 12);
    expect(explainedVariance([[2, 2], [2]], [[1, 2], [3]])).toBeCloseTo(0, 12);
    // residuals [0, 0, 1]: unbiased variance 1/3; returns' variance 1
    expect(explainedVariance([[1, 2, 2]], [[1, 2, 3]])).toBeCloseTo(2 / 3, 12);
    expect(explainedVariance([[0, 5]], [[1, 1]])).toBe(0);
  });
});

describe('ppoLoss (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  // One completion of four tokens after a prompt column (masked, filled with values that would
  // overflow exp or dominate a square if they leaked into the loss).
  //   token:      1 (clip high)   2 (clip low)   3 (inside)   4 (rho > 1 + eps but A < 0: not clipped)
  //   rho:        1.5             0.5            1.1          1.5
  //   A:          1               -1             2            -1
  const rho = [1, 1.5, 0.5, 1.1, 1.5];
  const inputs = () => ({
    logp: tf.tensor2d([[100, ...rho.slice(1).map(Math.log)]]),
    oldLogp: tf.tensor2d([[-100, 0, 0, 0, 0]]),
    advantages: tf.tensor2d([[1e6, 1, -1, 2, -1]]),
    mask: tf.tensor2d([[0, 1, 1, 1, 1]]),
    // V moved by 0.1 (inside the clip), +0.6 (clipped branch larger), -0.4 (plain larger), +0.5 (plain larger)
    values: tf.tensor2d([[1e6, 0.5, 1.0, 0.0, 0.9]]),
    oldValues: tf.tensor2d([[0, 0.4, 0.4, 0.4, 0.4]]),
    returns: tf.tensor2d([[-1e6, 1, 1, 1, 0]]),
  });
  const opts = { epsLow: 0.2, epsHigh: 0.2, valueClip: 0.2, valueCoef: 0.5 };

  function read(r: ReturnType<typeof ppoLoss>): Record<string, number> {
    const out = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, (v as tf.Scalar).dataSync()[0] as number]));
    tf.dispose(Object.values(r));
    return out;
  }

  test('hand-computed policy loss, value loss, clip ratios; masked garbage never enters', () => {
    const t = inputs();
    const r = read(ppoLoss(t, opts));
    // surrogate per token: min(1.5, 1.2) = 1.2; min(-0.5, -0.8) = -0.8; 2.2; min(-1.5, -1.2) = -1.5
    expect(r.policyLoss).toBeCloseTo(-(1.2 - 0.8 + 2.2 - 1.5) / 4, 6);
    expect(r.clipRatioHigh).toBeCloseTo(1 / 4, 6);
    expect(r.clipRatioLow).toBeCloseTo(1 / 4, 6);
    expect(r.clipRatio).toBeCloseTo(2 / 4, 6);
    // squared errors, plain vs clipped: 0.25 vs 0.25; 0 vs (0.6 - 1)^2 = 0.16; 1 vs 0.64; 0.81 vs 0.36
    expect(r.valueLoss).toBeCloseTo((0.5 * (0.25 + 0.16 + 1 + 0.81)) / 4, 6);
    expect(r.valueClipRatio).toBeCloseTo(1 / 4, 6);
    expect(r.loss).toBeCloseTo(r.policyLoss! + 0.5 * r.valueLoss!, 6);
    tf.dispose(Object.values(t));
  });

  test('valueClip 0 turns value clipping off: plain squared error, no clipped tokens', () => {
    const t = inputs();
    const r = read(ppoLoss(t, { ...opts, valueClip: 0 }));
    expect(r.valueLoss).toBeCloseTo((0.5 * (0.25 + 0 + 1 + 0.81)) / 4, 6);
    expect(r.valueClipRatio).toBe(0);
    tf.dispose(Object.values(t));
  });

  test('gradients: clipped tokens and the clipped value branch pass none; the rest as hand-computed; masked columns get 0', () => {
    const t = inputs();
    const gLogp = tf.grad((logp: tf.Tensor) => ppoLoss({ ...t, logp: logp as tf.Tensor2D }, opts).policyLoss)(t.logp);
    // d/dlogp of -rho A / 4 where unclipped: token 3: -2 * 1.1 / 4; token 4: 1 * 1.5 / 4
    const g = Array.from(gLogp.dataSync());
    [0, 0, 0, -0.55, 0.375].forEach((x, i) => expect(g[i], `logp grad ${i}`).toBeCloseTo(x, 5));
    const gValues = tf.grad((v: tf.Tensor) => ppoLoss({ ...t, values: v as tf.Tensor2D }, opts).valueLoss)(t.values);
    // d/dV of 0.5 * (V - R)^2 / 4 where the plain branch is active: (V - R) / 4
    const gv = Array.from(gValues.dataSync());
    [0, -0.5 / 4, 0, -1 / 4, 0.9 / 4].forEach((x, i) => expect(gv[i], `value grad ${i}`).toBeCloseTo(x, 5));
    tf.dispose([gLogp, gValues, ...Object.values(t)]);
  });

  test('token-mean aggregation: every completion token of the batch weighs the same, whatever its row length', () => {
    // Row 0: one token with A = 4; row 1: three tokens with A = 0; rho = 1 everywhere.
    const z = tf.zeros([2, 4]) as tf.Tensor2D;
    const mask = tf.tensor2d([[0, 1, 0, 0], [0, 1, 1, 1]]);
    const adv = tf.tensor2d([[0, 4, 0, 0], [0, 0, 0, 0]]);
    const r = read(ppoLoss({ logp: z, oldLogp: z, advantages: adv, mask, values: z, oldValues: z, returns: z }, opts));
    expect(r.policyLoss).toBeCloseTo(-4 / 4, 6); // a per-sequence mean would give -2
    expect(r.valueLoss).toBe(0);
    expect(r.clipRatio).toBe(0);
    tf.dispose([z, mask, adv]);
  });

  test('an all-zero mask gives zeros, not NaN; shape and option errors name the field; no tensor leaks', () => {
    const before = tf.memory().numTensors;
    const z = tf.zeros([1, 3]) as tf.Tensor2D;
    const r = read(ppoLoss({ logp: z, oldLogp: z, advantages: z, mask: z, values: z, oldValues: z, returns: z }, opts));
    for (const v of Object.values(r)) expect(v).toBe(0);
    const wrong = tf.zeros([1, 2]) as tf.Tensor2D;
    expect(() => ppoLoss({ logp: z, oldLogp: z, advantages: z, mask: z, values: wrong, oldValues: z, returns: z }, opts)).toThrow(/values: shape \[1, 2\] must equal logp's \[1, 3\]/);
    expect(() => ppoLoss({ logp: z, oldLogp: z, advantages: z, mask: z, values: z, oldValues: z, returns: z }, { ...opts, valueClip: -1 })).toThrow(/valueClip/);
    expect(() => ppoLoss({ logp: z, oldLogp: z, advantages: z, mask: z, values: z, oldValues: z, returns: z }, { ...opts, epsLow: 1 })).toThrow(/epsLow/);
    tf.dispose([z, wrong]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
