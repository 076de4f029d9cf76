import { describe, expect, test } from 'vitest';
import { type MatmulJob, multiplyAdds, operandExtent, scratchFloats, splitMatmul } from './matmul-split';

/** A plain product: A [m, k] row-major, B [k, n] row-major, at byte offsets 1000, 2000, 3000. */
function plain(batch: number, m: number, n: number, k: number): MatmulJob {
  return {
    a: 1000, b: 2000, out: 3000, batch, m, n, k,
    aBatchStride: m * k, aRow: k, aInner: 1, bBatchStride: k * n, bInner: n, bCol: 1, outBatchStride: m * n, outRow: n,
  };
}

describe('cutting a matmul into parts', () => {
  test('operand extents follow the strides (hand-computed)', () => {
    const job = plain(1, 3, 5, 4);
    expect(operandExtent(job, 'a')).toBe(12); // 2*4 + 3*1 + 1
    expect(operandExtent(job, 'b')).toBe(20); // 3*5 + 4*1 + 1
    // A transposed ([k, m] stored): A[r][p] at r + p*m: last = 2 + 3*3 = 11.
    expect(operandExtent({ ...job, aRow: 1, aInner: 3 }, 'a')).toBe(12);
    // B shared by 4 batches (stride 0) spans one matrix.
    expect(operandExtent({ ...plain(4, 3, 5, 4), bBatchStride: 0 }, 'b')).toBe(20);
    expect(multiplyAdds(plain(2, 3, 5, 4))).toBe(120);
    expect(scratchFloats({ n: 9, k: 3 })).toBe(48); // two panels of 8 columns, zero-padded
    expect(scratchFloats({ n: 9, k: 1000 })).toBe(256 * 16); // one chunk of 256 steps of k at a time
  });

  test('many batches are cut into runs of whole batches, in order', () => {
    const parts = splitMatmul(plain(5, 2, 3, 4), 2) as MatmulJob[];
    expect(parts.map((p) => p.batch)).toEqual([3, 2]);
    // The second part starts 3 matrices in: A 3*8 floats, B 3*12, out 3*6.
    expect(parts[1]).toMatchObject({ a: 1000 + 3 * 8 * 4, b: 2000 + 3 * 12 * 4, out: 3000 + 3 * 6 * 4, m: 2, n: 3, k: 4 });
  });

  test('one matrix is cut by output rows at multiples of 4', () => {
    const parts = splitMatmul(plain(1, 10, 3, 4), 2) as MatmulJob[];
    expect(parts.map((p) => p.m)).toEqual([8, 2]);
    expect(parts[1]).toMatchObject({ a: 1000 + 8 * 4 * 4, b: 2000, out: 3000 + 8 * 3 * 4 });
    // Transposed A: row r starts at r (aRow 1), so the part starts 8 floats in.
    const t = splitMatmul({ ...plain(1, 10, 3, 4), aRow: 1, aInner: 10 }, 3) as MatmulJob[];
    expect(t.map((p) => p.m)).toEqual([4, 4, 2]);
    expect(t.map((p) => p.a)).toEqual([1000, 1016, 1032]);
  });

  test('one matrix with at least as many columns as rows is cut by columns at multiples of 8, keeping out\'s row stride', () => {
    // A weight gradient's shape: A transposed [k=50, m=6] stored, B [50, 21].
    const job = { ...plain(1, 6, 21, 50), aRow: 1, aInner: 6 };
    const parts = splitMatmul(job, 2) as MatmulJob[];
    expect(parts.map((p) => p.n)).toEqual([16, 5]);
    // The second part: B and out start 16 columns in; A is all of it; out keeps its row stride.
    expect(parts[1]).toMatchObject({ a: 1000, b: 2000 + 16 * 4, out: 3000 + 16 * 4, m: 6, k: 50, outRow: 21, outBatchStride: 6 * 21 });
    expect(parts.reduce((sum, p) => sum + multiplyAdds(p), 0)).toBe(multiplyAdds(job));
    // B transposed ([n, k] stored): column j starts at j * k.
    expect((splitMatmul({ ...job, bInner: 1, bCol: 50 }, 2) as MatmulJob[])[1]?.b).toBe(2000 + 16 * 50 * 4);
    // Where rows must stay whole (a caller that copies rows back), rows are cut instead.
    expect((splitMatmul(job, 2, { columns: false }) as MatmulJob[]).map((p) => p.m)).toEqual([4, 2]);
  });

  test('refuses what it cannot cut', () => {
    expect(splitMatmul(plain(1, 10, 3, 4), 1)).toBeNull();
    expect(splitMatmul(plain(1, 4, 3, 4), 2)).toBeNull(); // one row tile
    expect(splitMatmul(plain(1, 4, 8, 4), 2)).toBeNull(); // one panel of columns, one row tile
    expect(splitMatmul(plain(3, 40, 3, 4), 4)).toBeNull(); // rows cannot be cut across batches
  });
});
