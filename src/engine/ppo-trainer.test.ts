import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import { packBatch } from './batch';
import type { GrpoConfig } from './config';
import { drawDocument } from './corpus';
import { evaluate } from './eval';
import type { StepMetrics } from './grpo-trainer';
import { GPT, type Params, disposeParams } from './model';
import { type ModelConfig, modelSize, parameterCount } from './model-config';
import { AdamW } from './optim';
import { PRESETS } from './presets';
import { DEFAULT_PPO_OPTIONS, type PpoOptions, type PpoStepResult, PpoTrainer, validatePpoOptions } from './ppo-trainer';
import { Rng } from './rng';
import { sftLoss } from './sft';
import { additionTask } from './tasks/addition';
import type { Problem } from './tasks/task';
import { Tokenizer } from './tokenizer';
import { optimizerUpdate } from './train-step';

const tok = new Tokenizer();
const tiny: GrpoConfig = { ...(PRESETS.tiny?.config as GrpoConfig), steps: 6 };

/** A policy from random 'test'-size weights, its reference snapshot and a PPO trainer; dispose() frees all. */
function setup(config: GrpoConfig, options: Partial<PpoOptions> = {}, modelSeed = 1): { trainer: PpoTrainer; model: GPT; dispose(): void } {
  const model = GPT.create(modelSize('test', tok.size), modelSeed);
  const reference: Params | null = config.beta > 0 ? model.snapshot() : null;
  const trainer = new PpoTrainer(config, tok, model, reference, options);
  return {
    trainer,
    model,
    dispose() {
      trainer.dispose();
      if (reference) disposeParams(reference);
      model.dispose();
    },
  };
}

function withoutTimings(m: StepMetrics): StepMetrics {
  return Object.fromEntries(Object.entries(m).filter(([k]) => !/time|tokens_per_second/.test(k)));
}

async function variableValues(vars: Record<string, tf.Variable>): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(vars)) out[k] = (await v.data()) as Float32Array;
  return out;
}

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
  vi.restoreAllMocks();
});

describe('PpoTrainer (tiny preset, cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  test('options: defaults fill in; bad fields throw naming them', () => {
    expect(validatePpoOptions({})).toEqual(DEFAULT_PPO_OPTIONS);
    expect(validatePpoOptions({ lambda: 1, valueLr: 1e-3 })).toEqual({ ...DEFAULT_PPO_OPTIONS, lambda: 1, valueLr: 1e-3 });
    expect(() => validatePpoOptions({ lambda: 2 })).toThrow(/ppo\.lambda/);
    expect(() => validatePpoOptions({ klEstimator: 'k2' })).toThrow(/ppo\.klEstimator/);
    const model = GPT.create(modelSize('test', tok.size), 1);
    cleanups.push(() => model.dispose());
    expect(() => new PpoTrainer({ ...tiny, beta: 0.1 }, tok, model, null)).toThrow(/config\.beta/);
    expect(() => new PpoTrainer({ ...tiny, beta: 0 }, tok, model, null, { miniBatches: 17 })).toThrow(/ppo\.miniBatches/);
  });

  test.each([
    ['separate value model, beta > 0', {}, { beta: 0.02 }],
    ['2 epochs x 2 minibatches, k3', { miniBatches: 2, klEstimator: 'k3' }, { beta: 0.02, numIterations: 2 }],
    ['shared trunk', { sharedValueTrunk: true }, { beta: 0 }],
  ] as Array<[string, Partial<PpoOptions>, Partial<GrpoConfig>]>)(
    'the tensor count stays flat from step 2 to step 5 and returns to baseline after dispose: %s', (_name, options, patch) => {
      const baseline = tf.memory().numTensors;
      const run = setup({ ...tiny, ...patch }, options);
      const counts: number[] = [];
      for (let s = 1; s <= 5; s++) {
        const r = run.trainer.trainStep();
        expect(r.step).toBe(s);
        expect(r.metrics.skipped_updates).toBe(0);
        for (const [k, v] of Object.entries(r.metrics)) expect(Number.isFinite(v), k).toBe(true);
        counts.push(tf.memory().numTensors);
      }
      expect(counts[2]).toBe(counts[1]);
      expect(counts[4]).toBe(counts[1]);
      run.dispose();
      expect(tf.memory().numTensors).toBe(baseline);
    });

  test('the same weights, config and seed give identical metrics and completions; another seed differs', () => {
    const opts: Partial<PpoOptions> = { miniBatches: 2 };
    const patch = { beta: 0.02, numIterations: 2 };
    const runs = [setup({ ...tiny, ...patch }, opts), setup({ ...tiny, ...patch }, opts), setup({ ...tiny, ...patch, seed: tiny.seed + 1 }, opts)];
    cleanups.push(() => runs.forEach((r) => r.dispose()));
    for (let s = 0; s < 2; s++) {
      const [a, b, c] = runs.map((r) => r.trainer.trainStep()) as [PpoStepResult, PpoStepResult, PpoStepResult];
      expect(withoutTimings(b.metrics)).toEqual(withoutTimings(a.metrics));
      expect(b.groups).toEqual(a.groups);
      expect(c.groups.map((g) => g.completions[0]!.ids)).not.toEqual(a.groups.map((g) => g.completions[0]!.ids));
    }
  });

  test('one completion per prompt, promptsPerStep * groupSize prompts; per-token data lines up; GRPO metric names present', () => {
    const run = setup({ ...tiny, beta: 0.02 });
    cleanups.push(() => run.dispose());
    const r = run.trainer.trainStep();
    expect(r.groups).toHaveLength(tiny.promptsPerStep * tiny.groupSize);
    for (const g of r.groups) {
      expect(g.completions).toHaveLength(1);
      const n = g.completions[0]!.ids.length;
      expect(g.tokenAdvantages[0]).toHaveLength(n);
      expect(g.values[0]).toHaveLength(n);
      expect(g.returns[0]).toHaveLength(n);
    }
    const grpoNames = [
      'reward', 'rewards/accuracy/mean', 'rewards/format/std', 'completions/mean_length', 'completions/min_length',
      'completions/max_length', 'completions/clipped_ratio', 'kl', 'entropy', 'clip_ratio/low_mean', 'clip_ratio/high_mean',
      'clip_ratio/region_mean', 'policy_loss', 'loss', 'grad_norm', 'skipped_updates', 'lr', 'step_time', 'tokens_per_second',
      'time/rollout', 'time/reference', 'time/update', 'sampled_groups',
    ];
    const ppoNames = ['value_loss', 'value/explained_variance', 'value/clip_ratio', 'value/grad_norm', 'value/mean', 'ppo/value_params', 'objective/kl'];
    for (const k of [...grpoNames, ...ppoNames]) expect(r.metrics, k).toHaveProperty([k]);
    expect(r.metrics.sampled_groups).toBe(tiny.promptsPerStep * tiny.groupSize);
    // Whitened advantages over the batch: mean 0.
    const all = r.groups.flatMap((g) => g.tokenAdvantages[0]!);
    expect(all.reduce((a, b) => a + b, 0) / all.length).toBeCloseTo(0, 5);
    // One epoch, one minibatch: the old log-probs came from the same forward pass, ratio 1.
    expect(r.metrics['clip_ratio/region_mean']).toBe(0);
    // The policy starts as the reference: the sampling-time KL is 0, to rounding.
    expect(Math.abs(r.metrics['objective/kl']!)).toBeLessThan(1e-4);
  });

  test('the KL penalty is in the reward: with gamma = lambda = 1 the first token\'s return is score - beta * summed KL', () => {
    // A reference from other random weights, so that the KL is not 0 (random models are near
    // uniform, so it stays small: about 0.2 nats per completion).
    const beta = 0.05;
    const model = GPT.create(modelSize('test', tok.size), 1);
    const other = GPT.create(modelSize('test', tok.size), 2);
    const reference = other.snapshot();
    other.dispose();
    const trainer = new PpoTrainer({ ...tiny, beta }, tok, model, reference, { gamma: 1, lambda: 1 });
    cleanups.push(() => { trainer.dispose(); disposeParams(reference); model.dispose(); });
    const r = trainer.trainStep();
    const implied = r.groups.map((g) => (g.completions[0]!.reward - g.returns[0]![0]!) / beta);
    const meanImplied = implied.reduce((a, b) => a + b, 0) / implied.length;
    expect(r.metrics['objective/kl']).toBeGreaterThan(0.01);
    expect(meanImplied).toBeCloseTo(r.metrics['objective/kl']!, 4);
    expect(r.metrics['objective/non_score_reward']).toBeCloseTo(-beta * r.metrics['objective/kl']!, 10);
    expect(r.metrics.kl).toBeGreaterThan(0);
  });

  test('value parameters: a whole trunk plus the head when separate, the head alone when shared', () => {
    const mc = modelSize('test', tok.size);
    const separate = setup({ ...tiny, beta: 0 });
    const shared = setup({ ...tiny, beta: 0 }, { sharedValueTrunk: true });
    cleanups.push(() => { separate.dispose(); shared.dispose(); });
    expect(separate.trainer.value.parameterCount).toBe(parameterCount(mc) + mc.dModel + 1);
    expect(shared.trainer.value.parameterCount).toBe(mc.dModel + 1);
    expect(separate.trainer.trainStep().metrics['ppo/value_params']).toBe(parameterCount(mc) + mc.dModel + 1);
  });

  test('the separate value trunk starts as a copy of the policy and then moves on its own; lr 0 at warmup moves neither', async () => {
    const run = setup({ ...tiny, beta: 0, rewardWeights: { overlong: 1 } }, { valueLr: 1e-2 });
    cleanups.push(() => run.dispose());
    const policy0 = await run.model.weights();
    const trunk0 = await variableValues(run.trainer.value.trunk);
    expect(trunk0).toEqual(policy0);
    const head0 = await variableValues({ w: run.trainer.value.w, b: run.trainer.value.b });
    const r0 = run.trainer.trainStep();
    expect(r0.metrics.lr).toBe(0);
    expect(r0.metrics['value/lr']).toBe(0);
    expect(await run.model.weights()).toEqual(policy0);
    expect(await variableValues({ w: run.trainer.value.w, b: run.trainer.value.b })).toEqual(head0);
    run.trainer.trainStep();
    const policy1 = await run.model.weights();
    const trunk1 = await variableValues(run.trainer.value.trunk);
    const changed = (a: Record<string, Float32Array>, b: Record<string, Float32Array>) =>
      Object.keys(a).some((k) => a[k]!.some((v, i) => v !== b[k]![i]));
    expect(changed(policy1, policy0)).toBe(true);
    expect(changed(trunk1, trunk0)).toBe(true);
    expect(changed(trunk1, policy1)).toBe(true);
  });

  test('value loss falls over a few steps while the policy stays put (tiny policy lr, value lr 1e-2)', () => {
    // overlong varies on a random model (cut at the cap or not); with the policy nearly frozen
    // the returns' distribution is fixed and only the value model learns.
    const run = setup({ ...tiny, beta: 0, lr: 1e-9, warmupSteps: 0, rewardWeights: { overlong: 1 } }, { valueLr: 1e-2, valueClip: 0 });
    cleanups.push(() => run.dispose());
    const losses: number[] = [];
    const ev: number[] = [];
    for (let s = 0; s < 12; s++) {
      const m = run.trainer.trainStep().metrics;
      losses.push(m.value_loss!);
      ev.push(m['value/explained_variance']!);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const summary = `value_loss ${losses.map((x) => x.toFixed(3)).join(' ')}; explained variance ${ev.map((x) => x.toFixed(2)).join(' ')}`;
    expect(mean(losses.slice(-4)), summary).toBeLessThan(0.5 * losses[0]!);
    expect(mean(ev.slice(-4)), summary).toBeGreaterThan(ev[0]! + 0.2);
  });
});

// ---------------------------------------------------------------------------------------------
// Learning: the GRPO learning check (grpo-trainer.test.ts) with PPO in GRPO's place.
// ---------------------------------------------------------------------------------------------

describe('PpoTrainer learning (wasm)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  test('PPO on one-digit addition raises format and accuracy rewards of a briefly pretrained model', () => {
    const t0 = performance.now();
    const original = additionTask.generate.bind(additionTask);
    vi.spyOn(additionTask, 'generate').mockImplementation((rng, opts) => original(rng, { ...opts, difficulty: 1, language: 'western' }));
    // Held out: all 100 one-digit western sums.
    const table: Problem[] = [];
    for (let a = 0; a < 10; a++) {
      for (let b = 0; b < 10; b++) {
        table.push({ task: 'addition', prompt: `${String(a).padStart(5)}+${String(b).padStart(5)}=`, language: 'western', difficulty: 1, answer: String(a + b), numbers: [a, b] });
      }
    }

    // The same base as the GRPO check: 300 SFT steps of a 'small' model on a web-like mix in
    // which about one document in four is in the strict format.
    const mc: ModelConfig = { ...modelSize('small', tok.size), context: 64 };
    const model = GPT.create(mc, 3);
    cleanups.push(() => model.dispose());
    const sft = new AdamW(Object.values(model.variables), { weightDecay: 0 });
    const corpusRng = new Rng(8);
    const corpus = {
      styleMix: {
        bare_answer: 0.36, answer_tags: 0.12, empty_think: 0.08, untagged_trace: 0.08, full_trace: 0.16,
        answer_outside_tags: 0.05, partial_trace: 0.08, hedged_answers: 0.02, noise: 0.05,
      },
      taskMix: [{ task: additionTask, weight: 1 }], directAccuracy: 0.7, slipRate: 0.05, mixedLanguageRate: 0.3,
    };
    for (let s = 0; s < 300; s++) {
      const docs = Array.from({ length: 32 }, () => drawDocument(corpusRng, corpus));
      const batch = packBatch(docs.map((d) => tok.encode(d.prompt)), docs.map((d) => tok.encode(d.completion)), tok.padId);
      optimizerUpdate(model, sft, () => ({ loss: sftLoss(model.params, mc, batch) }), 3e-3, 1);
    }
    sft.dispose();
    const tPretrain = performance.now();
    const evalOpts = { maxCompletionLength: 32, k: 0, temperature: 1, batchSize: 100 };
    const before = evaluate(model.params, mc, tok, additionTask, table, evalOpts, new Rng(1));

    // 60 steps of 64 completions (8 prompts x 8 in GRPO, 64 prompts x 1 here); default PPO options.
    const config: GrpoConfig = {
      ...(PRESETS['r1-zero-300']?.config as GrpoConfig),
      model: 'small', seed: 3, steps: 60, promptsPerStep: 8, groupSize: 8, maxCompletionLength: 32, overlongBuffer: 4,
      lr: 1e-3, warmupSteps: 0, beta: 0, rewardWeights: { accuracy: 1, format: 0.5 }, evalSize: 16,
    };
    const trainer = new PpoTrainer(config, tok, model, null);
    cleanups.push(() => trainer.dispose());
    const format: number[] = [];
    const accuracy: number[] = [];
    for (let s = 0; s < config.steps; s++) {
      const m = trainer.trainStep().metrics;
      format.push(m['rewards/format/mean']!);
      accuracy.push(m['rewards/accuracy/mean']!);
    }
    const after = evaluate(model.params, mc, tok, additionTask, table, evalOpts, new Rng(1));

    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const first = { format: mean(format.slice(0, 10)), accuracy: mean(accuracy.slice(0, 10)) };
    const last = { format: mean(format.slice(-20)), accuracy: mean(accuracy.slice(-20)) };
    const summary = `pretrain ${((tPretrain - t0) / 1000).toFixed(1)}s, total ${((performance.now() - t0) / 1000).toFixed(1)}s; ` +
      `format ${first.format.toFixed(2)} -> ${last.format.toFixed(2)}, accuracy ${first.accuracy.toFixed(2)} -> ${last.accuracy.toFixed(2)}; ` +
      `eval format ${before['eval/format'].toFixed(2)} -> ${after['eval/format'].toFixed(2)}, ` +
      `pass@1 ${before['eval/pass@1'].toFixed(2)} -> ${after['eval/pass@1'].toFixed(2)}`;
    expect(last.format, summary).toBeGreaterThan(first.format + 0.25);
    expect(last.format, summary).toBeGreaterThan(0.85);
    expect(last.accuracy, summary).toBeGreaterThan(first.accuracy + 0.05);
    expect(after['eval/format'], summary).toBeGreaterThan(Math.max(0.9, before['eval/format']));
  });
});
