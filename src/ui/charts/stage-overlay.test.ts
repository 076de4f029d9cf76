import { describe, expect, test } from 'vitest';
import type { MetricPoint, StageView } from '../../../workers/protocol';
import { overlayHistory, overlayKey, overlayLines, startedComparedStages } from './stage-overlay';

const stage = (id: string, firstStep?: number): StageView => ({
  id, label: id.toUpperCase(), kind: 'grpo', from: ['base'], out: id, state: firstStep === undefined ? 'waiting' : 'done', ...(firstStep === undefined ? {} : { firstStep }),
});

describe('stage overlay', () => {
  test('each compared stage starts at step 0; points of one relative step merge; other stages are left out', () => {
    const history: MetricPoint[] = [
      { step: 0, stage: 'warmup', values: { reward: 9 } },
      { step: 0, stage: 'grpo', values: { 'eval/pass@1': 0.4 } },
      { step: 1, stage: 'grpo', values: { reward: 0.1 } },
      { step: 2, stage: 'grpo', values: { reward: 0.2, 'eval/pass@1': 0.5 } },
      { step: 2, stage: 'ppo', values: { 'eval/pass@1': 0.4 } },
      { step: 3, stage: 'ppo', values: { reward: 0.3 } },
    ];
    const stages = [stage('grpo', 0), stage('ppo', 2)];
    expect(overlayHistory(history, stages)).toEqual([
      { step: 0, stage: 'compare', values: { 'grpo|eval/pass@1': 0.4, 'ppo|eval/pass@1': 0.4 } },
      { step: 1, stage: 'compare', values: { 'grpo|reward': 0.1, 'ppo|reward': 0.3 } },
      { step: 2, stage: 'compare', values: { 'grpo|reward': 0.2, 'grpo|eval/pass@1': 0.5 } },
    ]);
  });

  test('only compared stages that have started are overlaid', () => {
    const stages = [stage('base-sft', 0), stage('grpo', 5), stage('ppo')];
    expect(startedComparedStages(stages, ['grpo', 'ppo']).map((s) => s.id)).toEqual(['grpo']);
  });

  test('lines: the main training and held-out line per stage, coloured by stage, held-out dashed', () => {
    const lines = [
      { key: 'reward', label: 'total', color: 'black', emphasis: true },
      { key: 'rewards/format/mean', label: 'format', color: 'blue' },
      { key: 'eval/pass@1', label: 'held-out', color: 'green' },
    ];
    const out = overlayLines(lines, [stage('grpo', 0), stage('ppo', 10)]);
    expect(out.map((l) => l.key)).toEqual([overlayKey('grpo', 'reward'), 'grpo|eval/pass@1', 'ppo|reward', 'ppo|eval/pass@1']);
    expect(out.map((l) => l.label)).toEqual(['total: GRPO', 'held-out: GRPO', 'total: PPO', 'held-out: PPO']);
    expect(out[0]!.color).toBe(out[1]!.color);
    expect(out[0]!.color).not.toBe(out[2]!.color);
    expect(out.map((l) => l.dashed)).toEqual([false, true, false, true]);
  });
});
