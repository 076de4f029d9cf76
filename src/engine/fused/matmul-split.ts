/**
 * How one batched matmul is cut into independent parts for several threads (matmul-pool.ts).
 *
 * A job is one call of batch_matmul (kernels.c): out[b] = A[b] x B[b] with A, B and out read
 * and written through strides. A part is again such a call: on a run of whole batches when
 * there are enough of them; else, for one matrix, on a run of output rows, or of output columns
 * when there are at least as many columns as rows. Each thread packs the B its part reads, so a
 * row cut packs all of B once per thread; a weight gradient's product (128 output rows, B a
 * [5504, 512] gradient) spent more time packing than a column cut, which packs each column once
 * overall, and ran at 75-81 GFLOP/s on two threads against 105-110 for the other shapes.
 * Rows are cut at multiples of the kernel's 4-row tile and columns at multiples of its 8-column
 * panel, so every output value is computed by the same instructions in the same order whichever
 * thread computes it: the split changes no bit of the result, and a run stays reproducible
 * whatever the thread count.
 */

/** batch_matmul's arguments: byte offsets for a, b and out; sizes and strides in floats. */
export interface MatmulJob {
  a: number; b: number; out: number;
  batch: number; m: number; n: number; k: number;
  aBatchStride: number; aRow: number; aInner: number;
  bBatchStride: number; bInner: number; bCol: number;
  /** out[b][r][j] at out + (b * outBatchStride + r * outRow + j) floats: m * n and n for a dense output. */
  outBatchStride: number; outRow: number;
}

/** The kernel's row tile and column panel (MR and NR in kernels.c). */
const ROW_TILE = 4;
const PANEL = 8;
const FLOAT_BYTES = 4;

/** batch_matmul's arguments, in its order, for a job and its scratch. */
export function batchMatmulArgs(j: MatmulJob, scratch: number): number[] {
  return [j.a, j.b, j.out, j.batch, j.m, j.n, j.k, j.aBatchStride, j.aRow, j.aInner, j.bBatchStride, j.bInner, j.bCol, j.outBatchStride, j.outRow, scratch];
}

/** Where batch_matmul takes its scratch: its last argument. */
export const MATMUL_SCRATCH_ARG = 15;

/** Steps of k the kernel packs and multiplies at a time (KC in kernels.c). */
const K_CHUNK = 256;

/** Floats of scratch the kernel needs for a job: a chunk of B's rows packed into zero-padded panels of 8 columns. */
export function scratchFloats(job: Pick<MatmulJob, 'n' | 'k'>): number {
  return Math.max(1, Math.min(job.k, K_CHUNK) * Math.ceil(job.n / PANEL) * PANEL);
}

/** Multiply-adds in a job: its arithmetic, half its FLOPs. */
export function multiplyAdds(job: MatmulJob): number {
  return job.batch * job.m * job.n * job.k;
}

/** Floats from an operand's first to one past its last element that the job reads (strides of 0 repeat). */
export function operandExtent(job: MatmulJob, operand: 'a' | 'b'): number {
  const last = operand === 'a'
    ? (job.batch - 1) * job.aBatchStride + (job.m - 1) * job.aRow + (job.k - 1) * job.aInner
    : (job.batch - 1) * job.bBatchStride + (job.k - 1) * job.bInner + (job.n - 1) * job.bCol;
  return last + 1;
}

/** The part of a job over batches [from, to). */
function batchPart(job: MatmulJob, from: number, to: number): MatmulJob {
  return {
    ...job, batch: to - from,
    a: job.a + from * job.aBatchStride * FLOAT_BYTES,
    b: job.b + from * job.bBatchStride * FLOAT_BYTES,
    out: job.out + from * job.outBatchStride * FLOAT_BYTES,
  };
}

/** The part of a one-matrix job over output rows [from, to). */
function rowPart(job: MatmulJob, from: number, to: number): MatmulJob {
  return { ...job, m: to - from, a: job.a + from * job.aRow * FLOAT_BYTES, out: job.out + from * job.outRow * FLOAT_BYTES };
}

/** The part of a one-matrix job over output columns [from, to): the same rows of A, those columns of B and out. */
function columnPart(job: MatmulJob, from: number, to: number): MatmulJob {
  return { ...job, n: to - from, b: job.b + from * job.bCol * FLOAT_BYTES, out: job.out + from * FLOAT_BYTES };
}

/** Cuts [0, total) into at most `parts` runs of nearly equal length, each a multiple of `unit` but the last. */
function runs(total: number, parts: number, unit: number): [number, number][] {
  const size = Math.ceil(total / parts / unit) * unit;
  const out: [number, number][] = [];
  for (let from = 0; from < total; from += size) out.push([from, Math.min(total, from + size)]);
  return out;
}

/**
 * The job cut into up to `parts` parts, in output order (the first is the calling thread's), or
 * null when it cannot be cut that way: several batches but fewer than the parts, or too few rows
 * (or columns). `columns: false` keeps to whole rows, for a caller that copies rows back densely.
 */
export function splitMatmul(job: MatmulJob, parts: number, { columns = true } = {}): MatmulJob[] | null {
  if (parts < 2) return null;
  if (job.batch >= parts) return runs(job.batch, parts, 1).map(([from, to]) => batchPart(job, from, to));
  if (job.batch !== 1) return null;
  if (columns && job.n >= job.m && job.n > PANEL) {
    const cut = runs(job.n, parts, PANEL);
    return cut.length > 1 ? cut.map(([from, to]) => columnPart(job, from, to)) : null;
  }
  if (job.m > ROW_TILE) {
    const cut = runs(job.m, parts, ROW_TILE);
    return cut.length > 1 ? cut.map(([from, to]) => rowPart(job, from, to)) : null;
  }
  return null;
}
