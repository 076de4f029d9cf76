/**
 * The micro-batch size a GRPO update uses when the config says 'auto': the whole batch in one
 * backward pass on WebGPU, 32 completions per pass elsewhere.
 *
 * Why they differ: on the CPU backends (wasm, cpu) the arithmetic is the cost, and 32-row passes
 * keep the backward pass's intermediates small at no loss of speed. On a GPU every pass repeats
 * every kernel launch, and launches are the cost: on an NVIDIA H200 through WebGPU the default
 * model's update took 50-83 ms in one batch against 164-277 ms in micro-batches of 32, and a whole
 * r1-zero step 0.60-0.80 s against 0.75-0.92 s (docs/results.md, section 6). The price is GPU
 * memory: tfjs-webgpu allocated 598 MiB for that update in one batch against 142 MiB in 32-row
 * passes; a smaller GPU can be given a number instead.
 */
import type { GrpoConfig } from './config';

/** Rows per micro-batch on the CPU backends when the setting is 'auto'. */
export const CPU_MICRO_BATCH_ROWS = 32;

/** Rows per micro-batch (0: the whole batch at once) for this setting on this tfjs backend. */
export function microBatchRowsOn(setting: GrpoConfig['microBatchRows'], backend: string): number {
  if (setting !== 'auto') return setting;
  return backend === 'webgpu' ? 0 : CPU_MICRO_BATCH_ROWS;
}
