/**
 * Turning generated token ids into the texts and contexts that rewards and metrics read.
 */
import type { RewardContext } from './rewards';
import type { Problem, Task } from './tasks/task';
import type { Tokenizer } from './tokenizer';

export interface ScoredInput {
  problem: Problem;
  task: Task;
  ids: number[];
  truncated: boolean;
}

/** The completion text as rewards see it: eos and everything after it dropped. */
export function completionText(tokenizer: Tokenizer, ids: number[]): string {
  return tokenizer.decode(ids, { stopAtEos: true });
}

export function rewardContext(
  tokenizer: Tokenizer, input: ScoredInput, maxCompletionLength: number, overlongBuffer: number,
): RewardContext {
  return {
    problem: input.problem,
    task: input.task,
    completion: completionText(tokenizer, input.ids),
    completionLength: input.ids.length,
    truncated: input.truncated,
    maxCompletionLength,
    overlongBuffer,
  };
}
