/**
 * The whole tiny GPT in one file: a pre-LN decoder-only transformer with learned absolute
 * positions, causal self-attention, a GELU MLP and an output layer tied to the token embedding.
 *
 * Simplifications chosen for a model that must train on wasm in a browser tab:
 * - no dropout (the corpus is synthetic and effectively infinite);
 * - no biases in attention (fewer ops, same quality at this size);
 * - embeddings and position lookups are one-hot matmuls where a gradient may be taken, because
 *   the wasm backend has no gradient for gather (generation, never differentiated, gathers);
 * - weights live in a plain name → tensor map, so that the trainable policy (tf.Variables) and a
 *   frozen reference copy (plain tensors) run through the same forward function.
 *
 * Padding and positions: prompts are left-padded so that every sequence's completion starts at
 * the same column, and positions are anchored there: the first completion token always has
 * position `promptAnchor`, the prompt's last token promptAnchor - 1, and so on leftwards. So the
 * answer always starts at the same place and the operands' last digits (where column-by-column
 * reasoning starts) sit at fixed positions, whatever the prompt's length. With positions counted
 * from the prompt's first token instead, the model has to find every digit relative to a moving
 * target, and in our runs it learned the worked solutions far more slowly. An additive attention
 * bias hides pad keys and future keys.
 */
import * as tf from '@tensorflow/tfjs-core';
import { wasmBatchMatMulInstalled } from './fused/batch-matmul-wasm';
import { biasGelu } from './fused/bias-gelu';
import { customGradOp, fusedWhereRegistered } from './fused/fused-op';
import { layerNorm } from './fused/layer-norm';
import { DECODE_LINEAR_KERNEL, type DecodeLinearOptions, decodeLinearMismatch, fusedDecodeLinear } from './fused/decode-linear';
import { appendHeads, decodeAttention, QKV_PART } from './fused/decode-attention';
import { attention } from './fused/attention';
import * as tokenStats from './fused/token-stats';
import { attendHeads, splitHeads } from './heads';
import { type ModelConfig, parameterCount } from './model-config';
import { Rng } from './rng';

/** Weight name → tensor. Names are stable across models and are the checkpoint keys. */
export type Params = Record<string, tf.Tensor>;

/** Keys and values of every layer so far: [B, heads, Tpast, headDim] each. */
export interface KVCache {
  k: tf.Tensor4D[];
  v: tf.Tensor4D[];
}

/** A large negative number added to masked attention scores (finite, so softmax never sees -inf - -inf). */
export const MASKED = -1e9;

/** Every weight's shape, in a fixed order (the checkpoint layout). */
export function weightShapes(c: ModelConfig): Array<[string, number[]]> {
  const d = c.dModel;
  const shapes: Array<[string, number[]]> = [
    ['wte', [c.vocabSize, d]],
    ['wpe', [c.context, d]],
  ];
  for (let l = 0; l < c.layers; l++) {
    shapes.push(
      [`h${l}.ln1.g`, [d]], [`h${l}.ln1.b`, [d]],
      [`h${l}.attn.wqkv`, [d, 3 * d]], [`h${l}.attn.wo`, [d, d]],
      [`h${l}.ln2.g`, [d]], [`h${l}.ln2.b`, [d]],
      [`h${l}.mlp.w1`, [d, 4 * d]], [`h${l}.mlp.b1`, [4 * d]],
      [`h${l}.mlp.w2`, [4 * d, d]], [`h${l}.mlp.b2`, [d]],
    );
  }
  shapes.push(['lnf.g', [d]], ['lnf.b', [d]]);
  return shapes;
}

/**
 * Initial weights as plain arrays, from a seed: normal(0, 0.02) for matrices, with the residual
 * output projections scaled by 1/sqrt(2 * layers) as in GPT-2; LayerNorm gains 1, biases 0.
 */
export function initialWeights(c: ModelConfig, seed: number): Record<string, Float32Array> {
  const rng = new Rng(seed);
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of weightShapes(c)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (name.endsWith('.g')) values.fill(1);
    else if (shape.length === 2) {
      const isResidualOut = name.endsWith('attn.wo') || name.endsWith('mlp.w2');
      const std = isResidualOut ? 0.02 / Math.sqrt(2 * c.layers) : 0.02;
      for (let i = 0; i < size; i++) values[i] = std * gaussian(rng);
    }
    out[name] = values;
  }
  return out;
}

function gaussian(rng: Rng): number {
  // Box-Muller; 1 - u keeps the log argument in (0, 1].
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** The trainable model: tf.Variables named `${prefix}/${weight}` (tfjs needs unique variable names). */
export class GPT {
  readonly config: ModelConfig;
  readonly variables: Record<string, tf.Variable>;
  private static instances = 0;

  constructor(config: ModelConfig, weights: Record<string, Float32Array>) {
    this.config = config;
    const prefix = `gpt${GPT.instances++}`;
    this.variables = {};
    for (const [name, shape] of weightShapes(config)) {
      const values = weights[name];
      if (!values) throw new Error(`model: weight "${name}" is missing`);
      const expected = shape.reduce((a, b) => a * b, 1);
      if (values.length !== expected) {
        throw new Error(`model: weight "${name}" has ${values.length} values, expected ${expected} for shape [${shape}]`);
      }
      this.variables[name] = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true, `${prefix}/${name}`));
    }
  }

  static create(config: ModelConfig, seed: number): GPT {
    return new GPT(config, initialWeights(config, seed));
  }

  get params(): Params {
    return this.variables;
  }

  get parameterCount(): number {
    return parameterCount(this.config);
  }

  /** The current weights as plain arrays (for checkpoints and for copying). */
  async weights(): Promise<Record<string, Float32Array>> {
    const out: Record<string, Float32Array> = {};
    for (const [name, v] of Object.entries(this.variables)) out[name] = (await v.data()) as Float32Array;
    return out;
  }

  /** A frozen copy of the current weights (for the reference policy); dispose with disposeParams. */
  snapshot(): Params {
    const out: Params = {};
    for (const [name, v] of Object.entries(this.variables)) out[name] = tf.keep(tf.clone(v));
    return out;
  }

  /** Overwrites the weights in place (same shapes), e.g. to reset to a checkpoint. */
  assign(weights: Record<string, Float32Array>): void {
    for (const [name, shape] of weightShapes(this.config)) {
      const values = weights[name];
      if (!values) throw new Error(`model: weight "${name}" is missing`);
      tf.tidy(() => (this.variables[name] as tf.Variable).assign(tf.tensor(values, shape, 'float32')));
    }
  }

  dispose(): void {
    for (const v of Object.values(this.variables)) v.dispose();
  }
}

export function disposeParams(p: Params): void {
  for (const t of Object.values(p)) t.dispose();
}

/**
 * 2-D matmul whose gradient uses explicit transposes: for tfjs-wasm's own matmul kernel, which
 * is fast (XNNPACK) only without transpose flags; tf.matMul's own gradient uses the flags, 10-20x
 * slower there. A transpose is cheap next to that.
 */
const matMul2dExplicitTransposes = customGradOp((a: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
});

/**
 * a [m, k] times b [k, n] (or b [n, k] with transposeB). Where transpose flags cost nothing
 * (webgpu, cpu, and wasm with our SIMD kernel, fused/batch-matmul-wasm.ts) the flags do the
 * transposing, in the product and in tfjs's own gradient: each transpose left out is one kernel
 * fewer, a dispatch on webgpu and a copy on wasm. With tfjs-wasm's own kernel the product and
 * its gradient transpose explicitly instead.
 */
export function matMul2d(a: tf.Tensor, b: tf.Tensor, transposeB = false): tf.Tensor2D {
  if (tf.getBackend() === 'wasm' && !wasmBatchMatMulInstalled()) {
    return matMul2dExplicitTransposes(a, transposeB ? tf.transpose(b) : b) as tf.Tensor2D;
  }
  return tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, transposeB);
}

/**
 * a [m, k] times b [k, n], plus addend (broadcast to [m, n]): a bias, or the residual stream.
 * Where the backend adds inside its matmul (tfjs's fused matmul on webgpu and cpu) this is one
 * kernel instead of two, which on a GPU is one dispatch per layer and token fewer. Addition
 * commutes, so the values are those of matMul2d then add. wasm keeps our SIMD matmul
 * (fused/batch-matmul-wasm.ts) and a separate add: its fused matmul is tfjs's own.
 */
export function matMulAdd(a: tf.Tensor, b: tf.Tensor, addend: tf.Tensor): tf.Tensor2D {
  if (tf.getBackend() === 'wasm') return tf.add(matMul2d(a, b), addend) as tf.Tensor2D;
  // tfjs multiplies as [1, m, n]: an addend of that shape has a gradient without a sum over the
  // leading 1 (a copy, and a dispatch).
  const bias = addend.rank === 2 ? tf.reshape(addend, [1, ...addend.shape]) : addend;
  return tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias }) as tf.Tensor2D;
}

function weight(p: Params, name: string): tf.Tensor {
  const t = p[name];
  if (!t) throw new Error(`model: weight "${name}" is missing`);
  return t;
}

/**
 * Rows of a table: ids [B, T] → [B, T, width], by gather. Where a gradient may be taken, the
 * table's gradient is onehot(ids)ᵀ · dy, a matmul (the wasm backend has no gradient for gather);
 * tfjs-wasm's own matmul is slow with a transposed operand, so there the lookup stays a one-hot
 * matmul, differentiated as one. The values are the same either way: a one-hot row picks its
 * table row exactly.
 */
function embed(ids: tf.Tensor2D, table: tf.Tensor, differentiable: boolean): tf.Tensor3D {
  const [B, T] = ids.shape;
  const [rows, width] = table.shape as [number, number];
  const flat = tf.reshape(ids, [B * T]);
  if (!differentiable) return tf.reshape(tf.gather(table, flat), [B, T, width]);
  if (tf.getBackend() === 'wasm' && !wasmBatchMatMulInstalled()) {
    return tf.reshape(matMul2d(tf.cast(tf.oneHot(flat, rows), 'float32'), table), [B, T, width]);
  }
  const lookup = customGradOp((t: tf.Tensor, save: tf.GradSaveFunc) => {
    // Saved, not captured: tfjs disposes the forward pass's intermediates before the backward.
    save([flat]);
    return {
      value: tf.gather(t, flat),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.matMul(tf.cast(tf.oneHot(saved[0] as tf.Tensor1D, rows), 'float32'), dy as tf.Tensor2D, true, false)],
    };
  });
  return tf.reshape(lookup(table), [B, T, width]);
}

/** Position embeddings: [B, T, d] for a position per token, [1, 1, d] (which broadcasts) for one shared position. */
function embedPositions(positions: Positions, table: tf.Tensor, differentiable: boolean): tf.Tensor3D {
  if (typeof positions !== 'number') return embed(positions, table, differentiable);
  const [rows, width] = table.shape as [number, number];
  if (!Number.isInteger(positions) || positions < 0 || positions >= rows) {
    throw new Error(`model: position ${positions} is outside the position table (0 to ${rows - 1})`);
  }
  return tf.reshape(tf.slice(table, [positions, 0], [1, width]), [1, 1, width]);
}

interface BlockOut {
  x: tf.Tensor3D;
  /** This layer's cache, keys and values including this call's tokens (null when not asked for). */
  k: tf.Tensor4D | null;
  v: tf.Tensor4D | null;
}

interface AttentionOut {
  /** [B, T, d]: every head's output, merged. */
  attn: tf.Tensor3D;
  /** Keys and values including this call's tokens: [B, heads, Tpast + T, headDim] (null when not asked for). */
  k: tf.Tensor4D | null;
  v: tf.Tensor4D | null;
}

/** Attention of T tokens to each other and to the cache (if any), keeping keys and values: the prefill. */
function fullAttention(
  qkv: tf.Tensor3D, bias: tf.Tensor4D, pastK: tf.Tensor4D | null, pastV: tf.Tensor4D | null, heads: number, scale: number,
): AttentionOut {
  const [q, kNew, vNew] = tf.split(qkv, 3, 2);
  const qh = splitHeads(q as tf.Tensor, heads);
  let k = splitHeads(kNew as tf.Tensor, heads);
  let v = splitHeads(vNew as tf.Tensor, heads);
  if (pastK && pastV) {
    k = tf.concat([pastK, k], 2);
    v = tf.concat([pastV, v], 2);
  }
  return { attn: attendHeads(qh, k, v, bias, scale), k, v };
}

/**
 * One new token per row against the cache (sampling): three fused kernels where the backend has
 * them (fused/decode-attention.ts), the same ops as fullAttention where not.
 */
function decodeStepAttention(qkv: tf.Tensor3D, bias: tf.Tensor4D, pastK: tf.Tensor4D, pastV: tf.Tensor4D, heads: number, scale: number): AttentionOut {
  const k = appendHeads(pastK, qkv, QKV_PART.k, heads) as tf.Tensor4D;
  const v = appendHeads(pastV, qkv, QKV_PART.v, heads) as tf.Tensor4D;
  return { attn: decodeAttention(qkv, k, v, bias, heads, scale) as tf.Tensor3D, k, v };
}

/**
 * The attention a call needs: one token against the cache (sampling); whole sequences without a
 * cache to keep (training, scoring: fused/attention.ts, which never splits heads out); or, to
 * build or extend a cache, fullAttention.
 */
function attend(
  qkv: tf.Tensor3D, bias: tf.Tensor4D, pastK: tf.Tensor4D | null, pastV: tf.Tensor4D | null, keepCache: boolean, heads: number, scale: number,
): AttentionOut {
  if (pastK && pastV && qkv.shape[1] === 1) return decodeStepAttention(qkv, bias, pastK, pastV, heads, scale);
  if (!pastK && !keepCache) return { attn: attention(qkv, bias, heads, scale) as tf.Tensor3D, k: null, v: null };
  return fullAttention(qkv, bias, pastK, pastV, heads, scale);
}

/**
 * [LN](x) · W [+ bias] [then GELU] [+ residual] as the model's ops: layer norm, then matmul, the
 * fused bias (or bias + GELU) and the residual add. x [M, K] → [M, N]. What GrpoDecodeLinear
 * computes in one kernel (fused/decode-linear.ts).
 */
export function decodeLinearOps(x: tf.Tensor2D, w: tf.Tensor, o: DecodeLinearOptions = {}): tf.Tensor2D {
  const mismatch = decodeLinearMismatch(x, w, o);
  if (mismatch) throw new Error(`decodeLinear: ${mismatch}`);
  const h = o.norm ? layerNorm(x, o.norm.gain, o.norm.shift) : x;
  const tw = o.transposeW ?? false;
  const y = !o.bias ? matMul2d(h, w, tw) : o.gelu ? biasGelu(matMul2d(h, w, tw), o.bias) : matMulAdd(h, tw ? tf.transpose(w) : w, o.bias);
  return (o.residual ? tf.add(o.residual, y) : y) as tf.Tensor2D;
}

/** The same in one kernel where the backend has it (WebGPU): for decoding steps, which take no gradient. */
const decodeLinearNoGradient = fusedWhereRegistered(DECODE_LINEAR_KERNEL, fusedDecodeLinear, decodeLinearOps);

/** A linear layer with its surroundings: one kernel while decoding where it can be, ops otherwise. */
const linearFor = (decoding: boolean): typeof decodeLinearOps => (decoding ? decodeLinearNoGradient : decodeLinearOps);

/**
 * A block's attention input: its first layer norm, then the fused query/key/value projection.
 * [B, T, d] → [B, T, 3d]. decoding: a generation step reading a cache, which nothing differentiates.
 */
export function blockQkv(p: Params, l: number, x: tf.Tensor3D, decoding = false): tf.Tensor3D {
  const [B, T, d] = x.shape;
  const norm = { gain: weight(p, `h${l}.ln1.g`), shift: weight(p, `h${l}.ln1.b`) };
  const qkv = linearFor(decoding)(tf.reshape(x, [B * T, d]), weight(p, `h${l}.attn.wqkv`), { norm });
  return tf.reshape(qkv, [B, T, 3 * d]) as tf.Tensor3D;
}

/** The rest of a block once its attention output attn [B, T, d] is known: projection, residual, MLP. */
export function blockAfterAttention(p: Params, l: number, x: tf.Tensor3D, attn: tf.Tensor3D, decoding = false): tf.Tensor3D {
  const [B, T, d] = x.shape;
  const linear = linearFor(decoding);
  // The residual stream as the projection's addend: x + attn·Wo in one kernel where it fuses.
  const x1 = matMulAdd(tf.reshape(attn, [B * T, d]), weight(p, `h${l}.attn.wo`), tf.reshape(x, [B * T, d]));
  const norm = { gain: weight(p, `h${l}.ln2.g`), shift: weight(p, `h${l}.ln2.b`) };
  const m1 = linear(x1, weight(p, `h${l}.mlp.w1`), { norm, bias: weight(p, `h${l}.mlp.b1`), gelu: true });
  return tf.reshape(linear(m1, weight(p, `h${l}.mlp.w2`), { bias: weight(p, `h${l}.mlp.b2`), residual: x1 }), [B, T, d]) as tf.Tensor3D;
}

/** 1/sqrt(head width): the scale of attention scores. */
export function attentionScale(c: ModelConfig): number {
  return 1 / Math.sqrt(c.dModel / c.heads);
}

/**
 * One transformer block. pastK/pastV (the cache) are prepended to this call's keys and values;
 * bias [B, 1, T, Tpast + T] is 0 where attention is allowed and MASKED elsewhere. The block's
 * keys and values are returned with a cache, or when keepCache asks for them.
 */
function block(
  p: Params, l: number, c: ModelConfig, x: tf.Tensor3D, bias: tf.Tensor4D,
  pastK: tf.Tensor4D | null, pastV: tf.Tensor4D | null, keepCache: boolean,
): BlockOut {
  const decoding = pastK !== null;
  const { attn, k, v } = attend(blockQkv(p, l, x, decoding), bias, pastK, pastV, keepCache, c.heads, attentionScale(c));
  return { x: blockAfterAttention(p, l, x, attn, decoding), k, v };
}

export interface ForwardResult {
  /** [B, T, vocab] */
  logits: tf.Tensor3D;
  /** Keys and values including this call's tokens (only when a cache was asked for). */
  cache: KVCache | null;
}

/**
 * Where tokens [B, T] sit: a position per token [B, T], or one number when every row feeds a
 * single token at the same position (a decoding step), which is looked up as a slice of the
 * position table: one kernel, where ids take a fill and a gather.
 */
export type Positions = tf.Tensor2D | number;

/**
 * Logits for tokens [B, T] at positions, attending to the cache (if any) and to each other
 * under bias [B, 1, T, Tpast + T]. With keepCache, the returned cache holds past + new keys.
 */
export function forward(
  p: Params, c: ModelConfig, tokens: tf.Tensor2D, positions: Positions, bias: tf.Tensor4D,
  cache: KVCache | null = null, keepCache = false,
): ForwardResult {
  const trunk = runTrunk(p, c, tokens, positions, bias, cache, keepCache);
  const [B, T, d] = trunk.beforeFinalNorm.shape;
  // The final layer norm and the head tied to the token embedding: one kernel while decoding.
  const norm = { gain: weight(p, 'lnf.g'), shift: weight(p, 'lnf.b') };
  const logits = linearFor(cache !== null)(tf.reshape(trunk.beforeFinalNorm, [B * T, d]), weight(p, 'wte'), { norm, transposeW: true });
  return { logits: tf.reshape(logits, [B, T, c.vocabSize]) as tf.Tensor3D, cache: keepCache ? trunk.cache : null };
}

/** Final hidden states [B, T, d] → logits [B, T, vocab], through the output layer tied to the token embedding. */
export function languageModelHead(p: Params, c: ModelConfig, hidden: tf.Tensor3D): tf.Tensor3D {
  const [B, T] = hidden.shape;
  const hf = tf.reshape(hidden, [B * T, c.dModel]);
  return tf.reshape(matMul2d(hf, weight(p, 'wte'), true), [B, T, c.vocabSize]) as tf.Tensor3D;
}

/** Token plus position embeddings of tokens [B, T] where a gradient may be taken: the trunk's input. */
export function embedTokens(p: Params, tokens: tf.Tensor2D, positions: tf.Tensor2D): tf.Tensor3D {
  return tf.add(embed(tokens, weight(p, 'wte'), true), embedPositions(positions, weight(p, 'wpe'), true)) as tf.Tensor3D;
}

/** The final layer norm, after the last block. */
export function finalLayerNorm(p: Params, x: tf.Tensor3D): tf.Tensor3D {
  return layerNorm(x, weight(p, 'lnf.g'), weight(p, 'lnf.b')) as tf.Tensor3D;
}

/**
 * The final hidden states [B, T, dModel] (after the last layer norm), without the language-model
 * head: what a scalar head reads (the reward model's score, PPO's value).
 */
export function hiddenStates(p: Params, c: ModelConfig, tokens: tf.Tensor2D, positions: tf.Tensor2D, bias: tf.Tensor4D): tf.Tensor3D {
  return finalLayerNorm(p, runTrunk(p, c, tokens, positions, bias, null, false).beforeFinalNorm);
}

/** Embeddings and every block (the final layer norm is the caller's); with each layer's keys and values when a cache is kept or extended. */
function runTrunk(
  p: Params, c: ModelConfig, tokens: tf.Tensor2D, positions: Positions, bias: tf.Tensor4D, cache: KVCache | null, keepCache: boolean,
): { beforeFinalNorm: tf.Tensor3D; cache: KVCache } {
  // A call that reads or keeps a cache is generation, which nothing differentiates.
  const differentiable = !cache && !keepCache;
  let x = tf.add(embed(tokens, weight(p, 'wte'), differentiable), embedPositions(positions, weight(p, 'wpe'), differentiable)) as tf.Tensor3D;
  const kept: KVCache = { k: [], v: [] };
  for (let l = 0; l < c.layers; l++) {
    const out = block(p, l, c, x, bias, cache?.k[l] ?? null, cache?.v[l] ?? null, keepCache);
    x = out.x;
    if (out.k && out.v) {
      kept.k.push(out.k);
      kept.v.push(out.v);
    }
  }
  return { beforeFinalNorm: x, cache: kept };
}

/**
 * Causal attention bias for whole sequences: query i may see key j when j <= i and key j is a
 * real token. valid[b][t] is 1 for real tokens, 0 for padding. A padding query sees itself only,
 * so that its softmax row stays finite. Returns [B, 1, T, T].
 */
export function causalBias(valid: number[][]): tf.Tensor4D {
  const B = valid.length;
  const T = valid[0]?.length ?? 0;
  const data = new Float32Array(B * T * T);
  for (let b = 0; b < B; b++) {
    const row = valid[b] as number[];
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        const allowed = (j <= i && row[j] === 1) || i === j;
        data[(b * T + i) * T + j] = allowed ? 0 : MASKED;
      }
    }
  }
  return tf.tensor4d(data, [B, 1, T, T]);
}

/**
 * Anchored positions for left-padded rows: column `anchorColumn` (where completions start) gets
 * position `anchor`, each column to its right one more, each to its left one less. Pads get 0
 * (they are masked out of attention anyway).
 */
export function positionsFor(valid: number[][], anchorColumn: number, anchor: number): number[][] {
  if (anchorColumn > anchor) {
    throw new Error(`model: a prompt of ${anchorColumn} tokens is longer than the model's prompt anchor (${anchor})`);
  }
  return valid.map((row) => row.map((v, col) => (v === 1 ? anchor + col - anchorColumn : 0)));
}

/** Log-probability of each next token: logits [B, T, V], targets [B, T] → [B, T] (fused/token-stats.ts). */
export function tokenLogProbs(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor2D {
  return tokenStats.tokenLogProbs(logits, targets) as tf.Tensor2D;
}

/** Entropy of each position's next-token distribution: logits [B, T, V] → [B, T] (nats; no gradient where fused). */
export function tokenEntropy(logits: tf.Tensor3D): tf.Tensor2D {
  return tokenStats.tokenEntropy(logits) as tf.Tensor2D;
}
