/**
 * Pretraining the base model on the synthetic corpus (stage P of the recipe).
 *
 * Each step draws fresh documents from the seeded corpus, sorts them by length and trains on
 * them in length buckets (one update per bucket): short bare answers and long worked solutions
 * then share batches with their own kind, which cuts the padding that would otherwise be most of
 * every batch.
 */
import { packBatch } from './batch';
import { type CorpusDocument, type CorpusOptions, DEFAULT_STYLE_MIX, drawDocument } from './corpus';
import { GPT } from './model';
import { type ModelSizeName, modelSize } from './model-config';
import { AdamW, learningRate } from './optim';
import { Rng } from './rng';
import { sftLoss } from './sft';
import { TASKS } from './tasks/registry';
import type { TaskName } from './tasks/task';
import type { Tokenizer } from './tokenizer';
import { optimizerUpdate } from './train-step';

export interface PretrainConfig {
  model: ModelSizeName;
  seed: number;
  steps: number;
  /** Documents drawn per step, split into `buckets` updates by length. */
  docsPerStep: number;
  buckets: number;
  lr: number;
  warmupSteps: number;
  minLrRatio: number;
  weightDecay: number;
  maxGradNorm: number;
  /** Relative share of documents per task. */
  taskMix: Partial<Record<TaskName, number>>;
  corpus: Omit<CorpusOptions, 'taskMix'>;
}

export const DEFAULT_PRETRAIN_CONFIG: PretrainConfig = {
  model: 'default',
  seed: 1,
  steps: 1000,
  docsPerStep: 64,
  buckets: 2,
  lr: 2e-3,
  warmupSteps: 60,
  minLrRatio: 0.1,
  weightDecay: 0.05,
  maxGradNorm: 1,
  // The shipped base model is pretrained on addition only: in a few minutes of wasm the default
  // model learns one task's worked solutions, not three (multiplication and countdown remain
  // available for RL and for pretraining runs with --tasks).
  taskMix: { addition: 1 },
  corpus: { styleMix: DEFAULT_STYLE_MIX, directAccuracy: 0.7, slipRate: 0.05, mixedLanguageRate: 0.3 },
};

export interface PretrainStepMetrics {
  step: number;
  loss: number;
  grad_norm: number;
  lr: number;
  tokens: number;
  skipped_updates: number;
}

/** Decay and norms: only matrices get weight decay (as nanoGPT). */
const noDecay = (name: string): boolean => /\.(g|b|b1|b2)$/.test(name);

export class Pretrainer {
  readonly model: GPT;
  readonly config: PretrainConfig;
  private readonly optimizer: AdamW;
  private readonly rng: Rng;
  private readonly corpus: CorpusOptions;
  private stepIndex = 0;

  /** initialWeights continues from a checkpoint's weights (with a fresh optimiser) instead of a random init. */
  constructor(config: PretrainConfig, private readonly tokenizer: Tokenizer, initialWeights?: Record<string, Float32Array>) {
    this.config = config;
    const shape = modelSize(config.model, tokenizer.size);
    this.model = initialWeights ? new GPT(shape, initialWeights) : GPT.create(shape, config.seed);
    this.optimizer = new AdamW(Object.values(this.model.variables), { weightDecay: config.weightDecay, noDecay });
    this.rng = new Rng(config.seed ^ 0x9e3779b9);
    this.corpus = {
      ...config.corpus,
      taskMix: Object.entries(config.taskMix).map(([name, weight]) => ({ task: TASKS[name as TaskName], weight: weight as number })),
    };
  }

  get step(): number {
    return this.stepIndex;
  }

  /** Draws documents that fit the model (prompt up to the anchor, completion in the room after it). */
  drawDocuments(n: number): CorpusDocument[] {
    const { promptAnchor, context } = this.model.config;
    const docs: CorpusDocument[] = [];
    while (docs.length < n) {
      const d = drawDocument(this.rng, this.corpus);
      const fits = this.tokenizer.encode(d.prompt).length <= promptAnchor &&
        this.tokenizer.encode(d.completion).length <= context - promptAnchor;
      if (fits) docs.push(d);
    }
    return docs;
  }

  trainStep(): PretrainStepMetrics {
    const lr = learningRate(this.stepIndex, {
      lr: this.config.lr, warmupSteps: this.config.warmupSteps, totalSteps: this.config.steps,
      decay: 'cosine', minLrRatio: this.config.minLrRatio,
    });
    const encoded = this.drawDocuments(this.config.docsPerStep)
      .map((d) => ({ prompt: this.tokenizer.encode(d.prompt), completion: this.tokenizer.encode(d.completion) }))
      .sort((a, b) => a.prompt.length + a.completion.length - (b.prompt.length + b.completion.length));
    const per = Math.ceil(encoded.length / this.config.buckets);
    let loss = 0, gradNorm = 0, tokens = 0, skipped = 0, updates = 0;
    for (let i = 0; i < encoded.length; i += per) {
      const bucket = encoded.slice(i, i + per);
      const batch = packBatch(bucket.map((e) => e.prompt), bucket.map((e) => e.completion), this.tokenizer.padId);
      const r = optimizerUpdate(this.model, this.optimizer, () => ({ loss: sftLoss(this.model.params, this.model.config, batch) }), lr, this.config.maxGradNorm);
      loss += r.loss;
      gradNorm += r.gradNorm;
      skipped += Number(r.skipped);
      tokens += batch.completionLengths.reduce((a, b) => a + b, 0);
      updates++;
    }
    this.stepIndex++;
    return { step: this.stepIndex, loss: loss / updates, grad_norm: gradNorm / updates, lr, tokens, skipped_updates: skipped };
  }

  /** Frees the optimiser state and keeps the model (for a caller that goes on using it). */
  disposeOptimizer(): void {
    this.optimizer.dispose();
  }

  dispose(): void {
    this.optimizer.dispose();
    this.model.dispose();
  }
}
