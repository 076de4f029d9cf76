/**
 * Every fused kernel's name, in lists: FUSED_KERNELS, which every backend of ours has (WebGPU,
 * wasm in C, cpu in JavaScript for the tests), and the device loop's, which only WebGPU needs;
 * bench:gpu --no-fused unregisters both to measure what the kernels save. A new fused op adds its
 * name to one of them, its output shape below when that is not its first input's, and its
 * output dtype when that is not float32.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { ADAM_MOMENT_KERNEL, ADAMW_STEP_KERNEL } from './adamw';
import { ATTENTION_GRAD_KERNEL, ATTENTION_KERNELS, ATTENTION_PROBS_KERNEL, ATTENTION_VALUES_KERNEL } from './attention';
import { BIAS_GELU_GRAD_KERNEL, BIAS_GELU_KERNEL } from './bias-gelu';
import { APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL } from './decode-attention';
import { LAYER_NORM_GAIN_GRAD_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL } from './layer-norm';
import { MASKED_SOFTMAX_KERNEL } from './masked-softmax';
import { SAMPLE_TOKENS_KERNEL } from './sample-tokens';
import { DECODE_LINEAR_KERNEL, decodeLinearWidth } from './decode-linear';
import { TOKEN_ENTROPY_KERNEL, TOKEN_LOGPROBS_KERNEL, TOKEN_STATS_KERNELS } from './token-stats';

export const FUSED_KERNELS: readonly string[] = [
  LAYER_NORM_KERNEL, MASKED_SOFTMAX_KERNEL, BIAS_GELU_KERNEL, APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL,
  LAYER_NORM_GRAD_KERNEL, LAYER_NORM_GAIN_GRAD_KERNEL, BIAS_GELU_GRAD_KERNEL, ADAM_MOMENT_KERNEL, ADAMW_STEP_KERNEL,
  ...ATTENTION_KERNELS, ...TOKEN_STATS_KERNELS,
];

/**
 * Kernels only WebGPU has: the device loop's token choice (device-generation.ts; wasm and cpu
 * choose on the host) and the decoding step's linear layers with their layer norm, bias, GELU or
 * residual (on a CPU the separate kernels cost what one would). cpu-kernels.ts has the
 * JavaScript versions tests register.
 */
export const WEBGPU_ONLY_KERNELS: readonly string[] = [SAMPLE_TOKENS_KERNEL, DECODE_LINEAR_KERNEL];

/** Every kernel webgpu-kernels.ts registers: what bench:gpu --no-fused and --leave-out choose from. */
export const WEBGPU_KERNELS: readonly string[] = [...FUSED_KERNELS, ...WEBGPU_ONLY_KERNELS];

/** The optimiser's kernels: a model's forward and backward passes run every other one. */
export const ADAMW_KERNELS: readonly string[] = [ADAM_MOMENT_KERNEL, ADAMW_STEP_KERNEL];

type Inputs = Record<string, tf.TensorInfo>;
type Attrs = Record<string, unknown>;

/** The kernels whose output is not shaped like their first input. */
const OUTPUT_SHAPES: Record<string, (inputs: Inputs, attrs: Attrs) => number[]> = {
  // past [B, H, Tpast, hd] → [B, H, Tpast + 1, hd]
  [APPEND_HEADS_KERNEL]: ({ past }) => past!.shape.map((n, i) => (i === 2 ? n + 1 : n)),
  // qkv [B, 1, 3d] → [B, 1, d]
  [DECODE_ATTENTION_KERNEL]: ({ qkv }) => [qkv!.shape[0] as number, 1, (qkv!.shape[2] as number) / 3],
  // x [..., width] → [width]
  [LAYER_NORM_GAIN_GRAD_KERNEL]: ({ x }) => [x!.shape.at(-1) as number],
  // qkv [B, T, 3d], bias [B, 1, Tq, T] → [B, heads, Tq, T]
  [ATTENTION_PROBS_KERNEL]: ({ qkv, bias }, { heads }) => [qkv!.shape[0] as number, heads as number, bias!.shape[2] as number, qkv!.shape[1] as number],
  // probs [B, H, Tq, T], qkv [B, T, 3d] → [B, Tq, d]
  [ATTENTION_VALUES_KERNEL]: ({ probs, qkv }) => [qkv!.shape[0] as number, probs!.shape[2] as number, (qkv!.shape[2] as number) / 3],
  // dy [B, Tq, d] → [B, T, 3d]
  [ATTENTION_GRAD_KERNEL]: ({ qkv }) => qkv!.shape,
  // logits [..., V] → [...]
  [TOKEN_LOGPROBS_KERNEL]: ({ logits }) => logits!.shape.slice(0, -1),
  [TOKEN_ENTROPY_KERNEL]: ({ logits }) => logits!.shape.slice(0, -1),
  // logits [B, V] → [B]
  [SAMPLE_TOKENS_KERNEL]: ({ logits }) => logits!.shape.slice(0, 1),
  // x [M, K], w [K, N] (or [N, K] transposed) → [M, N]
  [DECODE_LINEAR_KERNEL]: ({ x, w }, { transposeW }) => [x!.shape[0] as number, decodeLinearWidth(w!.shape, transposeW === 1)],
};

/** The shape a fused kernel gives for these inputs: its first input's (x, or the scores) unless listed above. */
export function fusedOutputShape(name: string, inputs: Inputs, attrs: Attrs = {}): number[] {
  return OUTPUT_SHAPES[name]?.(inputs, attrs) ?? (Object.values(inputs)[0] as tf.TensorInfo).shape;
}

/**
 * The kernels whose output is not float32. Token ids come out as int32, what the embedding
 * lookup reads: as float32 they would need a cast, one more dispatch per sampled token.
 */
const OUTPUT_DTYPES: Record<string, 'int32'> = {
  [SAMPLE_TOKENS_KERNEL]: 'int32',
};

export function fusedOutputDtype(name: string): 'float32' | 'int32' {
  return OUTPUT_DTYPES[name] ?? 'float32';
}
