/**
 * The loop a helper thread of the matmul pool runs (matmul-pool.ts): wait for a job in its
 * control slot, call the named export of our module (kernels-shared.wasm) with the job's
 * arguments, say done, wait again. A job is a part of a large matmul (batch_matmul) or, where
 * the helper works in place on tfjs's memory, a run of rows of a fused kernel (kernel-split.ts).
 *
 * The function is shipped to the thread as source text (Function.prototype.toString), so that
 * one file serves Node's worker_threads and the browser's Worker without a bundler entry of its
 * own. It must therefore be self-contained: no imports, no module constants, and no named inner
 * functions (esbuild's keepNames wraps those in a __name helper that the thread lacks; the
 * bootstrap defines a no-op one in case). The slot layout travels in the init message.
 *
 * Waiting is Atomics.wait on the slot's sequence number, after a short spin: the thread sleeps in
 * the kernel until the pool stores a new number and notifies, then stores the same number in the
 * done field. Each side notifies only when the other has said it sleeps (helperAsleep,
 * callerAsleep): a notify is a system call (a post that always notified cost 20-60 µs on average
 * on this project's 2-core VM), and a helper still spinning needs none.
 */

/** Where each value of a job lives in a helper's control slot (int32 indices from the slot start). */
export const SLOT_FIELDS = {
  /** The pool increments it to post a job. */
  seq: 0,
  /** The helper copies seq here when the job is finished. */
  done: 1,
  /** RUN_JOB or QUIT. */
  command: 2,
  /** Which export to call: an index into HelperInit.exports. */
  fn: 3,
  /** How many arguments follow. */
  argc: 4,
  /** 1 while the helper sleeps (or is about to) in Atomics.wait on seq: only then does a post need a notify. */
  helperAsleep: 5,
  /** 1 while the pool's thread sleeps (or is about to) on done: only then does the helper's answer need a notify. */
  callerAsleep: 6,
  /** The arguments, as float64 (exact for pointers, sizes and float32 attributes alike), from here on. */
  args: 8,
} as const;
export const SLOT_INTS = 64;
/** Arguments a job may have: the float64s that fit in a slot after the fields. */
export const MAX_JOB_ARGS = (SLOT_INTS - SLOT_FIELDS.args) / 2;
/**
 * Looks at a control word before sleeping on it, in a helper waiting for its next job and in the
 * pool waiting for a helper's answer: 0.18-0.25 ms of looking on this machine (each look at a
 * shared word costs about 20 ns).
 */
export const SPIN_CHECKS = 10_000;
export const RUN_JOB = 0;
export const QUIT = 1;

export interface HelperInit {
  /** kernels-shared.wasm, compiled. */
  module: WebAssembly.Module;
  /** The memory the jobs' pointers point into: tfjs's own (shared), or the pool's, holding copies. */
  memory: WebAssembly.Memory;
  /** Every helper's control slot. */
  control: SharedArrayBuffer;
  /** The exports a job may call, by index. */
  exports: string[];
  /** This helper's slot: int32 index of its first field. */
  slot: number;
  fields: typeof SLOT_FIELDS;
  /** How many times to look for the next job before sleeping (SPIN_CHECKS). */
  spinChecks: number;
  quit: number;
}

/** Never returns until it reads QUIT; calls ready once its module is instantiated. */
export function serveMatmulJobs(init: HelperInit, ready: () => void): void {
  const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  const calls = init.exports.map((name) => instance.exports[name] as (...args: number[]) => void);
  const control = new Int32Array(init.control);
  const numbers = new Float64Array(init.control);
  const { seq, done, command, fn, argc, args, helperAsleep, callerAsleep } = init.fields;
  const base = init.slot;
  let seen = 0;
  ready();
  for (;;) {
    // Spins a little before sleeping: a training step posts jobs a fraction of a millisecond
    // apart, and waking from Atomics.wait costs tens of microseconds each time.
    for (let spin = 0; spin < init.spinChecks && Atomics.load(control, base + seq) === seen; spin++);
    // Says it sleeps before it does: the pool stores seq, then reads this flag, and this thread
    // stores the flag, then waits on seq (which returns at once when seq has changed), so a job
    // is never posted unseen, and a thread that is awake costs the pool no notify (a system call).
    Atomics.store(control, base + helperAsleep, 1);
    Atomics.wait(control, base + seq, seen);
    Atomics.store(control, base + helperAsleep, 0);
    seen = Atomics.load(control, base + seq);
    if (control[base + command] === init.quit) return;
    const first = (base + args) / 2;
    calls[control[base + fn]!]!(...numbers.subarray(first, first + control[base + argc]!));
    Atomics.store(control, base + done, seen);
    if (Atomics.load(control, base + callerAsleep) !== 0) Atomics.notify(control, base + done);
  }
}

/** The helper's source for a thread, given how that environment delivers init and says ready. */
export function helperSource(bootstrap: (call: string) => string): string {
  return `var __name = function (f) { return f; };\nvar serveMatmulJobs = ${serveMatmulJobs.toString()};\n${bootstrap('serveMatmulJobs')}`;
}
