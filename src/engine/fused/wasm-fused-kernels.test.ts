/**
 * The fused kernels' wasm versions (wasm/kernels.c, wasm-fused-kernels.ts) against the
 * composite ops on the wasm backend: each kernel's values and gradients, the whole model's
 * logits and gradients, no tensor or heap left behind, and install / uninstall.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nodeKernelModules, tf, useBackend } from '../../node/tfjs-node';
import { MASKED } from '../model';
import { wasmBatchMatMulInstalled } from './batch-matmul-wasm';
import { installWasmKernels, uninstallWasmKernels } from './wasm-kernels';
import { BIAS_GELU_GRAD_KERNEL, BIAS_GELU_KERNEL, biasGeluOps, fusedBiasGelu } from './bias-gelu';
import { fusedVsOps, largestAbsDifference } from './compare';
import { APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL } from './decode-attention';
import { ATTENTION_KERNELS, attentionOps, fusedAttention } from './attention';
import {
  TOKEN_ENTROPY_KERNEL, TOKEN_LOGPROBS_GRAD_KERNEL, TOKEN_LOGPROBS_KERNEL,
  fusedTokenEntropy, fusedTokenLogProbs, tokenEntropyOps, tokenLogProbsOps,
} from './token-stats';
import { adamWDifference, decodeStepDifference } from './value-fixtures';
import { ADAMW_KERNELS, FUSED_KERNELS } from './kernels';
import { LAYER_NORM_GAIN_GRAD_KERNEL, LAYER_NORM_GRAD_KERNEL, LAYER_NORM_KERNEL, fusedLayerNorm, layerNormOps } from './layer-norm';
import { MASKED_SOFTMAX_KERNEL, fusedMaskedSoftmax, maskedSoftmaxOps } from './masked-softmax';
import { largestDifference, modelFixture } from './model-fixture';
import { wasmFusedKernelCalls } from './wasm-fused-kernels';

/** Not a WebAssembly module: install must refuse it and change nothing. */
const BROKEN = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99]);
const BROKEN_MODULES = { unshared: BROKEN, shared: BROKEN };


beforeAll(async () => {
  await useBackend('wasm');
});

afterAll(async () => {
  // Leave the wasm backend as the other test files expect it: with all our kernels.
  await useBackend('wasm');
});

/** fusedVsOps on wasm, checking that our module computed every fused call (none fell back to JavaScript). */
async function compare(
  fused: (...t: tf.Tensor[]) => tf.Tensor, ops: (...t: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], backwardKernels: number,
): Promise<number[]> {
  const calls = wasmFusedKernelCalls();
  expect(calls, 'fused kernels registered').not.toBeNull();
  const diffs = await fusedVsOps(fused, ops, inputs);
  // fusedVsOps runs the fused op three times (for the shape, in the gradient, for the value) and
  // its backward pass once.
  expect(wasmFusedKernelCalls(), 'computed by our module').toBe((calls as number) + 3 + backwardKernels);
  tf.dispose(inputs);
  return diffs;
}

/** A mask [B, 1, T, Tk]: causal over a cache of Tk - T keys, plus pads; row (B - 1, 0) hidden everywhere. */
function mask(B: number, T: number, Tk: number): tf.Tensor {
  const data = new Float32Array(B * T * Tk);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < Tk; j++) {
        const hidden = j > t + Tk - T || j < b || (b === B - 1 && t === 0);
        data[(b * T + t) * Tk + j] = hidden ? MASKED : 0;
      }
    }
  }
  return tf.tensor4d(data, [B, 1, T, Tk]);
}

describe('the fused kernels on wasm', () => {
  test('are registered by useBackend("wasm") and taken out by uninstall', async () => {
    await useBackend('wasm');
    for (const name of FUSED_KERNELS) expect(tf.getKernel(name, 'wasm'), name).toBeDefined();
    uninstallWasmKernels();
    for (const name of FUSED_KERNELS) expect(tf.getKernel(name, 'wasm'), name).toBeUndefined();
    expect(wasmFusedKernelCalls()).toBeNull();
    // The matmul alone.
    expect((await installWasmKernels(nodeKernelModules(), { fused: false })).installed).toBe(true);
    expect(wasmBatchMatMulInstalled()).toBe(true);
    for (const name of FUSED_KERNELS) expect(tf.getKernel(name, 'wasm'), name).toBeUndefined();
    expect((await installWasmKernels(nodeKernelModules())).installed).toBe(true);
    for (const name of FUSED_KERNELS) expect(tf.getKernel(name, 'wasm'), name).toBeDefined();
    // A broken module changes nothing.
    expect((await installWasmKernels(BROKEN_MODULES)).installed).toBe(false);
    for (const name of FUSED_KERNELS) expect(tf.getKernel(name, 'wasm'), name).toBeDefined();
  });

  test.each([[[3, 5, 128]], [[7, 37]], [[2, 3]], [[4, 1]], [[1, 64]]])('layer norm %j: the values and gradients of the ops', async (shape) => {
    const width = shape.at(-1) as number;
    // An offset and spread per row, so that mean and variance matter.
    const x = tf.tidy(() => tf.add(tf.mul(tf.randomNormal(shape, 0, 1, 'float32', 1), 3), 5));
    const diffs = await compare(fusedLayerNorm, layerNormOps, [x, tf.randomNormal([width], 1, 0.5, 'float32', 2), tf.randomNormal([width], 0, 1, 'float32', 3)], 2);
    diffs.forEach((d, i) => expect(d, `${['value', 'dx', 'dgain', 'dbias'][i]}`).toBeLessThan(1e-4));
    expect(diffs[0]).toBeLessThan(1e-5);
  });

  // 4-row groups and the rows after them; widths with and without a tail past the last 4 columns.
  test.each([[[9, 128]], [[6, 37]], [[3, 5]]])('layer norm %j gives the floats of a one-row float32 loop in column order (tfjs\'s Mean), bit for bit', async (shape) => {
    const [rows, width] = shape as [number, number];
    const eps = 1e-5;
    const [x, gain, bias] = [tf.randomNormal(shape, 2, 3, 'float32', 4), tf.randomNormal([width], 1, 0.3, 'float32', 5), tf.randomNormal([width], 0, 1, 'float32', 6)];
    const y = tf.engine().runKernel(LAYER_NORM_KERNEL, { x, gain, bias }, { eps }) as tf.Tensor;
    const [xs, g, b, got] = (await Promise.all([x.data(), gain.data(), bias.data(), y.data()])) as Float32Array[];
    const f = Math.fround;
    const expected = new Float32Array(rows * width);
    for (let r = 0; r < rows; r++) {
      const row = xs!.subarray(r * width, (r + 1) * width);
      const mean = f(row.reduce((t, v) => f(t + v), 0) / width);
      const sd = f(Math.sqrt(f(f(row.reduce((t, v) => f(t + f(f(v - mean) * f(v - mean))), 0) / width) + f(eps))));
      row.forEach((v, j) => { expected[r * width + j] = f(f(f(f(v - mean) / sd) * g![j]!) + b![j]!); });
    }
    expect(Array.from(got!)).toEqual(Array.from(expected));
    tf.dispose([x, gain, bias, y]);
  });

  test.each([[[2, 3, 4, 6]], [[2, 4, 1, 45]], [[3, 2, 5, 7]], [[1, 1, 3, 3]], [[2, 4, 44, 44]]])('masked softmax %j: the values and gradients of the ops, masked keys 0', async (shape) => {
    const [B, H, T, Tk] = shape as [number, number, number, number];
    const scale = 1 / Math.sqrt(8);
    const scores = tf.randomNormal(shape, 0, 6, 'float32', 11);
    const bias = mask(B, T, Tk);
    const y = tf.tidy(() => fusedMaskedSoftmax(scores, bias, scale));
    const [values, m] = [await y.data(), await bias.data()];
    for (let i = 0; i < values.length; i++) {
      const row = Math.floor(i / Tk);
      const [b, t, j] = [Math.floor(row / (H * T)), row % T, i % Tk];
      const maskedRow = b === B - 1 && t === 0;
      if (m[(b * T + t) * Tk + j]! < -1 && !maskedRow) expect(values[i]).toBe(0);
      if (maskedRow) expect(values[i]).toBeCloseTo(1 / Tk, 6);
    }
    y.dispose();
    const diffs = await compare((s, b) => fusedMaskedSoftmax(s!, b!, scale), (s, b) => maskedSoftmaxOps(s!, b!, scale), [scores, bias], 0);
    diffs.forEach((d, i) => expect(d, `${['value', 'dscores', 'dbias'][i]}`).toBeLessThan(1e-5));
  });

  test.each([[[6, 512]], [[5, 13]], [[3]], [[2, 2, 7]]])('bias + GELU %j: the values and gradients of the ops, over exp\'s whole range', async (shape) => {
    const width = shape.at(-1) as number;
    // Spread 40: many z far into the tails (exp(-1.702 z) overflows or vanishes there).
    const x = tf.randomNormal(shape, 0, 40, 'float32', 5);
    const diffs = await compare(fusedBiasGelu, biasGeluOps, [x, tf.randomNormal([width], 0, 1, 'float32', 6)], 1);
    // Values reach ~150: compare relative to that.
    diffs.forEach((d, i) => expect(d / 150, `${['value', 'dx', 'dbias'][i]}`).toBeLessThan(1e-6));
    const small = await compare(fusedBiasGelu, biasGeluOps, [tf.randomNormal(shape, 0, 2, 'float32', 7), tf.randomNormal([width], 0, 1, 'float32', 8)], 1);
    small.forEach((d) => expect(d).toBeLessThan(1e-5));
  });

  test('bias + GELU is within 1e-6 of float64 relative to its value: the exp polynomial is accurate', async () => {
    // z from -50 to 50: where exp(-1.702 z) is large, y's relative error is exp's.
    const z = Float32Array.from({ length: 4001 }, (_, i) => -50 + i / 40);
    const y = tf.tidy(() => fusedBiasGelu(tf.tensor1d(z), tf.zeros([z.length])));
    const values = await y.data();
    y.dispose();
    let worst = 0;
    z.forEach((v, i) => {
      // From exp's float32 argument: its rounding alone is up to 4e-6 of exp near |arg| = 85.
      const exact = v / (1 + Math.exp(Math.fround(Math.fround(-1.702) * v)));
      if (exact !== 0) worst = Math.max(worst, Math.abs((values[i]! - exact) / exact));
    });
    expect(worst).toBeLessThan(1e-6);
  });

  // Head widths 32 (the models'), 5 and 2 (the dot product's and value row's scalar tails), and
  // key counts off a multiple of 4 (the lanes exp4 leaves empty).
  test.each([[[3, 4, 44, 32]], [[2, 3, 6, 5]], [[4, 2, 1, 2]], [[1, 1, 0, 4]]])('decode-step attention [B, H, Tpast, hd] = %j: the composite values, computed by our module', async (shape) => {
    const [B, H, Tp, hd] = shape as [number, number, number, number];
    const calls = wasmFusedKernelCalls() as number;
    expect(await decodeStepDifference(B, H, Tp, hd, 21)).toBeLessThan(1e-5);
    // A bias wider than the keys, as the device loop passes: only its first Tp + 1 columns count.
    expect(await decodeStepDifference(B, H, Tp, hd, 21, 3)).toBeLessThan(1e-5);
    // Each comparison: three fused calls, and the composite's masked softmax (itself fused) one more.
    expect(wasmFusedKernelCalls(), 'computed by our module').toBe(calls + 8);
  });

  // The models' shape (T = 43 tokens, 4 heads of 32; the shared-prompt forward's rows query the
  // last 32), and head widths and lengths off the 4-row tiles, 8-column panels and 4 lanes the
  // products and the softmax work in.
  test.each([[4, 43, 43, 4, 32], [4, 43, 32, 4, 32], [2, 9, 9, 3, 5], [2, 9, 4, 3, 5], [1, 1, 1, 1, 2]])('attention B=%i T=%i queries=%i heads=%i hd=%i: the composite values and qkv gradient, computed by our module', async (B, T, Tq, H, hd) => {
    const qkv = tf.randomNormal([B, T, 3 * H * hd], 0, 1.5, 'float32', 22);
    const bias = mask(B, Tq, T);
    const scale = 1 / Math.sqrt(hd);
    const calls = wasmFusedKernelCalls() as number;
    const [value, dqkv] = await fusedVsOps((x) => fusedAttention(x!, bias, H, scale), (x) => attentionOps(x!, bias, H, scale), [qkv]);
    expect(value).toBeLessThan(1e-5);
    expect(dqkv).toBeLessThan(1e-5);
    // The fused op three times (two kernels each) and its backward pass once; the composite's
    // masked softmax (itself fused) twice.
    expect(wasmFusedKernelCalls(), 'computed by our module').toBe(calls + 3 * 2 + 1 + 2);
    tf.dispose([qkv, bias]);
  });

  // The kernels leave out what lies past each query's last visible key (kernels.c, LIMIT_*): with
  // holes anywhere, rows that see only later keys, and one that sees none, the result still matches.
  test('attention under a mask that is not causal: the composite values and qkv gradient', async () => {
    const [B, T, Tq, H, hd] = [3, 21, 13, 2, 6];
    const qkv = tf.randomNormal([B, T, 3 * H * hd], 0, 1.5, 'float32', 25);
    const data = Array.from({ length: B * Tq * T }, (_, i) => {
      const [row, j] = [Math.floor(i / T), i % T];
      const q = row % Tq;
      if (q === 3) return MASKED;
      if (q === 5) return j === T - 1 ? 0 : MASKED;
      return (i * 7919) % 5 === 0 ? MASKED : 0;
    });
    const bias = tf.tensor4d(data, [B, 1, Tq, T]);
    const [value, dqkv] = await fusedVsOps((x) => fusedAttention(x!, bias, H, 0.4), (x) => attentionOps(x!, bias, H, 0.4), [qkv]);
    expect(value).toBeLessThan(1e-5);
    expect(dqkv).toBeLessThan(1e-5);
    tf.dispose([qkv, bias]);
  });

  // The model's vocabulary (70), one off a multiple of 4 (the lanes), and the smallest (tfjs's one-hot needs 2).
  test.each([[[4, 43, 70]], [[3, 7]], [[2, 2]]])('token log-probabilities and entropy of logits %j: the composite values and gradient, computed by our module', async (shape) => {
    const V = shape.at(-1) as number;
    const logits = tf.randomNormal(shape, 0, 4, 'float32', 23);
    const targets = tf.tidy(() => tf.cast(tf.floor(tf.mul(tf.randomUniform(shape.slice(0, -1), 0, 1, 'float32', 24), V)), 'int32'));
    const calls = wasmFusedKernelCalls() as number;
    const [value, dlogits] = await fusedVsOps((l) => fusedTokenLogProbs(l!, targets), (l) => tokenLogProbsOps(l!, targets), [logits]);
    expect(value).toBeLessThan(1e-5);
    expect(dlogits).toBeLessThan(1e-6);
    const [fused, ops] = [fusedTokenEntropy(logits), tokenEntropyOps(logits)];
    expect(largestAbsDifference(await fused.data(), await ops.data())).toBeLessThan(1e-5);
    // The log-probabilities three times and their gradient once; the entropy once.
    expect(wasmFusedKernelCalls(), 'computed by our module').toBe(calls + 3 + 1 + 1);
    tf.dispose([logits, targets, fused, ops]);
  });

  test('AdamW: the fused kernels give the ops\' new weights and moments, computed by our module (odd length: the SIMD tail)', async () => {
    const calls = wasmFusedKernelCalls() as number;
    expect(await adamWDifference(23, 40)).toBeLessThan(1e-6);
    expect(wasmFusedKernelCalls(), 'computed by our module').toBe(calls + 3);
  });

  test('a non-float32 input gets the JavaScript version (cpu-kernels.ts), not our module', async () => {
    const calls = wasmFusedKernelCalls();
    const y = tf.tidy(() => tf.engine().runKernel(BIAS_GELU_KERNEL, { x: tf.tensor2d([[1, -2, 3]], undefined, 'int32'), bias: tf.zeros([3]) }, {}) as tf.Tensor);
    const values = await y.data();
    y.dispose();
    expect(wasmFusedKernelCalls()).toBe(calls);
    [1, -2, 3].forEach((z, i) => expect(values[i]).toBeCloseTo(z / (1 + Math.exp(-1.702 * z)), 6));
  });
});

const { randomParams, generationLogits, weightGradients, kernelNames } = modelFixture(36);

/** Runs fn with the matmul alone (the composite ops), then puts every kernel back. */
async function withoutFused<T>(fn: () => T): Promise<T> {
  expect((await installWasmKernels(nodeKernelModules(), { fused: false })).installed).toBe(true);
  try {
    return fn();
  } finally {
    expect((await installWasmKernels(nodeKernelModules())).installed).toBe(true);
  }
}

describe('the model on wasm with the fused kernels', () => {
  test('runs each fused kernel, and none of the composite ops they replace', async () => {
    await useBackend('wasm');
    const p = randomParams();
    // Generation and a gradient: the forward kernels, the decode step's and the backward ones.
    const names = await kernelNames(p);
    // All but the optimiser's and the entropy metric's (optim.test.ts and token-stats.test.ts check those).
    for (const name of FUSED_KERNELS.filter((k) => !ADAMW_KERNELS.includes(k) && k !== TOKEN_ENTROPY_KERNEL)) expect(names, name).toContain(name);
    for (const op of ['Softmax', 'Sigmoid', 'Sqrt', 'Rsqrt']) expect(names, op).not.toContain(op);
    expect([
      LAYER_NORM_KERNEL, MASKED_SOFTMAX_KERNEL, BIAS_GELU_KERNEL, APPEND_HEADS_KERNEL, DECODE_ATTENTION_KERNEL,
      LAYER_NORM_GRAD_KERNEL, LAYER_NORM_GAIN_GRAD_KERNEL, BIAS_GELU_GRAD_KERNEL, ...ADAMW_KERNELS, ...ATTENTION_KERNELS,
      TOKEN_LOGPROBS_KERNEL, TOKEN_LOGPROBS_GRAD_KERNEL, TOKEN_ENTROPY_KERNEL,
    ]).toEqual(FUSED_KERNELS);
    tf.dispose(Object.values(p));
  });

  test('gives the logits of the composite ops, at prefill and at a decode step on the KV cache', async () => {
    const p = randomParams();
    const ops = await withoutFused(() => generationLogits(p));
    const calls = wasmFusedKernelCalls() as number;
    const fused = generationLogits(p);
    expect(wasmFusedKernelCalls()).toBeGreaterThan(calls);
    const largest = Math.max(...ops.map((l) => Math.max(...l.map(Math.abs))));
    expect(largest).toBeGreaterThan(1);
    // Logits reach ~22 here (a float32 ulp of 2e-6). Both sides round in float32 and differ in
    // their exp (ours against XNNPACK's in softmax and sigmoid): a few ulps, 1e-5 measured.
    expect(largestDifference(fused, ops) / largest).toBeLessThan(1e-6);
    tf.dispose(Object.values(p));
  });

  test('gives the gradients of the composite ops for every weight', async () => {
    const p = randomParams();
    const ops = await withoutFused(() => weightGradients(p));
    const fused = weightGradients(p);
    const scale = Math.max(...ops.map((g) => Math.max(...g.map(Math.abs))));
    expect(largestDifference(fused, ops) / scale).toBeLessThan(1e-5);
    tf.dispose(Object.values(p));
  });

  test('leaves no tensor and no heap behind, in generation or in a gradient', async () => {
    await useBackend('wasm');
    const memory = (tf.backend() as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;
    const p = randomParams();
    generationLogits(p);
    weightGradients(p);
    const before = { tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, heap: memory.buffer.byteLength };
    for (let i = 0; i < 20; i++) {
      generationLogits(p);
      weightGradients(p);
    }
    expect({ tensors: tf.memory().numTensors, bytes: tf.memory().numBytes, heap: memory.buffer.byteLength }).toEqual(before);
    tf.dispose(Object.values(p));
  });
});
