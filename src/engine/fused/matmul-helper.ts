/**
 * The loop a matmul helper thread runs (matmul-pool.ts): wait for a job in its control slot,
 * run our SIMD batched matmul on the shared memory, say done, wait again.
 *
 * The function is shipped to the thread as source text (Function.prototype.toString), so that
 * one file serves Node's worker_threads and the browser's Worker without a bundler entry of its
 * own. It must therefore be self-contained: no imports, no module constants, and no named inner
 * functions (esbuild's keepNames wraps those in a __name helper that the thread lacks; the
 * bootstrap defines a no-op one in case). The slot layout travels in the init message.
 *
 * Waiting is Atomics.wait on the slot's sequence number: the thread sleeps in the kernel until
 * the pool stores a new number and notifies, then stores the same number in the done field.
 */

/** Where each value of a job lives in a helper's control slot (int32 indices from the slot start). */
export const SLOT_FIELDS = {
  /** The pool increments it to post a job. */
  seq: 0,
  /** The helper copies seq here when the job is finished. */
  done: 1,
  /** RUN_JOB or QUIT. */
  command: 2,
  /** The 14 arguments of batch_matmul, in its order (kernels.c), from here on. */
  args: 3,
} as const;
export const SLOT_INTS = 32;
export const RUN_JOB = 0;
export const QUIT = 1;

export interface HelperInit {
  /** kernels-shared.wasm, compiled. */
  module: WebAssembly.Module;
  /** The pool's shared memory: control slots first, then the jobs' copies of their operands. */
  memory: WebAssembly.Memory;
  /** This helper's slot: int32 index of its first field. */
  slot: number;
  fields: typeof SLOT_FIELDS;
  quit: number;
}

/** Never returns until it reads QUIT; calls ready once its module is instantiated. */
export function serveMatmulJobs(init: HelperInit, ready: () => void): void {
  const instance = new WebAssembly.Instance(init.module, { env: { memory: init.memory } });
  const matmul = instance.exports.batch_matmul as (...args: number[]) => void;
  const control = new Int32Array(init.memory.buffer);
  const { seq, done, command, args } = init.fields;
  const base = init.slot;
  let seen = 0;
  ready();
  for (;;) {
    // Returns at once when a job was posted before the thread got here (the value differs).
    Atomics.wait(control, base + seq, seen);
    seen = Atomics.load(control, base + seq);
    if (control[base + command] === init.quit) return;
    const a = base + args;
    matmul(
      control[a]!, control[a + 1]!, control[a + 2]!, control[a + 3]!, control[a + 4]!, control[a + 5]!, control[a + 6]!,
      control[a + 7]!, control[a + 8]!, control[a + 9]!, control[a + 10]!, control[a + 11]!, control[a + 12]!, control[a + 13]!,
    );
    Atomics.store(control, base + done, seen);
    Atomics.notify(control, base + done);
  }
}

/** The helper's source for a thread, given how that environment delivers init and says ready. */
export function helperSource(bootstrap: (call: string) => string): string {
  return `var __name = function (f) { return f; };\nvar serveMatmulJobs = ${serveMatmulJobs.toString()};\n${bootstrap('serveMatmulJobs')}`;
}
