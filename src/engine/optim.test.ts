import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import { AdamW, clipByGlobalNorm, learningRate, type LrSchedule } from './optim';
import { ADAM_MOMENT_KERNEL, ADAMW_STEP_KERNEL } from './fused/adamw';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './fused/cpu-kernels';

beforeAll(async () => {
  await useBackend('cpu');
});

const created: Array<{ dispose(): void }> = [];
afterEach(() => {
  while (created.length) created.pop()?.dispose();
});

let nextId = 0;
function variable(values: number[], name = `optim_test_${nextId++}`): tf.Variable {
  const v = tf.variable(tf.tensor1d(values), true, name);
  created.push(v);
  return v;
}

function expectClose(actual: ArrayLike<number>, expected: number[], digits = 5): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, digits));
}

/** Runs fn with freshly made gradient tensors and disposes them afterwards. */
function withGrads(grads: Record<string, number[]>, fn: (g: Record<string, tf.Tensor>) => void): void {
  const g: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(grads)) g[k] = tf.tensor1d(v);
  try {
    fn(g);
  } finally {
    tf.dispose(Object.values(g));
  }
}

describe('AdamW', () => {
  afterEach(() => unregisterCpuFusedKernels());

  test.each([['tfjs ops', false], ['its fused kernels (fused/adamw.ts)', true]])('two steps on %s match hand-computed torch.optim.AdamW numbers', (_, fused) => {
    if (fused) registerCpuFusedKernels([ADAM_MOMENT_KERNEL, ADAMW_STEP_KERNEL]);
    // p = [1, -2], lr 0.1, wd 0.01, betas (0.9, 0.999), eps 1e-8.
    // Step 1, g = [0.5, -0.1]:
    //   decay: p *= 1 - 0.1 * 0.01 = 0.999            -> [0.999, -1.998]
    //   m = 0.1 g = [0.05, -0.01]; v = 0.001 g^2 = [2.5e-4, 1e-5]
    //   m / (1 - 0.9) = g; v / (1 - 0.999) = g^2; update = g / |g| = sign(g)
    //   p -= 0.1 * sign(g)                             -> [0.899, -1.898]
    // Step 2, g = [0.25, 0.1]:
    //   decay: *0.999                                  -> [0.898101, -1.896102]
    //   m = 0.9 [0.05, -0.01] + 0.1 [0.25, 0.1]        = [0.07, 0.001]
    //   v = 0.999 [2.5e-4, 1e-5] + 0.001 [0.0625, 0.01] = [3.1225e-4, 1.999e-5]
    //   bias corrections 1 - 0.9^2 = 0.19, 1 - 0.999^2 = 0.001999
    //   m^ = [0.3684211, 0.0052632]; v^ = [0.1562031, 0.01]; sqrt = [0.3952254, 0.1]
    //   p -= 0.1 * [0.9321808, 0.0526316]             -> [0.8048830, -1.9013652]
    const p = variable([1, -2]);
    const opt = new AdamW([p], { weightDecay: 0.01 });
    withGrads({ [p.name]: [0.5, -0.1] }, (g) => opt.step(g, 0.1));
    expectClose(p.dataSync(), [0.899, -1.898], 6);
    withGrads({ [p.name]: [0.25, 0.1] }, (g) => opt.step(g, 0.1));
    expectClose(p.dataSync(), [0.804883, -1.9013652], 6);
    expect(opt.stepCount).toBe(2);
    const s = opt.getState();
    expectClose(s.m[p.name] as Float32Array, [0.07, 0.001], 7);
    expectClose(s.v[p.name] as Float32Array, [3.1225e-4, 1.999e-5], 9);
    opt.dispose();
  });

  test('the fused kernels give the ops\' weights and moments over five steps, as three kernels per weight', async () => {
    const run = (fused: boolean) => {
      unregisterCpuFusedKernels();
      if (fused) registerCpuFusedKernels([ADAM_MOMENT_KERNEL, ADAMW_STEP_KERNEL]);
      const p = variable(Array.from({ length: 37 }, (_, i) => Math.sin(i) * 2));
      const opt = new AdamW([p], { weightDecay: 0.1 });
      for (let step = 0; step < 5; step++) {
        withGrads({ [p.name]: Array.from({ length: 37 }, (_, i) => Math.cos(i * (step + 1)) * 0.3) }, (g) => opt.step(g, 0.05));
      }
      const out = { p: Array.from(p.dataSync()), state: opt.getState() };
      opt.dispose();
      return out;
    };
    const [ops, fused] = [run(false), run(true)];
    fused.p.forEach((x, i) => expect(Math.abs(x - (ops.p[i] as number))).toBeLessThan(1e-6));
    const [name] = Object.keys(ops.state.m);
    const [fusedName] = Object.keys(fused.state.m);
    (fused.state.v[fusedName!] as Float32Array).forEach((x, i) => expect(Math.abs(x - (ops.state.v[name!] as Float32Array)[i]!)).toBeLessThan(1e-9));
    const p = variable([1, 2, 3]);
    const opt = new AdamW([p], { weightDecay: 0.1 });
    const g = tf.tensor1d([0.1, -0.2, 0.3]);
    opt.step({ [p.name]: g }, 0.01); // the first step also creates the moments (ZerosLike)
    const profile = await tf.profile(() => opt.step({ [p.name]: g }, 0.01));
    expect(profile.kernels.map((k) => k.name)).toEqual([ADAM_MOMENT_KERNEL, ADAM_MOMENT_KERNEL, ADAMW_STEP_KERNEL]);
    g.dispose();
    opt.dispose();
  });

  test('weight decay is decoupled: a zero gradient still shrinks p by lr * wd', () => {
    // g = 0: m = v = 0, the Adam update is 0 / (0 + eps) = 0; only p *= 1 - 0.1 * 0.5 = 0.95.
    const p = variable([2, -4]);
    const opt = new AdamW([p], { weightDecay: 0.5 });
    withGrads({ [p.name]: [0, 0] }, (g) => opt.step(g, 0.1));
    expectClose(p.dataSync(), [1.9, -3.8], 6);
    opt.dispose();
  });

  test('noDecay exempts variables from weight decay', () => {
    const p = variable([2], 'optim_test_bias');
    const opt = new AdamW([p], { weightDecay: 0.5, noDecay: (n) => n.endsWith('bias') });
    withGrads({ [p.name]: [0] }, (g) => opt.step(g, 0.1));
    expectClose(p.dataSync(), [2], 7);
    opt.dispose();
  });

  test('variables without a gradient are left alone; unknown names and wrong shapes throw', () => {
    const a = variable([1]);
    const b = variable([1]);
    const opt = new AdamW([a, b], { weightDecay: 0.1 });
    withGrads({ [a.name]: [1] }, (g) => opt.step(g, 0.1));
    expect(b.dataSync()[0]).toBe(1);
    expect(Object.keys(opt.getState().m)).toEqual([a.name]);
    withGrads({ nope: [1] }, (g) => expect(() => opt.step(g, 0.1)).toThrow(/grads: "nope"/));
    withGrads({ [a.name]: [1, 2] }, (g) => expect(() => opt.step(g, 0.1)).toThrow(/shape/));
    withGrads({ [a.name]: [1] }, (g) => expect(() => opt.step(g, NaN)).toThrow(/lr/));
    opt.dispose();
  });

  test('getState / setState round-trip continues identically', () => {
    const a = variable([1, 2, 3]);
    const b = variable([1, 2, 3]);
    const optA = new AdamW([a]);
    for (const g of [[0.1, -0.2, 0.3], [0.3, 0.1, -0.1]]) withGrads({ [a.name]: g }, (gg) => optA.step(gg, 0.01));
    b.assign(a);
    // A checkpoint is plain arrays keyed by name; here b's optimizer gets a's state under b's name.
    const s = optA.getState();
    const optB = new AdamW([b]);
    optB.setState({ step: s.step, m: { [b.name]: s.m[a.name] as Float32Array }, v: { [b.name]: s.v[a.name] as Float32Array } });
    expect(optB.stepCount).toBe(2);
    withGrads({ [a.name]: [0.5, 0.5, 0.5] }, (g) => optA.step(g, 0.01));
    withGrads({ [b.name]: [0.5, 0.5, 0.5] }, (g) => optB.step(g, 0.01));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(() => optB.setState({ step: 1, m: { [b.name]: new Float32Array(2) }, v: { [b.name]: new Float32Array(2) } })).toThrow(
      /values/,
    );
    expect(() => optB.setState({ step: 1, m: { x: new Float32Array(3) }, v: { x: new Float32Array(3) } })).toThrow(/"x"/);
    optA.dispose();
    optB.dispose();
  });

  test('tensor count stays flat across 20 steps and dispose frees the moments', () => {
    const w = variable([0.5, -0.5, 1]);
    const bias = variable([0.1]);
    const before = tf.memory().numTensors;
    const opt = new AdamW([w, bias]);
    const counts: number[] = [];
    for (let i = 0; i < 20; i++) {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.add(w, bias))) as tf.Scalar);
      const clipped = clipByGlobalNorm(grads, 1);
      opt.step(clipped.grads, learningRate(i, { lr: 0.01, warmupSteps: 5, totalSteps: 20, decay: 'cosine', minLrRatio: 0.1 }));
      tf.dispose([value, ...Object.values(grads), ...Object.values(clipped.grads)]);
      counts.push(tf.memory().numTensors);
    }
    // After the first step, the 2 x 2 moment variables exist; nothing else accumulates.
    expect(counts[0]).toBe(before + 4);
    expect(new Set(counts).size).toBe(1);
    opt.getState();
    expect(tf.memory().numTensors).toBe(before + 4);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('clipByGlobalNorm', () => {
  test('scales by maxNorm / norm and returns the pre-clip norm', () => {
    // Global norm of [3] and [4] is sqrt(9 + 16) = 5; maxNorm 1 -> coef 1 / (5 + 1e-6) -> [0.6], [0.8].
    withGrads({ a: [3], b: [4] }, (g) => {
      const { grads, norm } = clipByGlobalNorm(g, 1);
      expect(norm).toBeCloseTo(5, 6);
      expectClose(grads.a?.dataSync() ?? [], [0.6], 6);
      expectClose(grads.b?.dataSync() ?? [], [0.8], 6);
      expect(g.a?.dataSync()[0]).toBe(3); // inputs untouched
      tf.dispose(Object.values(grads));
    });
  });

  test('below the limit, 0 or Infinity: unchanged values, norm still reported, caller owns new tensors', () => {
    withGrads({ a: [3], b: [4] }, (g) => {
      for (const maxNorm of [10, 0, -1, Infinity]) {
        const before = tf.memory().numTensors;
        const { grads, norm } = clipByGlobalNorm(g, maxNorm);
        expect(norm).toBeCloseTo(5, 6);
        expect(grads.a?.dataSync()[0]).toBe(3);
        expect(grads.b?.dataSync()[0]).toBe(4);
        expect(grads.a).not.toBe(g.a);
        tf.dispose(Object.values(grads));
        expect(tf.memory().numTensors).toBe(before);
      }
    });
  });

  test('no gradients gives norm 0', () => {
    expect(clipByGlobalNorm({}, 1)).toEqual({ grads: {}, norm: 0 });
  });
});

describe('learningRate', () => {
  // lr 1, warmup 10, total 110 (100 decay steps), floor 0.1.
  const s = (decay: LrSchedule['decay']): LrSchedule => ({ lr: 1, warmupSteps: 10, totalSteps: 110, decay, minLrRatio: 0.1 });

  test('linear warmup from 0 to lr', () => {
    for (const d of ['cosine', 'linear', 'constant'] as const) {
      expect(learningRate(0, s(d))).toBe(0);
      expect(learningRate(5, s(d))).toBeCloseTo(0.5, 12);
      expect(learningRate(10, s(d))).toBeCloseTo(1, 12);
    }
  });

  test('cosine decays to lr * minLrRatio at totalSteps', () => {
    // step 35: p = 25 / 100, 0.5 (1 + cos(pi / 4)) = 0.8535534 -> 0.1 + 0.9 * 0.8535534 = 0.8681981
    // step 60: p = 0.5 -> 0.1 + 0.9 * 0.5 = 0.55
    expect(learningRate(35, s('cosine'))).toBeCloseTo(0.8681981, 6);
    expect(learningRate(60, s('cosine'))).toBeCloseTo(0.55, 12);
    expect(learningRate(110, s('cosine'))).toBeCloseTo(0.1, 12);
    expect(learningRate(500, s('cosine'))).toBeCloseTo(0.1, 12);
  });

  test('linear decays to lr * minLrRatio at totalSteps', () => {
    // step 35: 0.1 + 0.9 * 0.75 = 0.775
    expect(learningRate(35, s('linear'))).toBeCloseTo(0.775, 12);
    expect(learningRate(60, s('linear'))).toBeCloseTo(0.55, 12);
    expect(learningRate(110, s('linear'))).toBeCloseTo(0.1, 12);
    expect(learningRate(500, s('linear'))).toBeCloseTo(0.1, 12);
  });

  test('constant holds lr after warmup; no warmup starts at lr', () => {
    expect(learningRate(60, s('constant'))).toBe(1);
    expect(learningRate(500, s('constant'))).toBe(1);
    expect(learningRate(0, { ...s('cosine'), warmupSteps: 0 })).toBe(1);
  });

  test('bad options throw naming the field', () => {
    expect(() => learningRate(0, { ...s('cosine'), minLrRatio: 2 })).toThrow(/minLrRatio/);
    expect(() => learningRate(0, { ...s('cosine'), warmupSteps: -1 })).toThrow(/warmupSteps/);
    expect(() => learningRate(0, { ...s('cosine'), lr: -1 })).toThrow(/lr/);
    expect(() => learningRate(20, { ...s('cosine'), decay: 'step' as never })).toThrow(/decay/);
  });
});
