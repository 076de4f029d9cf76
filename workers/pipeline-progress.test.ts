import { describe, expect, test } from 'vitest';
import { getRecipe } from '../src/engine/pipeline/recipes';
import { applyPipelineEvent, initialStageViews } from './pipeline-progress';

describe('pipeline progress', () => {
  test('a stage card fills in: start step, PPO\'s value-model size once, end step and scores', () => {
    const spec = getRecipe('grpo-vs-ppo', 'tiny');
    const views = initialStageViews(spec);
    const ppo = spec.stages[1]!;
    expect(applyPipelineEvent(views, { type: 'stage-start', stage: ppo, index: 1, globalStep: 3 }).view).toMatchObject({ id: 'ppo', state: 'running', firstStep: 3 });
    const first = applyPipelineEvent(views, { type: 'metrics', stageId: 'ppo', globalStep: 4, values: { reward: 0.5, 'ppo/value_params': 1234 } });
    expect(first.point).toEqual({ step: 4, stage: 'ppo', values: { reward: 0.5, 'ppo/value_params': 1234 } });
    expect(first.view).toMatchObject({ id: 'ppo', valueParameters: 1234 });
    // The same size again changes no card: nothing to send.
    expect(applyPipelineEvent(views, { type: 'metrics', stageId: 'ppo', globalStep: 5, values: { 'ppo/value_params': 1234 } }).view).toBeUndefined();
    const end = applyPipelineEvent(views, { type: 'stage-end', stageId: 'ppo', globalStep: 6, before: { 'eval/pass@1': 0.1 }, after: { 'eval/pass@1': 0.2 } } as never);
    expect(end.view).toMatchObject({ state: 'done', firstStep: 3, lastStep: 6, valueParameters: 1234, after: { 'eval/pass@1': 0.2 } });
    expect(views[0]).toMatchObject({ id: 'grpo', state: 'waiting' });
  });
});
