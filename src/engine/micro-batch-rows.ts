/**
 * How a GRPO update cuts its batch when the config says 'auto': the whole batch in one
 * backward pass on WebGPU, passes of about CPU_MICRO_BATCH_TOKENS token columns elsewhere.
 *
 * Why they differ: on a GPU every pass repeats every kernel launch, and launches are the cost:
 * on an NVIDIA H200 through WebGPU the default model's update took 50-83 ms in one batch
 * against 164-277 ms in micro-batches of 32, and a whole r1-zero step 0.60-0.80 s against
 * 0.75-0.92 s (docs/results.md, section 6). The price is GPU memory: tfjs-webgpu allocated
 * 598 MiB for that update in one batch against 142 MiB in 32-row passes; a smaller GPU can be
 * given a number instead.
 *
 * On the CPU backends (wasm, cpu) the arithmetic is the cost, and it follows the token columns
 * the model computes, padding left out (row-packing.ts); a pass also costs a fixed few
 * milliseconds of op dispatch and thread hand-offs. Fewer, larger passes are faster (the
 * benchmark's update: 291-292 ms in four passes of 32 rows, 275-279 in two of 64, 267-270 in
 * one, on the 2-core machine of docs/results.md), but tfjs keeps a whole pass's intermediates.
 * The wasm heap of the default model's update, in one pass / passes of 4,096 columns / of 32
 * rows: 524 / 298 / 144 MiB for the benchmark's 128 completions of 32 tokens, 999 / 432 / 298 MiB
 * for 128 of 64 (the preset's longest).
 */
import type { GrpoConfig } from './config';

/** Token columns per backward pass on the CPU backends when the setting is 'auto'. */
export const CPU_MICRO_BATCH_TOKENS = 4096;

/** At most this many rows per pass (0: the whole batch), or passes of at most about this many token columns. */
export type MicroBatchLimit = { rows: number } | { tokens: number };

/** The limit a setting means on this tfjs backend. */
export function microBatchLimitOn(setting: GrpoConfig['microBatchRows'], backend: string): MicroBatchLimit {
  if (setting !== 'auto') return { rows: setting };
  return backend === 'webgpu' ? { rows: 0 } : { tokens: CPU_MICRO_BATCH_TOKENS };
}

/** How a limit reads in a log line or a report. */
export function describeMicroBatchLimit(limit: MicroBatchLimit): string {
  if ('tokens' in limit) return `passes of about ${limit.tokens} token columns`;
  return limit.rows === 0 ? 'one pass over every row' : `micro-batches of ${limit.rows} rows`;
}
