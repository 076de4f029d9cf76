/**
 * npm run pretrain:base — builds the synthetic corpus from a seed and pretrains the base model on it,
 * evaluating on the held-out addition set as it goes. The result ships as
 * public/checkpoints/base.json, so that the lab starts from a base model at once.
 *
 * The npm script is `pretrain:base`, not `pretrain`: npm runs a script named pre<name> before
 * <name>, so a `pretrain` script ran (and overwrote the shipped base) before every `npm run train`.
 */
import { Command } from 'commander';
import { useBackend, NODE_BACKENDS, tf } from '../src/node/tfjs-node';
import { DEFAULT_PRETRAIN_CONFIG, Pretrainer } from '../src/engine/pretrain';
import { DEFAULT_STYLE_MIX, type DocumentStyle } from '../src/engine/corpus';
import { MODEL_SIZES, type ModelSizeName } from '../src/engine/model-config';
import { evaluate } from '../src/engine/eval';
import { Rng } from '../src/engine/rng';
import { TASKS, TASK_NAMES } from '../src/engine/tasks/registry';
import type { TaskName } from '../src/engine/tasks/task';
import { Tokenizer } from '../src/engine/tokenizer';
import { JsonlWriter, fmt, intFlag, loadCheckpoint, numberFlag, oneOf, progressBar, saveCheckpoint } from './cli-common';

const program = new Command()
  .name('pretrain:base')
  .description('Pretrain the base model on the synthetic corpus')
  .option('--model <size>', 'model size', oneOf('model', Object.keys(MODEL_SIZES) as ModelSizeName[]), DEFAULT_PRETRAIN_CONFIG.model)
  .option('--steps <n>', 'training steps', intFlag('steps', 1), DEFAULT_PRETRAIN_CONFIG.steps)
  .option('--docs <n>', 'documents per step', intFlag('docs', 2), DEFAULT_PRETRAIN_CONFIG.docsPerStep)
  .option('--lr <x>', 'peak learning rate', numberFlag('lr'), DEFAULT_PRETRAIN_CONFIG.lr)
  .option('--seed <n>', 'seed for weights and corpus', intFlag('seed'), DEFAULT_PRETRAIN_CONFIG.seed)
  .option('--backend <name>', 'tfjs backend', oneOf('backend', NODE_BACKENDS), 'wasm')
  .option('--eval-every <n>', 'evaluate every n steps (0: only at the end)', intFlag('eval-every'), 250)
  .option('--eval-size <n>', 'held-out addition problems per evaluation', intFlag('eval-size', 1), 200)
  .option('--init <file>', 'continue from this checkpoint\'s weights (fresh optimiser, new corpus draws)')
  .option('--tasks <mix>', 'task shares, e.g. addition=0.75,multiplication=0.15,countdown=0.1', parseTaskMix)
  .option('--styles <mix>', 'document style shares, e.g. bare_answer=0.3,full_trace=0.2 (others keep their default)', parseStyleMix)
  .option('--recheck-rate <x>', 'share of slips in worked solutions caught by a "wait" self-check (seeds reflection)', numberFlag('recheck-rate'), 0)
  .option('--out <file>', 'checkpoint to write', 'public/checkpoints/base.json')
  .option('--metrics <file>', 'JSONL metrics file', 'runs/pretrain.jsonl')
  .showHelpAfterError();

function parseTaskMix(value: string): Partial<Record<TaskName, number>> {
  const mix: Partial<Record<TaskName, number>> = {};
  for (const part of value.split(',')) {
    const [name, share] = part.split('=');
    if (!name || !TASK_NAMES.includes(name as TaskName) || !(Number(share) >= 0)) {
      throw new Error(`--tasks: "${part}" is not task=share (tasks: ${TASK_NAMES.join(', ')}; share a number >= 0)`);
    }
    mix[name as TaskName] = Number(share);
  }
  return mix;
}

function parseStyleMix(value: string): Record<DocumentStyle, number> {
  const mix = { ...DEFAULT_STYLE_MIX };
  for (const part of value.split(',')) {
    const [name, share] = part.split('=');
    if (!name || !(name in DEFAULT_STYLE_MIX) || !(Number(share) >= 0)) {
      throw new Error(`--styles: "${part}" is not style=share (styles: ${Object.keys(DEFAULT_STYLE_MIX).join(', ')})`);
    }
    mix[name as DocumentStyle] = Number(share);
  }
  return mix;
}

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<{ model: ModelSizeName; steps: number; docs: number; lr: number; seed: number; backend: string; evalEvery: number; evalSize: number; out: string; metrics: string; init?: string; tasks?: Partial<Record<TaskName, number>>; styles?: Record<DocumentStyle, number>; recheckRate: number }>();
  await useBackend(o.backend);
  const tokenizer = new Tokenizer();
  const config = { ...DEFAULT_PRETRAIN_CONFIG, model: o.model, steps: o.steps, docsPerStep: o.docs, lr: o.lr, seed: o.seed, taskMix: o.tasks ?? DEFAULT_PRETRAIN_CONFIG.taskMix,
    corpus: { ...DEFAULT_PRETRAIN_CONFIG.corpus, styleMix: o.styles ?? DEFAULT_PRETRAIN_CONFIG.corpus.styleMix, recheckRate: o.recheckRate } };
  const init = o.init ? loadCheckpoint(o.init, tokenizer.vocab) : undefined;
  const trainer = new Pretrainer(config, tokenizer, init?.weights);
  const metrics = new JsonlWriter(o.metrics);
  const task = TASKS.addition;
  const evalProblems = task.evalSet().slice(0, o.evalSize);
  console.log(`pretraining ${o.model} (${trainer.model.parameterCount.toLocaleString()} parameters) for ${o.steps} steps on ${o.backend}, seed ${o.seed}`);

  const runEval = (step: number): Record<string, number> => {
    const r = evaluate(trainer.model.params, trainer.model.config, tokenizer, task, evalProblems,
      { maxCompletionLength: 64, k: 0, temperature: 1, batchSize: 100 }, new Rng(o.seed + step));
    const flat: Record<string, number> = {
      'eval/pass@1': r['eval/pass@1'], 'eval/pass@1_any_format': r['eval/pass@1_any_format'], 'eval/format': r['eval/format'],
      'eval/mean_length': r['eval/mean_length'], 'eval/reasoning_share': r['eval/reasoning_share'], 'eval/step_accuracy': r['eval/step_accuracy'] ?? 0,
    };
    const byDiff = Object.entries(r.byDifficulty).map(([d, s]) => `d${d} ${fmt(s.pass1AnyFormat, 2)}`).join(' ');
    console.log(`\nstep ${step}: pass@1 ${fmt(flat['eval/pass@1'])} any-format ${fmt(flat['eval/pass@1_any_format'])} format ${fmt(flat['eval/format'])} length ${fmt(flat['eval/mean_length'], 1)} steps ok ${fmt(flat['eval/step_accuracy'])} | any-format by difficulty: ${byDiff}`);
    for (const e of r.examples.slice(0, 3)) console.log(`  ${e.prompt}${e.completion}`);
    return flat;
  };

  const save = async (step: number, evalScores: Record<string, number>): Promise<void> => {
    saveCheckpoint(o.out, {
      model: trainer.model.config,
      vocab: [...tokenizer.vocab],
      meta: { stage: 'base', step, seed: o.seed, initializedFrom: o.init ?? null, parameters: trainer.model.parameterCount, pretrain: config, eval: evalScores },
      weights: await trainer.model.weights(),
    });
  };

  const bar = progressBar(o.steps);
  const started = performance.now();
  for (let s = 1; s <= o.steps; s++) {
    const t0 = performance.now();
    const m = trainer.trainStep();
    const record: Record<string, number | string> = { ...m, stage: 'pretrain', step_time: (performance.now() - t0) / 1000 };
    bar.update(s, `loss ${fmt(m.loss)} lr ${m.lr.toExponential(1)} ${(m.tokens / ((performance.now() - t0) / 1000)).toFixed(0)} tok/s`);
    if ((o.evalEvery > 0 && s % o.evalEvery === 0) || s === o.steps) {
      const scores = runEval(s);
      Object.assign(record, scores);
      await save(s, scores);
    }
    metrics.write(record);
  }
  bar.stop();
  console.log(`done in ${((performance.now() - started) / 60000).toFixed(1)} min; wrote ${o.out}; tensors alive: ${tf.memory().numTensors}`);
}

main().catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
