/**
 * npm run eval — scores a checkpoint on a task's held-out set: greedy pass@1 (strict and
 * format-blind), format, language consistency and length, per difficulty, and optionally
 * maj@k / pass@k from k samples per problem.
 */
import { Command, Option } from 'commander';
import { NODE_BACKENDS, useBackend } from '../src/node/tfjs-node';
import { evaluate } from '../src/engine/eval';
import { GPT } from '../src/engine/model';
import { Rng } from '../src/engine/rng';
import { TASK_NAMES, getTask } from '../src/engine/tasks/registry';
import { Tokenizer } from '../src/engine/tokenizer';
import { fmt, intFlag, loadCheckpoint, numberFlag } from './cli-common';

const program = new Command()
  .name('eval')
  .description('Evaluate a checkpoint on a held-out set')
  .option('--checkpoint <file>', 'checkpoint to evaluate', 'public/checkpoints/base.json')
  .addOption(new Option('--task <name>', 'task').choices(TASK_NAMES).default('addition'))
  .option('--size <n>', 'held-out problems', intFlag('size', 1), 200)
  .option('--k <n>', 'samples per problem for maj@k and pass@k (0: skip)', intFlag('k'), 0)
  .option('--temperature <x>', 'sampling temperature for maj@k / pass@k', numberFlag('temperature'), 1)
  .option('--max-length <n>', 'max completion tokens', intFlag('max-length', 1), 64)
  .option('--seed <n>', 'seed for sampling', intFlag('seed'), 1)
  .addOption(new Option('--backend <name>', 'tfjs backend').choices(NODE_BACKENDS).default('wasm'))
  .option('--json', 'print the result as JSON', false)
  .showHelpAfterError();

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<{ checkpoint: string; task: string; size: number; k: number; temperature: number; maxLength: number; seed: number; backend: string; json: boolean }>();
  await useBackend(o.backend);
  const tokenizer = new Tokenizer();
  const ckpt = loadCheckpoint(o.checkpoint, tokenizer.vocab);
  const model = new GPT(ckpt.model, ckpt.weights);
  const task = getTask(o.task);
  const r = evaluate(model.params, model.config, tokenizer, task, task.evalSet(o.size),
    { maxCompletionLength: o.maxLength, k: o.k, temperature: o.temperature, batchSize: 100 }, new Rng(o.seed));
  if (o.json) {
    console.log(JSON.stringify(r, null, 2));
    return;
  }
  console.log(`${o.checkpoint} (${String(ckpt.meta.stage ?? '?')}, ${model.parameterCount.toLocaleString()} parameters) on ${o.size} held-out ${o.task} problems`);
  console.log(`pass@1 ${fmt(r['eval/pass@1'])}  any-format ${fmt(r['eval/pass@1_any_format'])}  format ${fmt(r['eval/format'])}  ` +
    `language ${fmt(r['eval/language'])}  length ${fmt(r['eval/mean_length'], 1)}  reasoning ${fmt(r['eval/reasoning_share'])}  ` +
    `step accuracy ${fmt(r['eval/step_accuracy'])}` +
    (o.k > 0 ? `  maj@${o.k} ${fmt(r['eval/maj@k'])}  pass@${o.k} ${fmt(r['eval/pass@k'])}` : ''));
  console.log('difficulty  n    pass@1  any-format  length');
  for (const [d, s] of Object.entries(r.byDifficulty)) {
    console.log(`${d.padStart(10)}  ${String(s.n).padEnd(4)} ${fmt(s.pass1).padStart(6)}  ${fmt(s.pass1AnyFormat).padStart(10)}  ${fmt(s.meanLength, 1).padStart(6)}`);
  }
  console.log('examples:');
  for (const e of r.examples) console.log(`  ${e.correct ? 'ok ' : 'bad'} ${JSON.stringify(e.prompt + e.completion)}`);
}

main().catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
