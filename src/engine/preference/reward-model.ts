/**
 * A Bradley-Terry reward model: the lab's transformer trunk with a scalar head, trained on
 * preference pairs to give the chosen completion a higher score than the rejected one.
 *
 * Bradley-Terry says P(chosen preferred over rejected) = sigmoid(r_chosen - r_rejected), so the
 * training loss is -log sigmoid(r_c - r_r) averaged over pairs (as InstructGPT and TRL's
 * RewardTrainer). Only differences of scores are trained: the head's bias gets no gradient and a
 * score means nothing on its own, only next to another score for the same prompt (which is all
 * GRPO needs, since it normalises rewards within each group).
 *
 * The score is read from the final hidden state of the last real token of prompt + completion:
 * with causal attention it is the only position that has seen the whole text. Sequences are
 * packed as everywhere else in the lab (prompts left-padded, completions right-padded, anchored
 * positions), so a trunk initialised from a checkpoint sees text where it expects it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { packBatch } from '../batch';
import { GPT, causalBias, hiddenStates, initialWeights, matMul2d, positionsFor } from '../model';
import type { ModelConfig } from '../model-config';
import { AdamW } from '../optim';
import { Rng } from '../rng';
import type { Tokenizer } from '../tokenizer';
import { optimizerUpdate } from '../train-step';

/** A preference pair as token ids: one prompt, the preferred completion and the other one. */
export interface TokenPair {
  prompt: number[];
  chosen: number[];
  rejected: number[];
}

/** The scalar head as plain arrays: w has dModel values, b one. */
export interface RewardHeadWeights {
  w: Float32Array;
  b: Float32Array;
}

/** Where a checkpoint's meta carries the head (the trunk is the checkpoint's ordinary weights). */
export const REWARD_HEAD_META_KEY = 'rewardHead';

export interface RewardModelOptions {
  /** AdamW weight decay on matrices (norms, biases and the head's bias get none). */
  weightDecay?: number;
  /** Global gradient-norm clip; <= 0 disables it. */
  maxGradNorm?: number;
  /** Seed of the head's initial weights when none are given. */
  seed?: number;
  /** Rows per forward pass in score(): bounds memory on large evaluation sets. */
  scoreBatch?: number;
}

export interface RewardTrainResult {
  /** Mean Bradley-Terry loss of the batch, before the update. */
  loss: number;
  /** Share of the batch's pairs ranked correctly, before the update (ties count half). */
  accuracy: number;
  /** Mean r_chosen - r_rejected, before the update. */
  margin: number;
  gradNorm: number;
  /** True when the loss or gradients were not finite and the weights were left alone. */
  skipped: boolean;
}

/**
 * Mean of -log sigmoid(chosen - rejected) over pairs, computed as softplus(rejected - chosen)
 * so that a large margin of the wrong sign gives a large finite loss instead of log(0).
 */
export function bradleyTerryLoss(chosen: tf.Tensor1D, rejected: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.softplus(tf.sub(rejected, chosen))) as tf.Scalar);
}

/** Share of pairs with chosen > rejected; an exact tie counts half (a constant scorer gets 0.5, not 0). */
export function pairwiseAccuracyOf(chosen: readonly number[], rejected: readonly number[]): number {
  if (chosen.length === 0) return 0;
  let right = 0;
  chosen.forEach((c, i) => {
    const r = rejected[i] as number;
    right += c > r ? 1 : c === r ? 0.5 : 0;
  });
  return right / chosen.length;
}

/** Text pairs as token ids (the completions as given: the lab's sampled completions end at </answer>). */
export function encodePairs(tokenizer: Tokenizer, pairs: ReadonlyArray<{ prompt: string; chosen: string; rejected: string }>): TokenPair[] {
  return pairs.map((p) => ({ prompt: tokenizer.encode(p.prompt), chosen: tokenizer.encode(p.chosen), rejected: tokenizer.encode(p.rejected) }));
}

/** The head's weights as JSON-friendly values for a checkpoint's meta. */
export function rewardHeadToMeta(head: RewardHeadWeights): { w: number[]; b: number } {
  return { w: Array.from(head.w), b: head.b[0] ?? 0 };
}

/** The head from a checkpoint's meta value; throws naming the field when it does not fit dModel. */
export function rewardHeadFromMeta(value: unknown, dModel: number): RewardHeadWeights {
  const field = `meta.${REWARD_HEAD_META_KEY}`;
  if (typeof value !== 'object' || value === null) throw new Error(`${field}: expected an object { w: number[${dModel}], b: number }`);
  const { w, b } = value as { w?: unknown; b?: unknown };
  if (!Array.isArray(w) || w.length !== dModel || !w.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    throw new Error(`${field}.w: expected ${dModel} finite numbers (the model's width)`);
  }
  if (typeof b !== 'number' || !Number.isFinite(b)) throw new Error(`${field}.b: expected a finite number`);
  return { w: Float32Array.from(w as number[]), b: Float32Array.of(b) };
}

/** Decay only matrices, as pretraining does; the head's bias is excluded by its name too. */
const noDecay = (name: string): boolean => /\.(g|b|b1|b2)$/.test(name);

export class RewardModel {
  /** The transformer, a GPT whose language-model head is simply not used. */
  readonly trunk: GPT;
  readonly headW: tf.Variable;
  readonly headB: tf.Variable;
  private readonly optimizer: AdamW;
  private readonly maxGradNorm: number;
  private readonly scoreBatch: number;
  private static instances = 0;

  /**
   * trunkWeights: usually a checkpoint's (the base or a later stage), as R1 and InstructGPT start
   * reward models from a pretrained model. head: a trained head to continue from; without it the
   * head starts small and random from options.seed.
   */
  constructor(config: ModelConfig, trunkWeights: Record<string, Float32Array>, head?: RewardHeadWeights, options: RewardModelOptions = {}) {
    const d = config.dModel;
    if (head && (head.w.length !== d || head.b.length !== 1)) {
      throw new Error(`reward model: head has ${head.w.length} + ${head.b.length} values, expected ${d} + 1 for dModel ${d}`);
    }
    this.trunk = new GPT(config, trunkWeights);
    const w = head?.w ?? initialHead(d, options.seed ?? 1);
    const b = head?.b ?? new Float32Array(1);
    const prefix = `rm${RewardModel.instances++}`;
    this.headW = tf.tidy(() => tf.variable(tf.tensor2d(w, [d, 1]), true, `${prefix}/head.w`));
    this.headB = tf.tidy(() => tf.variable(tf.tensor1d(b), true, `${prefix}/head.b`));
    this.maxGradNorm = options.maxGradNorm ?? 1;
    this.scoreBatch = options.scoreBatch ?? 128;
    this.optimizer = new AdamW(this.trainableVariables(), { weightDecay: options.weightDecay ?? 0.01, noDecay });
  }

  /** A reward model from random weights (for tests and from-scratch experiments). */
  static create(config: ModelConfig, seed: number, options: RewardModelOptions = {}): RewardModel {
    return new RewardModel(config, initialWeights(config, seed), undefined, { seed, ...options });
  }

  get config(): ModelConfig {
    return this.trunk.config;
  }

  private trainableVariables(): tf.Variable[] {
    return [...Object.values(this.trunk.variables), this.headW, this.headB];
  }

  /** Scores [B] for packed rows: the head applied to the hidden state of each row's last real token. */
  private scoreTensor(promptIds: number[][], completionIds: number[][]): tf.Tensor1D {
    const c = this.config;
    const padId = 0;
    for (let i = 0; i < promptIds.length; i++) {
      const p = promptIds[i] as number[];
      const n = (completionIds[i] as number[]).length;
      if (p.length === 0) throw new Error(`reward model: prompt ${i} is empty`);
      if (p.length > c.promptAnchor) throw new Error(`reward model: prompt ${i} has ${p.length} tokens, more than the prompt anchor (${c.promptAnchor})`);
      if (c.promptAnchor + n > c.context) {
        throw new Error(`reward model: completion ${i} has ${n} tokens; at most ${c.context - c.promptAnchor} fit the context (${c.context})`);
      }
    }
    // One column wider than packBatch's default, so that its inputs (the sequence minus its last
    // column) still hold the last token of the longest completion. The pad id is irrelevant: pads
    // are masked out of attention and never read.
    const width = Math.max(...promptIds.map((p) => p.length)) + Math.max(1, ...completionIds.map((x) => x.length)) + 1;
    const batch = packBatch(promptIds, completionIds, padId, width);
    const T = width - 1;
    const select = completionIds.map((x) => {
      const row = new Array<number>(T).fill(0);
      row[batch.promptWidth + x.length - 1] = 1; // an empty completion reads the prompt's last token
      return row;
    });
    return tf.tidy(() => {
      const tokens = tf.tensor2d(batch.inputs, undefined, 'int32');
      const positions = tf.tensor2d(positionsFor(batch.valid, batch.promptWidth, c.promptAnchor), undefined, 'int32');
      const h = hiddenStates(this.trunk.params, c, tokens, positions, causalBias(batch.valid)); // [B, T, d]
      // A one-hot sum picks each row's last token: gather has no gradient on wasm.
      const last = tf.sum(tf.mul(h, tf.expandDims(tf.tensor2d(select), 2)), 1); // [B, d]
      return tf.reshape(tf.add(matMul2d(last, this.headW), this.headB), [promptIds.length]) as tf.Tensor1D;
    });
  }

  /** Scores of completions after their prompts (no gradient). Deterministic for given weights. */
  score(promptIds: number[][], completionIds: number[][]): number[] {
    if (promptIds.length !== completionIds.length) {
      throw new Error(`reward model: ${promptIds.length} prompts but ${completionIds.length} completions`);
    }
    const out: number[] = [];
    for (let i = 0; i < promptIds.length; i += this.scoreBatch) {
      const s = this.scoreTensor(promptIds.slice(i, i + this.scoreBatch), completionIds.slice(i, i + this.scoreBatch));
      out.push(...Array.from(s.dataSync()));
      s.dispose();
    }
    return out;
  }

  /** Share of pairs whose chosen completion scores higher than the rejected one (ties count half). */
  pairwiseAccuracy(pairs: readonly TokenPair[]): number {
    const { chosen, rejected } = this.scorePairs(pairs);
    return pairwiseAccuracyOf(chosen, rejected);
  }

  /** Scores of both sides of every pair (one forward per chunk of rows). */
  scorePairs(pairs: readonly TokenPair[]): { chosen: number[]; rejected: number[] } {
    const s = this.score([...pairs.map((p) => p.prompt), ...pairs.map((p) => p.prompt)],
      [...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)]);
    return { chosen: s.slice(0, pairs.length), rejected: s.slice(pairs.length) };
  }

  /**
   * One AdamW update of trunk and head on a batch of pairs, with learning rate lr. Chosen and
   * rejected completions go through one forward pass as a batch of 2N rows.
   */
  trainStep(pairs: readonly TokenPair[], lr: number): RewardTrainResult {
    if (pairs.length === 0) throw new Error('reward model: trainStep needs at least one pair');
    const n = pairs.length;
    const prompts = pairs.map((p) => p.prompt);
    // The trunk's variables plus the head's: both train through the lab's one update path
    // (clipping, skip on non-finite loss).
    const trainable = { variables: { ...this.trunk.variables, 'head.w': this.headW, 'head.b': this.headB } };
    const r = optimizerUpdate(trainable, this.optimizer, () => {
      const scores = this.scoreTensor([...prompts, ...prompts], [...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)]);
      const chosen = tf.slice(scores, [0], [n]) as tf.Tensor1D;
      const rejected = tf.slice(scores, [n], [n]) as tf.Tensor1D;
      const diff = tf.sub(chosen, rejected);
      // Ties count half, as in pairwiseAccuracyOf: (sign(diff) + 1) / 2.
      const accuracy = tf.mean(tf.div(tf.add(tf.sign(diff), 1), 2)) as tf.Scalar;
      return { loss: bradleyTerryLoss(chosen, rejected), extras: { accuracy, margin: tf.mean(diff) as tf.Scalar } };
    }, lr, this.maxGradNorm);
    return {
      loss: r.loss, accuracy: r.extras.accuracy ?? 0, margin: r.extras.margin ?? 0, gradNorm: r.gradNorm, skipped: r.skipped,
    };
  }

  /** The head as plain arrays (copies). */
  headWeights(): RewardHeadWeights {
    return { w: Float32Array.from(this.headW.dataSync()), b: Float32Array.from(this.headB.dataSync()) };
  }

  /** Trunk weights (a checkpoint's weights) and the head (for its meta under REWARD_HEAD_META_KEY). */
  async weights(): Promise<{ trunk: Record<string, Float32Array>; head: RewardHeadWeights }> {
    return { trunk: await this.trunk.weights(), head: this.headWeights() };
  }

  dispose(): void {
    this.optimizer.dispose();
    this.trunk.dispose();
    this.headW.dispose();
    this.headB.dispose();
  }
}

/** A small random head: normal(0, 1/sqrt(d)) gives initial scores of about unit size. */
function initialHead(d: number, seed: number): Float32Array {
  const rng = new Rng(seed ^ 0x4ead);
  const w = new Float32Array(d);
  const std = 1 / Math.sqrt(d);
  for (let i = 0; i < d; i++) {
    const u = 1 - rng.next();
    w[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  }
  return w;
}
