/**
 * npm run pipeline — a whole recipe (R1-Zero, cold start, reasoning RL, rejection sampling, ...)
 * from the shipped base model, headless. Metrics of every stage go to one JSONL file on one
 * global step axis, each record naming its stage; each stage's checkpoint is saved in --out-dir,
 * and a table of every stage's held-out scores before and after is printed at the end.
 */
import { Command, Option } from 'commander';
import { NODE_BACKENDS, useBackend } from '../src/node/tfjs-node';
import { type ModelWeights, type StageRecord, runPipeline } from '../src/engine/pipeline/pipeline';
import { RECIPES, getRecipe } from '../src/engine/pipeline/recipes';
import { REJECT_REASONS } from '../src/engine/pipeline/verified-samples';
import { Tokenizer } from '../src/engine/tokenizer';
import { JsonlWriter, fmt, loadCheckpoint, parseOrExit, saveCheckpoint } from './cli-common';

interface Options { recipe: string; scale: string; backend: string; metrics?: string; checkpoint: string; outDir?: string }

const program = new Command()
  .name('pipeline')
  .description('Run a multi-stage recipe (the R1 pipeline) headless')
  .option('--recipe <name>', `recipe (${Object.keys(RECIPES).join(', ')})`, 'r1')
  .addOption(new Option('--scale <name>', 'stage sizes').choices(['default', 'tiny']).default('default'))
  .addOption(new Option('--backend <name>', 'tfjs backend').choices(NODE_BACKENDS).default('wasm'))
  .option('--metrics <file>', 'one JSON object per step and per stage boundary')
  .option('--checkpoint <file>', 'the base model', 'public/checkpoints/base.json')
  .option('--out-dir <dir>', 'save each stage\'s checkpoint here as <stage>.json')
  .showHelpAfterError()
  .exitOverride();

const MAIN_KEYS = ['eval/pass@1', 'eval/pass@1_any_format', 'eval/mean_length', 'eval/language'];

function table(records: StageRecord[]): string {
  const rows = records.map((r) => {
    const cell = (k: string, d = 3) => (r.after[k] === undefined ? '' : `${fmt(r.before[k], d)} → ${fmt(r.after[k], d)}`);
    const other = Object.keys(r.after).filter((k) => !MAIN_KEYS.includes(k)).map((k) => `${k} ${cell(k)}`).join('; ');
    return `| ${r.id} | ${r.from.join(', ')} | ${cell('eval/pass@1')} | ${cell('eval/pass@1_any_format')} | ${cell('eval/mean_length', 1)} | ${cell('eval/language')} | ${r.counts ? `${r.counts.kept}/${r.counts.sampled}` : ''} | ${other} |`;
  });
  return ['| stage | from | pass@1 | format-blind | length | language | kept | other |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n');
}

async function main(): Promise<void> {
  const o = parseOrExit<Options>(program);
  const spec = getRecipe(o.recipe, o.scale);
  const backend = await useBackend(o.backend);
  const tokenizer = new Tokenizer();
  const base = loadCheckpoint(o.checkpoint, tokenizer.vocab);
  const checkpoints = new Map<string, ModelWeights>([['base', { model: base.model, weights: base.weights }]]);
  const metrics = new JsonlWriter(o.metrics);
  console.log(`pipeline ${o.recipe} (${o.scale}) on ${backend}: ${spec.stages.map((s) => s.id).join(' → ')}`);
  const started = performance.now();
  let stage = '';
  const it = runPipeline(spec, tokenizer, checkpoints);
  let r = it.next();
  while (!r.done) {
    const e = r.value;
    if (e.type === 'stage-start') {
      stage = e.stage.id;
      console.log(`\n[${stage}] ${e.stage.label} from step ${e.globalStep}`);
    } else if (e.type === 'metrics') {
      metrics.write({ step: e.globalStep, stage: e.stageId, ...e.values });
      const v = e.values;
      const status = v['sft/loss'] !== undefined ? `sft loss ${fmt(v['sft/loss'])}`
        : v['rm/loss'] !== undefined ? `rm loss ${fmt(v['rm/loss'])} train acc ${fmt(v['rm/train_accuracy'])}`
          : v.loss !== undefined ? `reward ${fmt(v.reward)} acc ${fmt(v['rewards/accuracy/mean'])} len ${fmt(v['completions/mean_length'], 1)}` : null;
      if (status) process.stdout.write(`\r  step ${e.globalStep} ${status}   `);
    } else if (e.type === 'samples') {
      metrics.write({ stage: e.stageId, 'samples/sampled': e.counts.sampled, 'samples/kept': e.counts.kept, ...Object.fromEntries(REJECT_REASONS.map((k) => [`samples/rejected/${k}`, e.counts.rejected[k]])) });
      console.log(`  samples: kept ${e.counts.kept} of ${e.counts.sampled} (prompts covered ${e.counts.promptsCovered}); rejected ${REJECT_REASONS.map((k) => `${k} ${e.counts.rejected[k]}`).join(', ')}`);
    } else if (e.type === 'stage-end') {
      console.log(`\n  done at step ${e.globalStep}: ${Object.keys(e.after).map((k) => `${k.replace('eval/', '')} ${fmt(e.before[k])} → ${fmt(e.after[k])}`).join(', ')}`);
      const out = checkpoints.get(spec.stages.find((s) => s.id === e.stageId)!.out);
      if (o.outDir && out) {
        saveCheckpoint(`${o.outDir}/${e.stageId}.json`, { model: out.model, vocab: [...tokenizer.vocab], meta: { stage: e.stageId, recipe: o.recipe, step: e.globalStep }, weights: out.weights });
      }
    }
    r = it.next();
  }
  console.log(`\n${table(r.value)}\n\n${((performance.now() - started) / 60000).toFixed(1)} min`);
}

main().catch((e: unknown) => {
  console.error(`error: ${(e as Error).message}`);
  process.exit(1);
});
