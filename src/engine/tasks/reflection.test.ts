import { describe, expect, test } from 'vitest';
import { Rng } from '../rng';
import { additionTask } from './addition';
import { hasReflection, withoutRetractedSteps } from './reflection';

describe('reflection', () => {
  const problem = additionTask.generate(new Rng(1), { difficulty: 4, language: 'western' });

  test('the marker is found as a word only; retracted steps drop out', () => {
    expect(hasReflection('2+6=9 wait 2+6=8')).toBe(true);
    expect(hasReflection('2+6=8 await')).toBe(false);
    expect(withoutRetractedSteps(['2+6=9', 'wait', '2+6=8', '5+1=6'])).toEqual(['2+6=8', '5+1=6']);
  });

  test('with rechecks on, every caught slip is followed by "wait" and the right step, and the answer is right', () => {
    const w = additionTask.worked(problem, new Rng(2), 1, { recheckRate: 1 });
    expect(w.correct).toBe(true);
    expect(hasReflection(w.think)).toBe(true);
    expect(w.think.split(' ').filter((x) => x === 'wait')).toHaveLength(4);
    // The step checker counts the corrections, not the retracted steps.
    expect(additionTask.stepAccuracy!(problem, w.think)).toBe(1);
  });

  test('without rechecks the trace and its random stream are as before', () => {
    const a = additionTask.worked(problem, new Rng(3), 0.5);
    const b = additionTask.worked(problem, new Rng(3), 0.5, { recheckRate: 0 });
    expect(b).toEqual(a);
    expect(hasReflection(a.think)).toBe(false);
  });
});
