import { beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../node/tfjs-node';
import { disposeRowPacking, packRows, padRows, rowPacking } from './row-packing';

beforeAll(async () => {
  await useBackend('cpu');
});

// Two rows of width 3: row 0 has two real tokens, row 1 one, then a hole, then one.
const REAL = [[1, 1, 0], [1, 0, 1]];

describe('row packing', () => {
  test('indexes the real slots in row-major order, and needs no index where nothing is padding', () => {
    const p = rowPacking(REAL);
    if (!p.indices) throw new Error('expected indices');
    expect(p.tokens).toBe(4);
    expect(Array.from(p.indices.tokenSlot.dataSync())).toEqual([0, 1, 3, 5]);
    // Padding reads row R = 4: the zero row.
    expect(Array.from(p.indices.slotSource.dataSync())).toEqual([0, 1, 4, 2, 4, 3]);
    disposeRowPacking(p);
    const whole = rowPacking([[1, 1], [1, 1]]);
    expect(whole.indices).toBeNull();
    expect(whole.tokens).toBe(4);
    // Without padding each is a reshape.
    const x = tf.tensor3d([[[1], [2], [3], [4]]]);
    expect(padRows(x, whole).arraySync()).toEqual([[[1], [2]], [[3], [4]]]);
    expect(packRows(padRows(x, whole), whole).arraySync()).toEqual(x.arraySync());
    x.dispose();
  });

  test('padRows lays the tokens out with zeros in the padding, packRows takes them back', () => {
    const p = rowPacking(REAL);
    const packed = tf.tensor3d([[[1, 10], [2, 20], [3, 30], [4, 40]]]);
    const rows = padRows(packed, p);
    expect(rows.shape).toEqual([2, 3, 2]);
    expect(rows.arraySync()).toEqual([[[1, 10], [2, 20], [0, 0]], [[3, 30], [0, 0], [4, 40]]]);
    expect(packRows(rows, p).arraySync()).toEqual(packed.arraySync());
    tf.dispose([packed, rows]);
    disposeRowPacking(p);
  });

  test('each one\'s gradient is the other: the padding\'s gradient reaches no token', () => {
    const p = rowPacking(REAL);
    const weights = tf.tensor3d([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]]);
    // d/dx sum(padRows(x) * w) is w at each token's slot.
    const dPacked = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(padRows(x as tf.Tensor3D, p), weights)))(tf.zeros([1, 4, 2]));
    expect(dPacked.arraySync()).toEqual([[[1, 2], [3, 4], [7, 8], [11, 12]]]);
    // d/dx sum(packRows(x) * v) is v at each token's slot and 0 in the padding.
    const v = tf.tensor3d([[[1, -1], [2, -2], [3, -3], [4, -4]]]);
    const dRows = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(packRows(x as tf.Tensor3D, p), v)))(tf.zeros([2, 3, 2]));
    expect(dRows.arraySync()).toEqual([[[1, -1], [2, -2], [0, 0]], [[3, -3], [0, 0], [4, -4]]]);
    tf.dispose([weights, dPacked, v, dRows]);
    disposeRowPacking(p);
  });

  test('a tensor of the wrong shape is refused with both shapes named, and nothing is left behind', () => {
    const p = rowPacking(REAL);
    const before = tf.memory().numTensors;
    const wrong = tf.zeros([1, 5, 2]) as tf.Tensor3D;
    expect(() => padRows(wrong, p)).toThrow('padRows: [1, 4, f] expected, got [1, 5, 2]');
    expect(() => packRows(wrong, p)).toThrow('packRows: [2, 3, f] expected, got [1, 5, 2]');
    wrong.dispose();
    tf.tidy(() => { packRows(padRows(tf.ones([1, 4, 2]) as tf.Tensor3D, p), p); });
    expect(tf.memory().numTensors).toBe(before);
    disposeRowPacking(p);
  });
});
