/**
 * Every fused kernel's name, in one list: what bench:gpu --no-fused unregisters to measure what
 * the kernels save, and what the tests register plain JavaScript versions of. A new fused op
 * adds its name here.
 */
import { BIAS_GELU_KERNEL } from './bias-gelu';
import { LAYER_NORM_KERNEL } from './layer-norm';
import { MASKED_SOFTMAX_KERNEL } from './masked-softmax';

export const FUSED_KERNELS: readonly string[] = [LAYER_NORM_KERNEL, MASKED_SOFTMAX_KERNEL, BIAS_GELU_KERNEL];
