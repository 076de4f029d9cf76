/**
 * Picking the tfjs backend inside the worker: WebGPU on a real GPU adapter, else wasm, else cpu.
 *
 * A software WebGPU adapter (SwiftShader, `isFallbackAdapter`) is correct but about 17x slower
 * than wasm on our machines, so 'auto' skips it; forcing 'webgpu' uses it anyway. Every init is
 * guarded by a timeout (a wasm init with thread workers has been seen to hang forever), and a
 * failure falls through to the next backend with a note the UI shows.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
// The engine calls ops as functions (tf.slice(x)), but tfjs's own kernels and gradients use the
// chained forms (x.slice()), which tfjs-core alone does not register in a production bundle.
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgpu';
// Fused kernels of our own for webgpu (one dispatch where tfjs ops would take several).
import '../src/engine/fused/webgpu-kernels';
// Our SIMD batched matmul for wasm (tfjs's runs batched and transposed products at ~3 GFLOP/s)
// and the fused kernels' wasm versions, one module.
import { type WasmKernelsStatus, installWasmKernels } from '../src/engine/fused/wasm-kernels';
import { initWasmBackend } from '../src/engine/fused/shared-heap';
import kernelsWasm from '../src/engine/fused/wasm/kernels.wasm?url';
// The same kernels for the helper threads that share large matmuls (a shared memory).
import kernelsSharedWasm from '../src/engine/fused/wasm/kernels-shared.wasm?url';
import { matmulThreadsFor } from '../src/engine/fused/matmul-pool';
import { startBrowserHelper } from './matmul-threads';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { withTimeout } from '../src/engine/timeout';
import { watchGpuErrors } from './gpu-errors';
import type { BackendChoice, BackendInfo, BackendName } from './protocol';

/** The parts of the WebGPU API we read (kept local so the lab needs no @webgpu/types). */
interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapterLike {
  info?: GpuAdapterInfoLike;
  isFallbackAdapter?: boolean;
}
interface GpuLike {
  requestAdapter(): Promise<GpuAdapterLike | null>;
}

const ORDER: readonly BackendName[] = ['webgpu', 'wasm', 'cpu'];

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd,
});
// tfjs-wasm's own threads stay off (its threaded build crashed in a minified bundle); large
// matmuls get helper threads of our own instead.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

function describeAdapter(a: GpuAdapterLike): { text: string; fallback: boolean } {
  const info = a.info ?? {};
  const fallback = Boolean(info.isFallbackAdapter ?? a.isFallbackAdapter);
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((x) => x && x.length > 0);
  return { text: parts.join(' ') || 'unnamed adapter', fallback };
}

async function probeWebGpu(timeoutMs: number): Promise<GpuAdapterLike | null> {
  const gpu = (navigator as Navigator & { gpu?: GpuLike }).gpu;
  if (!gpu) return null;
  return withTimeout(gpu.requestAdapter(), timeoutMs, 'navigator.gpu.requestAdapter()');
}

async function activate(name: BackendName, timeoutMs: number): Promise<void> {
  // wasm starts on a shared memory where the page allows one (shared-heap.ts): the matmul
  // helpers then work in place on its tensors.
  const start = () => tf.setBackend(name).then(async (r) => { await tf.ready(); return r; });
  const ok = await withTimeout(name === 'wasm' ? initWasmBackend(start) : start(), timeoutMs, `the ${name} backend`);
  if (!ok) throw new Error(`the ${name} backend failed to initialise`);
}

function cores(): number | null {
  return typeof navigator.hardwareConcurrency === 'number' ? navigator.hardwareConcurrency : null;
}

/** How wasm uses the cores: helpers in place share matmuls and the large fused kernels; on copies, matmuls only. */
type WasmThreads = Pick<WasmKernelsStatus, 'threads' | 'inPlace'>;

function cpuDescription(name: BackendName, wasm: WasmThreads): string {
  const n = cores();
  const suffix = n === null ? '' : `, ${n} cores`;
  if (name !== 'wasm') return `plain JavaScript${suffix}`;
  const threads = `${wasm.threads} thread${wasm.threads === 1 ? '' : 's'}`;
  return wasm.inPlace || wasm.threads === 1 ? `WebAssembly SIMD on ${threads}${suffix}` : `WebAssembly SIMD, matmuls on ${threads}${suffix}`;
}

/** Fetches a file of the app's own, saying which and why when it fails. */
async function fetchBytes(url: string): Promise<ArrayBuffer> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.arrayBuffer();
}

/** Our wasm kernels, with a helper thread per core besides the trainer's (capped); returns how the threads work. */
async function installKernels(notes: string[]): Promise<WasmThreads> {
  const helpers = matmulThreadsFor(cores() ?? 1) - 1;
  const status = await installWasmKernels({ unshared: fetchBytes(kernelsWasm), shared: fetchBytes(kernelsSharedWasm) }, {
    threads: { helpers, start: startBrowserHelper },
  });
  if (status.error) notes.push(`wasm: ${status.error} (tfjs's own kernels are used)`);
  if (status.threadsError) notes.push(`wasm: ${status.threadsError}`);
  return { threads: status.threads, inPlace: status.inPlace };
}

/** Tries backends in order; returns the one in use, its adapter, and why earlier ones were skipped. */
export async function initBackend(choice: BackendChoice, timeoutMs: number): Promise<BackendInfo> {
  const order = choice === 'auto' ? ORDER : [choice, ...ORDER.filter((b) => b !== choice && b !== 'webgpu')];
  const notes: string[] = [];
  for (const name of order) {
    try {
      let adapter = cpuDescription(name, { threads: 1, inPlace: false });
      let fallbackAdapter = false;
      if (name === 'webgpu') {
        const a = await probeWebGpu(timeoutMs);
        if (!a) throw new Error('no WebGPU adapter (navigator.gpu is missing or gave none)');
        const d = describeAdapter(a);
        if (d.fallback && choice === 'auto') {
          notes.push(`WebGPU: only a software adapter (${d.text}), slower than wasm; force WebGPU to use it`);
          continue;
        }
        adapter = d.text;
        fallbackAdapter = d.fallback;
      }
      await activate(name, timeoutMs);
      if (name === 'webgpu') watchGpuErrors();
      if (name === 'wasm') adapter = cpuDescription(name, await installKernels(notes));
      return { name, adapter, fallbackAdapter, notes };
    } catch (e) {
      notes.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new Error(`no tfjs backend could start: ${notes.join('; ')}`);
}
