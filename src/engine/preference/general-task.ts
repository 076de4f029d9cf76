/**
 * General prompts ("describe 4072:") as a Task, so the final RL stage can mix them with
 * reasoning prompts. They are not verifiable the way sums are: during RL they are scored by the
 * learned reward model. The quality rules (general-prompts.ts) still say what a good answer is,
 * so evaluation can measure how far the policy really follows them (a reward model can be fooled;
 * the rules cannot).
 */
import type { Rng } from '../rng';
import type { Problem, Task } from '../tasks/task';
import {
  QUALITY_RULES, type GeneralPrompt, generalPrompt, heldOutPreferencePairs, isHeldOutPrompt, parseGeneralPrompt, qualityScore, referenceAnswer,
} from './general-prompts';

function toProblem(p: GeneralPrompt): Problem {
  return { task: 'general', prompt: p.text, language: p.language, difficulty: 1, answer: referenceAnswer(p), numbers: [p.number] };
}

function noCorpus(): never {
  throw new Error('general prompts have no worked solutions: they are not part of the pretraining corpus');
}

export const generalTask: Task = {
  name: 'general',
  title: 'General prompts',
  description: 'Describe a number in a few words. No verifier: a learned reward model scores the answer during RL.',
  difficulties: [1],
  generate: (rng: Rng) => toProblem(generalPrompt(rng)),
  /** "Correct" means every quality rule holds (used for evaluation only, never as an RL reward). */
  verify: (problem, answer) => qualityScore(problem.prompt, answer.trim()) === QUALITY_RULES.length,
  looseAnswer: () => null,
  worked: noCorpus,
  direct: noCorpus,
  evalSet: (size = 128) => heldOutPreferencePairs(size).map((pair) => {
    const parsed = parseGeneralPrompt(pair.prompt);
    if (!parsed) throw new Error(`general prompts: held-out prompt "${pair.prompt}" does not parse`);
    return toProblem({ text: pair.prompt, number: parsed.number, language: parsed.language });
  }),
  isHeldOut: (problem) => isHeldOutPrompt(problem.prompt),
};
