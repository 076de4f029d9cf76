/**
 * The browser's helper threads for the wasm matmul pool (matmul-pool.ts): Workers started from
 * the helper loop's source in a blob URL, so the bundle needs no extra entry. They inherit the
 * page's cross-origin isolation, which SharedArrayBuffer needs (vite.config.ts sets it).
 */
import type { HelperThread } from '../src/engine/fused/matmul-pool';
import { type HelperInit, helperSource } from '../src/engine/fused/matmul-helper';

const SOURCE = helperSource((serve) =>
  `self.onmessage = function (e) { self.onmessage = null; ${serve}(e.data, function () { self.postMessage('ready'); }); };`);

let sourceUrl: string | null = null;

export function startBrowserHelper(init: HelperInit): HelperThread {
  sourceUrl ??= URL.createObjectURL(new Blob([SOURCE], { type: 'text/javascript' }));
  const worker = new Worker(sourceUrl);
  const ready = new Promise<void>((resolve, reject) => {
    worker.onmessage = () => resolve();
    worker.onerror = (e) => reject(new Error(`a matmul helper thread failed: ${e.message || 'no message'}`));
  });
  worker.postMessage(init);
  return { ready, stop: () => worker.terminate() };
}
