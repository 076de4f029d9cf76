/**
 * Every fused kernel's name, in one list: what bench:gpu --no-fused unregisters to measure what
 * the kernels save, and what the tests register plain JavaScript versions of. A new fused op
 * adds its name here.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { BIAS_GELU_KERNEL } from './bias-gelu';
import { APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL, decodeKernelOutputShape } from './decode-attention';
import { LAYER_NORM_KERNEL } from './layer-norm';
import { MASKED_SOFTMAX_KERNEL } from './masked-softmax';

export const FUSED_KERNELS: readonly string[] = [
  LAYER_NORM_KERNEL, MASKED_SOFTMAX_KERNEL, BIAS_GELU_KERNEL, APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL,
];

/** The shape a fused kernel gives for these inputs: its first input's (x, or the scores) unless it reshapes. */
export function fusedOutputShape(name: string, inputs: Record<string, tf.TensorInfo>): number[] {
  return decodeKernelOutputShape(name, inputs) ?? (Object.values(inputs)[0] as tf.TensorInfo).shape;
}
