/**
 * npm run train — GRPO from a checkpoint (by default the shipped base model), headless.
 * One JSON object per step goes to --metrics, with evaluations at step 0, every evalEvery
 * steps and at the last step.
 */
import { Command, Option } from 'commander';
import { NODE_BACKENDS, tf, useBackend } from '../src/node/tfjs-node';
import { validateConfig } from '../src/engine/config';
import { evalMetrics } from '../src/engine/eval';
import { GrpoTrainer, type GrpoStepResult } from '../src/engine/grpo-trainer';
import { GPT, disposeParams } from '../src/engine/model';
import { modelSize } from '../src/engine/model-config';
import { PRESETS, getPreset } from '../src/engine/presets';
import { Tokenizer } from '../src/engine/tokenizer';
import { JsonlWriter, fmt, intFlag, loadCheckpoint, numberFlag, parseOrExit, progressBar, saveCheckpoint } from './cli-common';

interface Options {
  preset: string; steps?: number; seed?: number; backend: string; metrics?: string; checkpoint: string; out?: string;
  lr?: number; lrDecay?: string; minLrRatio?: number; beta?: number; evalEvery?: number; evalSize?: number; samples: boolean; fromScratch: boolean;
}

const program = new Command()
  .name('train')
  .description('Train a model with GRPO, headless')
  .option('--preset <name>', `run preset (${Object.keys(PRESETS).join(', ')})`, 'r1-zero')
  .option('--steps <n>', 'GRPO steps (default: the preset\'s)', intFlag('steps', 1))
  .option('--seed <n>', 'seed (default: the preset\'s)', intFlag('seed'))
  .addOption(new Option('--backend <name>', 'tfjs backend').choices(NODE_BACKENDS).default('wasm'))
  .option('--metrics <file>', 'write one JSON object per step to this JSONL file')
  .option('--checkpoint <file>', 'starting checkpoint', 'public/checkpoints/base.json')
  .option('--from-scratch', 'start from random weights instead of a checkpoint', false)
  .option('--out <file>', 'save the trained model to this checkpoint file')
  .option('--lr <x>', 'override the learning rate', numberFlag('lr'))
  .addOption(new Option('--lr-decay <schedule>', 'override the learning-rate schedule after warm-up').choices(['constant', 'linear', 'cosine']))
  .option('--min-lr-ratio <x>', 'override the final learning rate as a share of the peak', numberFlag('min-lr-ratio'))
  .option('--beta <x>', 'override the KL weight', numberFlag('beta'))
  .option('--eval-every <n>', 'override the evaluation interval', intFlag('eval-every'))
  .option('--eval-size <n>', 'override the number of held-out problems', intFlag('eval-size', 1))
  .option('--samples', 'print one scored group every evaluation', false)
  .showHelpAfterError()
  .exitOverride();

function overrides(o: Options): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  if (o.steps !== undefined) out.steps = o.steps;
  if (o.seed !== undefined) out.seed = o.seed;
  if (o.lr !== undefined) out.lr = o.lr;
  if (o.lrDecay !== undefined) out.lrDecay = o.lrDecay;
  if (o.minLrRatio !== undefined) out.minLrRatio = o.minLrRatio;
  if (o.beta !== undefined) out.beta = o.beta;
  if (o.evalEvery !== undefined) out.evalEvery = o.evalEvery;
  if (o.evalSize !== undefined) out.evalSize = o.evalSize;
  return out;
}

function printGroup(r: GrpoStepResult): void {
  const g = r.groups[0];
  if (!g) return;
  console.log(`  group for ${g.problem.prompt} (answer ${g.problem.answer}):`);
  g.completions.forEach((x, i) => console.log(`    A=${fmt(g.advantages[i], 2).padStart(6)} r=${fmt(x.reward, 2)} ${x.text}`));
}

async function main(): Promise<void> {
  const o = parseOrExit<Options>(program);
  const preset = getPreset(o.preset);
  const config = validateConfig({ ...preset.config, ...overrides(o) });
  const backend = await useBackend(o.backend);
  const tokenizer = new Tokenizer();
  const model = o.fromScratch
    ? GPT.create(modelSize(config.model, tokenizer.size), config.seed)
    : (() => {
        const ckpt = loadCheckpoint(o.checkpoint, tokenizer.vocab);
        if (ckpt.model.name !== config.model) {
          throw new Error(`--checkpoint: holds a "${ckpt.model.name}" model but preset ${o.preset} expects "${config.model}"`);
        }
        return new GPT(ckpt.model, ckpt.weights);
      })();
  const reference = config.beta > 0 ? model.snapshot() : null;
  const trainer = new GrpoTrainer(config, tokenizer, model, reference);
  const metrics = new JsonlWriter(o.metrics);
  console.log(`GRPO ${o.preset}: ${config.task}, ${config.model} model (${model.parameterCount.toLocaleString()} parameters), ` +
    `${config.steps} steps of ${config.promptsPerStep}x${config.groupSize}, seed ${config.seed}, backend ${backend}`);

  const evalRecord = (step: number): Record<string, number> => {
    const t = performance.now();
    const e = trainer.evaluate();
    const flat = evalMetrics(e);
    console.log(`\n[eval step ${step}] pass@1 ${fmt(e['eval/pass@1'])} | any-format ${fmt(e['eval/pass@1_any_format'])} | ` +
      `format ${fmt(e['eval/format'])} | length ${fmt(e['eval/mean_length'], 1)} | reasoning ${fmt(e['eval/reasoning_share'])} ` +
      `steps ok ${fmt(e['eval/step_accuracy'])} | language ${fmt(e['eval/language'])} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    console.log('  by difficulty: ' + Object.entries(e.byDifficulty)
      .map(([d, s]) => `d${d} ${fmt(s.pass1, 2)}/${fmt(s.pass1AnyFormat, 2)} len ${fmt(s.meanLength, 0)}`).join(' | '));
    return flat;
  };

  metrics.write({ step: 0, stage: 'r1-zero', ...evalRecord(0) });
  const bar = progressBar(config.steps);
  const started = performance.now();
  for (let s = 1; s <= config.steps; s++) {
    const r = trainer.trainStep();
    const m = r.metrics;
    if (m.skipped_updates) console.warn(`\nstep ${s}: loss or gradients not finite; update skipped, weights unchanged`);
    bar.update(s, `reward ${fmt(m.reward)} acc ${fmt(m['rewards/accuracy/mean'])} fmt ${fmt(m['rewards/format/mean'])} ` +
      `len ${fmt(m['completions/mean_length'], 1)} kl ${fmt(m.kl, 4)} ${fmt(m.step_time, 1)}s/step`);
    const record: Record<string, number | string> = { step: s, stage: 'r1-zero', ...m };
    if ((config.evalEvery > 0 && s % config.evalEvery === 0) || s === config.steps) {
      Object.assign(record, evalRecord(s));
      if (o.samples) printGroup(r);
    }
    metrics.write(record);
  }
  bar.stop();
  console.log(`done: ${config.steps} steps in ${((performance.now() - started) / 60000).toFixed(1)} min; tensors alive ${tf.memory().numTensors}`);
  if (o.out) {
    saveCheckpoint(o.out, { model: model.config, vocab: [...tokenizer.vocab], meta: { stage: 'r1-zero', preset: o.preset, config, steps: config.steps, parameters: model.parameterCount }, weights: await model.weights() });
    console.log(`saved ${o.out}`);
  }
  trainer.dispose();
  if (reference) disposeParams(reference);
  model.dispose();
}

main().catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
