/**
 * How a fused kernel's call into our module is cut into parts for several threads
 * (matmul-pool.ts, in place on tfjs's shared memory only).
 *
 * The kernels that are cut work on independent units, rows (layer norm, bias + GELU and their
 * gradients, additions, copies of rows) or batch rows (the attention's three kernels), each
 * computed by the same instructions whoever computes it: a part is the same C function on a run
 * of units, its pointers moved to the run's first unit. So a cut changes no bit of the result.
 * Kernels that sum across rows (the layer norm's gain gradient) are not cut: the order of the sum
 * would change.
 */

/** One call of an export of our module over `units` independent units. */
export interface SplittableCall {
  /** The export's name, which helpers call (HELPER_EXPORTS). */
  name: string;
  /** The calling thread's own instance of the export. */
  local: (...args: number[]) => void;
  /** The whole call's arguments. */
  args: number[];
  /** Index of the argument that counts the units. */
  unitsArg: number;
  /** Arguments that are pointers into per-unit data, with the bytes each unit spans there. */
  advance: ReadonlyArray<readonly [arg: number, bytesPerUnit: number]>;
  /** The argument that is the call's scratch (a part needs its own), and its floats; none when absent. */
  scratch?: readonly [arg: number, floats: number];
  /** Floats read and written per unit: what decides whether the cut pays. */
  floatsPerUnit: number;
  /** The fewest floats a part may read and write, where this kernel needs more than the pool's minimum. */
  minPartFloats?: number;
}

/** Every export a helper may be asked to call, in the order jobs name them. */
export const HELPER_EXPORTS: readonly string[] = [
  'batch_matmul', 'layer_norm', 'layer_norm_grad', 'bias_gelu', 'bias_gelu_grad', 'attention_probs', 'attention_values', 'attention_grad',
  'copy_rows_to', 'add_rows',
];

/** What runs a cut call: the matmul pool (matmul-pool.ts), which answers false for a call it leaves whole. */
export interface CallSplitter {
  runSplit(call: SplittableCall): boolean;
}

/** Runs the call cut across `splitter`'s threads where it takes it, else whole on this thread. */
export function runSplittable(splitter: CallSplitter | null, call: SplittableCall): void {
  if (!splitter?.runSplit(call)) call.local(...call.args);
}

/** The call's arguments for units [from, to). */
function partArgs(call: SplittableCall, from: number, to: number): number[] {
  const args = call.args.slice();
  args[call.unitsArg] = to - from;
  for (const [arg, bytes] of call.advance) args[arg] = (call.args[arg] as number) + from * bytes;
  return args;
}

/** The call as up to `parts` calls on runs of nearly equal length, in unit order (the first is the calling thread's). */
export function cutCall(call: SplittableCall, parts: number): number[][] {
  const units = call.args[call.unitsArg] as number;
  const size = Math.ceil(units / Math.max(1, parts));
  const out: number[][] = [];
  for (let from = 0; from < units; from += size) out.push(partArgs(call, from, Math.min(units, from + size)));
  return out;
}
