/**
 * PPO's value model: a scalar head on a transformer trunk's final hidden states, giving one value
 * per position (the expected return from the state "prompt + tokens so far").
 *
 * By default the value model shares nothing with the policy: it has its own trunk, a copy of the
 * policy's weights at the start of RL, plus the head. That is the usual PPO setup for language
 * models (InstructGPT, TRL's PPOTrainer, OpenRLHF's critic), for two reasons:
 *  - the value loss is a regression whose gradients have their own scale and direction; on a
 *    shared trunk they move the representations the policy samples from, and the two objectives
 *    compete (the trade-off Phasic Policy Gradient was written about);
 *  - a copy of the policy is the best starting trunk there is here: it already reads the task.
 *    InstructGPT and DeepSeekMath start the value model from the reward model; this lab's
 *    rewards are rules, not a model, so the policy is the only trained network to copy.
 * The cost is what GRPO was designed to avoid (DeepSeekMath: "another model of comparable size
 * as the policy model"): a second set of weights, a second pair of AdamW moments (so about three
 * times the policy's parameter count in extra float32s, 4 bytes each: about 9.8 MB for the
 * 812,544-parameter default model, 71 kB for 'test'), a third forward pass per step (the
 * sampling-time values) and a second forward and backward pass at every update. The trainer runs
 * the value model's backward pass in its own tape, after the policy's, so that the peak
 * activation memory stays one model's. `shared` puts the head on the policy's own trunk
 * instead: dModel + 1 extra parameters, one trunk pass, competing gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GPT, Params } from './model';
import { hiddenStates, matMul2d } from './model';
import { parameterCount } from './model-config';
import { Rng } from './rng';

export interface ValueModelOptions {
  /** Head on the policy's own trunk (true) or on a separate copy of it (false, the default). */
  shared: boolean;
  /** Seed of the head's initial weights. */
  seed: number;
}

/** The head alone: hidden [B, T, d] -> values [B, T] (hidden @ w + b). */
export function valueHead(hidden: tf.Tensor3D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  const [B, T, d] = hidden.shape;
  return tf.tidy(() => tf.reshape(tf.add(matMul2d(tf.reshape(hidden, [B * T, d]), w), b), [B, T]) as tf.Tensor2D);
}

/** Normal(0, std) numbers from a seeded Rng (Box-Muller). */
function normals(n: number, std: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - rng.next();
    out[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  }
  return out;
}

export class ValueModel {
  readonly shared: boolean;
  /** The head's weight [dModel, 1] and bias [1]. */
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  /** The value model's own trunk weights (empty when shared). */
  readonly trunk: Record<string, tf.Variable>;
  private readonly policy: GPT;
  private static instances = 0;

  constructor(policy: GPT, o: ValueModelOptions) {
    this.policy = policy;
    this.shared = o.shared;
    const prefix = `value${ValueModel.instances++}`;
    const d = policy.config.dModel;
    // A small random head rather than zeros: values then depend on the context from the first
    // update on, and the trunk gets a gradient at once. std 1/(d + 1) keeps the initial values
    // small (hidden states after the final layer norm have roughly unit entries).
    this.w = tf.tidy(() => tf.variable(tf.tensor2d(normals(d, 1 / (d + 1), new Rng(o.seed)), [d, 1]), true, `${prefix}/head.w`));
    this.b = tf.tidy(() => tf.variable(tf.zeros([1]), true, `${prefix}/head.b`));
    this.trunk = {};
    if (!o.shared) {
      // Cloned on the device: no readback, and the copy is independent of later policy updates.
      for (const [name, v] of Object.entries(policy.variables)) {
        this.trunk[name] = tf.tidy(() => tf.variable(tf.clone(v), true, `${prefix}/${name}`));
      }
    }
  }

  /** Trainable variables of the value model (its trunk when separate, and the head). */
  get variables(): Record<string, tf.Variable> {
    return { ...Object.fromEntries(Object.entries(this.trunk).map(([k, v]) => [`trunk.${k}`, v])), 'head.w': this.w, 'head.b': this.b };
  }

  /** The weights the value model's trunk reads: its own copy, or the policy's when shared. */
  get trunkParams(): Params {
    return this.shared ? this.policy.params : this.trunk;
  }

  /** Extra parameters PPO needs beyond the policy: a whole trunk plus the head, or the head alone. */
  get parameterCount(): number {
    const head = this.policy.config.dModel + 1;
    return this.shared ? head : parameterCount(this.policy.config) + head;
  }

  /**
   * Per-position values [B, T] of the batch under the value model's current weights (inside a
   * gradient tape, gradients reach the head and the trunk it reads).
   */
  values(t: { inputs: tf.Tensor2D; positions: tf.Tensor2D; bias: tf.Tensor4D }): tf.Tensor2D {
    return tf.tidy(() => valueHead(hiddenStates(this.trunkParams, this.policy.config, t.inputs, t.positions, t.bias), this.w, this.b));
  }

  dispose(): void {
    this.w.dispose();
    this.b.dispose();
    for (const v of Object.values(this.trunk)) v.dispose();
  }
}
