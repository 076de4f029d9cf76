import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import { packBatch } from './batch';
import {
  GPT, MASKED, type KVCache, disposeParams, type Params, causalBias, forward, initialWeights, matMulAdd, positionsFor, weightShapes,
} from './model';
import { MODEL_SIZES, type ModelConfig, type ModelSizeName, modelSize, parameterCount } from './model-config';
import { Rng } from './rng';
import { sftLoss } from './sft';
import { Tokenizer } from './tokenizer';

const tok = new Tokenizer();

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * Random weights large enough that attention is far from uniform and logits differ by units
 * (the 0.02 init would make most comparisons trivially pass).
 */
function randomWeights(c: ModelConfig, seed: number): Record<string, Float32Array> {
  const rng = new Rng(seed);
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of weightShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    const std = name === 'wte' || name === 'wpe' ? 1 : shape.length === 2 ? 1 / Math.sqrt(shape[0] as number) : 0.2;
    for (let i = 0; i < size; i++) v[i] = (name.endsWith('.g') ? 1 : 0) + std * gaussian(rng);
    out[name] = v;
  }
  return out;
}

function toParams(c: ModelConfig, w: Record<string, Float32Array>): Params {
  const p: Params = {};
  for (const [name, shape] of weightShapes(c)) p[name] = tf.tensor(w[name] as Float32Array, shape, 'float32');
  return p;
}

/**
 * Full-sequence logits [B, T, V] for left-padded rows (valid marks real tokens); anchorColumn is
 * where completions start (positions are anchored there), by default just after the rows.
 */
function fullLogits(p: Params, c: ModelConfig, seqs: number[][], valid: number[][], anchorColumn = seqs[0]?.length ?? 0): number[][][] {
  return tf.tidy(() => forward(p, c, tf.tensor2d(seqs, undefined, 'int32'),
    tf.tensor2d(positionsFor(valid, anchorColumn, c.promptAnchor), undefined, 'int32'), causalBias(valid)).logits.arraySync());
}

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, x, i) => Math.max(m, Math.abs(x - (b[i] as number))), 0);
}

const KV_CONFIGS: ModelConfig[] = [
  modelSize('test', tok.size),
  { name: 'two-layer', layers: 2, dModel: 32, heads: 4, context: 32, promptAnchor: 16, vocabSize: tok.size },
];

describe.each(['cpu', 'wasm'])('forward on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  test.each(KV_CONFIGS.map((c) => [c.name, c] as const))(
    'incremental decoding with the KV cache gives the full forward pass logits at every real position (%s)',
    (_name, c) => {
      const rng = new Rng(7);
      const p = toParams(c, randomWeights(c, 11));
      const promptLengths = [5, 1, 9, 3];
      const steps = 6;
      const prompts = promptLengths.map((n) => Array.from({ length: n }, () => rng.int(1, c.vocabSize - 1)));
      const continuations = prompts.map(() => Array.from({ length: steps }, () => rng.int(1, c.vocabSize - 1)));
      const W = Math.max(...promptLengths);
      const B = prompts.length;
      const valid = prompts.map((q) => [...new Array(W - q.length).fill(0), ...q.map(() => 1)]);
      const padded = prompts.map((q) => [...new Array(W - q.length).fill(tok.padId), ...q]);

      // The reference: one forward pass over prompt + continuation.
      const fullValid = valid.map((row) => [...row, ...new Array(steps).fill(1)]);
      const full = fullLogits(p, c, padded.map((row, b) => [...row, ...(continuations[b] as number[])]), fullValid, W);

      // Prefill the prompts, then feed the continuation one token at a time, as sampling.ts does.
      const before = tf.memory().numTensors;
      const pre = tf.tidy(() => {
        const out = forward(p, c, tf.tensor2d(padded, undefined, 'int32'), tf.tensor2d(positionsFor(valid, W, c.promptAnchor), undefined, 'int32'),
          causalBias(valid), null, true);
        return { logits: out.logits, cache: out.cache as KVCache } as unknown as tf.TensorContainer;
      }) as unknown as { logits: tf.Tensor3D; cache: KVCache };
      const prefillLogits = pre.logits.arraySync();
      pre.logits.dispose();
      let cache = pre.cache;
      for (let b = 0; b < B; b++) {
        for (let t = W - (promptLengths[b] as number); t < W; t++) {
          const d = maxAbsDiff(prefillLogits[b]?.[t] as number[], full[b]?.[t] as number[]);
          expect(d, `prefill row ${b} col ${t}`).toBeLessThan(1e-4);
        }
      }
      const v = valid.map((row) => row.slice());
      for (let s = 0; s < steps; s++) {
        const tokens = continuations.map((row) => row[s] as number);
        const positions = promptLengths.map(() => c.promptAnchor + s);
        v.forEach((row) => row.push(1));
        const Tk = (v[0] as number[]).length;
        const bias = new Float32Array(B * Tk);
        v.forEach((row, b) => row.forEach((x, j) => { bias[b * Tk + j] = x === 1 || j === Tk - 1 ? 0 : MASKED; }));
        const out = tf.tidy(() => {
          const o = forward(p, c, tf.tensor2d(tokens, [B, 1], 'int32'), tf.tensor2d(positions, [B, 1], 'int32'),
            tf.tensor4d(bias, [B, 1, 1, Tk]), cache, true);
          return { logits: o.logits, cache: o.cache as KVCache } as unknown as tf.TensorContainer;
        }) as unknown as { logits: tf.Tensor3D; cache: KVCache };
        tf.dispose([...cache.k, ...cache.v]);
        cache = out.cache;
        expect(cache.k[0]?.shape).toEqual([B, c.heads, Tk, c.dModel / c.heads]);
        const step = out.logits.arraySync();
        out.logits.dispose();
        for (let b = 0; b < B; b++) {
          const d = maxAbsDiff(step[b]?.[0] as number[], full[b]?.[W + s] as number[]);
          expect(d, `step ${s} row ${b}`).toBeLessThan(1e-4);
        }
      }
      tf.dispose([...cache.k, ...cache.v]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(Object.values(p));
    },
  );

  test('a prompt\'s logits do not change when other rows of the batch are longer (left padding is invisible)', () => {
    const c = KV_CONFIGS[1] as ModelConfig;
    const p = toParams(c, randomWeights(c, 5));
    const rng = new Rng(3);
    const short = Array.from({ length: 4 }, () => rng.int(1, c.vocabSize - 1));
    const long = Array.from({ length: 13 }, () => rng.int(1, c.vocabSize - 1));
    const alone = fullLogits(p, c, [short], [short.map(() => 1)])[0] as number[][];
    const pad = long.length - short.length;
    const seqs = [[...new Array(pad).fill(tok.padId), ...short], long];
    const valid = [[...new Array(pad).fill(0), ...short.map(() => 1)], long.map(() => 1)];
    const batched = fullLogits(p, c, seqs, valid)[0] as number[][];
    short.forEach((_, t) => expect(maxAbsDiff(batched[pad + t] as number[], alone[t] as number[])).toBeLessThan(1e-5));
    // Changing the pad id or the long row changes nothing either.
    const seqs2 = [[...new Array(pad).fill(7), ...short], long.map((x) => (x % (c.vocabSize - 1)) + 1)];
    const batched2 = fullLogits(p, c, seqs2, valid)[0] as number[][];
    short.forEach((_, t) => expect(maxAbsDiff(batched2[pad + t] as number[], alone[t] as number[])).toBeLessThan(1e-5));
    tf.dispose(Object.values(p));
  });

  test('a decoding step\'s shared position, given as a number, gives the logits of the same position as ids, bit for bit', () => {
    const c = KV_CONFIGS[1] as ModelConfig;
    const p = toParams(c, randomWeights(c, 8));
    const tokens = tf.tensor2d([[3], [17], [40]], [3, 1], 'int32');
    const bias = tf.zeros([3, 1, 1, 1]) as tf.Tensor4D;
    const asIds = forward(p, c, tokens, tf.fill([3, 1], 23, 'int32') as tf.Tensor2D, bias).logits;
    const asNumber = forward(p, c, tokens, 23, bias).logits;
    expect(Array.from(asNumber.dataSync())).toEqual(Array.from(asIds.dataSync()));
    expect(() => forward(p, c, tokens, c.context, bias)).toThrow(`position ${c.context} is outside the position table (0 to ${c.context - 1})`);
    tf.dispose([tokens, bias, asIds, asNumber, ...Object.values(p)]);
  });

  test('logits at a position do not depend on later tokens (causal mask)', () => {
    const c = KV_CONFIGS[1] as ModelConfig;
    const p = toParams(c, randomWeights(c, 6));
    const a = [3, 9, 12, 20, 31, 40];
    const b = [3, 9, 12, 55, 2, 17];
    const valid = [a.map(() => 1), b.map(() => 1)];
    const out = fullLogits(p, c, [a, b], valid);
    for (let t = 0; t < 3; t++) expect(maxAbsDiff(out[0]?.[t] as number[], out[1]?.[t] as number[])).toBeLessThan(1e-5);
    expect(maxAbsDiff(out[0]?.[3] as number[], out[1]?.[3] as number[])).toBeGreaterThan(1e-2);
    tf.dispose(Object.values(p));
  });
});

describe('matMulAdd (one fused kernel on cpu and webgpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  test.each([['a bias [n]', [3]], ['a residual [m, n]', [4, 3]]])('with %s: the values and gradients of matMul then add, bit for bit', (_name, shape) => {
    const a = tf.randomNormal([4, 5], 0, 1, 'float32', 1);
    const b = tf.randomNormal([5, 3], 0, 1, 'float32', 2);
    const addend = tf.randomNormal(shape as number[], 0, 1, 'float32', 3);
    const weights = tf.randomNormal([4, 3], 0, 1, 'float32', 4);
    const loss = (f: (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(f(x, y, z), weights));
    const fused = tf.grads(loss((x, y, z) => matMulAdd(x, y, z)))([a, b, addend]);
    const plain = tf.grads(loss((x, y, z) => tf.add(tf.matMul(x, y), z)))([a, b, addend]);
    fused.forEach((g, i) => {
      expect(g.shape).toEqual((plain[i] as tf.Tensor).shape);
      expect(Array.from(g.dataSync())).toEqual(Array.from((plain[i] as tf.Tensor).dataSync()));
    });
    tf.tidy(() => {
      expect(Array.from(matMulAdd(a, b, addend).dataSync())).toEqual(Array.from(tf.add(tf.matMul(a, b), addend).dataSync()));
    });
    tf.dispose([a, b, addend, weights, ...fused, ...plain]);
  });
});

describe('model weights', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  test.each(Object.keys(MODEL_SIZES))('parameterCount equals the sum of weightShapes sizes (%s)', (name) => {
    const c = modelSize(name as ModelSizeName, tok.size);
    const total = weightShapes(c).reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
    expect(parameterCount(c)).toBe(total);
    const w = initialWeights({ ...c, context: 8 }, 1);
    expect(Object.keys(w)).toEqual(weightShapes(c).map(([n]) => n));
  });

  test('weight names are unique and modelSize rejects an unknown size naming the allowed ones', () => {
    const names = weightShapes({ ...(MODEL_SIZES.default), vocabSize: 10 }).map(([n]) => n);
    expect(new Set(names).size).toBe(names.length);
    expect(() => modelSize('huge', 10)).toThrow(/"huge" is not a model size \(allowed: test, small, default\)/);
  });

  test('creating and disposing a GPT (and a snapshot) frees every tensor', () => {
    const before = tf.memory().numTensors;
    const model = GPT.create(modelSize('test', tok.size), 1);
    expect(tf.memory().numTensors - before).toBe(weightShapes(model.config).length);
    const snap = model.snapshot();
    model.assign(initialWeights(model.config, 2));
    disposeParams(snap);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('GPT rejects a missing weight or a wrong-sized one, naming it', () => {
    const c = modelSize('test', tok.size);
    const w = initialWeights(c, 1);
    const { 'h0.mlp.w1': _dropped, ...missing } = w;
    expect(() => new GPT(c, missing)).toThrow(/weight "h0.mlp.w1" is missing/);
    expect(() => new GPT(c, { ...w, wpe: new Float32Array(3) })).toThrow(/weight "wpe" has 3 values, expected/);
  });
});

describe('sftLoss gradient', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  test('analytic gradients (tf.variableGrads) match central differences on a tiny model', () => {
    const c: ModelConfig = { name: 'grad', layers: 1, dModel: 8, heads: 2, context: 12, promptAnchor: 5, vocabSize: 16 };
    const w = randomWeights(c, 21);
    // Two sequences of different prompt lengths, so left padding and the loss mask are exercised.
    const batch = packBatch([[3, 4, 5], [6, 7, 8, 9, 10]], [[11, 12, 13, 1], [14, 2, 15]], 0);
    const model = new GPT(c, w);
    const { value, grads } = tf.variableGrads(() => sftLoss(model.params, c, batch), Object.values(model.variables));
    const loss0 = value.dataSync()[0] as number;
    value.dispose();
    expect(Number.isFinite(loss0)).toBe(true);
    const analytic: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(model.variables)) analytic[name] = grads[v.name]?.dataSync() as Float32Array;
    tf.dispose(Object.values(grads));
    model.dispose();

    const lossAt = (weights: Record<string, Float32Array>): number => {
      const p = toParams(c, weights);
      const l = sftLoss(p, c, batch);
      const x = l.dataSync()[0] as number;
      l.dispose();
      tf.dispose(Object.values(p));
      return x;
    };
    const rng = new Rng(99);
    const names = ['wte', 'wpe', 'h0.ln1.g', 'h0.ln1.b', 'h0.attn.wqkv', 'h0.attn.wo', 'h0.ln2.g', 'h0.mlp.w1', 'h0.mlp.b1', 'h0.mlp.w2', 'lnf.g'];
    const rows: string[] = [];
    let checked = 0;
    for (const name of names) {
      const g = analytic[name] as Float32Array;
      // Coordinates with some gradient (unused vocabulary rows and positions have exactly 0).
      const candidates = Array.from(g.keys()).filter((i) => Math.abs(g[i] as number) > 1e-3);
      expect(candidates.length, `${name} has non-zero gradients`).toBeGreaterThan(0);
      for (const i of rng.shuffle(candidates).slice(0, 3)) {
        const eps = 1e-2;
        const up = Float32Array.from(w[name] as Float32Array);
        const down = Float32Array.from(w[name] as Float32Array);
        up[i] = (up[i] as number) + eps;
        down[i] = (down[i] as number) - eps;
        const plus = { ...w, [name]: up };
        const minus = { ...w, [name]: down };
        // The float32 step actually taken, not the nominal 2 * eps.
        const h = (up[i] as number) - (down[i] as number);
        const numeric = (lossAt(plus) - lossAt(minus)) / h;
        const a = g[i] as number;
        rows.push(`${name}[${i}] analytic ${a.toExponential(4)} numeric ${numeric.toExponential(4)}`);
        expect(Math.abs(a - numeric), rows.at(-1)).toBeLessThanOrEqual(2e-2 * Math.max(Math.abs(a), Math.abs(numeric)) + 2e-4);
        checked++;
      }
    }
    expect(checked).toBe(3 * names.length);
    // Positions beyond the longest row (inputs are 8 long in a context of 12) get no gradient.
    const wpeGrad = analytic.wpe as Float32Array;
    const T = batch.inputs[0]?.length as number;
    expect(Array.from(wpeGrad.subarray(T * c.dModel)).every((x) => x === 0)).toBe(true);
  });
});
