/**
 * The fused kernels (layer-norm.ts, masked-softmax.ts, bias-gelu.ts) for the wasm backend, from
 * the same module as our SIMD matmul (wasm/kernels.c: layer_norm, masked_softmax,
 * bias_gelu). Written as tfjs ops they are 8, 3 and 4 kernels per layer; sampling one token at a
 * time is bound by that per-kernel overhead and the extra passes over memory, not by arithmetic.
 *
 * Registered and unregistered by installWasmKernels / uninstallWasmKernels
 * (wasm-kernels.ts): one module, one install. Like the matmul, they work in place on
 * tfjs's heap. A wasm backend created after the install (another memory) gets the plain
 * JavaScript versions of cpu-kernels.ts instead: slower, but the same values.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BIAS_GELU_KERNEL, GELU_SLOPE } from './bias-gelu';
import { type Compute, FUSED_KERNELS_JS } from './cpu-kernels';
import { LAYER_NORM_KERNEL } from './layer-norm';
import { MASKED_SOFTMAX_KERNEL } from './masked-softmax';
import { type WasmBackendLike, exported, tfjsMemory } from './wasm-backend';

const BACKEND = 'wasm';

type LayerNormFn = (x: number, gain: number, bias: number, out: number, rows: number, width: number, eps: number) => void;
type MaskedSoftmaxFn = (scores: number, mask: number, out: number, batch: number, heads: number, t: number, tk: number, scale: number) => void;
type BiasGeluFn = (x: number, bias: number, out: number, rows: number, width: number, slope: number) => void;

/** How one kernel calls its C function: the pointers of its inputs and the output, the sizes and attrs. */
export type Call = (ptr: (t: tf.TensorInfo) => number, out: number, inputs: Record<string, tf.TensorInfo>, attrs: Record<string, number>) => void;

/** Fused kernels our module computed itself (not the JavaScript fallback) in this process, for tests. */
let calls = 0;
let registered: string[] = [];

/**
 * Each fused kernel's call into an instance of our module, by kernel name. Throws when an export
 * is missing, so an installer can resolve these before it changes any registration.
 */
export function wasmFusedCalls(exports: WebAssembly.Exports): Record<string, Call> {
  const layerNorm = exported<LayerNormFn>(exports, 'layer_norm');
  const maskedSoftmax = exported<MaskedSoftmaxFn>(exports, 'masked_softmax');
  const biasGelu = exported<BiasGeluFn>(exports, 'bias_gelu');
  return {
    [LAYER_NORM_KERNEL]: (ptr, out, { x, gain, bias }, { eps }) => {
      const width = x!.shape.at(-1) as number;
      layerNorm(ptr(x!), ptr(gain!), ptr(bias!), out, tf.util.sizeFromShape(x!.shape) / width, width, eps!);
    },
    [MASKED_SOFTMAX_KERNEL]: (ptr, out, { scores, bias }, { scale }) => {
      const [B, H, T, Tk] = scores!.shape as [number, number, number, number];
      maskedSoftmax(ptr(scores!), ptr(bias!), out, B, H, T, Tk, scale!);
    },
    [BIAS_GELU_KERNEL]: (ptr, out, { x, bias }) => {
      const width = x!.shape.at(-1) as number;
      biasGelu(ptr(x!), ptr(bias!), out, tf.util.sizeFromShape(x!.shape) / width, width, GELU_SLOPE);
    },
  };
}

function run(memory: WebAssembly.Memory, call: Call, fallback: Compute, args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const inputs = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as Record<string, number>;
  const backend = args.backend as unknown as WasmBackendLike;
  const list = Object.values(inputs);
  // Every fused kernel's output has its first input's shape (x, or the scores).
  const first = list[0] as tf.TensorInfo;
  const out = backend.makeOutput(first.shape, 'float32');
  if (tf.util.sizeFromShape(first.shape) === 0) return out;
  if (tfjsMemory(backend) !== memory || list.some((t) => t.dtype !== 'float32')) {
    const values = fallback((t) => Float32Array.from(backend.readSync(t.dataId) as ArrayLike<number>), inputs, attrs);
    backend.typedArrayFromHeap(out).set(values);
    return out;
  }
  calls++;
  call((t) => backend.getMemoryOffset(t.dataId), backend.getMemoryOffset(out.dataId), inputs, attrs);
  return out;
}

/** Registers the fused kernels on the wasm backend, calling an instance of our module that imports `memory` (tfjs's). */
export function registerWasmFusedKernels(kernels: Record<string, Call>, memory: WebAssembly.Memory): void {
  unregisterWasmFusedKernels();
  for (const [name, call] of Object.entries(kernels)) {
    const fallback = FUSED_KERNELS_JS[name] as Compute;
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: (args) => run(memory, call, fallback, args) });
    registered.push(name);
  }
}

/** Takes them out again: the model runs the composite ops on wasm. */
export function unregisterWasmFusedKernels(): void {
  for (const name of registered) if (tf.getKernel(name, BACKEND)) tf.unregisterKernel(name, BACKEND);
  registered = [];
}

/** How many fused kernels our module has computed in this process (null while none is registered). */
export function wasmFusedKernelCalls(): number | null {
  return registered.length > 0 ? calls : null;
}
