/**
 * The benchmark page's script: starts the benchmark worker and hands its API to the driver
 * (scripts/bench-browser.ts) as window.grpoBench.
 */
import * as Comlink from 'comlink';
import type { BenchWorkerApi } from './bench.worker';

declare global {
  interface Window {
    grpoBench: Comlink.Remote<BenchWorkerApi>;
  }
}

window.grpoBench = Comlink.wrap<BenchWorkerApi>(new Worker(new URL('./bench.worker.ts', import.meta.url), { type: 'module' }));
