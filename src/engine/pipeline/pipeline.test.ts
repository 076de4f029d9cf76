import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import type { GrpoConfig } from '../config';
import { evaluate } from '../eval';
import { GPT, initialWeights } from '../model';
import { modelSize } from '../model-config';
import { PRESETS } from '../presets';
import { REWARD_NAMES, type RewardName } from '../rewards';
import type { Group } from '../rollout';
import { Rng } from '../rng';
import { additionTask } from '../tasks/addition';
import { Tokenizer } from '../tokenizer';
import { type ModelWeights, type PipelineEvent, type PipelineSpec, type StageRecord, runPipeline, validatePipeline } from './pipeline';
import { RECIPES, getRecipe } from './recipes';
import { SftTrainer } from './sft-trainer';
import { REJECT_REASONS, type SampleCounts, filterGroup } from './verified-samples';

const tok = new Tokenizer();
const tiny: GrpoConfig = { ...PRESETS.tiny!.config, steps: 2 };

beforeAll(async () => {
  await useBackend('cpu');
});

function scores(s: Partial<Record<RewardName, number>>): Record<RewardName, number> {
  return Object.fromEntries(REWARD_NAMES.map((n) => [n, s[n] ?? 0])) as Record<RewardName, number>;
}

function completion(text: string, s: Partial<Record<RewardName, number>>, truncated = false) {
  return { ids: tok.encode(text), text, truncated, reward: 0, scores: scores(s) };
}

function emptyCounts(): SampleCounts {
  return { sampled: 0, kept: 0, promptsCovered: 0, rejected: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as SampleCounts['rejected'] };
}

describe('verified samples', () => {
  const good = { accuracy: 1, format: 1, language: 1 };
  const problem = additionTask.generate(new Rng(1), { difficulty: 2, language: 'western' });
  const group: Group = {
    problem,
    promptIds: tok.encode(problem.prompt),
    completions: [
      completion('<think>1+2=3</think><answer>3</answer>', good),
      completion('<think>1+2=3</think><answer>3</answer>', good), // duplicate of the first
      completion('<think>1+2=3 </think><answer>3</answer>', good),
      completion('<think>1+2=3  </think><answer>3</answer>', good), // over the cap of 2
      completion('<think>1+2=4</think><answer>4</answer>', { format: 1, language: 1 }),
      completion('<answer>3</answer>', { accuracy: 1, language: 0 }),
      completion('<think>١+٢=٣</think><answer>3</answer>', { accuracy: 1, format: 1, language: 0 }),
      completion('<think>1+2=3 1+2=3 1+2', good, true),
    ],
  };

  test('keep only correct, strictly formatted, one-language, complete, distinct completions, up to the cap', () => {
    const counts = emptyCounts();
    const kept = filterGroup(group, 2, counts);
    expect(kept.map((k) => k.text)).toEqual(['<think>1+2=3</think><answer>3</answer>', '<think>1+2=3 </think><answer>3</answer>']);
    expect(kept[0]!.promptIds).toEqual(group.promptIds);
    expect(counts).toEqual({
      sampled: 8, kept: 2, promptsCovered: 1,
      rejected: { truncated: 1, bad_format: 1, wrong: 1, mixed_language: 1, duplicate: 1, over_cap: 1, not_preferred: 0 },
    });
  });
});

describe('SftTrainer', () => {
  test('the loss on a fixed set of worked solutions falls', () => {
    const rng = new Rng(2);
    const examples = Array.from({ length: 8 }, () => {
      const p = additionTask.generate(rng, { difficulty: 2, language: 'western' });
      const w = additionTask.worked(p, rng, 0);
      return { promptIds: tok.encode(p.prompt), completionIds: tok.encode(`<think>${w.think}</think><answer>${w.answer}</answer>`) };
    });
    const model = GPT.create(modelSize('test', tok.size), 4);
    const trainer = new SftTrainer(model, examples, { steps: 40, batchSize: 8, lr: 1e-2, warmupSteps: 0, maxGradNorm: 1, seed: 1 }, tok.padId);
    const losses = Array.from({ length: 40 }, () => trainer.trainStep()['sft/loss']);
    expect(losses.slice(-5).reduce((a, b) => a + b) / 5).toBeLessThan(0.6 * (losses.slice(0, 5).reduce((a, b) => a + b) / 5));
    trainer.dispose();
    model.dispose();
    expect(() => new SftTrainer(model, [], { steps: 1, batchSize: 1, lr: 1, warmupSteps: 0, maxGradNorm: 1, seed: 1 }, 0)).toThrow(/no examples/);
  });
});

describe('pipeline', () => {
  const size = modelSize('test', tok.size);
  const checkpointsOf = (): Map<string, ModelWeights> => new Map([
    ['base', { model: size, weights: initialWeights(size, 1) }],
    ['other', { model: size, weights: initialWeights(size, 2) }],
  ]);
  const spec: PipelineSpec = {
    task: 'addition', evalSize: 8, maxCompletionLength: 24, seed: 1,
    stages: [
      { kind: 'grpo', id: 'r1-zero', label: 'R1-Zero', from: 'base', out: 'r1-zero', config: tiny },
      {
        kind: 'sample-sft', id: 'cold-start', label: 'Cold start', sampleFrom: 'r1-zero', trainFrom: 'other', out: 'cold-start', task: 'addition',
        collect: { prompts: 4, samplesPerPrompt: 2, maxPerPrompt: 1, temperature: 1, maxCompletionLength: 24, promptsPerBatch: 4 },
        sft: { steps: 3, batchSize: 4, lr: 1e-3, warmupSteps: 0, maxGradNorm: 1, seed: 1 },
      },
    ],
  };

  test('a hand-off that reads a checkpoint no earlier stage writes is refused, naming the field and the choices', () => {
    const bad = { ...spec, stages: [{ ...spec.stages[0]!, from: 'nope' } as PipelineSpec['stages'][number]] };
    expect(() => validatePipeline(bad, ['base'])).toThrow(/stages\[0\]\.from: no checkpoint "nope".*allowed: base/);
    const badConfig = { ...spec, stages: [{ ...spec.stages[0]!, config: { ...tiny, groupSize: 1 } } as PipelineSpec['stages'][number]] };
    expect(() => validatePipeline(badConfig, ['base'])).toThrow(/pipeline\.stages\[0\]\.config\.groupSize/);
    const badKind = { ...spec, stages: [{ ...spec.stages[0]!, kind: 'dpo' } as unknown as PipelineSpec['stages'][number]] };
    expect(() => validatePipeline(badKind, ['base'])).toThrow(/stages\[0\]\.kind: "dpo".*allowed: grpo, sample-sft, pretrain, reward-model/);
    const badSft = { ...spec, stages: [spec.stages[0]!, { ...spec.stages[1]!, sft: { ...(spec.stages[1] as { sft: object }).sft, steps: 0 } } as PipelineSpec['stages'][number]] };
    expect(() => validatePipeline(badSft, ['base', 'other'])).toThrow(/stages\[1\]\.sft\.steps: must be a whole number >= 1/);
    expect(() => validatePipeline({ ...spec, stages: [] }, ['base'])).toThrow(/at least one stage/);
    const twice = { ...spec, stages: [spec.stages[0]!, spec.stages[0]!] };
    expect(() => validatePipeline(twice, ['base'])).toThrow(/stages\[1\]\.id: "r1-zero" is used twice/);
    // A re-run from a later stage still knows the earlier stages it compares with.
    expect(() => validatePipeline(getRecipe('grpo-vs-ppo', 'tiny'), ['base', 'grpo'], 1)).not.toThrow();
    expect(() => validatePipeline({ ...spec, compare: [spec.stages[0]!.id, 'ghost'] }, ['base', 'other']))
      .toThrow(`pipeline.compare[1]: "ghost" is not a stage of this pipeline (allowed: ${spec.stages.map((s) => s.id).join(', ')})`);
  });

  test('stages run in order on one step axis, each from the checkpoint it names, and write theirs', () => {
    const checkpoints = checkpointsOf();
    const events: PipelineEvent[] = [];
    const it = runPipeline(spec, tok, checkpoints);
    let r = it.next();
    while (!r.done) {
      events.push(r.value);
      r = it.next();
    }
    const records = r.value as StageRecord[];
    expect(events.filter((e) => e.type === 'stage-start').map((e) => e.type === 'stage-start' && e.stage.id)).toEqual(['r1-zero', 'cold-start']);
    expect(records.map((x) => [x.id, x.from, x.out, x.firstStep])).toEqual([
      ['r1-zero', ['base'], 'r1-zero', 0],
      ['cold-start', ['r1-zero', 'other'], 'cold-start', 2],
    ]);
    expect(checkpoints.has('r1-zero') && checkpoints.has('cold-start')).toBe(true);
    const trainSteps = events.flatMap((e) => (e.type === 'metrics' && ('loss' in e.values || 'sft/loss' in e.values) ? [e.globalStep] : []));
    // Either 2 GRPO steps then 3 SFT steps, or (when nothing passed the filter) the 2 GRPO steps only.
    const counts = records[1]!.counts!;
    expect(trainSteps).toEqual(counts.kept > 0 ? [1, 2, 3, 4, 5] : [1, 2]);
    expect(counts.sampled).toBe(8);
    // The cold-start stage's "before" is the model it trains (other), not the one it samples from.
    const direct = (name: string) => {
      const c = checkpoints.get(name)!;
      const m = new GPT(c.model, c.weights);
      const e = evaluate(m.params, m.config, tok, additionTask, additionTask.evalSet(8), { maxCompletionLength: 24, k: 0, temperature: 1, batchSize: 100 }, new Rng(0));
      m.dispose();
      return e['eval/mean_length'];
    };
    expect(records[1]!.before['eval/mean_length']).toBe(direct('other'));
    expect(records[0]!.before['eval/mean_length']).toBe(direct('base'));
  });

  test('tensors stay flat across a pipeline run; starting at a later stage reuses the checkpoints left', () => {
    const checkpoints = checkpointsOf();
    for (const _ of runPipeline(spec, tok, checkpoints)) { /* drain */ }
    const tensors = tf.memory().numTensors;
    const fork = runPipeline(spec, tok, checkpoints, 1);
    const first = fork.next();
    expect(first.value).toMatchObject({ type: 'stage-start', index: 1, globalStep: 2 });
    for (const _ of fork) { /* drain */ }
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

describe('recipes', () => {
  test('every recipe at every scale hands off only checkpoints that exist; unknown names list the choices', () => {
    for (const name of Object.keys(RECIPES)) {
      for (const scale of ['default', 'tiny']) expect(() => validatePipeline(getRecipe(name, scale), ['base'])).not.toThrow();
    }
    expect(getRecipe('r1', 'default').stages.map((s) => s.id)).toEqual(['r1-zero', 'cold-start', 'reasoning-rl', 'reward-model', 'rejection-sampling', 'final-rl']);
    expect(() => getRecipe('r2', 'tiny')).toThrow(/allowed: r1, language-on-off, distill-vs-rl, grpo-vs-ppo, reflection, r1-zero-only/);
    expect(() => getRecipe('r1', 'huge')).toThrow(/allowed: default, tiny/);
  });
});

describe('reward model and final RL stages', () => {
  test('the reward-model stage writes a checkpoint with a reward head that a final RL stage then judges with', () => {
    const size = modelSize('test', tok.size);
    const checkpoints = new Map<string, ModelWeights>([['base', { model: size, weights: initialWeights(size, 1) }]]);
    const rmSpec: PipelineSpec = {
      task: 'addition', evalSize: 8, maxCompletionLength: 24, seed: 1,
      stages: [
        { kind: 'reward-model', id: 'rm', label: 'RM', from: 'base', out: 'rm', steps: 2, batchSize: 8, lr: 1e-3, seed: 1, evalPairs: 8, evalEvery: 0 },
        { kind: 'grpo', id: 'final', label: 'Final RL', from: 'base', out: 'final', config: { ...tiny, rewardWeights: { accuracy: 1, preference: 1 } }, general: { share: 0.5, rewardModel: 'rm' } },
      ],
    };
    const it = runPipeline(rmSpec, tok, checkpoints);
    let r = it.next();
    while (!r.done) r = it.next();
    const [rm, final] = r.value as StageRecord[];
    expect(checkpoints.get('rm')!.rewardHead!.w).toHaveLength(size.dModel);
    expect(rm!.after['eval/rm_pairwise_accuracy']).toBeGreaterThanOrEqual(0);
    expect(final!.from).toEqual(['base', 'rm']);
    expect(final!.after['eval/general_quality']).toBeGreaterThanOrEqual(0);
    // A policy checkpoint is not a judge.
    const bad = { ...rmSpec, stages: [{ ...rmSpec.stages[1]!, general: { share: 0.5, rewardModel: 'base' } } as PipelineSpec['stages'][number]] };
    expect(() => { for (const _ of runPipeline(bad, tok, checkpoints)) { /* drain */ } }).toThrow(/"base" is not a reward model/);
  });
});
