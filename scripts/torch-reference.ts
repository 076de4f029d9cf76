/**
 * Runs bench/reference_torch.py with the benchmark's shapes and returns its figures, or why it
 * could not run (no Python, no torch): the tfjs figures are still worth having without it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { withTimeout } from '../src/engine/timeout';
import type { ModelConfig } from '../src/engine/model-config';
import type { TorchFigures, TorchSetup } from '../src/bench/report';
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

/** A failed start's reason, with the install hint when torch is missing. */
function failure(stderr: string, status: number | null): string {
  const last = stderr.trim().split('\n').at(-1) || `exit status ${status}, no message`;
  const hint = last.includes("No module named 'torch'") ? ' (apt-get install python3-torch libopenblas0-pthread)' : '';
  return `${PYTHON} bench/reference_torch.py failed: ${last}${hint}`;
}

export function runTorchReference(
  models: ModelConfig[], shapes: BenchShapes, repeats: Repeats, threads: TorchThreads = {}, device: 'cpu' | 'cuda' = 'cpu',
): TorchFigures | { unavailable: string } {
  const spec = JSON.stringify({ models, shapes, repeats, device, ...threads });
  const run = spawnSync(PYTHON, ['bench/reference_torch.py'], { input: spec, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (run.error) return { unavailable: `${PYTHON} could not start (${run.error.message})` };
  if (run.status !== 0) return { unavailable: failure(run.stderr, run.status) };
  return JSON.parse(run.stdout) as TorchFigures;
}

/** How long the serving process may take to import torch and build the model, and to time one update. */
const SETUP_MS = 120_000;
const UPDATE_MS = 60_000;

/** A PyTorch process that times one GRPO update of one model each time it is asked (--serve). */
export interface TorchUpdateServer {
  setup: TorchSetup;
  /** One update, timed inside the Python process (the pipe's latency left out), in ms. */
  timeUpdate(): Promise<number>;
  close(): void;
}

/**
 * Starts bench/reference_torch.py --serve for `model`'s update on the CPU, or says why it could
 * not. Requests are answered in order, one line each.
 */
export async function startTorchUpdateServer(
  model: ModelConfig, shapes: BenchShapes, threads: TorchThreads = {},
): Promise<TorchUpdateServer | { unavailable: string }> {
  const child = spawn(PYTHON, ['bench/reference_torch.py', '--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const waiting: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = [];
  let ended: Error | null = null;
  const end = (e: Error): void => {
    ended ??= e;
    for (const w of waiting.splice(0)) w.reject(ended);
  };
  child.on('error', (e) => end(new Error(`${PYTHON} could not start (${e.message})`)));
  child.on('exit', (status) => end(new Error(failure(stderr, status))));
  // Writing to a process that has exited fails; its exit has already said why.
  child.stdin.on('error', () => {});
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.resolve(line));
  const ask = async (line: string, what: string, ms: number): Promise<Record<string, unknown>> => {
    const answer = new Promise<string>((resolve, reject) => {
      if (ended) { reject(ended); return; }
      waiting.push({ resolve, reject });
      child.stdin.write(`${line}\n`);
    });
    try {
      return JSON.parse(await withTimeout(answer, ms, `bench/reference_torch.py --serve, ${what},`)) as Record<string, unknown>;
    } catch (e) {
      // A late or garbled answer would be taken for the next request's: the process goes.
      child.kill();
      throw e;
    }
  };
  try {
    const ready = await ask(JSON.stringify({ models: [model], shapes, ...threads }), 'setting up', SETUP_MS);
    const { torch, threads: intraOp, blasThreads, blas } = ready as unknown as TorchSetup;
    return {
      setup: { torch, threads: intraOp, blasThreads, blas },
      timeUpdate: async () => {
        const answer = await ask('update', 'timing an update', UPDATE_MS);
        if (typeof answer.ms !== 'number') throw new Error(`bench/reference_torch.py --serve: ${String(answer.error ?? JSON.stringify(answer))}`);
        return answer.ms;
      },
      close: () => { child.stdin.end(); },
    };
  } catch (e) {
    child.kill();
    return { unavailable: (e as Error).message };
  }
}
