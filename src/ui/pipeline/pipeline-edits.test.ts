import { describe, expect, test } from 'vitest';
import { getRecipe } from '../../engine/pipeline/recipes';
import { stageSteps as stageLength } from '../../engine/pipeline/pipeline';
import { addStage, moveStage, removeStage, setStageLength } from './pipeline-edits';

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
});
