import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import {
  fracRewardZeroStd,
  groupAdvantages,
  grpoLoss,
  zeroStdGroups,
  type GrpoLossInputs,
  type GrpoLossOptions,
  type LossType,
} from './grpo';

beforeAll(async () => {
  await useBackend('cpu');
});

const LOSS_TYPES: LossType[] = ['grpo', 'bnpo', 'dr_grpo', 'dapo'];
const LN2 = Math.log(2);

function expectClose(actual: ArrayLike<number>, expected: number[], digits = 5): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, digits));
}

function opts(o: Partial<GrpoLossOptions> = {}): GrpoLossOptions {
  return { lossType: 'grpo', epsLow: 0.2, epsHigh: 0.28, beta: 0, maxCompletionLength: 3, ...o };
}

/** Runs grpoLoss and reads every output back as numbers, disposing everything. */
function lossValues(t: GrpoLossInputs, o: GrpoLossOptions): Record<string, number> {
  const r = grpoLoss(t, o);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) {
    out[k] = v.dataSync()[0] as number;
    v.dispose();
  }
  return out;
}

/** d loss / d logp as a nested array. */
function lossGrad(t: GrpoLossInputs, o: GrpoLossOptions): number[][] {
  const g = tf.grad((lp: tf.Tensor) => grpoLoss({ ...t, logp: lp as tf.Tensor2D }, o).loss)(t.logp);
  const arr = g.arraySync() as number[][];
  g.dispose();
  return arr;
}

// ---------------------------------------------------------------------------------------------
// groupAdvantages
// ---------------------------------------------------------------------------------------------

// Three groups of G = 3:
//   g0 = [3, 1, 2]:     mean 2, deviations [1, -1, 0], unbiased var (1 + 1 + 0) / 2 = 1, std 1
//   g1 = [.5, .5, .5]:  zero std
//   g2 = [0, 0, 3]:     mean 1, deviations [-1, -1, 2], var (1 + 1 + 4) / 2 = 3, std sqrt(3)
const REWARDS = [3, 1, 2, 0.5, 0.5, 0.5, 0, 0, 3];

describe('groupAdvantages', () => {
  test('group scale divides each group by its own unbiased std + eps; zero-std group gives 0', () => {
    const a = groupAdvantages(REWARDS, 3, 'group', 1e-4);
    // g0: ±1 / (1 + 1e-4) = ±0.99990001; g2: -1 / (1.7320508 + 1e-4) = -0.5773169, 2x = 1.1546339
    expectClose(a, [0.9999, -0.9999, 0, 0, 0, 0, -0.5773169, -0.5773169, 1.1546339]);
  });

  test('batch scale divides by the whole batch std, baseline stays the group mean', () => {
    // batch mean 10.5 / 9 = 1.1666667; squared deviations:
    //   3.3611111 + 0.0277778 + 0.6944444 + 3 * 0.4444444 + 2 * 1.3611111 + 3.3611111 = 11.5
    // unbiased var 11.5 / 8 = 1.4375, std 1.1989579; 1 / (1.1989579 + 1e-4) = 0.8339881
    const a = groupAdvantages(REWARDS, 3, 'batch');
    const k = 0.8339881;
    expectClose(a, [k, -k, 0, 0, 0, 0, -k, -k, 2 * k]);
  });

  test('none scale (Dr. GRPO) is reward minus group mean only', () => {
    expectClose(groupAdvantages(REWARDS, 3, 'none'), [1, -1, 0, 0, 0, 0, -1, -1, 2]);
  });

  test('eps defaults to 1e-4', () => {
    // [1, 0]: mean 0.5, deviations ±0.5, unbiased std sqrt(0.5 / 1) = 0.7071068
    // 0.5 / (0.7071068 + 1e-4) = 0.7070068 (eps = 0 would give 0.7071068)
    const a = groupAdvantages([1, 0], 2, 'group');
    expectClose(a, [0.7070068, -0.7070068], 6);
    expect(Array.from(a)).toEqual(Array.from(groupAdvantages([1, 0], 2, 'group', 1e-4)));
    expectClose(groupAdvantages([1, 0], 2, 'group', 0), [0.7071068, -0.7071068], 6);
  });

  test('zero-std group is exactly 0 even when floating point would leave a residue', () => {
    // mean of three 0.1s is 0.10000000000000002; 0.1 - mean = -1.4e-17, / 1e-4 would be ~1e-13.
    const a = groupAdvantages([0.1, 0.1, 0.1], 3, 'group');
    expect(Array.from(a)).toEqual([0, 0, 0]);
  });

  test('groupSize 1 takes std as 0 and gives zero advantages', () => {
    for (const scale of ['group', 'batch', 'none'] as const) {
      expect(Array.from(groupAdvantages([5, 7, -1], 1, scale))).toEqual([0, 0, 0]);
    }
  });

  test('bad length, groupSize or reward throws naming the field', () => {
    expect(() => groupAdvantages([1, 2, 3, 4, 5], 2, 'group')).toThrow(/rewards: length 5/);
    expect(() => groupAdvantages([1, 2], 0, 'group')).toThrow(/groupSize/);
    expect(() => groupAdvantages([1, 2], 1.5, 'group')).toThrow(/groupSize/);
    expect(() => groupAdvantages([1, NaN], 2, 'group')).toThrow(/rewards\[1\]/);
    expect(() => groupAdvantages([1, 2], 2, 'foo' as never)).toThrow(/scale/);
  });

  test('empty batch gives an empty result', () => {
    expect(groupAdvantages([], 4, 'group').length).toBe(0);
    expect(fracRewardZeroStd([], 4)).toBe(0);
  });
});

describe('zero-std groups', () => {
  test('zeroStdGroups flags groups whose rewards are all equal', () => {
    expect(zeroStdGroups(REWARDS, 3)).toEqual([false, true, false]);
    expect(zeroStdGroups([1, 1, 0, 0], 2)).toEqual([true, true]);
    expect(zeroStdGroups([1, 2], 1)).toEqual([true, true]);
  });

  test('fracRewardZeroStd is the share of zero-std groups', () => {
    expect(fracRewardZeroStd(REWARDS, 3)).toBeCloseTo(1 / 3, 10);
    expect(fracRewardZeroStd([1, 0, 1, 1], 2)).toBe(0.5);
    expect(() => fracRewardZeroStd([1, 0, 1], 2)).toThrow(/rewards/);
  });
});

// ---------------------------------------------------------------------------------------------
// grpoLoss
// ---------------------------------------------------------------------------------------------

describe('grpoLoss at ratio 1 (mu = 1, first step)', () => {
  // N = 3, T = 4. Completion lengths 3, 1, 2; A = [1, -0.5, 2]. logp == oldLogp, so rho = 1,
  // the clip is inactive and the per-token loss is -A_i on each of sequence i's tokens.
  // Masked positions hold garbage (logp - oldLogp = 200 would overflow exp to Inf).
  const logp = [
    [-1, -2, -0.5, 200],
    [-0.3, 200, 200, 200],
    [-1.5, -0.1, 200, 200],
  ];
  const oldLogp = [
    [-1, -2, -0.5, 0],
    [-0.3, 0, 0, 0],
    [-1.5, -0.1, 0, 0],
  ];
  const mask = [
    [1, 1, 1, 0],
    [1, 0, 0, 0],
    [1, 1, 0, 0],
  ];
  const inputs = (): GrpoLossInputs => ({
    logp: tf.tensor2d(logp),
    oldLogp: tf.tensor2d(oldLogp),
    advantages: tf.tensor1d([1, -0.5, 2]),
    mask: tf.tensor2d(mask),
  });

  // grpo:    mean over sequences of -A_i = -(1 - 0.5 + 2) / 3 = -0.8333333
  // bnpo:    tokens sum -(3 * 1 + 1 * -0.5 + 2 * 2) = -6.5, over 6 tokens = -1.0833333
  // dapo:    = bnpo on one process
  // dr_grpo: -6.5 / (N * maxCompletionLength) = -6.5 / (3 * 4) = -0.5416667
  const expected: Record<LossType, number> = {
    grpo: -2.5 / 3,
    bnpo: -6.5 / 6,
    dapo: -6.5 / 6,
    dr_grpo: -6.5 / 12,
  };

  for (const lossType of LOSS_TYPES) {
    test(`${lossType}: loss is -mean(A) weighted by its aggregation, no clipping, no NaN from masked garbage`, () => {
      tf.tidy(() => {
        const v = lossValues(inputs(), opts({ lossType, maxCompletionLength: 4 }));
        expect(v.loss).toBeCloseTo(expected[lossType], 6);
        expect(v.policyLoss).toBeCloseTo(expected[lossType], 6);
        expect(v.kl).toBe(0);
        expect(v.clipRatioLow).toBe(0);
        expect(v.clipRatioHigh).toBe(0);
        expect(v.clipRatioRegion).toBe(0);
      });
    });
  }

  test('advantages that sum to zero give loss 0 but a nonzero gradient', () => {
    // The "loss = 0" surprise: with rho = 1 the loss is -mean(A), and group-normalised
    // advantages sum to zero, so with equal lengths the loss is exactly 0. The gradient is not:
    // d loss / d logp_{i,t} = -A_i * rho / (N * |o_i|) = -A_i / (2 * 2) = -+0.25.
    tf.tidy(() => {
      const t: GrpoLossInputs = {
        logp: tf.tensor2d([[-1, -2], [-0.5, -0.7]]),
        oldLogp: tf.tensor2d([[-1, -2], [-0.5, -0.7]]),
        advantages: tf.tensor1d([1, -1]),
        mask: tf.tensor2d([[1, 1], [1, 1]]),
      };
      expect(lossValues(t, opts()).loss).toBeCloseTo(0, 7);
      const g = lossGrad(t, opts());
      expectClose(g.flat(), [-0.25, -0.25, 0.25, 0.25], 6);
    });
  });

  test('grpo: a sequence with no completion tokens contributes 0, not NaN', () => {
    // seq0 one token, A = 1 -> -1; seq1 empty -> 0 / max(0, 1) = 0. Mean over 2 = -0.5.
    // bnpo only counts seq0's token: -1 / 1.
    tf.tidy(() => {
      const t: GrpoLossInputs = {
        logp: tf.tensor2d([[-1, 0], [0, 0]]),
        oldLogp: tf.tensor2d([[-1, 0], [0, 0]]),
        advantages: tf.tensor1d([1, 5]),
        mask: tf.tensor2d([[1, 0], [0, 0]]),
      };
      expect(lossValues(t, opts({ lossType: 'grpo' })).loss).toBeCloseTo(-0.5, 6);
      expect(lossValues(t, opts({ lossType: 'bnpo' })).loss).toBeCloseTo(-1, 6);
      const g = lossGrad(t, opts({ lossType: 'grpo' }));
      expect(g.flat().every(Number.isFinite)).toBe(true);
    });
  });

  test('an all-empty batch gives 0 everywhere, not NaN', () => {
    tf.tidy(() => {
      const t: GrpoLossInputs = {
        logp: tf.zeros([2, 2]),
        oldLogp: tf.zeros([2, 2]),
        advantages: tf.tensor1d([1, -1]),
        mask: tf.zeros([2, 2]),
      };
      for (const lossType of LOSS_TYPES) {
        for (const x of Object.values(lossValues(t, opts({ lossType })))) expect(x).toBe(0);
      }
    });
  });
});

describe('grpoLoss clipping', () => {
  // epsLow = 0.2, epsHigh = 0.28: the trust region for rho is [0.8, 1.28].
  // N = 2, T = 3. Sequence 0 (A = +1): rho = [1.5, 0.5, 1]. Sequence 1 (A = -1): rho = [0.5, 1.5],
  // third position masked (garbage). Per token, -min(rho A, clip(rho) A):
  //   s0 t0: rho 1.5 > 1.28, A > 0 -> min(1.5, 1.28) = 1.28   -> -1.28  (clipped high)
  //   s0 t1: rho 0.5,        A > 0 -> min(0.5, 0.8)  = 0.5    -> -0.5   (unclipped: low side, A > 0)
  //   s0 t2: rho 1                  -> 1                        -> -1
  //   s1 t0: rho 0.5 < 0.8,  A < 0 -> min(-0.5, -0.8) = -0.8  ->  0.8   (clipped low)
  //   s1 t1: rho 1.5,        A < 0 -> min(-1.5, -1.28) = -1.5 ->  1.5   (unclipped: high side, A < 0)
  // grpo:    s0 mean -2.78 / 3 = -0.9266667, s1 mean 2.3 / 2 = 1.15 -> (-0.9266667 + 1.15) / 2 = 0.1116667
  // bnpo:    (-2.78 + 2.3) / 5 = -0.096
  // dr_grpo: -0.48 / (2 * 3) = -0.08
  // clip ratios over 5 tokens: low 1/5, high 1/5, region 2/5.
  const ln = Math.log;
  const oldLogp = [
    [-1, -2, -0.5],
    [-0.7, -1.2, 0],
  ];
  const logRatio = [
    [ln(1.5), ln(0.5), 0],
    [ln(0.5), ln(1.5), 300],
  ];
  const inputs = (): GrpoLossInputs => ({
    logp: tf.add(tf.tensor2d(oldLogp), tf.tensor2d(logRatio)) as tf.Tensor2D,
    oldLogp: tf.tensor2d(oldLogp),
    advantages: tf.tensor1d([1, -1]),
    mask: tf.tensor2d([
      [1, 1, 1],
      [1, 1, 0],
    ]),
  });
  const expected: Record<LossType, number> = { grpo: 0.2233333 / 2, bnpo: -0.096, dapo: -0.096, dr_grpo: -0.08 };

  for (const lossType of LOSS_TYPES) {
    test(`${lossType}: clipped loss value and clip ratios low/high/region`, () => {
      tf.tidy(() => {
        const v = lossValues(inputs(), opts({ lossType, maxCompletionLength: 3 }));
        expect(v.loss).toBeCloseTo(expected[lossType], 5);
        expect(v.policyLoss).toBeCloseTo(expected[lossType], 5);
        expect(v.clipRatioLow).toBeCloseTo(0.2, 6);
        expect(v.clipRatioHigh).toBeCloseTo(0.2, 6);
        expect(v.clipRatioRegion).toBeCloseTo(0.4, 6);
      });
    });
  }

  test('gradient w.r.t. logp: clipped tokens get 0, others -A * rho / normaliser', () => {
    // d(-rho A)/d logp = -A rho (d rho / d logp = rho); clipped tokens are constant in logp.
    // bnpo divides by 5 tokens:
    //   s0: [0, -0.5 / 5, -1 / 5] = [0, -0.1, -0.2];  s1: [0, +1.5 / 5, masked 0] = [0, 0.3, 0]
    // grpo divides by N * |o_i|: s0 by 6, s1 by 4:
    //   s0: [0, -0.5 / 6, -1 / 6] = [0, -0.0833333, -0.1666667];  s1: [0, 1.5 / 4, 0] = [0, 0.375, 0]
    tf.tidy(() => {
      expectClose(lossGrad(inputs(), opts({ lossType: 'bnpo' })).flat(), [0, -0.1, -0.2, 0, 0.3, 0]);
      expectClose(
        lossGrad(inputs(), opts({ lossType: 'grpo' })).flat(),
        [0, -0.0833333, -0.1666667, 0, 0.375, 0],
      );
    });
  });

  test('symmetric eps = 0.2 moves the high bound: rho 1.25 is clipped', () => {
    // One token, A = 1, rho = 1.25: inside [0.8, 1.28] -> loss -1.25, not clipped;
    // with epsHigh 0.2 the bound is 1.2 -> loss -1.2, clipped high.
    tf.tidy(() => {
      const t: GrpoLossInputs = {
        logp: tf.tensor2d([[Math.log(1.25)]]),
        oldLogp: tf.tensor2d([[0]]),
        advantages: tf.tensor1d([1]),
        mask: tf.tensor2d([[1]]),
      };
      const wide = lossValues(t, opts());
      expect(wide.loss).toBeCloseTo(-1.25, 5);
      expect(wide.clipRatioHigh).toBe(0);
      const tight = lossValues(t, opts({ epsHigh: 0.2 }));
      expect(tight.loss).toBeCloseTo(-1.2, 5);
      expect(tight.clipRatioHigh).toBe(1);
    });
  });
});

describe('grpoLoss KL (k3)', () => {
  // One sequence, two tokens, rho = 1, A = 0.5 (per-token policy loss -0.5).
  // d = refLogp - logp = [ln 2, -ln 2]:
  //   k3 = exp(d) - d - 1 = [2 - 0.6931472 - 1, 0.5 + 0.6931472 - 1] = [0.3068528, 0.1931472]
  //   mean KL = 0.5 / 2 = 0.25
  // beta = 0.1: loss = mean(-0.5 + 0.1 * k3) = -0.5 + 0.025 = -0.475; policyLoss = -0.5.
  // d k3 / d logp = 1 - exp(d) = [-1, 0.5]; d loss / d logp = (-A rho + beta (1 - exp(d))) / 2
  //   = [(-0.5 - 0.1) / 2, (-0.5 + 0.05) / 2] = [-0.3, -0.225]
  const inputs = (withRef = true): GrpoLossInputs => ({
    logp: tf.tensor2d([[-1, -2]]),
    oldLogp: tf.tensor2d([[-1, -2]]),
    ...(withRef ? { refLogp: tf.tensor2d([[-1 + LN2, -2 - LN2]]) } : {}),
    advantages: tf.tensor1d([0.5]),
    mask: tf.tensor2d([[1, 1]]),
  });

  test('beta > 0 adds beta * k3 and reports the mean KL', () => {
    tf.tidy(() => {
      for (const lossType of LOSS_TYPES) {
        // One sequence of 2 tokens with maxCompletionLength 2: all aggregations agree.
        const v = lossValues(inputs(), opts({ lossType, beta: 0.1, maxCompletionLength: 2 }));
        expect(v.loss).toBeCloseTo(-0.475, 6);
        expect(v.policyLoss).toBeCloseTo(-0.5, 6);
        expect(v.kl).toBeCloseTo(0.25, 6);
      }
    });
  });

  test('gradient of loss with the KL term matches hand-computed values', () => {
    tf.tidy(() => {
      expectClose(lossGrad(inputs(), opts({ beta: 0.1 })).flat(), [-0.3, -0.225], 6);
    });
  });

  test('beta = 0 leaves KL out of the loss but still reports it when refLogp is given', () => {
    tf.tidy(() => {
      const v = lossValues(inputs(), opts({ beta: 0 }));
      expect(v.loss).toBeCloseTo(-0.5, 6);
      expect(v.kl).toBeCloseTo(0.25, 6);
      const noRef = lossValues(inputs(false), opts({ beta: 0.1 }));
      expect(noRef.loss).toBeCloseTo(-0.5, 6);
      expect(noRef.kl).toBe(0);
    });
  });
});

describe('grpoLoss plumbing', () => {
  const base = (): GrpoLossInputs => ({
    logp: tf.tensor2d([[Math.log(1.5), Math.log(0.5)]]),
    oldLogp: tf.zeros([1, 2]),
    refLogp: tf.tensor2d([[0.3, -0.2]]),
    advantages: tf.tensor1d([-1]),
    mask: tf.ones([1, 2]),
  });

  test('metrics carry no gradient to logp', () => {
    tf.tidy(() => {
      const t = base();
      for (const key of ['kl', 'clipRatioLow', 'clipRatioHigh', 'clipRatioRegion'] as const) {
        const g = tf.grad((lp: tf.Tensor) => grpoLoss({ ...t, logp: lp as tf.Tensor2D }, opts({ beta: 0.1 }))[key])(
          t.logp,
        );
        expect(Array.from(g.dataSync())).toEqual([0, 0]);
      }
    });
  });

  test('returns six scalars and leaks no intermediate tensors', () => {
    tf.tidy(() => {
      const t = base();
      const before = tf.memory().numTensors;
      const r = grpoLoss(t, opts({ beta: 0.1 }));
      expect(tf.memory().numTensors - before).toBe(6);
      for (const s of Object.values(r)) expect(s.rank).toBe(0);
      tf.dispose(Object.values(r));
      expect(tf.memory().numTensors).toBe(before);
    });
  });

  test('shape and option errors name the field', () => {
    tf.tidy(() => {
      const t = base();
      expect(() => grpoLoss({ ...t, advantages: tf.tensor1d([1, 2]) }, opts())).toThrow(/advantages/);
      expect(() => grpoLoss({ ...t, mask: tf.ones([1, 3]) as tf.Tensor2D }, opts())).toThrow(/mask/);
      expect(() => grpoLoss({ ...t, oldLogp: tf.ones([2, 2]) as tf.Tensor2D }, opts())).toThrow(/oldLogp/);
      expect(() => grpoLoss(t, opts({ lossType: 'dr_grpo', maxCompletionLength: 0 }))).toThrow(/maxCompletionLength/);
      expect(() => grpoLoss(t, opts({ lossType: 'ppo' as never }))).toThrow(/lossType/);
      expect(() => grpoLoss(t, opts({ epsLow: 1 }))).toThrow(/epsLow/);
    });
  });
});
