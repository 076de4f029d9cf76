/**
 * Rows of tokens without their padding: the real tokens of a [B, W] block laid end to end.
 *
 * A batch is rectangular, so each row is padded to the longest; in a GRPO batch of completions
 * from 1 to 49 tokens long, a quarter of the columns of 32-row micro-batches were padding, and
 * three fifths of a whole batch's. Every op of the model but attention works on each token
 * alone, so it can run on the real tokens only (packed, [R, f]) and leave the padding out of
 * every product. Attention needs the rows back (padded, [B, W, f]): padRows lays the tokens out
 * in their rows with zeros in the padding, packRows takes them back out. Each is the other's
 * gradient, so the padding's gradient, whatever it is, never reaches a packed token.
 */
import * as tf from '@tensorflow/tfjs-core';
import { customGradOp } from './fused/fused-op';

/** Where each real token of a [B, W] block sits. */
export interface RowPacking {
  rows: number;
  width: number;
  /** R: the real tokens. */
  tokens: number;
  /** The gathers' indices; null when every slot is real, and padRows and packRows only reshape. */
  indices: {
    /** [B * W] int32: for each slot of the block, its token's packed index, or R (a zero row) for padding. */
    slotSource: tf.Tensor1D;
    /** [R] int32: each packed token's slot in the block (b * W + j). */
    tokenSlot: tf.Tensor1D;
  } | null;
}

/**
 * The packing of the slots where `real[b][j]` is 1, in row-major order (so packed tokens keep
 * their order in the batch).
 */
export function rowPacking(real: readonly (readonly number[])[]): RowPacking {
  const rows = real.length;
  const width = real[0]?.length ?? 0;
  const slots: number[] = [];
  real.forEach((row, b) => row.forEach((r, j) => { if (r === 1) slots.push(b * width + j); }));
  const tokens = slots.length;
  if (tokens === rows * width) return { rows, width, tokens, indices: null };
  const source = new Int32Array(rows * width).fill(tokens);
  slots.forEach((slot, i) => { source[slot] = i; });
  return { rows, width, tokens, indices: { slotSource: tf.tensor1d(source, 'int32'), tokenSlot: tf.tensor1d(slots, 'int32') } };
}

export function disposeRowPacking(p: RowPacking): void {
  if (p.indices) tf.dispose([p.indices.slotSource, p.indices.tokenSlot]);
}

/** [1, R, f] -> [B, W, f]: each token in its slot, zeros in the padding. */
function spread(x: tf.Tensor, p: RowPacking): tf.Tensor3D {
  const f = x.shape[2] as number;
  if (!p.indices) return tf.reshape(x, [p.rows, p.width, f]);
  const withZero = tf.concat([tf.reshape(x, [p.tokens, f]), tf.zeros([1, f])], 0);
  return tf.reshape(tf.gather(withZero, p.indices.slotSource), [p.rows, p.width, f]);
}

/** [B, W, f] -> [1, R, f]: the real slots' tokens. */
function gatherTokens(x: tf.Tensor, p: RowPacking): tf.Tensor3D {
  const f = x.shape[2] as number;
  if (!p.indices) return tf.reshape(x, [1, p.tokens, f]);
  return tf.reshape(tf.gather(tf.reshape(x, [p.rows * p.width, f]), p.indices.tokenSlot), [1, p.tokens, f]);
}

/** An op computing `forward`, whose gradient is `backward` of dy: two maps that are each other's transpose. */
function transposePair(forward: (x: tf.Tensor) => tf.Tensor, backward: (dy: tf.Tensor) => tf.Tensor): (x: tf.Tensor) => tf.Tensor {
  return customGradOp((x: tf.Tensor, _save: tf.GradSaveFunc) => ({ value: forward(x), gradFunc: (dy: tf.Tensor) => [backward(dy)] }));
}

function checkShape(x: tf.Tensor, expected: number[], what: string): void {
  if (x.rank !== 3 || !tf.util.arraysEqual(x.shape.slice(0, 2), expected)) {
    throw new Error(`${what}: [${expected.join(', ')}, f] expected, got [${x.shape.join(', ')}]`);
  }
}

/** Packed tokens [1, R, f] laid out in their rows: [B, W, f], zeros in the padding. */
export function padRows(x: tf.Tensor3D, p: RowPacking): tf.Tensor3D {
  checkShape(x, [1, p.tokens], 'padRows');
  if (!p.indices) return spread(x, p);
  return transposePair((t) => spread(t, p), (dy) => gatherTokens(dy, p))(x) as tf.Tensor3D;
}

/** Rows [B, W, f] without their padding: the real tokens [1, R, f], in order. */
export function packRows(x: tf.Tensor3D, p: RowPacking): tf.Tensor3D {
  checkShape(x, [p.rows, p.width], 'packRows');
  if (!p.indices) return gatherTokens(x, p);
  return transposePair((t) => gatherTokens(t, p), (dy) => spread(dy, p))(x) as tf.Tensor3D;
}
