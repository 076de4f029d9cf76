/**
 * Loaded into a page of the dev server (`import('/e2e/webgpu-probe.ts')`) by webgpu.spec.ts: runs
 * the engine's own WebGPU code on Chromium's adapter and reads every result back with await,
 * which works there even where synchronous readback does not (workers/sync-readback.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import '../workers/backend';
import { attentionOps, fusedAttention } from '../src/engine/fused/attention';
import { biasGeluOps, fusedBiasGelu } from '../src/engine/fused/bias-gelu';
import { fusedVsOps, largestAbsDifference } from '../src/engine/fused/compare';
import { fusedTokenEntropy, fusedTokenLogProbs, tokenEntropyOps, tokenLogProbsOps } from '../src/engine/fused/token-stats';
import { adamWDifference, decodeStepDifference } from '../src/engine/fused/value-fixtures';
import { fusedSampleTokens } from '../src/engine/fused/sample-tokens';
import { plainSamplingOps } from '../src/engine/token-choice';
import { WEBGPU_KERNELS } from '../src/engine/fused/kernels';
import { fusedLayerNorm, layerNormOps } from '../src/engine/fused/layer-norm';
import { fusedMaskedSoftmax, maskedSoftmaxOps } from '../src/engine/fused/masked-softmax';
import { GPT, MASKED, causalBias, decodeLinearOps } from '../src/engine/model';
import { type DecodeLinearOptions, fusedDecodeLinear } from '../src/engine/fused/decode-linear';
import { modelSize } from '../src/engine/model-config';
import { Rng } from '../src/engine/rng';
import { runAsync } from '../src/engine/readback';
import { generateSteps } from '../src/engine/sampling';
import { Tokenizer } from '../src/engine/tokenizer';
import { checkSyncReadback } from '../workers/sync-readback';

export interface WebGpuProbe {
  backend: string;
  /** Why synchronous readback was refused, or null when it works. */
  syncReadback: string | null;
  /** Completions, tokens chosen on the device, on webgpu and on cpu from the same seed. */
  tokens: { webgpu: number[][]; cpu: number[][] };
  /** Fused kernels missing on webgpu (none: the sampled tokens above ran every one). */
  unregistered: string[];
  /**
   * Largest differences between each fused kernel and the tfjs ops: value, then the gradient for
   * each input (layer norm: x, gain, bias; masked softmax: scores, bias; bias GELU: x, bias;
   * whole-sequence attention: value and qkv, all tokens as queries, then the last 3; token statistics: the log-probabilities' value and logits
   * gradient, then the entropy's value);
   * the decode-step attention, AdamW and the decoding step's linear layers have no backward pass, so their values only (the grown
   * key and value caches and the attention output; the new moments and weights).
   */
  fused: {
    layerNorm: number[]; maskedSoftmax: number[]; biasGelu: number[]; attention: number[]; tokenStats: number[];
    decodeAttention: number[]; adamW: number[]; decodeLinear: number[];
  };
  /** The fused token choice against the ops on the same rows: rows that differ, how many different tokens the running rows got, and the ids' dtype. */
  sampleTokens: { mismatches: number; distinct: number; dtype: string };
}

/** GrpoSampleTokens against chooseTokensOnDevice's ops, 256 rows over a vocabulary of 70, every fifth row stopped, the draws of the last of three steps. */
async function sampleTokensMismatches(): Promise<WebGpuProbe['sampleTokens']> {
  const [B, V, pad] = [256, 70, 0];
  const logits = tf.randomNormal([B, V], 0, 2, 'float32', 11) as tf.Tensor2D;
  const draws = tf.randomUniform([3, B], 0, 1, 'float32', 12) as tf.Tensor2D;
  const done = tf.tensor1d(Array.from({ length: B }, (_, b) => b % 5 === 0), 'bool');
  const fused = fusedSampleTokens(logits, draws, 2, done, 0.8, pad);
  const ops = tf.tidy(() => plainSamplingOps(logits, draws, 2, done, 0.8, pad));
  const [a, b] = [await fused.data(), await ops.data()];
  const dtype = fused.dtype;
  tf.dispose([logits, draws, done, fused, ops]);
  return { mismatches: a.filter((id, i) => id !== b[i]).length, distinct: new Set(a.filter((_, i) => i % 5 !== 0)).size, dtype };
}

async function sampledTokens(backend: string): Promise<number[][]> {
  await tf.setBackend(backend);
  const tok = new Tokenizer();
  const model = GPT.create(modelSize('test', tok.size), 1);
  const prompts = ['12+3=', '7+8=', '45+6='].map((s) => tok.encode(s));
  // Twelve tokens: one stop check (every 8) happens on the way, read back with await too.
  const gen = await runAsync(generateSteps(model.params, model.config, prompts, {
    maxNewTokens: 12, temperature: 1, topK: 0, topP: 1, stopIds: [tok.eosId, tok.id('5')], padId: tok.padId, tokenChoice: 'device',
  }, new Rng(1)));
  model.dispose();
  return gen.completions;
}

/** Each fused kernel against the tfjs ops, on inputs shaped as in the model. */
async function fusedDifferences(): Promise<WebGpuProbe['fused']> {
  const normal = (shape: number[], mean: number, std: number, seed: number) => tf.randomNormal(shape, mean, std, 'float32', seed);
  const ln = [normal([7, 5, 48], 0.3, 2, 1), normal([48], 1, 0.2, 2), normal([48], 0, 0.2, 3)];
  const layerNorm = await fusedVsOps(fusedLayerNorm, layerNormOps, ln);
  // A causal mask over a cache of 3 keys, broadcast over 4 heads.
  const [B, H, T, Tk] = [3, 4, 5, 8];
  const mask = tf.tensor4d(Array.from({ length: B * T * Tk }, (_, i) => ((i % Tk) > ((i / Tk) | 0) % T + 3 ? MASKED : 0)), [B, 1, T, Tk]);
  const attention = [normal([B, H, T, Tk], 0, 3, 4), mask];
  const scale = 1 / Math.sqrt(12);
  const maskedSoftmax = await fusedVsOps((s, m) => fusedMaskedSoftmax(s!, m!, scale), (s, m) => maskedSoftmaxOps(s!, m!, scale), attention);
  const mlp = [normal([40, 64], 0, 4, 5), normal([64], 0, 1, 6)];
  const biasGelu = await fusedVsOps((x, b) => fusedBiasGelu(x!, b!), (x, b) => biasGeluOps(x!, b!), mlp);
  // Whole sequences: 3 heads of width 5 over 7 tokens, row 1 with two pads.
  const bias = causalBias([[1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1]]);
  const qkv = [normal([2, 7, 45], 0, 1.5, 7)];
  // And the last 3 tokens alone as queries (the shared-prompt forward's rows): value and gradient.
  const lastBias = tf.slice(bias, [0, 0, 4, 0], [2, 1, 3, 7]);
  const wholeAttention = [
    ...(await fusedVsOps((x) => fusedAttention(x!, bias, 3, 0.5), (x) => attentionOps(x!, bias, 3, 0.5), qkv)),
    ...(await fusedVsOps((x) => fusedAttention(x!, lastBias, 3, 0.5), (x) => attentionOps(x!, lastBias, 3, 0.5), qkv)),
  ];
  // Token statistics: 4 rows of 9 positions over a vocabulary of 7 (off the lanes).
  const logits = [normal([4, 9, 7], 0, 3, 8)];
  const targets = tf.tidy(() => tf.cast(tf.floor(tf.mul(tf.randomUniform([4, 9], 0, 1, 'float32', 9), 7)), 'int32'));
  const logProbs = await fusedVsOps((l) => fusedTokenLogProbs(l!, targets), (l) => tokenLogProbsOps(l!, targets), logits);
  const [fusedEntropy, opsEntropy] = [fusedTokenEntropy(logits[0]!), tokenEntropyOps(logits[0]!)];
  const tokenStats = [...logProbs, largestAbsDifference(await fusedEntropy.data(), await opsEntropy.data())];
  tf.dispose([...ln, ...attention, ...mlp, ...qkv, bias, lastBias, ...logits, targets, fusedEntropy, opsEntropy]);
  // Off a multiple of 4: head width 5 over 7 keys, then under a bias 4 columns wider (as the
  // device loop passes it); 37 weights.
  const decodeAttention = [await decodeStepDifference(3, 2, 6, 5), await decodeStepDifference(3, 2, 6, 5, 1, 4)];
  return { layerNorm, maskedSoftmax, biasGelu, attention: wholeAttention, tokenStats, decodeAttention, adamW: [await adamWDifference(37)], decodeLinear: await decodeLinearDifferences() };
}

/** GrpoDecodeLinear against its ops in the model's four forms, values only (it has no backward pass); 37 columns, off the workgroup. */
async function decodeLinearDifferences(): Promise<number[]> {
  const normal = (shape: number[], mean: number, std: number, seed: number) => tf.randomNormal(shape, mean, std, 'float32', seed);
  const x = normal([6, 40], 0.5, 2, 21) as tf.Tensor2D;
  const norm = { gain: normal([40], 1, 0.2, 22), shift: normal([40], 0, 0.2, 23) };
  const [w, bias, residual] = [normal([40, 37], 0, 0.3, 24), normal([37], 0, 0.5, 25), normal([6, 37], 0, 1, 26)];
  const wT = tf.transpose(w);
  const forms: Array<[tf.Tensor, DecodeLinearOptions]> = [[w, { norm }], [w, { norm, bias, gelu: true }], [w, { bias, residual }], [wT, { norm, transposeW: true }]];
  const out: number[] = [];
  for (const [weight, o] of forms) {
    const [fused, ops] = [fusedDecodeLinear(x, weight, o), tf.tidy(() => decodeLinearOps(x, weight, o))];
    out.push(largestAbsDifference(await fused.data(), await ops.data()));
    tf.dispose([fused, ops]);
  }
  tf.dispose([x, norm.gain, norm.shift, w, bias, residual, wT]);
  return out;
}

export async function probeWebGpu(): Promise<WebGpuProbe> {
  const cpu = await sampledTokens('cpu');
  const webgpu = await sampledTokens('webgpu');
  const backend = tf.getBackend();
  const unregistered = WEBGPU_KERNELS.filter((name) => tf.getKernel(name, 'webgpu') === undefined);
  const fused = await fusedDifferences();
  const sampleTokens = await sampleTokensMismatches();
  // Last: where the synchronous path fails, it can take the device down with it.
  let syncReadback: string | null = null;
  await checkSyncReadback().catch((e: unknown) => { syncReadback = (e as Error).message; });
  return { backend, syncReadback, tokens: { webgpu, cpu }, unregistered, fused, sampleTokens };
}
