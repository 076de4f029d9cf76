import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import type { GrpoConfig } from './config';
import { grpoUpdate, microBatchWeights, microBatches, planMicroBatches, plannedColumns } from './grpo-update';
import { GPT, disposeParams } from './model';
import { modelSize } from './model-config';
import { AdamW } from './optim';
import { PRESETS } from './presets';
import { Rng } from './rng';
import { Tokenizer } from './tokenizer';

const tok = new Tokenizer();

beforeAll(async () => {
  await useBackend('cpu');
});

describe('micro-batches', () => {
  test('rows go longest first, in groups of at most the size; 0 or a size past the batch is one group', () => {
    expect(microBatches([3, 9, 1, 9, 5], 2)).toEqual([[1, 3], [4, 0], [2]]);
    expect(microBatches([3, 9, 1], 0)).toEqual([[1, 0, 2]]);
    expect(microBatches([3, 9, 1], 8)).toEqual([[1, 0, 2]]);
  });

  test('weights: token share for the token-level losses and metrics, row share for grpo and dr_grpo', () => {
    // A part of 2 rows with 30 of the batch's 40 tokens, in a batch of 8 rows.
    expect(microBatchWeights('dapo', 2, 30, 8, 40)).toEqual({ loss: 0.75, tokenMean: 0.75 });
    expect(microBatchWeights('bnpo', 2, 30, 8, 40)).toEqual({ loss: 0.75, tokenMean: 0.75 });
    expect(microBatchWeights('grpo', 2, 30, 8, 40)).toEqual({ loss: 0.25, tokenMean: 0.75 });
    expect(microBatchWeights('dr_grpo', 2, 30, 8, 40)).toEqual({ loss: 0.25, tokenMean: 0.75 });
  });
});

describe('grpoUpdate in micro-batches', () => {
  const rng = new Rng(5);
  const rows = {
    prompts: Array.from({ length: 6 }, (_, i) => tok.encode(`${10 + i}+${i}=`)),
    // Uneven lengths, so that micro-batches pad differently from the whole batch.
    completions: [3, 9, 5, 12, 2, 7].map((n) => Array.from({ length: n }, () => rng.int(0, tok.size - 1))),
    advantages: Float32Array.from([1.2, -0.4, 0.7, -1.5, 0.3, -0.3]),
  };

  async function updated(config: GrpoConfig): Promise<{ weights: Record<string, Float32Array>; result: ReturnType<typeof grpoUpdate> }> {
    const model = GPT.create(modelSize('test', tok.size), 4);
    const reference = model.snapshot();
    // Move the policy off the reference first, so that the KL term and its gradient are not zero.
    model.assign(Object.fromEntries(Object.entries(await model.weights()).map(([k, v]) => [k, v.map((x, i) => x + 0.01 * Math.sin(i))])));
    const optimizer = new AdamW(Object.values(model.variables), { weightDecay: 0 });
    const result = grpoUpdate(model, optimizer, reference, rows, config, 1e-2, tok.padId);
    const weights = await model.weights();
    optimizer.dispose();
    disposeParams(reference);
    model.dispose();
    return { weights, result };
  }

  for (const lossType of ['grpo', 'bnpo', 'dr_grpo', 'dapo'] as const) {
    test(`${lossType}: micro-batches of 2 rows give the whole batch's update, loss and metrics`, async () => {
      const base: GrpoConfig = { ...(PRESETS.tiny?.config as GrpoConfig), lossType, beta: 0.1, numIterations: 2, maxCompletionLength: 16, maxGradNorm: 0 };
      const before = tf.memory().numTensors;
      const whole = await updated({ ...base, microBatchRows: 0 });
      const parts = await updated({ ...base, microBatchRows: 2 });
      expect(tf.memory().numTensors).toBe(before);
      expect(parts.result.loss).toBeCloseTo(whole.result.loss, 5);
      expect(parts.result.gradNorm).toBeCloseTo(whole.result.gradNorm, 4);
      for (const [k, v] of Object.entries(whole.result.extras)) expect(parts.result.extras[k], k).toBeCloseTo(v, 5);
      expect(whole.result.extras.kl).toBeGreaterThan(0);
      for (const [name, w] of Object.entries(whole.weights)) {
        const p = parts.weights[name] as Float32Array;
        let worst = 0;
        for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs((w[i] as number) - (p[i] as number)));
        expect(worst, name).toBeLessThan(1e-5);
      }
    });
  }
});

describe('micro-batches of whole groups', () => {
  const [a, b, c] = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 8, 7, 6]];

  test('token columns: whole rows, or each distinct prompt once where rows share prompts', () => {
    // 4 rows, prompts of 4 tokens, completions up to 5: whole rows are 4 x (4 + 5 - 1).
    expect(plannedColumns([a, b, c, a], [5, 2, 3, 1])).toBe(32);
    // 2 distinct prompts in 4 rows: each prompt's first 3 columns once, then each row's
    // completion tokens, the padding left out (row-packing.ts).
    expect(plannedColumns([a, a, b, b], [5, 2, 3, 1])).toBe(2 * 3 + (5 + 2 + 3 + 1));
    // A shorter prompt is left-padded: [pad, 1, 2, 3] is not [1, 2, 3, 4]'s first columns.
    expect(plannedColumns([a, [1, 2, 3], a, [1, 2, 3]], [1, 1, 1, 1])).toBe(2 * 3 + 4 * 1);
  });

  test('prompt by prompt when that computes fewer columns, longest completions first otherwise', () => {
    // Three prompts of 10 tokens, four rows each. By length, each micro-batch of 4 holds 3 prompts:
    // whole rows, 4 x (10 + 5 - 1) + 4 x 13 + 4 x 12 = 156 columns. Prompt by prompt: 3 x (9 + 4 x 5) = 87.
    const [p, q, r] = [0, 1, 2].map((k) => Array.from({ length: 10 }, (_, i) => k * 10 + i)) as [number[], number[], number[]];
    const lengths = [5, 4, 3, 2, 5, 4, 3, 2, 5, 4, 3, 2];
    expect(planMicroBatches([p, p, p, p, q, q, q, q, r, r, r, r], lengths, 4)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
    // Lengths from 9 to 1 in a group: the padding is left out of shared-prompt micro-batches, so
    // whole groups still compute fewer columns, each group's rows longest first.
    const mixed = [9, 1, 8, 2, 7, 3, 9, 1, 6, 4, 5, 5];
    const prompts = [a, a, a, a, b, b, b, b, c, c, c, c];
    expect(planMicroBatches(prompts, mixed, 4)).toEqual([[0, 2, 3, 1], [6, 4, 5, 7], [8, 10, 11, 9]]);
    // Two rows a prompt in micro-batches of 3: no micro-batch shares enough to pay, rows are
    // computed whole and padded, and sorted by length they pad least (48 columns against 66).
    expect(planMicroBatches([a, a, b, b, c, c], [9, 1, 8, 1, 7, 1], 3)).toEqual([[0, 2, 4], [1, 3, 5]]);
    // Every prompt different: nothing to share, so longest completions first.
    const distinct = lengths.map((_, i) => Array.from({ length: 10 }, (__, j) => i * 10 + j));
    expect(planMicroBatches(distinct, lengths, 4)).toEqual(microBatches(lengths, 4));
    // One micro-batch: the whole batch either way.
    expect(planMicroBatches(prompts, lengths, 0)).toEqual(microBatches(lengths, 0));
  });
});
