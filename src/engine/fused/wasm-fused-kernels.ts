/**
 * The fused kernels (kernels.ts lists them: layer norm, masked softmax, bias + GELU, the
 * decode-step attention, the backward passes, AdamW) for the wasm backend, from the same module
 * as our SIMD matmul (wasm/kernels.c, one C function each). Written as tfjs ops they are several
 * kernels each; sampling one token at a time is bound by that per-kernel overhead and the extra
 * passes over memory, not by arithmetic.
 *
 * Registered and unregistered by installWasmKernels / uninstallWasmKernels
 * (wasm-kernels.ts): one module, one install. Like the matmul, they work in place on
 * tfjs's heap. A wasm backend created after the install (another memory) gets the plain
 * JavaScript versions of cpu-kernels.ts instead: slower, but the same values.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ADAM_MOMENT_KERNEL, ADAMW_STEP_KERNEL } from './adamw';
import { ATTENTION_GRAD_KERNEL, ATTENTION_PROBS_KERNEL, ATTENTION_VALUES_KERNEL, attentionLayout } from './attention';
import { BIAS_GELU_GRAD_KERNEL, BIAS_GELU_KERNEL, GELU_SLOPE } from './bias-gelu';
import { APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL } from './decode-attention';
import { type Compute, FUSED_KERNELS_JS } from './cpu-kernels';
import { fusedOutputShape } from './kernels';
import { LAYER_NORM_GAIN_GRAD_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from './layer-norm';
import { MASKED_SOFTMAX_KERNEL } from './masked-softmax';
import { TOKEN_ENTROPY_KERNEL, TOKEN_LOGPROBS_GRAD_KERNEL, TOKEN_LOGPROBS_KERNEL } from './token-stats';
import { type WasmBackendLike, exported, tfjsMemory } from './wasm-backend';
import { type SplittableCall, runSplittable } from './kernel-split';
import type { MatmulPool } from './matmul-pool';

const BACKEND = 'wasm';
const FLOAT_BYTES = 4;

type LayerNormFn = (x: number, gain: number, bias: number, out: number, rows: number, width: number, eps: number) => void;
type MaskedSoftmaxFn = (scores: number, mask: number, out: number, batch: number, heads: number, t: number, tk: number, scale: number) => void;
type BiasGeluFn = (x: number, bias: number, out: number, rows: number, width: number, slope: number) => void;
type LayerNormGradFn = (x: number, gain: number, dy: number, out: number, rows: number, width: number, eps: number) => void;
type LayerNormGainGradFn = (x: number, dy: number, out: number, rows: number, width: number, eps: number) => void;
type BiasGeluGradFn = (x: number, bias: number, dy: number, out: number, rows: number, width: number, slope: number) => void;
type AdamMomentFn = (moment: number, grad: number, out: number, n: number, beta: number, rest: number, squared: number) => void;
type AdamWStepFn = (param: number, m: number, v: number, out: number, n: number, keep: number, stepSize: number, sqrtBc2: number, eps: number) => void;
type AppendHeadsFn = (past: number, qkv: number, out: number, batch: number, heads: number, rows: number, headDim: number, part: number) => void;
type DecodeAttentionFn = (
  qkv: number, keys: number, values: number, mask: number, out: number, batch: number, heads: number, keyCount: number, maskWidth: number, headDim: number, scale: number,
) => void;
type AttentionProbsFn = (qkv: number, mask: number, out: number, batch: number, heads: number, t: number, queries: number, headDim: number, scale: number, scratch: number) => void;
type AttentionValuesFn = (probs: number, qkv: number, out: number, batch: number, heads: number, t: number, queries: number, headDim: number, scratch: number) => void;
type TokenLogProbsFn = (logits: number, targets: number, out: number, rows: number, vocab: number) => void;
type TokenLogProbsGradFn = (logits: number, targets: number, dy: number, out: number, rows: number, vocab: number) => void;
type TokenEntropyFn = (logits: number, out: number, rows: number, vocab: number) => void;
type AttentionGradFn = (
  dy: number, qkv: number, probs: number, out: number, batch: number, heads: number, t: number, queries: number, headDim: number, scale: number, scratch: number,
) => void;

/**
 * How one kernel calls its C function: the pointers of its inputs and the output, the sizes and
 * attrs. `scratch` allocates floats on tfjs's heap for the call's duration (freed after it).
 * `split` runs a call that may be cut across the matmul pool's threads (kernel-split.ts), or
 * whole on this one.
 */
export type Call = (
  ptr: (t: tf.TensorInfo) => number, out: number, inputs: Record<string, tf.TensorInfo>, attrs: Record<string, number>,
  scratch: (floats: number) => number, split: (call: SplittableCall) => void,
) => void;

/** A row-wise kernel's call: `rowPointers` are the arguments that point at [rows, width] data. */
function rowsCall(
  name: string, local: (...args: number[]) => void, args: number[], unitsArg: number, rowPointers: number[], width: number,
): SplittableCall {
  return {
    name, local, args, unitsArg,
    advance: rowPointers.map((arg) => [arg, width * FLOAT_BYTES] as const),
    floatsPerUnit: rowPointers.length * width,
  };
}

/**
 * The attention kernels' scratch after anything of their own (kernels.c): each query row's limit
 * (one past its last visible key), Tq rounded up to 4, then what matmul_strided packs the
 * products into: B of each product in panels of 8 columns, k x round_up(n, 8), the largest of
 * q kᵀ (k = hd, n = T) and P v (k = T, n = hd).
 */
function attentionScratchFloats(T: number, Tq: number, hd: number): number {
  const panels = (n: number): number => Math.ceil(n / 8) * 8;
  return Math.ceil(Tq / 4) * 4 + Math.max(hd * panels(T), T * panels(hd));
}

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
  const layerNormGrad = exported<LayerNormGradFn>(exports, 'layer_norm_grad');
  const layerNormGainGrad = exported<LayerNormGainGradFn>(exports, 'layer_norm_gain_grad');
  const biasGeluGrad = exported<BiasGeluGradFn>(exports, 'bias_gelu_grad');
  const adamMoment = exported<AdamMomentFn>(exports, 'adam_moment');
  const adamWStep = exported<AdamWStepFn>(exports, 'adamw_step');
  const appendHeads = exported<AppendHeadsFn>(exports, 'append_heads');
  const decodeAttention = exported<DecodeAttentionFn>(exports, 'decode_attention');
  const attentionProbs = exported<AttentionProbsFn>(exports, 'attention_probs');
  const attentionValues = exported<AttentionValuesFn>(exports, 'attention_values');
  const attentionGrad = exported<AttentionGradFn>(exports, 'attention_grad');
  const tokenLogProbs = exported<TokenLogProbsFn>(exports, 'token_logprobs');
  const tokenLogProbsGrad = exported<TokenLogProbsGradFn>(exports, 'token_logprobs_grad');
  const tokenEntropy = exported<TokenEntropyFn>(exports, 'token_entropy');
  /** Rows and vocabulary of logits [..., V]. */
  const rowsOf = (logits: tf.TensorInfo): [number, number] => {
    const V = logits.shape.at(-1) as number;
    return [tf.util.sizeFromShape(logits.shape) / V, V];
  };
  return {
    [LAYER_NORM_KERNEL]: (ptr, out, { x, gain, bias }, { eps }, _scratch, split) => {
      const width = x!.shape.at(-1) as number;
      const rows = tf.util.sizeFromShape(x!.shape) / width;
      split(rowsCall('layer_norm', layerNorm, [ptr(x!), ptr(gain!), ptr(bias!), out, rows, width, eps!], 4, [0, 3], width));
    },
    [MASKED_SOFTMAX_KERNEL]: (ptr, out, { scores, bias }, { scale }) => {
      const [B, H, T, Tk] = scores!.shape as [number, number, number, number];
      maskedSoftmax(ptr(scores!), ptr(bias!), out, B, H, T, Tk, scale!);
    },
    [BIAS_GELU_KERNEL]: (ptr, out, { x, bias }, _attrs, _scratch, split) => {
      const width = x!.shape.at(-1) as number;
      const rows = tf.util.sizeFromShape(x!.shape) / width;
      split(rowsCall('bias_gelu', biasGelu, [ptr(x!), ptr(bias!), out, rows, width, GELU_SLOPE], 3, [0, 2], width));
    },
    [LAYER_NORM_GRAD_KERNEL]: (ptr, out, { x, gain, dy }, { eps }, _scratch, split) => {
      const width = x!.shape.at(-1) as number;
      const rows = tf.util.sizeFromShape(x!.shape) / width;
      split(rowsCall('layer_norm_grad', layerNormGrad, [ptr(x!), ptr(gain!), ptr(dy!), out, rows, width, eps!], 4, [0, 2, 3], width));
    },
    [LAYER_NORM_GAIN_GRAD_KERNEL]: (ptr, out, { x, dy }, { eps }) => {
      const width = x!.shape.at(-1) as number;
      layerNormGainGrad(ptr(x!), ptr(dy!), out, tf.util.sizeFromShape(x!.shape) / width, width, eps!);
    },
    [BIAS_GELU_GRAD_KERNEL]: (ptr, out, { x, bias, dy }, _attrs, _scratch, split) => {
      const width = x!.shape.at(-1) as number;
      const rows = tf.util.sizeFromShape(x!.shape) / width;
      split(rowsCall('bias_gelu_grad', biasGeluGrad, [ptr(x!), ptr(bias!), ptr(dy!), out, rows, width, GELU_SLOPE], 4, [0, 2, 3], width));
    },
    [ADAM_MOMENT_KERNEL]: (ptr, out, { moment, grad }, { beta, rest, squared }) => {
      adamMoment(ptr(moment!), ptr(grad!), out, tf.util.sizeFromShape(moment!.shape), beta!, rest!, squared!);
    },
    [ADAMW_STEP_KERNEL]: (ptr, out, { param, m, v }, { keep, stepSize, sqrtBc2, eps }) => {
      adamWStep(ptr(param!), ptr(m!), ptr(v!), out, tf.util.sizeFromShape(param!.shape), keep!, stepSize!, sqrtBc2!, eps!);
    },
    [APPEND_HEADS_KERNEL]: (ptr, out, { past, qkv }, { part }) => {
      const [B, H, rows, hd] = past!.shape as [number, number, number, number];
      appendHeads(ptr(past!), ptr(qkv!), out, B, H, rows, hd, part!);
    },
    [DECODE_ATTENTION_KERNEL]: (ptr, out, { qkv, keys, values, bias }, { scale }) => {
      const [B, H, Tk, hd] = keys!.shape as [number, number, number, number];
      decodeAttention(ptr(qkv!), ptr(keys!), ptr(values!), ptr(bias!), out, B, H, Tk, bias!.shape[3] as number, hd, scale!);
    },
    // The attention's kernels are cut by batch row: per row, qkv [T, 3d], the mask [Tq, T] and
    // each head's probabilities [Tq, T], the output [Tq, d] (or [T, 3d] for the gradient).
    [ATTENTION_PROBS_KERNEL]: (ptr, out, { qkv, bias }, { heads, scale }, scratch, split) => {
      const { B, T, Tq, hd, row } = attentionLayout(qkv!.shape, heads!, bias!.shape[2]);
      const floats = attentionScratchFloats(T, Tq, hd);
      split({
        name: 'attention_probs', local: attentionProbs, args: [ptr(qkv!), ptr(bias!), out, B, heads!, T, Tq, hd, scale!, scratch(floats)], unitsArg: 3,
        advance: [[0, T * row * FLOAT_BYTES], [1, Tq * T * FLOAT_BYTES], [2, heads! * Tq * T * FLOAT_BYTES]], scratch: [9, floats],
        floatsPerUnit: T * row + Tq * T + heads! * Tq * T,
      });
    },
    [ATTENTION_VALUES_KERNEL]: (ptr, out, { probs, qkv }, _attrs, scratch, split) => {
      const H = probs!.shape[1] as number;
      const { B, T, Tq, hd, d, row } = attentionLayout(qkv!.shape, H, probs!.shape[2]);
      const floats = attentionScratchFloats(T, Tq, hd);
      split({
        name: 'attention_values', local: attentionValues, args: [ptr(probs!), ptr(qkv!), out, B, H, T, Tq, hd, scratch(floats)], unitsArg: 3,
        advance: [[0, H * Tq * T * FLOAT_BYTES], [1, T * row * FLOAT_BYTES], [2, Tq * d * FLOAT_BYTES]], scratch: [8, floats],
        floatsPerUnit: H * Tq * T + T * row + Tq * d,
      });
    },
    [ATTENTION_GRAD_KERNEL]: (ptr, out, { dy, qkv, probs }, { scale }, scratch, split) => {
      const H = probs!.shape[1] as number;
      const { B, T, Tq, hd, d, row } = attentionLayout(qkv!.shape, H, probs!.shape[2]);
      // dS for every head of a row, then the limits and the packing.
      const floats = H * Tq * T + attentionScratchFloats(T, Tq, hd);
      split({
        name: 'attention_grad', local: attentionGrad, args: [ptr(dy!), ptr(qkv!), ptr(probs!), out, B, H, T, Tq, hd, scale!, scratch(floats)], unitsArg: 4,
        advance: [[0, Tq * d * FLOAT_BYTES], [1, T * row * FLOAT_BYTES], [2, H * Tq * T * FLOAT_BYTES], [3, T * row * FLOAT_BYTES]], scratch: [10, floats],
        floatsPerUnit: Tq * d + 2 * T * row + H * Tq * T,
      });
    },
    [TOKEN_LOGPROBS_KERNEL]: (ptr, out, { logits, targets }) => tokenLogProbs(ptr(logits!), ptr(targets!), out, ...rowsOf(logits!)),
    [TOKEN_LOGPROBS_GRAD_KERNEL]: (ptr, out, { logits, targets, dy }) => tokenLogProbsGrad(ptr(logits!), ptr(targets!), ptr(dy!), out, ...rowsOf(logits!)),
    [TOKEN_ENTROPY_KERNEL]: (ptr, out, { logits }) => tokenEntropy(ptr(logits!), out, ...rowsOf(logits!)),
  };
}

function run(
  name: string, memory: WebAssembly.Memory, pool: MatmulPool | null, call: Call, fallback: Compute, args: Parameters<tf.KernelFunc>[0],
): tf.TensorInfo {
  const inputs = args.inputs as Record<string, tf.TensorInfo>;
  const attrs = args.attrs as Record<string, number>;
  const backend = args.backend as unknown as WasmBackendLike;
  const list = Object.values(inputs);
  const shape = fusedOutputShape(name, inputs, attrs);
  const out = backend.makeOutput(shape, 'float32');
  if (tf.util.sizeFromShape(shape) === 0) return out;
  if (tfjsMemory(backend) !== memory || list.some((t) => t.dtype !== 'float32')) {
    const values = fallback((t) => Float32Array.from(backend.readSync(t.dataId) as ArrayLike<number>), inputs, attrs);
    backend.typedArrayFromHeap(out).set(values);
    return out;
  }
  calls++;
  const allocated: number[] = [];
  const scratch = (floats: number): number => {
    const at = backend.wasm._malloc(Math.max(1, floats) * FLOAT_BYTES);
    allocated.push(at);
    return at;
  };
  try {
    call((t) => backend.getMemoryOffset(t.dataId), backend.getMemoryOffset(out.dataId), inputs, attrs, scratch, (c) => runSplittable(pool, c));
  } finally {
    for (const at of allocated) backend.wasm._free(at);
  }
  return out;
}

/**
 * Registers the fused kernels on the wasm backend, calling an instance of our module that imports
 * `memory` (tfjs's); large calls of the row-wise ones are cut across `pool`'s threads where it
 * works in place.
 */
export function registerWasmFusedKernels(kernels: Record<string, Call>, memory: WebAssembly.Memory, pool: MatmulPool | null = null): void {
  unregisterWasmFusedKernels();
  for (const [name, call] of Object.entries(kernels)) {
    const fallback = FUSED_KERNELS_JS[name] as Compute;
    tf.registerKernel({ kernelName: name, backendName: BACKEND, kernelFunc: (args) => run(name, memory, pool, call, fallback, args) });
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
