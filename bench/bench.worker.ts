/**
 * The benchmark inside Chromium: the same workloads as `npm run bench` (src/bench), on the
 * browser's backends (wasm, webgpu), in a Web Worker as the lab's trainer runs. bench/browser-main.ts
 * exposes it to scripts/bench-browser.ts as window.grpoBench.
 */
import * as Comlink from 'comlink';
import { initBackend } from '../workers/backend';
import type { BackendName } from '../workers/protocol';
import { parseCheckpoint } from '../src/engine/checkpoint';
import { Tokenizer } from '../src/engine/tokenizer';
import { type BackendFigures, type BenchPlan, runBench } from '../src/bench/run-bench';

export interface BrowserBackend {
  adapter: string;
  fallbackAdapter: boolean;
}

/** Starts one backend (forced, no fallback) and says which adapter it got. */
async function init(backend: BackendName): Promise<BrowserBackend> {
  const info = await initBackend(backend, 20_000);
  if (info.name !== backend) throw new Error(`backend: ${backend} did not start (${info.notes.join('; ')})`);
  return { adapter: info.adapter, fallbackAdapter: info.fallbackAdapter };
}

/** Every figure on the backend init() started. */
async function run(plan: Omit<BenchPlan, 'baseWeights' | 'log'>): Promise<BackendFigures> {
  const tokenizer = new Tokenizer();
  const baseWeights = plan.grpoSteps > 0
    ? parseCheckpoint(await (await fetch('/checkpoints/base.json')).text(), tokenizer.vocab).weights
    : undefined;
  return runBench(tokenizer, { ...plan, baseWeights, log: (line) => console.log(`[bench] ${line}`) });
}

export const benchWorkerApi = { init, run };
export type BenchWorkerApi = typeof benchWorkerApi;

Comlink.expose(benchWorkerApi);
