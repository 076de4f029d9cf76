/**
 * A small model and its inputs for comparing the fused kernels with the composite ops across the
 * whole model (fused-model.test.ts on cpu, wasm-fused-kernels.test.ts on wasm): logits at
 * prefill and at a decode step, and the gradient of every weight.
 */
import * as tf from '@tensorflow/tfjs-core';
import { decodeStep, disposeCache, prefill } from '../decoding';
import { MASKED, type Params, causalBias, forward, positionsFor, tokenLogProbs, weightShapes } from '../model';
import type { ModelConfig } from '../model-config';
import { Tokenizer } from '../tokenizer';
import { largestAbsDifference } from './compare';

export interface ModelFixture {
  config: ModelConfig;
  /**
   * Random weights large enough that attention is far from uniform and GELU leaves its linear
   * part (the 0.02 init would make a comparison trivially pass).
   */
  randomParams(): Params;
  /** Prefill's logits and one decode step's (reading and extending the KV cache), read back. */
  generationLogits(p: Params): Float32Array[];
  /** Gradient of a weighted sum of the token log-probs with respect to every weight, in weightShapes order. */
  weightGradients(p: Params): Float32Array[];
  /** The names of the kernels that generationLogits and weightGradients run, together. */
  kernelNames(p: Params): Promise<string[]>;
}

/** A 2-layer, 4-head model of width dModel over three left-padded prompts of different lengths. */
export function modelFixture(dModel: number): ModelFixture {
  const tok = new Tokenizer();
  const config: ModelConfig = { name: `fused-test-${dModel}`, layers: 2, dModel, heads: 4, context: 32, promptAnchor: 16, vocabSize: tok.size };
  // Left-padded prompts of different lengths, so the mask hides pads as well as future keys.
  const padded = [[tok.padId, tok.padId, 5, 6, 7], [8, 9, 10, 11, 12], [tok.padId, tok.padId, tok.padId, tok.padId, 13]];
  const valid = padded.map((row) => row.map((id) => (id === tok.padId ? 0 : 1)));

  function randomParams(): Params {
    const p: Params = {};
    weightShapes(config).forEach(([name, shape], i) => {
      const std = name === 'wte' || name === 'wpe' ? 1 : shape.length === 2 ? 2 / Math.sqrt(shape[0] as number) : 0.3;
      p[name] = tf.randomNormal(shape, name.endsWith('.g') ? 1 : 0, std, 'float32', 100 + i);
    });
    return p;
  }

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

  async function kernelNames(p: Params): Promise<string[]> {
    // tf.profile hands back the same object each time, so each list is copied before the next run.
    const generation = [...(await tf.profile(() => generationLogits(p))).kernelNames];
    const gradient = [...(await tf.profile(() => weightGradients(p))).kernelNames];
    return [...new Set([...generation, ...gradient])];
  }

  return { config, randomParams, generationLogits, weightGradients, kernelNames };
}

/** The largest absolute difference between matching entries of two lists of arrays. */
export function largestDifference(a: Float32Array[], b: Float32Array[]): number {
  return Math.max(...a.map((x, i) => largestAbsDifference(x, b[i] as Float32Array)));
}
