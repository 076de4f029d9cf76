/**
 * Node's helper threads for the wasm matmul pool (matmul-pool.ts): worker_threads running the
 * helper loop from source, so no separate script file has to be found or compiled at run time.
 * The threads are unref'd: a CLI exits when its work is done, helpers or not.
 */
import { Worker } from 'node:worker_threads';
import type { HelperThread } from '../engine/fused/matmul-pool';
import { type HelperInit, helperSource } from '../engine/fused/matmul-helper';

const SOURCE = helperSource((serve) =>
  `const { workerData, parentPort } = require('node:worker_threads');\n${serve}(workerData, () => parentPort.postMessage('ready'));`);

export function startNodeHelper(init: HelperInit): HelperThread {
  const worker = new Worker(SOURCE, { eval: true, workerData: init });
  worker.unref();
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`a matmul helper thread exited (code ${code}) before it was ready`)));
  });
  return { ready, stop: () => { void worker.terminate(); } };
}
