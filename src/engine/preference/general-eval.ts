/**
 * How well a policy answers general prompts, by the quality rules themselves (not the reward
 * model): the check that the final RL stage improved answers and did not just fool its judge.
 */
import { completionText } from '../completion';
import type { ModelConfig } from '../model-config';
import type { Params } from '../model';
import { Rng } from '../rng';
import { generate } from '../sampling';
import { ANSWER_CLOSE, type Tokenizer } from '../tokenizer';
import { QUALITY_RULES, completionQuality } from './general-prompts';
import { generalTask } from './general-task';

/** Mean share of quality rules the greedy answers to n held-out general prompts satisfy. */
export function generalQuality(p: Params, mc: ModelConfig, tokenizer: Tokenizer, n: number, maxNewTokens: number): number {
  const problems = generalTask.evalSet(n);
  const gen = generate(p, mc, problems.map((q) => tokenizer.encode(q.prompt)), {
    maxNewTokens, temperature: 0, topK: 0, topP: 1, stopIds: [tokenizer.eosId, tokenizer.id(ANSWER_CLOSE)], padId: tokenizer.padId,
  }, new Rng(0));
  const total = problems.reduce((sum, q, i) => sum + completionQuality(q.prompt, completionText(tokenizer, gen.completions[i] as number[])), 0);
  return total / (problems.length * QUALITY_RULES.length);
}
