/**
 * Helper threads for our wasm matmul: the calling thread computes the first part of a large
 * matmul while each helper computes another part (matmul-split.ts), posted through the helper's
 * control slot (matmul-helper.ts).
 *
 * Two ways for a helper to reach the operands:
 * - in place, when tfjs-wasm's memory is shared (shared-heap.ts): the helper's module is
 *   instantiated on that very memory, and a part is just pointers into it (plus scratch that the
 *   calling thread allocates there). Nothing is copied, and large fused kernels are cut across
 *   the threads too (runSplit, kernel-split.ts).
 * - on copies, when it is not (an engine that refused the shared start, or a process started
 *   with wasmSharedHeap false): the helper works in a shared memory of the pool's own; the
 *   calling thread copies in the operands a helper's part reads and copies its rows back
 *   afterwards. The copies are linear in the operands and the work is cubic, so only matmuls
 *   with enough arithmetic per copied float are split.
 *
 * The calling thread blocks in Atomics.wait, which a browser allows in a worker (the lab trains
 * in one) and Node allows everywhere. A helper that does not answer within ANSWER_MS is taken for
 * dead: its part is computed by the calling thread, the pool stops, and `failure` says why.
 */
import { type HelperInit, MAX_JOB_ARGS, QUIT, RUN_JOB, SLOT_FIELDS, SLOT_INTS, SPIN_CHECKS } from './matmul-helper';
import { HELPER_EXPORTS, type SplittableCall, cutCall } from './kernel-split';
import { MATMUL_SCRATCH_ARG, type MatmulJob, batchMatmulArgs, multiplyAdds, operandExtent, scratchFloats, splitMatmul } from './matmul-split';
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
/** The control slots, in a SharedArrayBuffer of their own: room for 256 helpers. */
const CONTROL_BYTES = 4 * PAGE_BYTES;
/** 1 GiB, the most the pool's own memory grows to; a job needing more runs on one thread. */
const MAX_PAGES = 16384;
/** 1 MiB to start: at least the minimum the module declares (wasm-ld's default is 2 pages). */
const INITIAL_PAGES = 16;
const READY_MS = 10_000;
/** How long a job may take a helper before it is taken for dead (a large job takes ~100 ms). */
export const ANSWER_MS = 30_000;
/**
 * A helper's part is posted only with at least this much arithmetic (about 70 us on one thread).
 * Since posts notify only a sleeping helper (matmul-helper.ts), sharing pays from here on the
 * 2-core machine, measured in one process, runs alternating: 128-row sampling of 48 tokens took
 * 336 ms with this minimum against 395 ms with 1 << 23 (which kept [128, 512] x [512, 128] and
 * smaller on one thread), and the GRPO update 280 ms against 286 ms (the output layer's products
 * are shared now). 1 << 20 measured the same as this. ...
 */
const MIN_PART_MULTIPLY_ADDS = 1 << 21;
/**
 * ... and, on copies, this many multiply-adds per float copied in or out: copying is the calling
 * thread's time, about as costly per float as several multiply-adds. In place only the minimum
 * above applies (the wake-up and the wait still cost about 0.1 ms).
 */
const MIN_MULTIPLY_ADDS_PER_COPIED_FLOAT = 16;
/**
 * A fused kernel's, an addition's or a copy's part is posted with at least this many floats to
 * read and write (256 KiB). With 1 << 18 a micro-batch's layer norms and additions (270 000-410 000
 * floats) stayed on one thread; cut, the update took 295 ms against 301 ms (medians of 25 runs
 * each, alternating). A sampled token's kernels (a few thousand floats) stay far below.
 */
const MIN_PART_FLOATS = 1 << 16;
const MATMUL_EXPORT = HELPER_EXPORTS.indexOf('batch_matmul');

/** tfjs-wasm's memory when it is shared, with its allocator, for helpers that work in place. */
export interface SharedHeap {
  memory: WebAssembly.Memory;
  malloc(bytes: number): number;
  free(pointer: number): void;
}

/** Where a helper's part lives in the shared memory (byte offsets), and how many floats each operand spans. */
interface Placement {
  part: MatmulJob;
  a: number; b: number; out: number; scratch: number;
  aFloats: number; bFloats: number; outFloats: number;
}

function align16(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}

/** Lays the helpers' parts out one after another in the pool's memory. */
function place(parts: MatmulJob[]): { placements: Placement[]; end: number } {
  let at = 0;
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
  /** Where the helpers compute: tfjs's memory (in place) or the pool's own (on copies). */
  private readonly memory: WebAssembly.Memory;
  private readonly heap: SharedHeap | null;
  private readonly control: Int32Array;
  /** The same slots, read as float64 where a job's arguments are. */
  private readonly numbers: Float64Array;
  private threads: HelperThread[];
  private posted: number[];
  private readonly answerMs: number;
  private stopReason: string | null = null;
  /** Calls (matmuls, and fused kernels in place) that helpers took part in, for tests and reports. */
  splitCalls = 0;

  private constructor(memory: WebAssembly.Memory, heap: SharedHeap | null, control: SharedArrayBuffer, threads: HelperThread[], answerMs: number) {
    this.memory = memory;
    this.heap = heap;
    this.control = new Int32Array(control);
    this.numbers = new Float64Array(control);
    this.answerMs = answerMs;
    this.threads = threads;
    this.posted = threads.map(() => 0);
  }

  /**
   * Starts `helpers` threads on a compiled kernels-shared.wasm, working in place on `heap` when
   * given (tfjs's memory, shared) and on copies otherwise; throws (having stopped them) when any fails.
   */
  static async start(
    module: WebAssembly.Module, helpers: number, startHelper: StartHelper, answerMs = ANSWER_MS, heap: SharedHeap | null = null,
  ): Promise<MatmulPool> {
    if (typeof SharedArrayBuffer === 'undefined') throw new Error('SharedArrayBuffer is unavailable (the page is not cross-origin isolated)');
    if (helpers < 1 || helpers * SLOT_INTS * INT_BYTES > CONTROL_BYTES) throw new Error(`helpers: ${helpers} is not between 1 and 256`);
    const memory = heap?.memory ?? new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared: true });
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const threads: HelperThread[] = [];
    try {
      const exports = [...HELPER_EXPORTS];
      for (let i = 0; i < helpers; i++) threads.push(startHelper({ module, memory, control, exports, slot: i * SLOT_INTS, fields: SLOT_FIELDS, quit: QUIT, spinChecks: SPIN_CHECKS }));
      await withTimeout(Promise.all(threads.map((t) => t.ready)), READY_MS, 'starting the matmul helper threads');
    } catch (e) {
      for (const t of threads) t.stop();
      throw e;
    }
    return new MatmulPool(memory, heap, control, threads, answerMs);
  }

  /** True when helpers work on tfjs's own memory, without copies. */
  get inPlace(): boolean {
    return this.heap !== null;
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
   * `tfjsMemory`, with its scratch). Returns false, having done nothing, when the job is not
   * worth splitting: the caller then runs it whole.
   */
  run(job: MatmulJob, tfjsMemory: WebAssembly.Memory, runLocal: (part: MatmulJob) => void): boolean {
    if (this.heap) return this.runInPlace(job, runLocal);
    const plan = this.plan(job);
    if (!plan) return false;
    const { parts, placements } = plan;
    this.splitCalls++;
    const tfjsFloats = new Float32Array(tfjsMemory.buffer);
    this.copyIn(placements, tfjsFloats);
    placements.forEach((p, i) => this.post(i, MATMUL_EXPORT, batchMatmulArgs({ ...p.part, a: p.a, b: p.b, out: p.out, outBatchStride: p.part.m * p.part.n, outRow: p.part.n }, p.scratch)));
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

  /** A matmul's parts posted with pointers into tfjs's memory; nothing copied. */
  private runInPlace(job: MatmulJob, runLocal: (part: MatmulJob) => void): boolean {
    const parts = this.planInPlace(job);
    if (!parts) return false;
    // Scratch 0 for now: shareInPlace allocates each helper's.
    this.shareInPlace(MATMUL_EXPORT, parts.map((part) => batchMatmulArgs(part, 0)), (i) => runLocal(parts[i] as MatmulJob),
      { arg: MATMUL_SCRATCH_ARG, floats: (i) => scratchFloats(parts[i] as MatmulJob) });
    return true;
  }

  /**
   * Computes a fused kernel's call across the threads, in place (kernel-split.ts); false, having
   * done nothing, when helpers cannot work in place or the call is too small to cut.
   */
  runSplit(call: SplittableCall): boolean {
    if (!this.heap || this.threads.length === 0) return false;
    const fn = HELPER_EXPORTS.indexOf(call.name);
    if (fn < 0) throw new Error(`matmul pool: "${call.name}" is not in HELPER_EXPORTS`);
    const units = call.args[call.unitsArg] as number;
    const count = Math.min(this.threads.length + 1, Math.floor((units * call.floatsPerUnit) / Math.max(MIN_PART_FLOATS, call.minPartFloats ?? 0)));
    if (count < 2) return false;
    const parts = cutCall(call, count);
    if (parts.length < 2) return false;
    const scratch = call.scratch;
    this.shareInPlace(fn, parts, (i) => call.local(...(parts[i] as number[])), scratch && { arg: scratch[0], floats: () => scratch[1] });
    return true;
  }

  /**
   * Posts parts 1.. (each call's arguments) to the helpers, with scratch of their own from tfjs's
   * heap at argument `scratch.arg` where the export takes some, runs part 0 here through
   * `local`, and waits; a helper that does not answer has its part run here too.
   */
  private shareInPlace(
    fn: number, parts: number[][], local: (part: number) => void, scratch?: { arg: number; floats: (part: number) => number },
  ): void {
    const heap = this.heap as SharedHeap;
    this.splitCalls++;
    const helperParts = parts.slice(1);
    const allocated = scratch ? helperParts.map((_, i) => heap.malloc(Math.max(1, scratch.floats(i + 1)) * FLOAT_BYTES)) : [];
    try {
      helperParts.forEach((args, i) => {
        if (scratch) args[scratch.arg] = allocated[i] as number;
        this.post(i, fn, args);
      });
      local(0);
      helperParts.forEach((_, i) => {
        if (this.stopReason !== null || !this.finished(i)) local(i + 1);
      });
    } finally {
      allocated.forEach((pointer) => heap.free(pointer));
    }
  }

  /** The most parts (up to one per thread) each worth a helper's wake-up; null for none. */
  private planInPlace(job: MatmulJob): MatmulJob[] | null {
    if (multiplyAdds(job) < 2 * MIN_PART_MULTIPLY_ADDS) return null;
    for (let count = this.threads.length + 1; count >= 2; count--) {
      const parts = splitMatmul(job, count);
      if (parts && parts.every((part) => multiplyAdds(part) >= MIN_PART_MULTIPLY_ADDS)) return parts;
    }
    return null;
  }

  /** The most parts (up to one per thread) that are each worth posting and fit the shared memory; null for none. */
  private plan(job: MatmulJob): { parts: MatmulJob[]; placements: Placement[] } | null {
    // Every matmul comes through here, a sampled token's too: one multiplication turns away
    // those whose helper part (at most half the work) could not reach the minimum.
    if (multiplyAdds(job) < 2 * MIN_PART_MULTIPLY_ADDS) return null;
    for (let count = this.threads.length + 1; count >= 2; count--) {
      // Whole rows: a helper's rows are copied back densely.
      const parts = splitMatmul(job, count, { columns: false });
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

  /** Posts a call of export `fn` (an index into HELPER_EXPORTS) to a helper. */
  private post(helper: number, fn: number, args: number[]): void {
    if (args.length > MAX_JOB_ARGS) throw new Error(`matmul pool: a job of ${args.length} arguments (at most ${MAX_JOB_ARGS})`);
    const control = this.control;
    const slot = helper * SLOT_INTS;
    this.numbers.set(args, (slot + SLOT_FIELDS.args) / 2);
    control[slot + SLOT_FIELDS.fn] = fn;
    control[slot + SLOT_FIELDS.argc] = args.length;
    control[slot + SLOT_FIELDS.command] = RUN_JOB;
    this.posted[helper] = (this.posted[helper] as number) + 1;
    Atomics.store(control, slot + SLOT_FIELDS.seq, this.posted[helper] as number);
    // A helper still looking for work sees the job without a notify (serveMatmulJobs).
    if (Atomics.load(control, slot + SLOT_FIELDS.helperAsleep) !== 0) Atomics.notify(control, slot + SLOT_FIELDS.seq);
  }

  /** Waits for a helper's job; false (and the pool stopped) when it does not answer in time. */
  private finished(helper: number): boolean {
    const control = this.control;
    const done = helper * SLOT_INTS + SLOT_FIELDS.done;
    const want = this.posted[helper] as number;
    // The helper usually finishes within a fraction of a millisecond of this thread's own part.
    for (let spin = 0; spin < SPIN_CHECKS && Atomics.load(control, done) !== want; spin++);
    const asleep = helper * SLOT_INTS + SLOT_FIELDS.callerAsleep;
    for (;;) {
      const seen = Atomics.load(control, done);
      if (seen === want) return true;
      Atomics.store(control, asleep, 1);
      const answer = Atomics.wait(control, done, seen, this.answerMs);
      Atomics.store(control, asleep, 0);
      if (answer === 'timed-out') {
        this.stopReason = `a matmul helper thread did not answer within ${this.answerMs} ms; matmuls run on one thread from now on`;
        this.stop();
        return false;
      }
    }
  }
}
