/**
 * The model with every fused kernel (their cpu versions, cpu-kernels.ts) against the model on
 * the composite ops: the same logits, the same gradients, no tensor left behind.
 */
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { tf, useBackend } from '../../node/tfjs-node';
import { decodeStep, disposeCache, prefill } from '../decoding';
import { MASKED, type Params, causalBias, forward, positionsFor, tokenLogProbs, weightShapes } from '../model';
import type { ModelConfig } from '../model-config';
import { Tokenizer } from '../tokenizer';
import { registerCpuFusedKernels, unregisterCpuFusedKernels } from './cpu-kernels';
import { FUSED_KERNELS } from './kernels';

const tok = new Tokenizer();
const config: ModelConfig = { name: 'fused-test', layers: 2, dModel: 32, heads: 4, context: 32, promptAnchor: 16, vocabSize: tok.size };

// Left-padded prompts of different lengths, so the mask hides pads as well as future keys.
const padded = [[tok.padId, tok.padId, 5, 6, 7], [8, 9, 10, 11, 12], [tok.padId, tok.padId, tok.padId, tok.padId, 13]];
const valid = padded.map((row) => row.map((id) => (id === tok.padId ? 0 : 1)));

/**
 * Random weights large enough that attention is far from uniform and GELU leaves its linear
 * part (the 0.02 init would make the comparison trivially pass).
 */
function randomParams(): Params {
  const p: Params = {};
  weightShapes(config).forEach(([name, shape], i) => {
    const std = name === 'wte' || name === 'wpe' ? 1 : shape.length === 2 ? 2 / Math.sqrt(shape[0] as number) : 0.3;
    p[name] = tf.randomNormal(shape, name.endsWith('.g') ? 1 : 0, std, 'float32', 100 + i);
  });
  return p;
}

/** Prefill's logits and one decode step's (reading and extending the KV cache), read back. */
function generationLogits(p: Params): Float32Array[] {
  const first = prefill(p, config, padded, valid, true);
  const Tk = padded[0]!.length + 1;
  const bias = tf.tensor4d(valid.flatMap((row) => [...row, 1].map((v) => (v === 1 ? 0 : MASKED))), [padded.length, 1, 1, Tk]);
  const tokens = tf.tensor2d(padded.map((row) => [row.at(-1)!]), undefined, 'int32');
  const next = decodeStep(p, config, tokens, config.promptAnchor, bias, first.cache!);
  const out = [first.logits.dataSync() as Float32Array, next.logits.dataSync() as Float32Array];
  tf.dispose([first.logits, next.logits, bias, tokens]);
  disposeCache(first.cache!);
  disposeCache(next.cache!);
  return out;
}

/** Gradient of a weighted sum of the token log-probs with respect to every weight, in weightShapes order. */
function weightGradients(p: Params): Float32Array[] {
  return tf.tidy(() => {
    const names = Object.keys(p);
    const targets = tf.tensor2d(padded.map((row) => [...row.slice(1), 1]), undefined, 'int32');
    const weights = tf.randomNormal(targets.shape, 0, 1, 'float32', 3);
    const loss = (...ws: tf.Tensor[]) => {
      const q = Object.fromEntries(names.map((n, i) => [n, ws[i] as tf.Tensor]));
      const logits = forward(q, config, tf.tensor2d(padded, undefined, 'int32'),
        tf.tensor2d(positionsFor(valid, padded[0]!.length, config.promptAnchor), undefined, 'int32'), causalBias(valid)).logits;
      return tf.sum(tf.mul(tokenLogProbs(logits, targets), weights));
    };
    return tf.grads(loss)(names.map((n) => p[n] as tf.Tensor)).map((g) => g.dataSync() as Float32Array);
  });
}

function largestDifference(a: Float32Array[], b: Float32Array[]): number {
  return Math.max(...a.map((x, i) => x.reduce((m, v, j) => Math.max(m, Math.abs(v - (b[i] as Float32Array)[j]!)), 0)));
}

beforeAll(async () => {
  await useBackend('cpu');
});

afterEach(() => unregisterCpuFusedKernels());

describe('the model with the fused kernels', () => {
  test('runs each fused kernel, and none of the composite ops they replace', async () => {
    const p = randomParams();
    registerCpuFusedKernels();
    const run = await tf.profile(() => generationLogits(p));
    for (const name of FUSED_KERNELS) expect(run.kernelNames, name).toContain(name);
    for (const op of ['Softmax', 'Sigmoid', 'Sqrt', 'Rsqrt']) expect(run.kernelNames, op).not.toContain(op);
    tf.dispose(Object.values(p));
  });

  test('gives the logits of the composite ops, at prefill and at a decode step on the KV cache', () => {
    const p = randomParams();
    const ops = generationLogits(p);
    registerCpuFusedKernels();
    const fused = generationLogits(p);
    // Logits here are units to tens: 1e-5 is float32 rounding in a different order, no more.
    expect(Math.max(...ops.map((l) => Math.max(...l.map(Math.abs))))).toBeGreaterThan(1);
    expect(largestDifference(fused, ops)).toBeLessThan(1e-5);
    tf.dispose(Object.values(p));
  });

  test('gives the gradients of the composite ops for every weight', () => {
    const p = randomParams();
    const ops = weightGradients(p);
    registerCpuFusedKernels();
    const fused = weightGradients(p);
    const scale = Math.max(...ops.map((g) => Math.max(...g.map(Math.abs))));
    expect(largestDifference(fused, ops) / scale).toBeLessThan(1e-5);
    tf.dispose(Object.values(p));
  });

  test('leaves no tensor behind, in generation or in a gradient', () => {
    const p = randomParams();
    registerCpuFusedKernels();
    generationLogits(p);
    weightGradients(p);
    const before = tf.memory().numTensors;
    generationLogits(p);
    weightGradients(p);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(p));
  });
});
