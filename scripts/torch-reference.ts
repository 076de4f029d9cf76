/**
 * Runs bench/reference_torch.py with the benchmark's shapes and returns its figures, or why it
 * could not run (no Python, no torch): the tfjs figures are still worth having without it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { ModelConfig } from '../src/engine/model-config';
import type { TorchFigures } from '../src/bench/report';
import type { BenchShapes } from '../src/bench/shapes';
import type { Repeats } from '../src/bench/timing';

/**
 * Debian's python3-torch is installed for the system interpreter, not for a pyenv or venv one.
 * BENCH_PYTHON names another (a GPU machine's venv, say).
 */
const PYTHON = process.env.BENCH_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

/** Thread settings for PyTorch; unset, each is its own default (OpenBLAS: every core). */
export interface TorchThreads {
  /** torch.set_num_threads: intra-op threads. */
  threads?: number;
  /** openblas_set_num_threads: OpenBLAS's own pool, which runs the matmuls. */
  blasThreads?: number;
}

export function runTorchReference(
  models: ModelConfig[], shapes: BenchShapes, repeats: Repeats, threads: TorchThreads = {}, device: 'cpu' | 'cuda' = 'cpu',
): TorchFigures | { unavailable: string } {
  const spec = JSON.stringify({ models, shapes, repeats, device, ...threads });
  const run = spawnSync(PYTHON, ['bench/reference_torch.py'], { input: spec, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (run.error) return { unavailable: `${PYTHON} could not start (${run.error.message})` };
  if (run.status !== 0) {
    const last = run.stderr.trim().split('\n').at(-1) ?? '';
    const hint = last.includes("No module named 'torch'") ? ' (apt-get install python3-torch libopenblas0-pthread)' : '';
    return { unavailable: `${PYTHON} bench/reference_torch.py failed: ${last}${hint}` };
  }
  return JSON.parse(run.stdout) as TorchFigures;
}
