/**
 * Optimisation: AdamW, gradient clipping by global norm, and the learning-rate schedule.
 *
 * AdamW follows torch.optim.AdamW exactly (decoupled weight decay, bias-corrected moments),
 * so numbers can be compared with a PyTorch run of the same recipe.
 */
import * as tf from '@tensorflow/tfjs-core';
import { adamMoment, adamWParam } from './fused/adamw';

export type GradMap = Record<string, tf.Tensor>;

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Variables this returns true for get no weight decay (e.g. biases, norms); default none. */
  noDecay?: (name: string) => boolean;
}

export interface AdamWState {
  /** Number of steps taken (the t of the bias correction). */
  step: number;
  /** First moments by variable name. */
  m: Record<string, Float32Array>;
  /** Second moments by variable name. */
  v: Record<string, Float32Array>;
}

interface Moments {
  m: tf.Variable;
  v: tf.Variable;
}

/**
 * AdamW over a fixed list of variables, keyed by variable name.
 *
 * Per step t, for every variable p with a gradient g (torch.optim.AdamW):
 *   p <- p - lr * wd * p                        (decoupled decay: not part of the gradient)
 *   m <- b1 m + (1 - b1) g,  v <- b2 v + (1 - b2) g^2
 *   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * Variables without a gradient this step are left alone (as torch skips params whose grad is
 * None); the step counter is shared, so their bias correction continues from the global t.
 * Moments are created lazily, at a variable's first gradient, and freed by dispose().
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly noDecay: (name: string) => boolean;
  private readonly vars = new Map<string, tf.Variable>();
  private readonly moments = new Map<string, Moments>();
  private t = 0;

  constructor(variables: readonly tf.Variable[], o: AdamWOptions = {}) {
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0.01;
    this.noDecay = o.noDecay ?? (() => false);
    if (!(this.beta1 >= 0 && this.beta1 < 1)) throw new Error(`beta1: must be in [0, 1), got ${this.beta1}`);
    if (!(this.beta2 >= 0 && this.beta2 < 1)) throw new Error(`beta2: must be in [0, 1), got ${this.beta2}`);
    if (!(this.eps >= 0)) throw new Error(`eps: must be >= 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new Error(`weightDecay: must be >= 0, got ${this.weightDecay}`);
    for (const v of variables) {
      if (this.vars.has(v.name)) throw new Error(`variables: duplicate name "${v.name}"`);
      this.vars.set(v.name, v);
    }
  }

  /** Steps taken so far (the t of the bias correction). */
  get stepCount(): number {
    return this.t;
  }

  /**
   * One update with learning rate lr. grads are keyed by variable name (tf.variableGrads'
   * NamedTensorMap fits); they stay owned by the caller. Unknown names throw, so a renamed
   * variable cannot silently stop training.
   */
  step(grads: GradMap, lr: number): void {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`lr: must be a finite number >= 0, got ${lr}`);
    for (const name of Object.keys(grads)) {
      if (!this.vars.has(name)) throw new Error(`grads: "${name}" is not a variable of this optimizer`);
    }
    this.t += 1;
    const bc1 = 1 - this.beta1 ** this.t;
    const bc2 = 1 - this.beta2 ** this.t;
    for (const [name, p] of this.vars) {
      const g = grads[name];
      if (g) this.updateOne(name, p, g, lr, bc1, bc2);
    }
  }

  private updateOne(name: string, p: tf.Variable, g: tf.Tensor, lr: number, bc1: number, bc2: number): void {
    if (!tf.util.arraysEqual(g.shape, p.shape)) {
      throw new Error(`grads: "${name}" has shape [${g.shape.join(', ')}], variable has [${p.shape.join(', ')}]`);
    }
    const mom = this.momentsOf(name, p);
    const wd = this.noDecay(name) ? 0 : this.weightDecay;
    tf.tidy(() => {
      // Three kernels where the backend has ours (fused/adamw.ts), about sixteen tfjs ops elsewhere.
      const m = adamMoment(mom.m, g, this.beta1, false);
      const v = adamMoment(mom.v, g, this.beta2, true);
      const next = adamWParam(p, m, v, { lr, weightDecay: wd, bc1, bc2, eps: this.eps });
      mom.m.assign(m);
      mom.v.assign(v);
      p.assign(next);
    });
  }

  private momentsOf(name: string, p: tf.Variable): Moments {
    let mom = this.moments.get(name);
    if (!mom) {
      // Unnamed, non-trainable: tfjs gives them unique names, and variableGrads never sees them.
      // tf.variable shares, not takes, its initial tensor: tidy frees the zeros it starts from.
      mom = tf.tidy(() => ({ m: tf.variable(tf.zerosLike(p), false), v: tf.variable(tf.zerosLike(p), false) }));
      this.moments.set(name, mom);
    }
    return mom;
  }

  /** A copy of the state as plain arrays (for checkpoints). */
  getState(): AdamWState {
    const m: Record<string, Float32Array> = {};
    const v: Record<string, Float32Array> = {};
    for (const [name, mom] of this.moments) {
      m[name] = Float32Array.from(mom.m.dataSync());
      v[name] = Float32Array.from(mom.v.dataSync());
    }
    return { step: this.t, m, v };
  }

  /** Replaces the state with a checkpoint's; names and sizes must match this optimizer's variables. */
  setState(s: AdamWState): void {
    if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`state.step: must be an integer >= 0, got ${s.step}`);
    const names = new Set([...Object.keys(s.m), ...Object.keys(s.v)]);
    for (const name of names) {
      const p = this.vars.get(name);
      if (!p) throw new Error(`state: "${name}" is not a variable of this optimizer`);
      const m = s.m[name];
      const v = s.v[name];
      if (!m || !v) throw new Error(`state: "${name}" needs both m and v`);
      if (m.length !== p.size || v.length !== p.size) {
        throw new Error(`state: "${name}" has ${m.length}/${v.length} values, variable has ${p.size}`);
      }
    }
    this.disposeMoments();
    for (const name of names) {
      const p = this.vars.get(name) as tf.Variable;
      const m = tf.tensor(s.m[name] as Float32Array, p.shape, 'float32');
      const v = tf.tensor(s.v[name] as Float32Array, p.shape, 'float32');
      this.moments.set(name, { m: tf.variable(m, false), v: tf.variable(v, false) });
      m.dispose();
      v.dispose();
    }
    this.t = s.step;
  }

  private disposeMoments(): void {
    for (const mom of this.moments.values()) {
      mom.m.dispose();
      mom.v.dispose();
    }
    this.moments.clear();
  }

  /** Frees the moment tensors (the variables themselves belong to the model). */
  dispose(): void {
    this.disposeMoments();
  }
}

/** The global L2 norm of all gradients together, as a scalar tensor owned by the caller (0 for none). */
export function globalNorm(grads: GradMap): tf.Scalar {
  const names = Object.keys(grads);
  if (names.length === 0) return tf.scalar(0);
  // Stacked, then summed: not addN, whose WebGPU shader binds every input at once and so fails
  // validation past 8 storage buffers (the default limit); stack splits its inputs to fit.
  return tf.tidy(() => tf.sqrt(tf.sum(tf.stack(names.map((n) => tf.sum(tf.square(grads[n] as tf.Tensor)))))) as tf.Scalar);
}

/**
 * The factor that brings a gradient norm down to maxNorm, as torch.nn.utils.clip_grad_norm_:
 * maxNorm / (norm + 1e-6) when that is below 1, else 1. maxNorm <= 0 or Infinity disables
 * clipping, and a non-finite norm is left unscaled (the caller should skip the step).
 */
export function clipCoefficient(norm: number, maxNorm: number): number {
  const clip = maxNorm > 0 && Number.isFinite(maxNorm) && Number.isFinite(norm);
  return clip ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
}

/** New gradients times coef (clones when coef is the number 1), owned by the caller. */
export function scaleGradients(grads: GradMap, coef: number | tf.Scalar): GradMap {
  const out: GradMap = {};
  for (const [n, g] of Object.entries(grads)) out[n] = coef === 1 ? tf.clone(g) : tf.tidy(() => tf.mul(g, coef));
  return out;
}

/**
 * Scales all gradients together so that their global L2 norm is at most maxNorm (see
 * clipCoefficient); the norm is still measured with clipping off, for logging.
 *
 * Returns the norm before clipping and new tensors, always owned by the caller (clones when
 * nothing was clipped); the input grads are untouched and remain the caller's to dispose.
 * A non-finite norm is returned as is and the grads are not scaled: the caller should skip
 * the step.
 */
export function clipByGlobalNorm(grads: GradMap, maxNorm: number): { grads: GradMap; norm: number } {
  const normTensor = globalNorm(grads);
  const norm = normTensor.dataSync()[0] as number;
  normTensor.dispose();
  return { grads: scaleGradients(grads, clipCoefficient(norm, maxNorm)), norm };
}

export type LrDecay = 'cosine' | 'linear' | 'constant';

export interface LrSchedule {
  /** Peak learning rate, reached at the end of warmup. */
  lr: number;
  warmupSteps: number;
  /** Step at which decay reaches lr * minLrRatio (and stays there). */
  totalSteps: number;
  decay: LrDecay;
  /** Floor of the decay as a fraction of lr, in [0, 1]. */
  minLrRatio: number;
}

/**
 * Learning rate for update number `step` (0-based: the first update is step 0), as Hugging
 * Face's get_*_schedule_with_warmup with min_lr_rate:
 *   step < warmupSteps: lr * step / warmupSteps (linear from 0; step 0 gets 0, as in HF)
 *   after:  progress p = (step - warmupSteps) / max(1, totalSteps - warmupSteps), capped at 1
 *     cosine:   lr * (minLrRatio + (1 - minLrRatio) * 0.5 * (1 + cos(pi p)))
 *     linear:   lr * (minLrRatio + (1 - minLrRatio) * (1 - p))
 *     constant: lr
 */
export function learningRate(step: number, s: LrSchedule): number {
  if (!(s.lr >= 0) || !Number.isFinite(s.lr)) throw new Error(`lr: must be a finite number >= 0, got ${s.lr}`);
  if (!Number.isInteger(s.warmupSteps) || s.warmupSteps < 0) {
    throw new Error(`warmupSteps: must be an integer >= 0, got ${s.warmupSteps}`);
  }
  if (!Number.isInteger(s.totalSteps) || s.totalSteps < 0) {
    throw new Error(`totalSteps: must be an integer >= 0, got ${s.totalSteps}`);
  }
  if (!(s.minLrRatio >= 0 && s.minLrRatio <= 1)) throw new Error(`minLrRatio: must be in [0, 1], got ${s.minLrRatio}`);
  if (!(step >= 0)) throw new Error(`step: must be >= 0, got ${step}`);
  if (step < s.warmupSteps) return (s.lr * step) / s.warmupSteps;
  const p = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
  switch (s.decay) {
    case 'constant':
      return s.lr;
    case 'linear':
      return s.lr * (s.minLrRatio + (1 - s.minLrRatio) * (1 - p));
    case 'cosine':
      return s.lr * (s.minLrRatio + (1 - s.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * p)));
    default:
      throw new Error(`decay: must be cosine, linear or constant, got ${String(s.decay)}`);
  }
}
