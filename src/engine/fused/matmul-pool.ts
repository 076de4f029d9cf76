/**
 * Helper threads for our wasm matmul: the calling thread computes the first part of a large
 * matmul in tfjs's memory while each helper computes another part (matmul-split.ts).
 *
 * tfjs-wasm's single-threaded build keeps tensors in an unshared memory that no other thread
 * can see, so a helper works in a shared memory of the pool's own: the calling thread copies in
 * the operands a helper's part reads, posts the job through the helper's control slot
 * (matmul-helper.ts), computes its own part, waits, and copies the helper's rows back. The
 * copies are linear in the operands and the work is cubic, so only matmuls with enough
 * arithmetic per copied float are split; the rest run on the calling thread alone.
 *
 * The calling thread blocks in Atomics.wait, which a browser allows in a worker (the lab trains
 * in one) and Node allows everywhere. A helper that does not answer within ANSWER_MS is taken for
 * dead: its part is computed by the calling thread, the pool stops, and `failure` says why.
 */
import { type HelperInit, QUIT, RUN_JOB, SLOT_FIELDS, SLOT_INTS } from './matmul-helper';
import { type MatmulJob, multiplyAdds, operandExtent, scratchFloats, splitMatmul } from './matmul-split';
import { withTimeout } from '../timeout';

export interface HelperThread {
  /** Settles when the thread has instantiated its module (rejects when it could not). */
  ready: Promise<void>;
  stop(): void;
}

/** How an environment starts a thread that runs serveMatmulJobs (matmul-helper.ts) with this init. */
export type StartHelper = (init: HelperInit) => HelperThread;

/**
 * Threads a matmul is shared among at most, the calling one included. Past a few, the parts of
 * the model's matmuls get too small to be worth posting, and each idle helper still holds a
 * thread and its memory.
 */
export const MAX_MATMUL_THREADS = 8;

/** Threads to share matmuls among on a machine with `cores` cores: every core, up to the cap. */
export function matmulThreadsFor(cores: number): number {
  return Math.max(1, Math.min(MAX_MATMUL_THREADS, Math.floor(cores)));
}

const PAGE_BYTES = 65536;
const FLOAT_BYTES = 4;
const INT_BYTES = 4;
/** The control slots live in the first page: room for 512 helpers. */
const CONTROL_BYTES = PAGE_BYTES;
/** 1 GiB, the maximum kernels-shared.wasm declares; a job needing more runs on one thread. */
const MAX_PAGES = 16384;
/** 1 MiB to start: at least the minimum the module declares (wasm-ld's default is 2 pages). */
const INITIAL_PAGES = 16;
const READY_MS = 10_000;
/** How long a job may take a helper before it is taken for dead (a large job takes ~100 ms). */
export const ANSWER_MS = 30_000;
/**
 * A helper's part is posted only with at least this much arithmetic (about 300 us on one
 * thread). Waking a helper and copying cost about 100 us on the 2-core machine: 128-row decoding
 * steps ([128, 512] x [512, 128] and smaller) ran no faster shared, and 128 x 128 x 128 ran
 * twice as slow, so they stay here; the update's products (parts of 11-45 million) are shared ...
 */
const MIN_PART_MULTIPLY_ADDS = 1 << 23;
/**
 * ... and this many multiply-adds per float copied in or out: copying is the calling thread's
 * time, about as costly per float as several multiply-adds.
 */
const MIN_MULTIPLY_ADDS_PER_COPIED_FLOAT = 16;

/** Where a helper's part lives in the shared memory (byte offsets), and how many floats each operand spans. */
interface Placement {
  part: MatmulJob;
  a: number; b: number; out: number; scratch: number;
  aFloats: number; bFloats: number; outFloats: number;
}

function align16(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}

/** Lays the helpers' parts out one after another past the control slots. */
function place(parts: MatmulJob[]): { placements: Placement[]; end: number } {
  let at = CONTROL_BYTES;
  const take = (floats: number): number => {
    const start = at;
    at += align16(floats * FLOAT_BYTES);
    return start;
  };
  const placements = parts.map((part) => {
    const aFloats = operandExtent(part, 'a');
    const bFloats = operandExtent(part, 'b');
    const outFloats = part.batch * part.m * part.n;
    return { part, aFloats, bFloats, outFloats, a: take(aFloats), b: take(bFloats), out: take(outFloats), scratch: take(scratchFloats(part)) };
  });
  return { placements, end: at };
}

function worthPosting(p: Placement): boolean {
  const work = multiplyAdds(p.part);
  return work >= MIN_PART_MULTIPLY_ADDS && work >= MIN_MULTIPLY_ADDS_PER_COPIED_FLOAT * (p.aFloats + p.bFloats + p.outFloats);
}

export class MatmulPool {
  private readonly memory: WebAssembly.Memory;
  /**
   * The control slots, viewed once: a shared memory never moves when it grows, so a view of its
   * first page stays valid (memory.buffer only returns a longer view afterwards).
   */
  private readonly control: Int32Array;
  private threads: HelperThread[];
  private posted: number[];
  private readonly answerMs: number;
  private stopReason: string | null = null;
  /** Matmuls that helpers took part in, for tests and reports. */
  splitCalls = 0;

  private constructor(memory: WebAssembly.Memory, threads: HelperThread[], answerMs: number) {
    this.memory = memory;
    this.control = new Int32Array(memory.buffer, 0, CONTROL_BYTES / INT_BYTES);
    this.answerMs = answerMs;
    this.threads = threads;
    this.posted = threads.map(() => 0);
  }

  /** Starts `helpers` threads on a compiled kernels-shared.wasm; throws (having stopped them) when any fails. */
  static async start(module: WebAssembly.Module, helpers: number, startHelper: StartHelper, answerMs = ANSWER_MS): Promise<MatmulPool> {
    if (typeof SharedArrayBuffer === 'undefined') throw new Error('SharedArrayBuffer is unavailable (the page is not cross-origin isolated)');
    if (helpers < 1 || helpers * SLOT_INTS * INT_BYTES > CONTROL_BYTES) throw new Error(`helpers: ${helpers} is not between 1 and 512`);
    const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared: true });
    const threads: HelperThread[] = [];
    try {
      for (let i = 0; i < helpers; i++) threads.push(startHelper({ module, memory, slot: i * SLOT_INTS, fields: SLOT_FIELDS, quit: QUIT }));
      await withTimeout(Promise.all(threads.map((t) => t.ready)), READY_MS, 'starting the matmul helper threads');
    } catch (e) {
      for (const t of threads) t.stop();
      throw e;
    }
    return new MatmulPool(memory, threads, answerMs);
  }

  /** Threads that compute a split matmul, the calling one included (1 once stopped). */
  get threadCount(): number {
    return this.threads.length + 1;
  }

  /** Why the pool stopped by itself (a helper that did not answer), or null. */
  get failure(): string | null {
    return this.stopReason;
  }

  /**
   * Computes the job across the threads, the calling thread's part through `runLocal` (on
   * tfjs's memory `heap`, with its scratch). Returns false, having done nothing, when the job
   * is not worth splitting: the caller then runs it whole.
   */
  run(job: MatmulJob, heap: WebAssembly.Memory, runLocal: (part: MatmulJob) => void): boolean {
    const plan = this.plan(job);
    if (!plan) return false;
    const { parts, placements } = plan;
    this.splitCalls++;
    const tfjsFloats = new Float32Array(heap.buffer);
    this.copyIn(placements, tfjsFloats);
    placements.forEach((p, i) => this.post(i, p));
    runLocal(parts[0] as MatmulJob);
    placements.forEach((p, i) => {
      if (this.stopReason !== null || !this.finished(i)) runLocal(p.part);
      else tfjsFloats.set(new Float32Array(this.memory.buffer, p.out, p.outFloats), p.part.out / FLOAT_BYTES);
    });
    return true;
  }

  /** Tells the helpers to quit and ends their threads. */
  stop(): void {
    const control = this.control;
    this.threads.forEach((thread, i) => {
      const slot = i * SLOT_INTS;
      control[slot + SLOT_FIELDS.command] = QUIT;
      Atomics.add(control, slot + SLOT_FIELDS.seq, 1);
      Atomics.notify(control, slot + SLOT_FIELDS.seq);
      thread.stop();
    });
    this.threads = [];
  }

  /** The most parts (up to one per thread) that are each worth posting and fit the shared memory; null for none. */
  private plan(job: MatmulJob): { parts: MatmulJob[]; placements: Placement[] } | null {
    // Every matmul comes through here, a sampled token's too: one multiplication turns away
    // those whose helper part (at most half the work) could not reach the minimum.
    if (multiplyAdds(job) < 2 * MIN_PART_MULTIPLY_ADDS) return null;
    for (let count = this.threads.length + 1; count >= 2; count--) {
      const parts = splitMatmul(job, count);
      if (!parts) continue;
      const { placements, end } = place(parts.slice(1));
      if (placements.every(worthPosting)) return this.ensureBytes(end) ? { parts, placements } : null;
    }
    return null;
  }

  private ensureBytes(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    const pages = Math.ceil((bytes - have) / PAGE_BYTES);
    if (have / PAGE_BYTES + pages > MAX_PAGES) return false;
    this.memory.grow(pages);
    return true;
  }

  private copyIn(placements: Placement[], tfjsFloats: Float32Array): void {
    const shared = new Float32Array(this.memory.buffer);
    for (const p of placements) {
      const a = p.part.a / FLOAT_BYTES;
      const b = p.part.b / FLOAT_BYTES;
      shared.set(tfjsFloats.subarray(a, a + p.aFloats), p.a / FLOAT_BYTES);
      shared.set(tfjsFloats.subarray(b, b + p.bFloats), p.b / FLOAT_BYTES);
    }
  }

  private post(helper: number, p: Placement): void {
    const control = this.control;
    const slot = helper * SLOT_INTS;
    const j = p.part;
    control.set([
      p.a, p.b, p.out, j.batch, j.m, j.n, j.k,
      j.aBatchStride, j.aRow, j.aInner, j.bBatchStride, j.bInner, j.bCol, p.scratch,
    ], slot + SLOT_FIELDS.args);
    control[slot + SLOT_FIELDS.command] = RUN_JOB;
    this.posted[helper] = (this.posted[helper] as number) + 1;
    Atomics.store(control, slot + SLOT_FIELDS.seq, this.posted[helper] as number);
    Atomics.notify(control, slot + SLOT_FIELDS.seq);
  }

  /** Waits for a helper's job; false (and the pool stopped) when it does not answer in time. */
  private finished(helper: number): boolean {
    const control = this.control;
    const done = helper * SLOT_INTS + SLOT_FIELDS.done;
    const want = this.posted[helper] as number;
    for (;;) {
      const seen = Atomics.load(control, done);
      if (seen === want) return true;
      if (Atomics.wait(control, done, seen, this.answerMs) === 'timed-out') {
        this.stopReason = `a matmul helper thread did not answer within ${this.answerMs} ms; matmuls run on one thread from now on`;
        this.stop();
        return false;
      }
    }
  }
}
