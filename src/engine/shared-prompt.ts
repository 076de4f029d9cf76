/**
 * Scoring a batch whose rows repeat prompts, with each prompt computed once.
 *
 * GRPO samples every prompt groupSize times, so a batch of B rows holds far fewer distinct
 * prompts. Attention is causal: the model's states at a prompt's columns depend on the prompt
 * alone, so they are the same in every row that starts with it. Here those columns go through
 * the model once per distinct prompt (the prefix stream, [G, P]), and only the columns whose
 * logits are scored go through once per row (the row stream, [B, W]). At each layer the row
 * stream attends to its prompt's keys and values, copied to its rows by a one-hot matmul, whose
 * gradient sums the rows' gradients back into the prompt's. Both streams share every product.
 * The values are those of the plain forward (model.ts); the gradients are the same sums, added
 * in another order.
 *
 * In the benchmark's update (16 prompts of 12 tokens x 8 rows, completions of 32) this leaves
 * about a fifth of the rows of every product out of the update and the reference pass.
 *
 * The row stream holds only the columns whose targets are scored (row-packing.ts): a completion
 * shorter than its batch's longest leaves its padding, and its last token (which predicts
 * padding), out of every product; the rows are laid out whole for attention alone. Their
 * logits there are those of a zero state: finite, and masked out of every loss and metric.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { PackedBatch } from './batch';
import { attention } from './fused/attention';
import {
  type Params, attentionScale, blockAfterAttention, blockQkv, causalBias, embedTokens, finalLayerNorm, matMul2d,
} from './model';
import type { ModelConfig } from './model-config';
import { type RowPacking, disposeRowPacking, packRows, padRows, rowPacking } from './row-packing';

/** Which rows share which prompt: plain numbers, from a packed batch. */
export interface PromptSharing {
  /** Input columns [0, width) are computed once per distinct prompt: the prompt but its last token, whose logits score the first completion token. */
  width: number;
  /** The first row of each distinct prompt. */
  firstRows: number[];
  /** For each row, the index of its prompt in firstRows. */
  promptOf: number[];
}

/**
 * Whether computing `distinct` prompts once pays in a batch of `rows` rows with `width` columns
 * before the last prompt token: not with fewer than two rows per prompt on average (the copies
 * and the prompts' own attention then cost more than the rows saved), nor with no such column.
 */
export function sharingPays(distinct: number, rows: number, width: number): boolean {
  return width >= 1 && 2 * distinct <= rows;
}

/** The distinct prompts of a batch, or null where sharing them would not pay (sharingPays). */
export function promptSharing(batch: PackedBatch): PromptSharing | null {
  const width = batch.promptWidth - 1;
  if (width < 1) return null;
  const firstRows: number[] = [];
  const index = new Map<string, number>();
  const promptOf = batch.inputs.map((row, b) => {
    // Tokens and validity: rows with the same key have the same embeddings, positions and bias there.
    const key = `${row.slice(0, width).join(',')}|${(batch.valid[b] as number[]).slice(0, width).join('')}`;
    let g = index.get(key);
    if (g === undefined) {
      g = firstRows.length;
      index.set(key, g);
      firstRows.push(b);
    }
    return g;
  });
  return sharingPays(firstRows.length, batch.inputs.length, width) ? { width, firstRows, promptOf } : null;
}

/**
 * The tensors of a shared-prompt forward. Both streams' columns are laid end to end in one
 * sequence of N = G·P + R tokens, the prompts' first: every op but attention works on each
 * token alone, so each product runs once over both streams instead of once per stream. R is
 * the row stream's scored columns: B·W where no row is padded.
 */
export interface SharedPromptTensors {
  /** [1, N]: the ids and positions of each distinct prompt's first P columns, then of every row's scored ones among its last W. */
  inputs: tf.Tensor2D;
  positions: tf.Tensor2D;
  /** [G, 1, P, P]: the prompts' causal bias. */
  prefixBias: tf.Tensor4D;
  /** [B, 1, W, P + W]: the rows' causal bias, their W queries against all P + W of their tokens. */
  rowBias: tf.Tensor4D;
  /** [B, G] one-hot, float32: row b reads prompt promptOf[b]. */
  rowPrompt: tf.Tensor2D;
  /** Where the R scored columns sit in the rows' [B, W] block. */
  rowPacking: RowPacking;
}

/** The shared-prompt tensors of a packed batch, given its positions and its whole causal bias [B, 1, T, T] (toTensors makes both). */
export function sharedPromptTensors(batch: PackedBatch, positions: number[][], bias: tf.Tensor4D, s: PromptSharing): SharedPromptTensors {
  const P = s.width;
  const G = s.firstRows.length;
  const scored = batch.lossMask.map((row) => row.slice(P));
  const prefix = (rows: number[][]): number[][] => s.firstRows.map((b) => (rows[b] as number[]).slice(0, P));
  const rowColumns = (rows: number[][]): number[] => rows.flatMap((row, b) => row.slice(P).filter((_, j) => scored[b]?.[j] === 1));
  const endToEnd = (rows: number[][]): number[][] => [[...prefix(rows).flat(), ...rowColumns(rows)]];
  const oneHot = new Float32Array(batch.inputs.length * G);
  s.promptOf.forEach((g, b) => { oneHot[b * G + g] = 1; });
  return {
    inputs: tf.tensor2d(endToEnd(batch.inputs), undefined, 'int32'),
    positions: tf.tensor2d(endToEnd(positions), undefined, 'int32'),
    prefixBias: causalBias(prefix(batch.valid)),
    rowBias: tf.slice(bias, [0, 0, P, 0], [bias.shape[0], 1, bias.shape[3] - P, bias.shape[3]]),
    rowPrompt: tf.tensor2d(oneHot, [batch.inputs.length, G]),
    rowPacking: rowPacking(scored),
  };
}

export function disposeSharedPromptTensors(s: SharedPromptTensors): void {
  tf.dispose([s.inputs, s.positions, s.prefixBias, s.rowBias, s.rowPrompt]);
  disposeRowPacking(s.rowPacking);
}

/** The final hidden states [B, W, d] of the row stream's columns. */
export function sharedPromptHidden(p: Params, c: ModelConfig, s: SharedPromptTensors): tf.Tensor3D {
  const [G, , P] = s.prefixBias.shape;
  const R = s.rowPacking.tokens;
  const d = c.dModel;
  const scale = attentionScale(c);
  let x = embedTokens(p, s.inputs, s.positions); // [1, N, d]
  for (let l = 0; l < c.layers; l++) {
    // One split, not two slices: its gradient joins the two streams' gradients (a concat), where
    // two slices' gradients are two zero-padded copies of the whole stream and their sum.
    const [prefixPart, rowPart] = tf.split(blockQkv(p, l, x), [G * P, R], 1) as [tf.Tensor, tf.Tensor];
    const prefixQkv = tf.reshape(prefixPart, [G, P, 3 * d]) as tf.Tensor3D;
    // The row stream [1, R, 3d] laid out as rows [B, W, 3d] for attention, and its output packed back.
    const rowQkv = padRows(rowPart as tf.Tensor3D, s.rowPacking);
    const rowAttn = packRows(rowAttention(prefixQkv, rowQkv, s.rowPrompt, s.rowBias, c.heads, scale), s.rowPacking);
    if (l === c.layers - 1) {
      // The last layer's prompt states feed nothing (its keys and values, in qkv, are all that is read).
      x = blockAfterAttention(p, l, tf.slice(x, [0, G * P, 0], [1, R, d]), rowAttn);
    } else {
      const prefixAttn = tf.reshape(attention(prefixQkv, s.prefixBias, c.heads, scale), [1, G * P, d]);
      x = blockAfterAttention(p, l, x, tf.concat([prefixAttn, rowAttn], 1) as tf.Tensor3D);
    }
  }
  return padRows(finalLayerNorm(p, x), s.rowPacking);
}

/**
 * The row stream's attention output [B, W, d]: each row's queries against its prompt's keys and
 * values and its own. The prompt's projections are copied to its rows and joined to theirs; the
 * fused attention (fused/attention.ts) then takes the rows' W columns as its queries (rowBias
 * [B, 1, W, P + W]), so the prompt's queries are not computed again per row.
 */
function rowAttention(
  prefixQkv: tf.Tensor3D, rowQkv: tf.Tensor3D, rowPrompt: tf.Tensor2D, rowBias: tf.Tensor4D, heads: number, scale: number,
): tf.Tensor3D {
  const [G, P, width] = prefixQkv.shape;
  const B = rowQkv.shape[0];
  const copied = tf.reshape(matMul2d(rowPrompt, tf.reshape(prefixQkv, [G, P * width])), [B, P, width]);
  return attention(tf.concat([copied, rowQkv], 1), rowBias, heads, scale) as tf.Tensor3D;
}
