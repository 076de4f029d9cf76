import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../src/node/tfjs-node';
import { serializeCheckpoint } from '../src/engine/checkpoint';
import type { GrpoConfig } from '../src/engine/config';
import { initialWeights } from '../src/engine/model';
import { modelSize } from '../src/engine/model-config';
import { PRESETS } from '../src/engine/presets';
import { Tokenizer } from '../src/engine/tokenizer';
import type { GroupView, MetricPoint, RunStatus, StageView, TrainerEvents, WeightChange } from './protocol';
import { TrainingSession } from './training-session';

const tok = new Tokenizer();
const tiny: GrpoConfig = { ...(PRESETS.tiny!.config), steps: 5, evalEvery: 2, evalSize: 8, evalK: 0 };

function testCheckpoint(seed = 3): string {
  const model = modelSize('test', tok.size);
  return serializeCheckpoint({ model, vocab: [...tok.vocab], meta: { stage: 'base', step: 10 }, weights: initialWeights(model, seed) });
}

/** A session with its events recorded. */
function recorded(flushIntervalMs = 0, checkBackend?: () => void) {
  const log = { points: [] as MetricPoint[], batches: 0, statuses: [] as RunStatus[], groups: [] as GroupView[], changes: [] as WeightChange[], stages: [] as StageView[] };
  const events: TrainerEvents = {
    metrics: (p) => { log.points.push(...p); log.batches++; },
    status: (s) => log.statuses.push(s),
    group: (g) => log.groups.push(g),
    weightChange: (c) => log.changes.push(c),
    stage: (v) => log.stages.push(v),
  };
  const session = new TrainingSession(flushIntervalMs, flushIntervalMs, checkBackend);
  session.subscribe(events);
  sessions.push(session);
  return { session, log };
}

const sessions: TrainingSession[] = [];
beforeAll(async () => {
  await useBackend('cpu');
});
afterEach(async () => {
  for (const s of sessions.splice(0)) {
    await s.pause();
    s.dispose();
  }
});

describe('TrainingSession', () => {
  test('a run evaluates the start as the base stage, then trains to its total with evals at the interval', async () => {
    const { session, log } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure(tiny);
    await session.start();
    expect(session.status()).toMatchObject({ phase: 'done', step: 5, totalSteps: 5, stage: 'r1-zero' });
    expect(log.points[0]).toMatchObject({ step: 0, stage: 'base' });
    expect(log.points[0]!.values['eval/pass@1']).toBeTypeOf('number');
    const trainSteps = log.points.filter((p) => 'loss' in p.values).map((p) => p.step);
    expect(trainSteps).toEqual([1, 2, 3, 4, 5]);
    const evalSteps = log.points.filter((p) => 'eval/pass@1' in p.values).map((p) => p.step);
    expect(evalSteps).toEqual([0, 2, 4, 5]);
    expect(log.groups.map((g) => g.step)).toEqual([1, 2, 3, 4, 5]);
    const g = log.groups[0]!;
    expect(g.completions).toHaveLength(tiny.groupSize);
    expect(g.completions[0]!.tokens.length).toBeGreaterThan(0);
  });

  test('metrics go out in batches of new points only: no step is sent twice', async () => {
    const { session, log } = recorded(60_000);
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure(tiny);
    await session.start();
    const keys = log.points.map((p) => p.step);
    expect(new Set(keys).size).toBe(keys.length);
    // With a long interval, points gather until the boundaries (start eval, first push, end).
    expect(log.batches).toBeLessThan(log.points.length);
  });

  test('pause stops at a step boundary and resume continues to the end', async () => {
    const { session, log } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure({ ...tiny, steps: 12, evalEvery: 0 });
    const running = session.start();
    while (session.status().step < 2) await new Promise((r) => setTimeout(r, 5));
    await session.pause();
    await running;
    const paused = session.status();
    expect(paused.phase).toBe('paused');
    expect(paused.step).toBeLessThan(12);
    await new Promise((r) => setTimeout(r, 50));
    expect(session.status().step).toBe(paused.step);
    await session.resume();
    expect(session.status()).toMatchObject({ phase: 'done', step: 12 });
    expect(log.statuses.some((s) => s.phase === 'pausing')).toBe(true);
  });

  test('new reward weights apply from the next step on, and the change is announced', async () => {
    const { session, log } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure({ ...tiny, evalEvery: 0 });
    await session.stepOnce();
    const change = session.setRewardWeights({ overlong: 1 });
    expect(change.step).toBe(2);
    expect(log.changes).toEqual([change]);
    await session.stepOnce();
    const step2 = log.points.find((p) => p.step === 2)!.values;
    expect(step2.reward).toBeCloseTo(step2['rewards/overlong/mean']!, 6);
    expect(() => session.setRewardWeights({ accuracy: Number.NaN })).toThrow(/accuracy/);
  });

  test('bad settings and corrupt checkpoints give errors naming the field and lose nothing', async () => {
    const { session } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure(tiny);
    expect(() => session.configure({ ...tiny, groupSize: 1, lossType: 'ppo' })).toThrow(/config\.groupSize[\s\S]*config\.lossType.*allowed: grpo, bnpo, dr_grpo, dapo/);
    // The previous run is still there and trains.
    await session.stepOnce();
    expect(session.status().step).toBe(1);
    expect(() => session.loadCheckpoint('{"format": "grpo-lab-checkpoint"', 'broken')).toThrow(/JSON|checkpoint/);
    await session.stepOnce();
    expect(session.status().step).toBe(2);
  });

  test('a size the checkpoint does not hold starts from random weights, and says so', () => {
    const { session } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    const { model } = session.configure({ ...tiny, model: 'small' });
    expect(model.name).toBe('small');
    expect(model.origin).toMatch(/random weights.*"test" model/);
  });

  test('reset restores the starting weights: the same steps come out again', async () => {
    const { session, log } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure({ ...tiny, evalEvery: 0 });
    await session.start();
    const first = log.points.filter((p) => 'loss' in p.values).map((p) => p.values.loss);
    log.points.length = 0;
    await session.reset();
    expect(session.status()).toMatchObject({ phase: 'ready', step: 0 });
    await session.start();
    const second = log.points.filter((p) => 'loss' in p.values).map((p) => p.values.loss);
    expect(second).toEqual(first);
  });

  test('a saved checkpoint loads back into a run that continues from the saved weights', async () => {
    const { session } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure({ ...tiny, evalEvery: 0 });
    await session.stepOnce();
    const text = await session.saveCheckpoint();
    const other = recorded().session;
    const summary = other.loadCheckpoint(text, 'saved');
    expect(summary.origin).toMatch(/saved \(r1-zero, 1 steps\)/);
    other.configure({ ...tiny, evalEvery: 0 });
    expect(await other.saveCheckpoint()).toContain(JSON.stringify(JSON.parse(text).weights).slice(0, 200));
  });

  test('sampling scores a fresh group without changing the model; tensors stay flat across runs', async () => {
    const { session } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure({ ...tiny, evalEvery: 0 });
    const before = await session.saveCheckpoint();
    const g = await session.sample();
    expect(g.completions).toHaveLength(tiny.groupSize);
    expect(g.completions.every((c) => c.tokens.every((t) => t.ratio === 1))).toBe(true);
    expect(await session.saveCheckpoint()).toBe(before);
    await session.start();
    await session.reset();
    const tensors = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) {
      await session.start();
      await session.reset();
    }
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

describe('TrainingSession pipelines', () => {
  test('a tiny recipe runs stage by stage on one step axis, with stage cards filled in; a later stage can be re-run', async () => {
    const { session, log } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure(tiny);
    const recipes = session.recipes('tiny');
    expect(recipes.map((r) => r.name)).toContain('r1');
    session.startPipeline({ recipe: 'r1', scale: 'tiny' }, 0);
    await session.start();
    const status = session.status();
    expect(status).toMatchObject({ phase: 'done', stage: 'final-rl' });
    const finals = new Map(log.stages.map((v) => [v.id, v]));
    expect([...finals.values()].map((v) => v.state)).toEqual(['done', 'done', 'done', 'done', 'done', 'done']);
    expect(finals.get('cold-start')!.counts!.sampled).toBeGreaterThan(0);
    expect(finals.get('cold-start')!.from).toEqual(['r1-zero', 'base']);
    const steps = log.points.map((p) => p.step);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    expect(new Set(log.points.map((p) => p.stage))).toEqual(new Set(['r1-zero', 'cold-start', 'reasoning-rl', 'reward-model', 'rejection-sampling', 'final-rl']));
    // A fork from stage 2 reads the cold-start checkpoint the first run wrote.
    log.stages.length = 0;
    session.startPipeline({ recipe: 'r1', scale: 'tiny' }, 2);
    await session.start();
    expect(log.stages.filter((v) => v.state === 'done').map((v) => v.id)).toEqual(['reasoning-rl', 'reward-model', 'rejection-sampling', 'final-rl']);
    expect(() => session.startPipeline({ recipe: 'r9', scale: 'tiny' }, 0)).toThrow(/allowed: r1/);
    // An edited pipeline whose stage reads a checkpoint nobody wrote is refused, naming the field.
    const edited = recipes.find((r) => r.name === 'r1')!.spec;
    expect(() => session.startPipeline({ spec: { ...edited, stages: edited.stages.slice(1) } }, 0)).toThrow(/stages\[0\]\.sampleFrom: no checkpoint "r1-zero"/);
    expect(() => session.startPipeline({ recipe: 'r1', scale: 'tiny' }, 7)).toThrow(/startAt/);
    // Reset goes back to the single run.
    await session.reset();
    expect(session.status()).toMatchObject({ phase: 'ready', stage: 'base', step: 0 });
  });
});

describe('TrainingSession pipeline groups', () => {
  test('GRPO stages of a pipeline feed the group view', async () => {
    const { session, log } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure(tiny);
    session.startPipeline({ recipe: 'r1-zero-only', scale: 'tiny' }, 0);
    await session.start();
    expect(log.groups.length).toBeGreaterThan(0);
    expect(log.groups.at(-1)!.completions[0]!.tokens.length).toBeGreaterThan(0);
  });

  test('a backend failure reported after a step stops the run with its message; the steps before it stand', async () => {
    let failAfter = 3;
    const { session, log } = recorded(0, () => {
      if (--failAfter === 0) throw new Error('WebGPU rejected work: storage buffers exceed the limit');
    });
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure(tiny);
    await session.start();
    expect(session.status()).toMatchObject({ phase: 'error', message: 'WebGPU rejected work: storage buffers exceed the limit' });
    expect(log.points.filter((p) => 'loss' in p.values).map((p) => p.step)).toEqual([1, 2]);
  });

  test('while a single step reads back, the session is busy: sampling and evaluating wait their turn with an error', async () => {
    const { session } = recorded();
    session.loadCheckpoint(testCheckpoint(), 'test');
    session.configure(tiny);
    const step = session.stepOnce();
    await expect(session.sample()).rejects.toThrow('sample: pause the run first');
    await expect(session.evaluate()).rejects.toThrow('evaluate: pause the run first');
    await step;
    expect(session.status()).toMatchObject({ phase: 'paused', step: 1 });
    await expect(session.sample()).resolves.toMatchObject({ step: 1 });
  });
});
