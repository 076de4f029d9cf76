/**
 * tsx scripts/reward-model.ts — trains the Bradley-Terry reward model for general prompts (stage 4
 * of the recipe) on generated preference pairs, headless. The trunk starts from a checkpoint (by
 * default the shipped base model) and the scalar head from random; every --eval-every steps it
 * prints held-out pairwise accuracy, overall and on pairs that differ in one quality rule only
 * (which rules the model has actually learned).
 */
import { Command } from 'commander';
import { NODE_BACKENDS, tf, useBackend } from '../src/node/tfjs-node';
import { initialWeights } from '../src/engine/model';
import { MODEL_SIZES, type ModelSizeName, modelSize } from '../src/engine/model-config';
import { learningRate } from '../src/engine/optim';
import {
  HELD_OUT_PAIRS, QUALITY_RULES, heldOutPreferencePairs, heldOutSingleRulePairs, preferencePairs,
} from '../src/engine/preference/general-prompts';
import {
  REWARD_HEAD_META_KEY, RewardModel, type TokenPair, encodePairs, rewardHeadToMeta,
} from '../src/engine/preference/reward-model';
import { Rng } from '../src/engine/rng';
import { Tokenizer } from '../src/engine/tokenizer';
import { JsonlWriter, fmt, intFlag, loadCheckpoint, numberFlag, oneOf, saveCheckpoint } from './cli-common';

interface Options {
  checkpoint: string; fromScratch?: ModelSizeName; steps: number; batch: number; lr: number; warmup: number;
  weightDecay: number; seed: number; backend: string; evalEvery: number; evalSize: number; ruleEvalSize: number;
  out?: string; metrics?: string;
}

const program = new Command()
  .name('reward-model')
  .description('Train the Bradley-Terry reward model on generated preference pairs, headless')
  .option('--checkpoint <file>', 'trunk weights to start from', 'public/checkpoints/base.json')
  .option('--from-scratch <size>', 'start from random weights of this model size instead of a checkpoint',
    oneOf('from-scratch', Object.keys(MODEL_SIZES) as ModelSizeName[]))
  .option('--steps <n>', 'updates', intFlag('steps', 1), 200)
  .option('--batch <n>', 'preference pairs per update', intFlag('batch', 1), 32)
  .option('--lr <x>', 'peak learning rate (cosine decay to 10%)', numberFlag('lr'), 3e-4)
  .option('--warmup <n>', 'warmup steps', intFlag('warmup'), 10)
  .option('--weight-decay <x>', 'AdamW weight decay on matrices', numberFlag('weight-decay'), 0.01)
  .option('--seed <n>', 'seed for the head and the training pairs', intFlag('seed'), 1)
  .option('--backend <name>', 'tfjs backend', oneOf('backend', NODE_BACKENDS), 'wasm')
  .option('--eval-every <n>', 'evaluate every n steps (0: only at the start and the end)', intFlag('eval-every'), 20)
  .option('--eval-size <n>', `held-out pairs per evaluation (at most ${HELD_OUT_PAIRS})`, intFlag('eval-size', 1), HELD_OUT_PAIRS)
  .option('--rule-eval-size <n>', 'held-out single-rule pairs per rule (0: skip)', intFlag('rule-eval-size'), 64)
  .option('--out <file>', 'save the trained model (trunk as weights, head in meta.rewardHead)')
  .option('--metrics <file>', 'write one JSON object per step to this JSONL file')
  .showHelpAfterError();

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<Options>();
  if (o.evalSize > HELD_OUT_PAIRS) throw new Error(`--eval-size: at most ${HELD_OUT_PAIRS}`);
  if (o.ruleEvalSize > HELD_OUT_PAIRS) throw new Error(`--rule-eval-size: at most ${HELD_OUT_PAIRS}`);
  const backend = await useBackend(o.backend);
  const tokenizer = new Tokenizer();
  const start = o.fromScratch
    ? { model: modelSize(o.fromScratch, tokenizer.size), weights: initialWeights(modelSize(o.fromScratch, tokenizer.size), o.seed) }
    : loadCheckpoint(o.checkpoint, tokenizer.vocab);
  const rm = new RewardModel(start.model, start.weights, undefined, { seed: o.seed, weightDecay: o.weightDecay });
  const held = encodePairs(tokenizer, heldOutPreferencePairs(o.evalSize));
  const ruleSets: Array<[string, TokenPair[]]> = o.ruleEvalSize > 0
    ? QUALITY_RULES.map((r) => [r.id, encodePairs(tokenizer, heldOutSingleRulePairs(r.id, o.ruleEvalSize))])
    : [];
  const metrics = new JsonlWriter(o.metrics);
  const rng = new Rng(o.seed);
  console.log(`reward model: ${start.model.name} trunk from ${o.fromScratch ? 'random weights' : o.checkpoint}, ` +
    `${o.steps} steps of ${o.batch} pairs on ${backend}, lr ${o.lr}`);

  const evaluate = (): Record<string, number> => {
    const out: Record<string, number> = { 'eval/pairwise_accuracy': rm.pairwiseAccuracy(held) };
    for (const [id, pairs] of ruleSets) out[`eval/rule_accuracy/${id}`] = rm.pairwiseAccuracy(pairs);
    return out;
  };
  const report = (step: number, e: Record<string, number>, elapsed: number): void => {
    const rules = ruleSets.map(([id]) => `${id} ${fmt(e[`eval/rule_accuracy/${id}`], 2)}`).join(' ');
    console.log(`step ${String(step).padStart(4)}  held-out accuracy ${fmt(e['eval/pairwise_accuracy'])}` +
      `${rules ? `  | by rule: ${rules}` : ''}  (${elapsed.toFixed(1)} s)`);
  };

  const started = performance.now();
  const first = evaluate();
  report(0, first, 0);
  metrics.write({ step: 0, ...first });
  let recent: number[] = [];
  let last = first;
  for (let s = 1; s <= o.steps; s++) {
    const lr = learningRate(s - 1, { lr: o.lr, warmupSteps: o.warmup, totalSteps: o.steps, decay: 'cosine', minLrRatio: 0.1 });
    const t0 = performance.now();
    const r = rm.trainStep(encodePairs(tokenizer, preferencePairs(rng, o.batch)), lr);
    recent.push(r.loss);
    const record: Record<string, number> = {
      step: s, loss: r.loss, accuracy: r.accuracy, margin: r.margin, grad_norm: r.gradNorm, lr,
      skipped: Number(r.skipped), step_time: (performance.now() - t0) / 1000,
    };
    if ((o.evalEvery > 0 && s % o.evalEvery === 0) || s === o.steps) {
      last = evaluate();
      Object.assign(record, last);
      const mean = recent.reduce((a, b) => a + b, 0) / recent.length;
      report(s, last, (performance.now() - started) / 1000);
      console.log(`           train loss ${fmt(mean)} (mean of the last ${recent.length} steps), batch accuracy ${fmt(r.accuracy, 2)}`);
      recent = [];
    }
    metrics.write(record);
  }
  console.log(`held-out pairwise accuracy ${fmt(first['eval/pairwise_accuracy'])} -> ${fmt(last['eval/pairwise_accuracy'])} ` +
    `in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (o.out) {
    const { trunk, head } = await rm.weights();
    saveCheckpoint(o.out, {
      model: rm.config,
      vocab: [...tokenizer.vocab],
      meta: {
        stage: 'reward-model', step: o.steps, seed: o.seed, initializedFrom: o.fromScratch ? null : o.checkpoint,
        [REWARD_HEAD_META_KEY]: rewardHeadToMeta(head), eval: last,
        rewardModel: { steps: o.steps, batch: o.batch, lr: o.lr, warmup: o.warmup, weightDecay: o.weightDecay },
      },
      weights: trunk,
    });
    console.log(`wrote ${o.out}`);
  }
  rm.dispose();
  console.log(`tensors alive: ${tf.memory().numTensors}`);
}

main().catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
