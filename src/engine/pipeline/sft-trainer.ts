/**
 * Supervised fine-tuning on a fixed set of (prompt, completion) examples: the cold-start,
 * rejection-sampling and distillation stages all end with it. Each step trains on a seeded
 * random batch of the examples, with the loss on completion tokens only (sft.ts).
 */
import { packBatch } from '../batch';
import type { GPT } from '../model';
import { AdamW, learningRate } from '../optim';
import { Rng } from '../rng';
import { sftLoss } from '../sft';
import { optimizerUpdate } from '../train-step';

export interface SftExample {
  promptIds: number[];
  completionIds: number[];
}

export interface SftOptions {
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  maxGradNorm: number;
  seed: number;
}

export interface SftStepMetrics {
  step: number;
  'sft/loss': number;
  grad_norm: number;
  lr: number;
  skipped_updates: number;
}

export class SftTrainer {
  private readonly optimizer: AdamW;
  private readonly rng: Rng;
  private stepIndex = 0;

  constructor(
    readonly model: GPT,
    private readonly examples: readonly SftExample[],
    private readonly o: SftOptions,
    private readonly padId: number,
  ) {
    if (examples.length === 0) throw new Error('sft: no examples to train on (every sample was filtered out)');
    this.optimizer = new AdamW(Object.values(model.variables), { weightDecay: 0 });
    this.rng = new Rng(o.seed ^ 0x5f7);
  }

  get step(): number {
    return this.stepIndex;
  }

  trainStep(): SftStepMetrics {
    const batch = Array.from({ length: Math.min(this.o.batchSize, this.examples.length) },
      () => this.examples[this.rng.int(0, this.examples.length - 1)] as SftExample);
    const packed = packBatch(batch.map((e) => e.promptIds), batch.map((e) => e.completionIds), this.padId);
    const lr = learningRate(this.stepIndex, { lr: this.o.lr, warmupSteps: this.o.warmupSteps, totalSteps: this.o.steps, decay: 'cosine', minLrRatio: 0.1 });
    const r = optimizerUpdate(this.model, this.optimizer, () => ({ loss: sftLoss(this.model.params, this.model.config, packed) }), lr, this.o.maxGradNorm);
    this.stepIndex++;
    return { step: this.stepIndex, 'sft/loss': r.loss, grad_norm: r.gradNorm, lr, skipped_updates: Number(r.skipped) };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
