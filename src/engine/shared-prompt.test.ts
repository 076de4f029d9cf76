/**
 * Each prompt computed once (shared-prompt.ts) against every row computed whole: the same
 * log-probabilities, the same gradients, the same GRPO update, no tensor left behind.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import { packBatch } from './batch';
import { type BatchTensors, disposeBatchTensors, sequenceLogProbs, toTensors } from './batch-tensors';
import type { GrpoConfig } from './config';
import { grpoUpdate } from './grpo-update';
import { GPT, disposeParams } from './model';
import { modelSize } from './model-config';
import { AdamW } from './optim';
import { PRESETS } from './presets';
import { Rng } from './rng';
import { promptSharing } from './shared-prompt';
import { Tokenizer } from './tokenizer';

const tok = new Tokenizer();
// Two layers: the last one computes no prompt states, the others do.
const config = { ...modelSize('test', tok.size), layers: 2 };

beforeAll(async () => {
  await useBackend('cpu');
});

/** Three prompts of different lengths (so some rows are left-padded), each sampled three times, rows interleaved. */
function repeatedPromptRows(seed: number) {
  const rng = new Rng(seed);
  const distinct = ['12+7=', '3+4=', '105+22='].map((s) => tok.encode(s));
  const prompts = Array.from({ length: 9 }, (_, i) => distinct[i % 3] as number[]);
  const completions = prompts.map((_, i) => Array.from({ length: 2 + ((i * 5) % 7) }, () => rng.int(0, tok.size - 1)));
  return { prompts, completions, advantages: Float32Array.from(prompts.map((_, i) => Math.sin(i + 1))) };
}

function largestDifference(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

describe('which rows share a prompt', () => {
  test('groups rows by their prompt columns, all but the last prompt token', () => {
    const batch = packBatch([[5, 6, 7], [8, 7], [5, 6, 7], [8, 7], [5, 6, 9]], [[1], [2, 3], [4], [5], [6]], 0);
    // Width 2: columns 0-1 are [5, 6] for rows 0, 2 and 4 (row 4 differs only in the last prompt
    // token, which is scored per row), and [pad, 8] for rows 1 and 3.
    expect(promptSharing(batch)).toEqual({ width: 2, firstRows: [0, 1], promptOf: [0, 1, 0, 1, 0] });
  });

  test('not where it would not pay: under two rows per prompt, or nothing before the last prompt token', () => {
    expect(promptSharing(packBatch([[5, 6], [7, 6], [5, 6]], [[1], [2], [3]], 0))).toBeNull();
    expect(promptSharing(packBatch([[5], [5], [5]], [[1], [2], [3]], 0))).toBeNull();
  });
});

describe('the shared-prompt forward', () => {
  const rows = repeatedPromptRows(3);
  const batch = packBatch(rows.prompts, rows.completions, tok.padId);

  function withTensors<T>(sharePrompts: boolean, run: (t: BatchTensors) => T): T {
    const t = toTensors(batch, config.promptAnchor, { sharePrompts });
    try {
      expect(t.shared !== null).toBe(sharePrompts);
      return run(t);
    } finally {
      disposeBatchTensors(t);
    }
  }

  test('gives every row the log-probabilities of the plain forward where they score, zeros before the scored columns', () => {
    const model = GPT.create(config, 7);
    const logProbs = (share: boolean): Float32Array => withTensors(share, (t) => tf.tidy(() => sequenceLogProbs(model.params, config, t)).dataSync() as Float32Array);
    const plain = logProbs(false);
    const shared = logProbs(true);
    const scored = Float32Array.from(batch.lossMask.flat());
    const where = (x: Float32Array): Float32Array => x.map((v, i) => v * (scored[i] as number));
    expect(scored.reduce((a, b) => a + b)).toBe(rows.completions.flat().length);
    expect(largestDifference(where(shared), where(plain))).toBeLessThan(1e-5);
    // The rows are padded, so the row stream is packed: one column per completion token.
    withTensors(true, (t) => {
      expect(t.shared?.rowPacking.indices).not.toBeNull();
      expect(t.shared?.rowPacking.tokens).toBe(rows.completions.flat().length);
    });
    // The padding and each short row's last token (which predicts padding) are left out of the
    // row stream: a zero state there, finite, scoring nothing.
    expect(shared.every(Number.isFinite)).toBe(true);
    // The first scored column is the prompt's last token (promptWidth - 1).
    const width = batch.inputs[0]?.length as number;
    expect(shared[batch.promptWidth - 2]).toBe(0);
    expect(shared[batch.promptWidth - 1]).toBeLessThan(0);
    expect(shared.length).toBe(9 * width);
    model.dispose();
  });

  test('gives the plain forward\'s gradient for every weight', () => {
    const model = GPT.create(config, 8);
    const weights = tf.tensor1d(batch.lossMask.flat().map((m, i) => m * Math.cos(i)));
    const gradients = (share: boolean): Record<string, Float32Array> => withTensors(share, (t) => {
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(tf.reshape(sequenceLogProbs(model.params, config, t), [-1]), weights)) as tf.Scalar);
      const out = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.dataSync() as Float32Array]));
      tf.dispose(Object.values(grads));
      return out;
    });
    const plain = gradients(false);
    const shared = gradients(true);
    expect(Object.keys(shared).sort()).toEqual(Object.keys(plain).sort());
    for (const [name, g] of Object.entries(plain)) {
      const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
      expect(largestDifference(shared[name] as Float32Array, g) / scale, name).toBeLessThan(1e-5);
    }
    weights.dispose();
    model.dispose();
  });

  test('makes the GRPO update of the plain forward, in micro-batches too, leaving no tensor behind', async () => {
    const base: GrpoConfig = { ...(PRESETS.tiny?.config as GrpoConfig), beta: 0.1, numIterations: 2, maxCompletionLength: 16, maxGradNorm: 0, microBatchRows: 0 };
    const updated = async (sharePrompts: boolean, microBatchRows: number) => {
      const model = GPT.create(config, 9);
      const reference = model.snapshot();
      model.assign(Object.fromEntries(Object.entries(await model.weights()).map(([k, v]) => [k, v.map((x, i) => x + 0.01 * Math.sin(i))])));
      const optimizer = new AdamW(Object.values(model.variables), { weightDecay: 0 });
      const result = grpoUpdate(model, optimizer, reference, rows, { ...base, microBatchRows }, 1e-2, tok.padId, { sharePrompts });
      const weights = await model.weights();
      optimizer.dispose();
      disposeParams(reference);
      model.dispose();
      return { result, weights };
    };
    const before = tf.memory().numTensors;
    const plain = await updated(false, 0);
    for (const microBatchRows of [0, 6]) {
      const shared = await updated(true, microBatchRows);
      expect(shared.result.loss).toBeCloseTo(plain.result.loss, 5);
      expect(shared.result.extras.kl).toBeGreaterThan(0);
      for (const [k, v] of Object.entries(plain.result.extras)) expect(shared.result.extras[k], k).toBeCloseTo(v, 5);
      for (const [name, w] of Object.entries(plain.weights)) expect(largestDifference(shared.weights[name] as Float32Array, w), name).toBeLessThan(1e-5);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
