import { describe, expect, test } from 'vitest';
import { getRecipe } from '../../engine/pipeline/recipes';
import { stageSteps as stageLength } from '../../engine/pipeline/pipeline';
import { addStage, moveStage, removeStage, setStageLength, setStageSettings, stageSettingsText } from './pipeline-edits';

const r1 = getRecipe('r1', 'tiny');
const ids = (s: typeof r1) => s.stages.map((x) => x.id);

describe('pipeline edits', () => {
  test('move, remove and add keep the other stages and make unique ids', () => {
    expect(ids(moveStage(r1, 1, -1)).slice(0, 2)).toEqual(['cold-start', 'r1-zero']);
    expect(moveStage(r1, 0, -1)).toBe(r1);
    expect(ids(removeStage(r1, 0))).toEqual(ids(r1).slice(1));
    const added = addStage(r1, r1.stages[0]!);
    expect(ids(added).at(-1)).toBe('r1-zero-2');
    expect(added.stages.at(-1)!.out).toBe('r1-zero-2');
    expect(ids(addStage(added, r1.stages[0]!)).at(-1)).toBe('r1-zero-3');
  });

  test('removing a compared stage drops it from the comparison, and the comparison itself once one stage is left', () => {
    const lang = getRecipe('language-on-off', 'tiny');
    expect(lang.compare).toEqual(['reasoning-rl', 'reasoning-rl-no-language']);
    expect(removeStage(lang, 0).compare).toEqual(lang.compare);
    expect(removeStage(lang, 3).compare).toBeUndefined();
  });

  test('a stage\'s length is the steps of whatever it trains', () => {
    const edited = setStageLength(r1, 1, 7);
    expect(stageLength(edited.stages[1]!)).toBe(7);
    expect(edited.stages[1]!.kind === 'sample-sft' && edited.stages[1]!.sft.steps).toBe(7);
    expect(stageLength(edited.stages[0]!)).toBe(stageLength(r1.stages[0]!));
    expect(stageLength(setStageLength(r1, 3, 9).stages[3]!)).toBe(9);
  });

  test('a stage\'s settings edit as JSON: id and kind stay, bad JSON or a bad field is refused with its name', () => {
    const text = stageSettingsText(r1.stages[1]!);
    expect(JSON.parse(text)).not.toHaveProperty('id');
    const edited = JSON.parse(text) as { trainFrom: string; sft: { lr: number } };
    edited.trainFrom = 'r1-zero';
    edited.sft.lr = 5e-4;
    const next = setStageSettings(r1, 1, JSON.stringify(edited));
    expect(next.stages[1]).toMatchObject({ id: 'cold-start', kind: 'sample-sft', trainFrom: 'r1-zero', sft: { lr: 5e-4 } });
    expect(next.stages[0]).toBe(r1.stages[0]);
    expect(() => setStageSettings(r1, 1, '{ "sft": ')).toThrow(/stage "cold-start" settings: not valid JSON/);
    expect(() => setStageSettings(r1, 1, '[1]')).toThrow('stage "cold-start" settings: must be a JSON object');
    expect(() => setStageSettings(r1, 1, JSON.stringify({ ...edited, sft: { ...edited.sft, lr: -1 } }))).toThrow(/stage "cold-start"\.sft\.lr/);
    const { sft: _sft, ...noSft } = edited;
    expect(() => setStageSettings(r1, 1, JSON.stringify(noSft))).toThrow('stage "cold-start".sft: missing');
    const grpo = JSON.parse(stageSettingsText(r1.stages[0]!)) as { config: { groupSize: number } };
    grpo.config.groupSize = 1;
    expect(() => setStageSettings(r1, 0, JSON.stringify(grpo))).toThrow(/stage "r1-zero"\.config\.groupSize/);
  });
});

