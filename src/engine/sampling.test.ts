import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import { type Params, causalBias, forward, positionsFor, weightShapes } from './model';
import { type ModelConfig, modelSize } from './model-config';
import { Rng } from './rng';
import type { Values } from './readback';
import { type SamplingOptions, generate, generateSteps } from './sampling';
import { type TokenChoice, chooseToken, chooseTokensOnDevice } from './token-choice';
import { Tokenizer } from './tokenizer';

const tok = new Tokenizer();
const config: ModelConfig = modelSize('test', tok.size);
let params: Params;

function gaussian(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/** Random weights with unit-scale logits, so greedy choices are clear and samples vary. */
function randomParams(c: ModelConfig, seed: number): Params {
  const rng = new Rng(seed);
  const p: Params = {};
  for (const [name, shape] of weightShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const std = name === 'wte' || name === 'wpe' ? 1 : shape.length === 2 ? 1 / Math.sqrt(shape[0] as number) : 0.2;
    const v = new Float32Array(size);
    for (let i = 0; i < size; i++) v[i] = (name.endsWith('.g') ? 1 : 0) + std * gaussian(rng);
    p[name] = tf.tensor(v, shape, 'float32');
  }
  return p;
}

beforeAll(async () => {
  await useBackend('cpu');
  params = randomParams(config, 17);
});

afterAll(() => {
  tf.dispose(Object.values(params));
});

const PROMPTS = ['12+3=', '7+8=', '٤٥+٦=', '100+2000='].map((s) => tok.encode(s));

function options(o: Partial<SamplingOptions> = {}): SamplingOptions {
  return { maxNewTokens: 10, temperature: 1, topK: 0, topP: 1, stopIds: [], padId: tok.padId, ...o };
}

function randomLogits(rng: Rng, n: number, scale = 3): number[] {
  return Array.from({ length: n }, () => scale * gaussian(rng));
}

function argmax(xs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if ((xs[i] as number) > (xs[best] as number)) best = i;
  return best;
}

describe('chooseToken', () => {
  test('temperature 0 picks the argmax whatever the draw', () => {
    const rng = new Rng(1);
    for (let trial = 0; trial < 50; trial++) {
      const logits = randomLogits(rng, 20);
      for (const u of [0, 0.5, 0.999]) expect(chooseToken(logits, { temperature: 0, topK: 0, topP: 1 }, u)).toBe(argmax(logits));
    }
  });

  test('top-k 1 and a tiny top-p both equal greedy at any temperature', () => {
    const rng = new Rng(2);
    for (let trial = 0; trial < 50; trial++) {
      const logits = randomLogits(rng, 30, 1);
      const best = argmax(logits);
      expect(chooseToken(logits, { temperature: 1.5, topK: 1, topP: 1 }, rng.next())).toBe(best);
      expect(chooseToken(logits, { temperature: 1.5, topK: 0, topP: 1e-6 }, rng.next())).toBe(best);
    }
  });

  test('temperature sampling frequencies follow softmax(logits / temperature)', () => {
    const logits = [1, 0, -1, 2, 0.5];
    const n = 20000;
    for (const temperature of [0.7, 1, 2]) {
      const rng = new Rng(Math.round(temperature * 100));
      const counts = new Array(logits.length).fill(0);
      for (let i = 0; i < n; i++) counts[chooseToken(logits, { temperature, topK: 0, topP: 1 }, rng.next())]++;
      const w = logits.map((l) => Math.exp(l / temperature));
      const z = w.reduce((a, b) => a + b, 0);
      // 4 binomial standard deviations at most (~0.014 at p = 0.5).
      w.forEach((wi, i) => expect(Math.abs(counts[i] / n - wi / z), `T=${temperature} token ${i}`).toBeLessThan(0.015));
    }
  });

  test('top-k and top-p renormalise over the kept tokens and never pick the others', () => {
    const logits = [1, 0, -1, 2, 0.5];
    const n = 10000;
    const rng = new Rng(9);
    const k2 = new Array(logits.length).fill(0);
    for (let i = 0; i < n; i++) k2[chooseToken(logits, { temperature: 1, topK: 2, topP: 1 }, rng.next())]++;
    expect(k2[1] + k2[2] + k2[4]).toBe(0);
    const p3 = Math.exp(2) / (Math.exp(2) + Math.exp(1));
    expect(Math.abs(k2[3] / n - p3)).toBeLessThan(0.02);
    // Softmax: [0.207, 0.076, 0.028, 0.563, 0.126]; top-p 0.75 keeps tokens 3 and 0 (0.770 >= 0.75).
    const pp = new Array(logits.length).fill(0);
    for (let i = 0; i < n; i++) pp[chooseToken(logits, { temperature: 1, topK: 0, topP: 0.75 }, rng.next())]++;
    expect(pp[1] + pp[2] + pp[4]).toBe(0);
    expect(Math.abs(pp[3] / n - p3)).toBeLessThan(0.02);
  });
});

describe('chooseTokensOnDevice', () => {
  /** The device rule's picks for rows of logits, one draw per row. */
  function onDevice(rows: number[][], draws: number[], o: TokenChoice): number[] {
    return tf.tidy(() => chooseTokensOnDevice(tf.tensor2d(rows), tf.tensor1d(draws), o).arraySync());
  }

  test.each<[string, TokenChoice]>([
    ['greedy', { temperature: 0, topK: 0, topP: 1 }],
    ['temperature 1', { temperature: 1, topK: 0, topP: 1 }],
    ['temperature 0.7, top-k 5', { temperature: 0.7, topK: 5, topP: 1 }],
    ['top-p 0.9', { temperature: 1, topK: 0, topP: 0.9 }],
    ['top-k 8 and top-p 0.5', { temperature: 1.3, topK: 8, topP: 0.5 }],
  ])('%s: picks what the host rule picks from the same draws', (_name, o) => {
    const rng = new Rng(11);
    const rows = Array.from({ length: 400 }, () => randomLogits(rng, 24));
    const draws = rows.map(() => Math.fround(rng.next()));
    const host = rows.map((row, b) => chooseToken(row, o, draws[b] as number));
    expect(onDevice(rows, draws, o)).toEqual(host);
  });

  test('hand-checked: logits [0, ln 3, ln 2, -200] at temperature 1 split [0, 1) into 1/6, 3/6, 2/6', () => {
    const row = [0, Math.log(3), Math.log(2), -200];
    const o = { temperature: 1, topK: 0, topP: 1 };
    // No truncation, so id order: id 0 (weight 1), id 1 (3), id 2 (2), id 3 (0 in float32);
    // running sums 1/6, 4/6, 1.
    expect(onDevice([row, row, row, row, row], [0.1, 0.2, 0.6, 0.7, 0.999999], o)).toEqual([0, 1, 1, 2, 2]);
    // top-k 3 sorts: id 1 (3), id 2 (2), id 0 (1); running sums 0.5, 0.833, 1.
    expect(onDevice([row, row, row, row], [0.1, 0.49, 0.6, 0.99], { ...o, topK: 3 })).toEqual([1, 1, 2, 0]);
    // top-p 0.5: id 1 alone reaches 0.5, so every draw picks it.
    expect(onDevice([row, row], [0.2, 0.95], { ...o, topP: 0.5 })).toEqual([1, 1]);
  });

  test('a draw rounded past the last running sum takes the last token with weight, never a weightless one', () => {
    // id 3's weight underflows to 0 in float32: a draw of 1 must still land on id 2.
    expect(onDevice([[0, Math.log(3), Math.log(2), -200]], [1], { temperature: 1, topK: 0, topP: 1 })).toEqual([2]);
  });
});

describe('generate', () => {
  test('the same seed gives the same completions; another seed gives different ones', () => {
    const a = generate(params, config, PROMPTS, options(), new Rng(1));
    const b = generate(params, config, PROMPTS, options(), new Rng(1));
    const c = generate(params, config, PROMPTS, options(), new Rng(2));
    expect(b).toEqual(a);
    expect(c.completions).not.toEqual(a.completions);
    a.completions.forEach((row) => expect(row).toHaveLength(10));
  });

  test('greedy completions are the argmax of a full forward pass over prompt + completion so far', () => {
    const gen = generate(params, config, PROMPTS, options({ temperature: 0, maxNewTokens: 8 }), new Rng(1));
    PROMPTS.forEach((prompt, b) => {
      const seq = [...prompt, ...(gen.completions[b] as number[])];
      const valid = [seq.map(() => 1)];
      const logits = tf.tidy(() => forward(params, config, tf.tensor2d([seq], undefined, 'int32'),
        tf.tensor2d(positionsFor(valid, prompt.length, config.promptAnchor), undefined, 'int32'), causalBias(valid)).logits.arraySync())[0] as number[][];
      (gen.completions[b] as number[]).forEach((id, s) => {
        expect(id, `row ${b} step ${s}`).toBe(argmax(logits[prompt.length - 1 + s] as number[]));
      });
    });
  });

  test('without the KV cache (full recompute every token) sampling gives the same tokens, stop ids included', () => {
    const free = generate(params, config, PROMPTS, options({ maxNewTokens: 12 }), new Rng(3));
    const stopIds = [free.completions[1]?.[5] as number];
    const cached = generate(params, config, PROMPTS, options({ maxNewTokens: 12, stopIds }), new Rng(3));
    const before = tf.memory().numTensors;
    const recomputed = generate(params, config, PROMPTS, options({ maxNewTokens: 12, stopIds, kvCache: false }), new Rng(3));
    expect(tf.memory().numTensors).toBe(before);
    expect(recomputed).toEqual(cached);
    expect(cached.truncated).toContain(false);
  });

  test('a row stops at a stop id (included in its completion); rows that hit maxNewTokens are flagged truncated', () => {
    const free = generate(params, config, PROMPTS, options({ temperature: 0, maxNewTokens: 12 }), new Rng(1));
    expect(free.truncated).toEqual([true, true, true, true]);
    free.completions.forEach((row) => expect(row).toHaveLength(12));
    // Stop at a token that row 0 produces mid-way; greedy rows are otherwise unchanged, so each
    // row is its free completion cut just after the first stop id (or left whole without one).
    const stopId = free.completions[0]?.[4] as number;
    const before = tf.memory().numTensors;
    const stopped = generate(params, config, PROMPTS, options({ temperature: 0, maxNewTokens: 12, stopIds: [stopId] }), new Rng(1));
    expect(tf.memory().numTensors).toBe(before);
    free.completions.forEach((row, b) => {
      const at = row.indexOf(stopId);
      if (at >= 0) {
        expect(stopped.completions[b]).toEqual(row.slice(0, at + 1));
        expect(stopped.truncated[b]).toBe(false);
      } else {
        expect(stopped.completions[b]).toEqual(row);
        expect(stopped.truncated[b]).toBe(true);
      }
    });
    expect(stopped.completions[0]?.at(-1)).toBe(stopId);
    expect(stopped.truncated[0]).toBe(false);
  });

  test('every row stopping at once ends generation early with no leaked tensors', () => {
    const first = generate(params, config, PROMPTS, options({ temperature: 0, maxNewTokens: 1 }), new Rng(1));
    const stopIds = first.completions.map((row) => row[0] as number);
    const before = tf.memory().numTensors;
    const gen = generate(params, config, PROMPTS, options({ temperature: 0, maxNewTokens: 20, stopIds }), new Rng(1));
    expect(gen.completions).toEqual(first.completions);
    expect(gen.truncated).toEqual([false, false, false, false]);
    expect(tf.memory().numTensors).toBe(before);
  });

  test.each<[string, Partial<SamplingOptions>]>([
    ['greedy', { temperature: 0 }],
    ['sampled', { temperature: 1 }],
    ['top-k and top-p', { temperature: 0.8, topK: 6, topP: 0.9 }],
  ])('%s: choosing tokens on the device gives the host completions, stops included, and leaks no tensor', (_name, o) => {
    const free = generate(params, config, PROMPTS, options({ ...o, maxNewTokens: 12, tokenChoice: 'host' }), new Rng(5));
    const stopIds = [free.completions[2]?.[3] as number, free.completions[0]?.[7] as number];
    const host = generate(params, config, PROMPTS, options({ ...o, maxNewTokens: 12, stopIds, tokenChoice: 'host' }), new Rng(5));
    const before = tf.memory().numTensors;
    const device = generate(params, config, PROMPTS, options({ ...o, maxNewTokens: 12, stopIds, tokenChoice: 'device' }), new Rng(5));
    expect(tf.memory().numTensors).toBe(before);
    expect(device).toEqual(host);
    expect(host.truncated).toContain(false);
  });

  test('on the device, a loop whose rows have all stopped ends at the next stop check: two readbacks, the host completions', () => {
    const first = generate(params, config, PROMPTS, options({ temperature: 0, maxNewTokens: 1 }), new Rng(1));
    const stopIds = first.completions.map((row) => row[0] as number);
    const o = options({ temperature: 0, maxNewTokens: 20, stopIds, tokenChoice: 'device' });
    const shapes: number[][] = [];
    const steps = generateSteps(params, config, PROMPTS, o, new Rng(1));
    let next = steps.next(undefined as unknown as Values);
    while (!next.done) {
      shapes.push(next.value.shape);
      next = steps.next(next.value.dataSync() as Values);
    }
    // The stop check after 8 tokens (a scalar), then the [rows, 8] block instead of [rows, 20].
    expect(shapes).toEqual([[], [PROMPTS.length, 8]]);
    expect(next.value).toEqual(generate(params, config, PROMPTS, { ...o, tokenChoice: 'host' }, new Rng(1)));
  });

  test('on the host, stopped rows leave the batch: later steps compute only the rest, with the completions of the device loop (which keeps every row)', () => {
    const first = generate(params, config, PROMPTS, options({ temperature: 0, maxNewTokens: 1 }), new Rng(1));
    // Row 0 stops at its first (greedy) token, and so does every row that starts with it (row 3
    // here); the others run on.
    const stopIds = [first.completions[0]?.[0] as number];
    const o = options({ temperature: 0, maxNewTokens: 10, stopIds, tokenChoice: 'host' });
    const rows: number[] = [];
    const before = tf.memory().numTensors;
    const steps = generateSteps(params, config, PROMPTS, o, new Rng(1));
    let next = steps.next(undefined as unknown as Values);
    while (!next.done) {
      rows.push(next.value.shape[0] as number);
      next = steps.next(next.value.dataSync() as Values);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(next.value.completions.map((c) => c.length)).toEqual([1, 10, 10, 1]);
    // Rows stopped at the first token, so the next step computes only the two left.
    expect(rows.length).toBeGreaterThan(2);
    expect(rows[0]).toBe(PROMPTS.length);
    expect(rows[1]).toBe(2);
    expect(rows.every((n, i) => i === 0 || n <= (rows[i - 1] as number))).toBe(true);
    expect(next.value).toEqual(generate(params, config, PROMPTS, { ...o, tokenChoice: 'device' }, new Rng(1)));
  });

  test('a call takes exactly one number from the caller\'s generator, on either path', () => {
    for (const tokenChoice of ['host', 'device'] as const) {
      const rng = new Rng(8);
      generate(params, config, PROMPTS, options({ tokenChoice }), rng);
      const expected = new Rng(8);
      expected.nextUint32();
      expect(rng.nextUint32()).toBe(expected.nextUint32());
    }
  });

  test('throws when maxNewTokens overflow the room after the prompt anchor, or a prompt is longer than the anchor', () => {
    const room = config.context - config.promptAnchor;
    expect(() => generate(params, config, PROMPTS, options({ maxNewTokens: room + 1 }), new Rng(1)))
      .toThrow(`generate: maxNewTokens (${room + 1}) exceeds the model's room for completions (${room})`);
    const tooLong = new Array(config.promptAnchor + 1).fill(PROMPTS[0]?.[0] ?? 5);
    expect(() => generate(params, config, [tooLong], options({ maxNewTokens: 4 }), new Rng(1)))
      .toThrow(`generate: a prompt of ${config.promptAnchor + 1} tokens is longer than the model's prompt anchor (${config.promptAnchor})`);
    // Exactly filling the room is allowed.
    const gen = generate(params, config, [PROMPTS[3] as number[]], options({ maxNewTokens: room }), new Rng(1));
    expect(gen.completions[0]).toHaveLength(room);
  });
});
